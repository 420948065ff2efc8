"""The acquisition pump: a thread moving samples from a source into the sample ring.

The pump reads blocks from a :class:`~gridedge.meter.acquisition.Source` (a DAQ, a
replayed record, the simulator) and writes them into the
:class:`~gridedge.meter.ring.SampleRing` that the algorithms read. It never waits for the
algorithms: when the ring is full the ring drops the newest rows and counts them. When the
source skips samples (its indices jump, after a DAQ overrun for example) the pump advances
the ring's index by as much (:meth:`~gridedge.meter.ring.SampleRing.skip`), so every row
keeps its source index and the reader sees the gap where it is.

An exception in the source stops the pump but not the process: it is logged with its
traceback, kept, and reported by :meth:`AcquisitionPump.status`.
"""

import logging
import threading
from dataclasses import dataclass
from enum import Enum

import numpy as np

from gridedge.channels import CHANNELS
from gridedge.errors import InvalidInputError
from gridedge.meter.acquisition import Source
from gridedge.meter.ring import SampleRing

logger = logging.getLogger(__name__)


class PumpState(Enum):
    """Life cycle of a pump."""

    IDLE = "idle"
    """Not started."""
    RUNNING = "running"
    """Moving samples."""
    EXHAUSTED = "exhausted"
    """The source has no more samples (the end of a replayed record)."""
    STOPPED = "stopped"
    """Stopped by :meth:`AcquisitionPump.stop`."""
    FAILED = "failed"
    """Stopped by an exception in the source or the ring; see :attr:`PumpStatus.error`."""


@dataclass(frozen=True)
class PumpStatus:
    """A snapshot of a pump's counters.

    Attributes
    ----------
    state : PumpState
        Where the pump is in its life cycle.
    samples_read : int
        Rows the source delivered.
    samples_lost : int
        Rows the source skipped: the sum of the jumps in its indices.
    source_gaps : int
        Number of such jumps (source overruns seen by the pump).
    ring_dropped : int
        Rows the ring dropped because the reader fell behind.
    ring_overruns : int
        Writes that dropped rows.
    error : str or None
        ``"ExceptionType: message"`` of the exception that stopped the pump.
    """

    state: PumpState
    samples_read: int
    samples_lost: int
    source_gaps: int
    ring_dropped: int
    ring_overruns: int
    error: str | None


class AcquisitionPump:
    """A thread that reads a source and writes into a sample ring.

    Parameters
    ----------
    source : Source
        Where samples come from. The pump does not close it: its owner does, after
        :meth:`stop`.
    ring : SampleRing
        Where they go; the pump is its only producer.
    block : int, optional
        Rows asked of the source per read; 10 ms of samples by default. A paced source
        delivers them a block at a time, so this is also the latency the pump adds.
    name : str
        Name of the thread.
    """

    def __init__(
        self,
        source: Source,
        ring: SampleRing,
        *,
        block: int | None = None,
        name: str = "acquisition",
    ) -> None:
        if ring.channels != len(CHANNELS):
            raise InvalidInputError(f"ring must have {len(CHANNELS)} channels, has {ring.channels}")
        self.block = max(1, round(source.fs / 100)) if block is None else int(block)
        if self.block < 1:
            raise InvalidInputError(f"block must be at least 1 row, got {block}")
        self.source = source
        self.ring = ring
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._state = PumpState.IDLE
        self._read = 0
        self._lost = 0
        self._gaps = 0
        self._next_index = ring.offered
        self._error: BaseException | None = None

    def __enter__(self) -> "AcquisitionPump":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the thread."""
        with self._lock:
            self._state = PumpState.RUNNING
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> bool:
        """Ask the thread to stop after the read in progress and wait for it.

        Returns
        -------
        bool
            Whether the thread has ended within `timeout` seconds.
        """
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("%s did not stop within %s s", self._thread.name, timeout)
            return False
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the thread ends by itself (source exhausted or failed); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """The exception that stopped the pump, if one did."""
        return self._error

    def status(self) -> PumpStatus:
        """A consistent snapshot of the counters."""
        with self._lock:
            return PumpStatus(
                state=self._state,
                samples_read=self._read,
                samples_lost=self._lost,
                source_gaps=self._gaps,
                ring_dropped=self.ring.dropped,
                ring_overruns=self.ring.overruns,
                error=None
                if self._error is None
                else f"{type(self._error).__name__}: {self._error}",
            )

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                first, rows = self.source.read(self.block)
                if len(rows) == 0:
                    logger.info("%s: the source has no more samples", self._thread.name)
                    self._finish(PumpState.EXHAUSTED)
                    return
                self._move(first, rows)
            self._finish(PumpState.STOPPED)
        except Exception as exc:
            logger.exception("%s stopped by an error of the source", self._thread.name)
            with self._lock:
                self._error = exc
            self._finish(PumpState.FAILED)

    def _move(self, first: int, rows: np.ndarray) -> None:
        if rows.ndim != 2 or rows.shape[1] != len(CHANNELS):
            raise InvalidInputError(
                f"the source returned rows of shape {rows.shape}, not (n, {len(CHANNELS)})"
            )
        if first < self._next_index:
            raise InvalidInputError(
                f"the source went back: first_index {first}, expected {self._next_index} or later"
            )
        skipped = first - self._next_index
        if skipped:
            self.ring.skip(skipped)
            logger.warning("the source lost %d samples before index %d", skipped, first)
        self.ring.write(np.ascontiguousarray(rows, dtype=np.float64))
        with self._lock:
            self._read += len(rows)
            self._lost += skipped
            self._gaps += bool(skipped)
            self._next_index = first + len(rows)

    def _finish(self, state: PumpState) -> None:
        with self._lock:
            self._state = state
