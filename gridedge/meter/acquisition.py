"""The acquisition interface: where a meter's samples come from.

Every backend (a USB DAQ through uldaq, the grid simulator, COMTRADE replay) is a
:class:`Source`. It delivers raw samples of the six channels in the order of
:data:`gridedge.channels.CHANNELS`, with the absolute index of the first one, exactly as
:meth:`gridedge.meter.ring.SampleRing.read` hands them on to the algorithms: a gap in the
indices means samples were lost.
"""

from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import ChannelScaling


@runtime_checkable
class Source(Protocol):
    """A stream of six-channel samples.

    Attributes
    ----------
    fs : float
        Sampling frequency, Hz.
    start_time : float
        Absolute time of sample 0, seconds (POSIX time for real hardware).
    scaling : ChannelScaling
        Raw units to primary volts and amperes.
    """

    fs: float
    start_time: float
    scaling: ChannelScaling

    def read(self, max_samples: int) -> tuple[int, NDArray[np.float64]]:
        """Return ``(first_index, samples)``: up to `max_samples` rows of shape (n, 6), raw units.

        A paced source waits until samples are due; an exhausted one returns zero rows.
        """
        ...

    def close(self) -> None:
        """Release the device or file."""
        ...
