"""From the source to the algorithms: acquisition pump, sample ring, phasor estimation.

Two threads. The acquisition pump (:mod:`gridedge.meter.sampling`) reads the source in
blocks (a paced source waits until they are due, as a DAQ would) and writes them into the
native sample ring; it never waits for anything else, so a slow consumer costs dropped
samples (counted), not a stalled DAQ. The estimation thread reads the ring, feeds the phasor
estimator, and offers the frames (and, when some algorithm declared them, the raw sample
blocks) to the algorithm host, which never blocks either. A gap in the sample indices
restarts the estimator's windows at the gap.
"""

import threading
from collections.abc import Callable
from typing import Any

from gridedge.meter.acquisition import Source
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.meter.plugin import SampleBlock
from gridedge.meter.ring import create_ring
from gridedge.meter.sampling import AcquisitionPump
from gridedge.meter.settings import AcquisitionSettings


def _read_only(frames: Frames) -> Frames:
    # Every algorithm gets the same arrays: none may change them under the others.
    for array in (frames.time, frames.phasor, frames.frequency, frames.rocof, frames.valid):
        array.setflags(write=False)
    return frames


class MeasurementChain:
    """Acquisition, ring and estimation for one source.

    Parameters
    ----------
    source : Source
        Where samples come from.
    settings : AcquisitionSettings
        Reporting rate, block and ring sizes.
    on_frames : callable
        ``on_frames(frames)``: called from the estimation thread with every non-empty block.
    on_samples : callable
        ``on_samples(block)``: called with every raw block while `wants_samples()` is true.
    wants_samples : callable
        Whether anybody takes raw sample blocks now.
    """

    def __init__(
        self,
        source: Source,
        settings: AcquisitionSettings,
        *,
        on_frames: Callable[[Frames], None],
        on_samples: Callable[[SampleBlock], None],
        wants_samples: Callable[[], bool],
    ) -> None:
        self.source = source
        self.settings = settings
        self.estimator = PhasorEstimator(
            source.fs,
            settings.f0,
            settings.reporting_rate,
            scaling=source.scaling,
            start_time=source.start_time,
        )
        self.ring = create_ring(max(2, round(settings.ring_s * source.fs)))
        self.block = max(1, round(settings.block_s * source.fs))
        self.pump = AcquisitionPump(source, self.ring, block=self.block)
        self.frames = 0
        self.gaps = 0
        self._on_frames = on_frames
        self._on_samples = on_samples
        self._wants_samples = wants_samples
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._estimate, name="estimation", daemon=True)

    def start(self) -> None:
        """Start acquisition and estimation."""
        self.pump.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop both threads and close the source."""
        self._stop.set()
        self.pump.stop(timeout)
        self._thread.join(timeout)
        self.source.close()

    def report(self) -> dict[str, Any]:
        """Counters for status telemetry."""
        status = self.pump.status()
        return {
            "state": status.state.value,
            "fs": self.source.fs,
            "samples": status.samples_read,
            "samples_lost": status.samples_lost,
            "source_gaps": status.source_gaps,
            "ring_dropped": status.ring_dropped,
            "overruns": status.ring_overruns,
            "frames": self.frames,
            "estimation_gaps": self.gaps,
            "error": status.error,
        }

    def _estimate(self) -> None:
        idle = self.settings.block_s / 2
        while not self._stop.is_set():
            first, rows = self.ring.read(self.block * 4)
            if rows.shape[0] == 0:
                self._stop.wait(idle)
                continue
            if first != self.estimator.next_index:
                self.gaps += 1
            if self._wants_samples():
                rows.setflags(write=False)
                self._on_samples(SampleBlock(first, rows))
            frames = self.estimator.push(rows, first)
            if len(frames):
                self.frames += len(frames)
                self._on_frames(_read_only(frames))
