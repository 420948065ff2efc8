"""Pacing a stream of samples against the clock, the way a DAQ delivers them.

A paced source (COMTRADE replay, the grid simulator) hands out blocks of samples no faster
than a DAQ would: the samples ``[0, count)`` are due ``count / rate`` seconds after the
first request. Every deadline is computed from that one start time, never by adding up sleeps,
so a late wake-up does not drift the stream: the next block is simply due sooner. In "as fast
as possible" mode every sample is due at once (for tests and batch processing).
"""

import math
import sys
import time
from collections.abc import Callable

from gridedge.errors import ConfigurationError, InvalidInputError


class Pacer:
    """Tells when samples of a stream at a fixed rate are due, and waits for them.

    Parameters
    ----------
    rate : float
        Samples per second, > 0.
    realtime : bool, default True
        Pace against the clock; False makes every sample due at once.
    clock : callable, default time.monotonic
        Seconds of a monotonic clock.
    sleep : callable, default time.sleep
        Sleeps the given seconds.

    Notes
    -----
    The clock starts at the first call of :meth:`due` or :meth:`wait_for` (or at
    :meth:`restart`): that is when sample 0 is taken.
    """

    def __init__(
        self,
        rate: float,
        *,
        realtime: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigurationError(f"pacing rate must be a positive number, got {rate!r}")
        self.rate = float(rate)
        self.realtime = realtime
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None

    @property
    def started(self) -> bool:
        """Whether the clock of the stream has started."""
        return self._start is not None

    def restart(self) -> None:
        """Start the clock now: sample 0 is taken at this instant."""
        self._start = self._clock()

    def _origin(self) -> float:
        if self._start is None:
            self._start = self._clock()
        return self._start

    def deadline(self, count: int) -> float:
        """Clock time, s, at which the samples ``[0, count)`` are due; starts the clock."""
        return self._origin() + count / self.rate

    def due(self) -> int:
        """Number of samples due by now (``sys.maxsize`` when not pacing); starts the clock."""
        if not self.realtime:
            return sys.maxsize
        origin = self._origin()
        return math.floor((self._clock() - origin) * self.rate)

    def wait_for(self, count: int) -> None:
        """Return once the samples ``[0, count)`` are due; at once if they already are.

        Raises
        ------
        InvalidInputError
            If `count` is negative.
        """
        if count < 0:
            raise InvalidInputError(f"sample count must not be negative, got {count}")
        if not self.realtime:
            return
        deadline = self.deadline(count)
        # time.sleep may wake early on some platforms; loop until the deadline has passed.
        while (remaining := deadline - self._clock()) > 0:
            self._sleep(remaining)
