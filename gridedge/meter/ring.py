"""The sample ring between acquisition and the algorithms.

A single-producer/single-consumer ring of six-channel rows: the acquisition thread writes
what the DAQ delivers, an algorithm thread reads it; neither waits for the other. When the
reader falls behind and the ring fills, the newest rows are dropped and counted, and every
row keeps its absolute sample index, so a reader always knows where a gap is.
The compiled ring (C++, copies without the GIL) and its numpy twin have this interface.
"""

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from gridedge import kernels
from gridedge.channels import CHANNELS


class SampleRing(Protocol):
    """What both ring backends provide."""

    @property
    def capacity(self) -> int:
        """Rows the ring holds."""
        ...

    @property
    def channels(self) -> int:
        """Columns of every row."""
        ...

    @property
    def available(self) -> int:
        """Rows ready to read."""
        ...

    @property
    def offered(self) -> int:
        """Rows offered to :meth:`write` so far, dropped ones included."""
        ...

    @property
    def dropped(self) -> int:
        """Rows dropped because the ring was full."""
        ...

    @property
    def overruns(self) -> int:
        """Calls of :meth:`write` that dropped rows."""
        ...

    def write(self, samples: NDArray[np.float64]) -> int:
        """Store rows of a C-contiguous float64 array (n, channels); return how many fit.

        Producer thread only.
        """
        ...

    def skip(self, n_rows: int) -> None:
        """Advance the index of the next row by `n_rows` without storing rows.

        Producer thread only: for samples the source lost, so that every row keeps the
        source's index and the reader sees the gap.
        """
        ...

    def read(self, max_samples: int | None = None) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, rows)``: consecutive rows, never across a gap.

        Consumer thread only. With nothing to read, ``rows`` is empty and ``first_index``
        is the index after the last row read.
        """
        ...


def create_ring(
    capacity: int, channels: int = len(CHANNELS), *, backend: kernels.Backend | None = None
) -> SampleRing:
    """Make a sample ring.

    Parameters
    ----------
    capacity : int
        Rows it holds; for example two seconds of samples, ``2 * fs``.
    channels : int
        Columns of every row.
    backend : {"native", "python"}, optional
        Kernel backend; see :mod:`gridedge.kernels`.
    """
    ring: SampleRing = kernels.load("ring", backend).SampleRing(capacity, channels)
    return ring
