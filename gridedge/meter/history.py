"""The last seconds of a meter's samples, for algorithms that go back to them after an event.

A fault detector declares the fault from phasor frames, a fraction of a second after it began;
then it (and the meters downstream, asked over MQTT) fit the stable intervals of the raw
samples around it (:mod:`gridedge.meter.faults.interval`). :class:`SampleHistory` keeps those
samples: a fixed array used as a circular buffer, filled from the ``on_samples`` blocks,
indexed by the absolute sample index the blocks carry. It stores float32 - half the memory
(3 s of six channels at 6.4 kHz: 0.46 MB) - whose 24-bit mantissa holds any DAQ's samples to
far below one code step; windows come back as float64.
"""

import math

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import ConfigurationError, InvalidInputError


class SampleHistory:
    """The newest `keep_s` seconds of samples, on the meter's time base.

    Parameters
    ----------
    fs : float
        Sampling rate, Hz.
    start_time : float
        Time of sample index 0, s.
    channels : int
        Columns of every row.
    keep_s : float
        Seconds kept.
    """

    def __init__(self, fs: float, start_time: float, channels: int, keep_s: float) -> None:
        if not (math.isfinite(fs) and fs > 0 and math.isfinite(keep_s) and keep_s > 0):
            raise ConfigurationError(f"fs and keep_s must be > 0, got {fs!r} and {keep_s!r}")
        self.fs = float(fs)
        self.start_time = float(start_time)
        self.keep_s = float(keep_s)
        self._rows = np.zeros((max(1, round(keep_s * fs)), channels), dtype=np.float32)
        self._end = 0  # absolute index after the newest row
        self._count = 0  # rows held, consecutive up to _end

    @property
    def span(self) -> tuple[float, float]:
        """Times of the oldest and the newest sample held, s (NaN when empty)."""
        if self._count == 0:
            return math.nan, math.nan
        return self.time(self._end - self._count), self.time(self._end - 1)

    def time(self, index: int) -> float:
        """Time of the sample with absolute index `index`, s."""
        return self.start_time + index / self.fs

    def add(self, first_index: int, rows: NDArray[np.float64]) -> None:
        """Append consecutive rows; a gap in the indices drops what came before it.

        Parameters
        ----------
        first_index : int
            Absolute index of ``rows[0]``.
        rows : ndarray of float, shape (n, channels)
        """
        capacity, channels = self._rows.shape
        if rows.ndim != 2 or rows.shape[1] != channels:
            raise InvalidInputError(f"rows must have shape (n, {channels}), got {rows.shape}")
        if first_index != self._end:
            self._count = 0
        end = first_index + rows.shape[0]
        kept = rows[-capacity:]
        self._rows[np.arange(end - kept.shape[0], end) % capacity] = kept
        self._end = end
        self._count = min(self._count + kept.shape[0], capacity)

    def covers(self, until: float) -> bool:
        """Whether the newest sample held is at or after time `until`."""
        return self._count > 0 and self.span[1] >= until

    def window(self, begin: float, end: float) -> tuple[float, NDArray[np.float64]]:
        """The samples from time `begin` to `end` (both included, to the nearest sample).

        Returns
        -------
        start_time : float
            Time of the first row, s.
        rows : ndarray of float64, shape (n, channels)
            A copy (of the float32 samples kept).

        Raises
        ------
        InvalidInputError
            The history does not hold the whole window.
        """
        first = round((begin - self.start_time) * self.fs)
        last = round((end - self.start_time) * self.fs)
        if self._count == 0 or first < self._end - self._count or last >= self._end or last < first:
            oldest, newest = self.span
            raise InvalidInputError(
                f"samples {begin:.4f}-{end:.4f} s are not in the history "
                f"({oldest:.4f}-{newest:.4f} s)"
            )
        positions = np.arange(first, last + 1) % self._rows.shape[0]
        return self.time(first), self._rows[positions].astype(np.float64)
