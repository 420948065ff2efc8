"""The ``simulated`` acquisition backend: an IEEE C37.118.1 test signal, paced like a DAQ.

A balanced three-phase set (230 V, 100 A lagging 30 degrees; see
:mod:`gridedge.meter.c37118`) with optional harmonics, generated once for one second (a whole
number of cycles) and repeated, so streaming costs a copy per block. The samples are in
primary volts and amperes (identity scaling).
"""

import dataclasses
import time

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.meter.c37118 import synthesize
from gridedge.meter.pacing import Pacer


@dataclasses.dataclass(frozen=True)
class TestSignalSettings:
    """Options of the ``simulated`` backend (``parameters.acquisition.options``).

    Attributes
    ----------
    harmonic_orders : tuple of int
        Harmonics of f0 added to every channel.
    harmonic_fractions : tuple of float
        Their amplitudes, as fractions of the fundamental (one per order).
    realtime : bool
        Deliver samples at the sampling rate (True) or as fast as they are read.
    """

    harmonic_orders: tuple[int, ...] = ()
    harmonic_fractions: tuple[float, ...] = ()
    realtime: bool = True

    def __post_init__(self) -> None:
        if len(self.harmonic_orders) != len(self.harmonic_fractions):
            raise ConfigurationError(
                f"acquisition.options: {len(self.harmonic_orders)} harmonic_orders but "
                f"{len(self.harmonic_fractions)} harmonic_fractions"
            )
        if any(order < 2 for order in self.harmonic_orders):
            raise ConfigurationError(
                f"acquisition.options.harmonic_orders must be >= 2, got {self.harmonic_orders}"
            )


class TestSignalSource:
    """A :class:`~gridedge.meter.acquisition.Source` of a steady C37.118.1 test signal.

    Parameters
    ----------
    fs, f0 : float
        Sampling and nominal frequency, Hz; f0 must be a whole number of hertz.
    settings : TestSignalSettings
        Harmonics and pacing.
    """

    def __init__(self, fs: float, f0: float, settings: TestSignalSettings) -> None:
        if not float(f0).is_integer() or not float(fs).is_integer():
            raise ConfigurationError(
                f"the simulated signal repeats every second: fs ({fs}) and f0 ({f0}) must be "
                "whole numbers of hertz"
            )
        self.fs = float(fs)
        self.start_time = time.time()
        self.scaling = ChannelScaling.identity()
        harmonics = list(zip(settings.harmonic_orders, settings.harmonic_fractions, strict=True))
        self._period = synthesize(self.fs, 1.0, f0=f0, harmonics=harmonics).samples
        self._position = 0
        self._closed = False
        self._pacer = Pacer(self.fs, realtime=settings.realtime)

    def read(self, max_samples: int) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, samples)``: `max_samples` rows (n, 6), V and A, when due."""
        if max_samples < 0:
            raise InvalidInputError(f"max_samples must not be negative, got {max_samples}")
        first = self._position
        if self._closed:
            return first, np.empty((0, self._period.shape[1]))
        self._pacer.wait_for(first + max_samples)
        length = self._period.shape[0]
        rows = (np.arange(first, first + max_samples) % length) if max_samples else []
        self._position += max_samples
        return first, self._period[rows]

    def close(self) -> None:
        """End the stream: later reads return zero rows."""
        self._closed = True
