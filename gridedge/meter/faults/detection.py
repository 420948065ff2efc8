"""Fault detection on a stream of phasor frames, and the phasor sets fault location needs.

Pick-up
-------
A frame picks up when any start criterion holds (thresholds from :class:`DetectionSettings`):

- phase overcurrent: the largest phase current exceeds ``overcurrent_a``;
- earth fault: the residual current 3 I0 exceeds ``residual_current_a``;
- unbalance: the negative-sequence current exceeds ``negative_sequence_a``;
- undervoltage: the lowest phase voltage is below ``undervoltage_pu`` of nominal *and* a
  phase current changed by more than ``superimposed_current_a`` over ``memory_frames``
  (without the current change an undervoltage comes from upstream, not from this feeder).

A fault is declared after ``confirm_frames`` consecutive picked-up frames: load steps raise
no threshold, and a switching transient of a cycle or two lasts fewer frames than that.

Phasor sets
-----------
A frame's phasors come from a window reaching ``window_s`` either side of its time stamp,
and its frequency correction from samples up to ``span_s`` away. The inception frame is the
first whose currents depart from the clean pre-fault reference by more than
``onset_fraction`` of the fault's change (and more than the reference's own scatter): the
fault started after the previous frame's window and within this one's. The pre-fault set
averages the last ``prefault_frames`` frames that reach no sample after the earliest possible
inception; the during-fault set averages up to ``fault_frames`` frames that reach no sample
before the latest possible inception plus ``transient_cycles``. When the fault clears first,
the first frame departing from the fault state bounds the clearing time the same way, and
the frames that may reach past it are dropped. Every frame is first referred to one time
with the pre-fault frequency (a phasor rotates at f - f0), so the two sets share a time base
and superimposed quantities are differences of like with like. Their standard errors, from
the spread of the frames, travel with them as the measurements' uncertainty.
"""

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import CHANNELS
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import FaultKind
from gridedge.grid.sequence import to_sequence
from gridedge.meter.faults.classification import ClassificationSettings, classify
from gridedge.meter.phasor import Frames, PhasorEstimator

if TYPE_CHECKING:
    # Only for an annotation: a meter that detects without locating never loads the grid model.
    from gridedge.grid import Grid

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionSettings:
    """Thresholds and timing of fault detection (section ``detection`` of a settings file).

    The defaults suit a 22 kV feeder head with cables rated about 400 A, such as the Turin
    case's; set them per meter from the feeder's maximum load and minimum fault current.

    Attributes
    ----------
    overcurrent_a : float
        Phase overcurrent pick-up, A RMS.
    residual_current_a : float
        Residual (3 I0) current pick-up, A RMS.
    negative_sequence_a : float
        Negative-sequence current pick-up, A RMS.
    undervoltage_pu : float
        Phase-voltage pick-up, fraction of nominal, together with a current change.
    superimposed_current_a : float
        Current change over ``memory_frames`` that confirms an undervoltage, A.
    memory_frames : int
        Frames back to the current an undervoltage frame is compared with.
    confirm_frames : int
        Consecutive picked-up frames that declare a fault.
    transient_cycles : float
        Nominal cycles after inception left out of the during-fault set.
    prefault_frames : int
        Frames averaged into the pre-fault set.
    fault_frames : int
        Most frames averaged into the during-fault set; the event is delivered when it has
        them, or earlier when the fault clears.
    reset_frames : int
        Consecutive frames without pick-up after an event before a new fault can be declared.
    onset_fraction : float
        Share of the fault's current change that marks the inception frame.
    """

    overcurrent_a: float = 400.0
    residual_current_a: float = 60.0
    negative_sequence_a: float = 60.0
    undervoltage_pu: float = 0.8
    superimposed_current_a: float = 50.0
    memory_frames: int = 5
    confirm_frames: int = 3
    transient_cycles: float = 1.0
    prefault_frames: int = 25
    fault_frames: int = 10
    reset_frames: int = 10
    onset_fraction: float = 0.05

    def __post_init__(self) -> None:
        for name in (
            "overcurrent_a",
            "residual_current_a",
            "negative_sequence_a",
            "superimposed_current_a",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be > 0, got {value!r}")
        if not 0 < self.undervoltage_pu < 1:
            raise ConfigurationError(
                f"undervoltage_pu must lie in (0, 1), got {self.undervoltage_pu!r}"
            )
        if not 0 < self.onset_fraction < 1:
            raise ConfigurationError(
                f"onset_fraction must lie in (0, 1), got {self.onset_fraction!r}"
            )
        if not (math.isfinite(self.transient_cycles) and self.transient_cycles >= 0):
            raise ConfigurationError(
                f"transient_cycles must be >= 0, got {self.transient_cycles!r}"
            )
        for name in (
            "memory_frames",
            "confirm_frames",
            "prefault_frames",
            "fault_frames",
            "reset_frames",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ConfigurationError(f"{name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True, eq=False)
class FaultEvent:
    """A detected fault with the phasor sets that locate it.

    Attributes
    ----------
    inception_time : float
        Latest possible inception, s (absolute time base of the frames).
    detection_time : float
        Time stamp of the frame that confirmed the fault, s.
    kind : FaultKind or None
        Classified kind; None when the phasors show no superimposed current to classify.
    time : float
        The time both phasor sets are referred to, s.
    prefault, fault : ndarray of complex128, shape (6,)
        Mean phasors Va, Vb, Vc (V) and Ia, Ib, Ic (A) before and during the fault; NaN
        when no clean frame was available.
    prefault_sigma, fault_sigma : ndarray of float64, shape (6,)
        Their standard errors (RMS of the complex error), from the spread of the frames and
        the share of samples their windows have in common; NaN with fewer than two frames.
    prefault_frames, fault_frames : int
        Frames averaged into each set.
    cleared_time : float or None
        Time stamp of the first frame without pick-up, when the fault cleared before the
        event was delivered.
    fault_start : float
        Time stamp of the first frame of the during-fault set, s (NaN without one); `time`
        is that of the last. Frames of other meters time-stamped between the two saw the
        fault as these did.
    """

    inception_time: float
    detection_time: float
    kind: FaultKind | None
    time: float
    prefault: NDArray[np.complex128]
    fault: NDArray[np.complex128]
    prefault_sigma: NDArray[np.float64]
    fault_sigma: NDArray[np.float64]
    prefault_frames: int
    fault_frames: int
    cleared_time: float | None
    fault_start: float = math.nan

    @property
    def uncertainty(self) -> NDArray[np.float64] | None:
        """Standard errors of the fault and pre-fault sets, shape (2, 6).

        What :func:`gridedge.meter.faults.locate` takes as ``uncertainty``; None when either
        set has fewer than two frames. The spread of the frames, even corrected for their
        overlapping windows, misses what all of them share (the DC offset's tail, a slow
        drift); :func:`gridedge.meter.faults.interval.estimate` propagates the DAQ's noise
        instead.
        """
        combined = np.stack([self.fault_sigma, self.prefault_sigma])
        return None if np.any(np.isnan(combined)) else combined


class FaultDetector:
    """Streaming fault detector of one meter (see the module docstring).

    Parameters
    ----------
    nominal_voltage_v : float
        Nominal phase-to-earth voltage at the meter, V RMS.
    settings : DetectionSettings, optional
    classification : ClassificationSettings, optional
    window_s : float
        Half-length of the window a frame's phasors come from, s (one cycle for
        :class:`gridedge.meter.phasor.PhasorEstimator`).
    span_s : float
        How far before and after its time stamp any sample a frame uses lies, s
        (:attr:`gridedge.meter.phasor.PhasorEstimator.latency`).
    f0 : float
        Nominal frequency, Hz.
    """

    def __init__(
        self,
        nominal_voltage_v: float,
        settings: DetectionSettings | None = None,
        *,
        classification: ClassificationSettings | None = None,
        window_s: float = 0.02,
        span_s: float = 0.03,
        f0: float = 50.0,
    ) -> None:
        for name, value in (
            ("nominal_voltage_v", nominal_voltage_v),
            ("window_s", window_s),
            ("span_s", span_s),
            ("f0", f0),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be > 0, got {value!r}")
        if span_s < window_s:
            raise ConfigurationError(f"span_s ({span_s}) must be at least window_s ({window_s})")
        self.nominal_voltage_v = float(nominal_voltage_v)
        self.settings = settings or DetectionSettings()
        self.classification = classification or ClassificationSettings()
        self.window_s = float(window_s)
        self.span_s = float(span_s)
        self.f0 = float(f0)
        self._history = Frames.empty()
        self._keep = self.settings.prefault_frames + self.settings.confirm_frames + 64
        self._run = 0  # consecutive picked-up frames (normal) or quiet ones (lockout)
        self._locked = False
        self._onset: _Onset | None = None  # set while a fault is on
        self._frames = Frames.empty()  # clean frames of the fault that is on

    @classmethod
    def for_meter(
        cls,
        grid: "Grid",
        meter_id: str,
        estimator: PhasorEstimator,
        settings: DetectionSettings | None = None,
        classification: ClassificationSettings | None = None,
    ) -> "FaultDetector":
        """Return a detector for meter `meter_id` of `grid` fed by `estimator`'s frames.

        The nominal voltage comes from the meter's bus, the window timing from the estimator.
        """
        meter = grid.meter(meter_id)
        return cls(
            grid.bus(meter.bus).kv * 1e3 / math.sqrt(3),
            settings,
            classification=classification,
            window_s=estimator.window_length / (2 * estimator.fs),
            span_s=estimator.latency,
            f0=estimator.f0,
        )

    @property
    def state(self) -> str:
        """``"normal"``, ``"collecting"`` (a fault is on) or ``"lockout"`` (after an event)."""
        if self._onset is not None:
            return "collecting"
        return "lockout" if self._locked else "normal"

    def push(self, frames: Frames) -> list[FaultEvent]:
        """Process a block of frames; return the events they complete (usually none).

        Raises
        ------
        InvalidInputError
            Frames of the wrong shape, or time stamps that do not increase.
        """
        if frames.phasor.ndim != 2 or frames.phasor.shape[1] != len(CHANNELS):
            raise InvalidInputError(
                f"frames must carry {len(CHANNELS)} phasors each, got shape {frames.phasor.shape}"
            )
        if len(frames) == 0:
            return []
        joined = Frames.concatenate([self._history, frames])
        if np.any(np.diff(joined.time) <= 0):
            raise InvalidInputError("frame time stamps must increase")
        offset = len(self._history)
        pickup = self._pickup(joined, offset)
        events: list[FaultEvent] = []
        i = 0
        while i < len(frames):
            if self._onset is None and not self._locked and self._run == 0:
                ahead = np.flatnonzero(pickup[i:])
                if ahead.size == 0:
                    break  # the common case: nothing picks up in the rest of the block
                i += int(ahead[0])
            event = self._step(joined, offset + i, bool(pickup[i]))
            if event is not None:
                events.append(event)
            i += 1
        self._history = _tail(joined, self._keep)
        return events

    # --- pick-up -------------------------------------------------------------------------

    def _pickup(self, frames: Frames, offset: int) -> NDArray[np.bool_]:
        """Pick-up of the frames from `offset` on (earlier ones serve as memory)."""
        settings = self.settings
        voltage = frames.voltage[offset:]
        current = frames.current[offset:]
        sequence = to_sequence(current)
        magnitude = np.abs(current)
        start = magnitude.max(axis=1) > settings.overcurrent_a
        start |= 3 * np.abs(sequence[:, 0]) > settings.residual_current_a
        start |= np.abs(sequence[:, 2]) > settings.negative_sequence_a
        low = np.abs(voltage).min(axis=1) < settings.undervoltage_pu * self.nominal_voltage_v
        if np.any(low):
            back = np.arange(offset, len(frames)) - settings.memory_frames
            earlier = frames.current[np.maximum(back, 0)]
            change = np.abs(current - earlier).max(axis=1) > settings.superimposed_current_a
            start |= low & change & (back >= 0)
        return start & frames.valid[offset:]

    # --- the state machine ---------------------------------------------------------------

    def _step(self, frames: Frames, index: int, picked: bool) -> FaultEvent | None:
        """Advance by frame `index` of `frames`; return an event when one completes."""
        if self._onset is not None:
            return self._collect(self._onset, frames, index, picked)
        if self._locked:
            self._run = self._run + 1 if not picked else 0
            if self._run >= self.settings.reset_frames:
                self._locked, self._run = False, 0
            return None
        self._run = self._run + 1 if picked else 0
        if self._run >= self.settings.confirm_frames:
            self._onset = self._confirm(frames, index)
            self._frames = Frames.empty()
        return None

    def _confirm(self, frames: Frames, index: int) -> "_Onset":
        """Find the onset of the fault declared at frame `index`."""
        settings = self.settings
        period = _period(frames.time)
        first_pickup = index - settings.confirm_frames + 1
        # A marginal fault may pick up only once a frame's window is full of it, so it may
        # have begun a frame period before the first pick-up's window: reference frames end
        # a span before that.
        clean_end = frames.time[first_pickup] - period - self.window_s - self.span_s
        clean = np.flatnonzero(frames.valid[:index] & (frames.time[:index] < clean_end))
        onset = first_pickup
        if clean.size:
            first = clean[-1] + 1
            onset = first + _departure(
                frames.current[first : index + 1],
                frames.current[clean[-settings.prefault_frames :]],
                settings.onset_fraction,
            )
        latest = frames.time[onset] + self.window_s
        earliest = frames.time[onset] - period + self.window_s
        before = np.flatnonzero(
            frames.valid[:onset] & (frames.time[:onset] + self.span_s < earliest)
        )
        logger.info(
            "fault detected at %.3f s (inception before %.3f s)", frames.time[index], latest
        )
        return _Onset(
            inception=latest,
            detection=float(frames.time[index]),
            clean_from=latest + self.span_s + settings.transient_cycles / self.f0,
            prefault=_tail(_take(frames, before), settings.prefault_frames),
            confirming=_take(frames, np.array([index])),
        )

    def _collect(
        self, onset: "_Onset", frames: Frames, index: int, picked: bool
    ) -> FaultEvent | None:
        if not frames.valid[index]:
            return None
        if picked:
            if frames.time[index] >= onset.clean_from:
                self._frames = Frames.concatenate([self._frames, _take(frames, np.array([index]))])
                if len(self._frames) >= self.settings.fault_frames:
                    return self._deliver(onset, None)
            return None
        # Cleared. The first frame departing from the fault state bounds the clearing time:
        # after the previous frame's window. Frames that may reach past it are not the fault's.
        collected = self._frames
        if len(collected):
            first = int(np.searchsorted(frames.time, collected.time[0]))
            leaving = first + _departure(
                frames.current[first : index + 1], collected.current, self.settings.onset_fraction
            )
            bound = frames.time[leaving - 1] + self.window_s if leaving > first else -np.inf
            self._frames = _take(collected, np.flatnonzero(collected.time + self.span_s <= bound))
        return self._deliver(onset, float(frames.time[index]))

    def _deliver(self, onset: "_Onset", cleared: float | None) -> FaultEvent:
        prefault, during = onset.prefault, self._frames
        frequency = prefault.frequency[np.isfinite(prefault.frequency)]
        deviation = float(frequency.mean()) - self.f0 if frequency.size else 0.0
        reference = float(during.time[-1]) if len(during) else onset.detection
        window = 2.0 * self.window_s
        pre_mean, pre_sigma = _mean(prefault, deviation, reference, window)
        fault_mean, fault_sigma = _mean(during, deviation, reference, window)
        classified_from = fault_mean if len(during) else onset.confirming.phasor[0]
        try:
            kind = classify(pre_mean, classified_from, self.classification)
        except InvalidInputError as exc:
            logger.warning("fault not classified: %s", exc)
            kind = None
        self._locked, self._run, self._onset = True, 0, None
        self._frames = Frames.empty()
        logger.info(
            "fault event: %s, %d pre-fault and %d fault frames", kind, len(prefault), len(during)
        )
        return FaultEvent(
            inception_time=onset.inception,
            detection_time=onset.detection,
            kind=kind,
            time=reference,
            prefault=pre_mean,
            fault=fault_mean,
            prefault_sigma=pre_sigma,
            fault_sigma=fault_sigma,
            prefault_frames=len(prefault),
            fault_frames=len(during),
            cleared_time=cleared,
            fault_start=float(during.time[0]) if len(during) else math.nan,
        )


@dataclass(frozen=True)
class _Onset:
    inception: float  # latest possible inception, s
    detection: float  # time stamp of the confirming frame, s
    clean_from: float  # first time stamp of a clean during-fault frame, s
    prefault: Frames
    confirming: Frames


def _departure(
    scanned: NDArray[np.complex128], reference: NDArray[np.complex128], fraction: float
) -> int:
    """Position of the first of the `scanned` currents (n, 3) that departs from `reference`.

    Departing means from the mean of the `reference` currents (r, 3) by more than `fraction`
    of the last scanned one's departure and more than twice the reference's own scatter;
    the last one when no earlier one does.
    """
    mean = reference.mean(axis=0)
    departure = np.abs(scanned - mean).max(axis=1)
    threshold = max(fraction * departure[-1], 2 * np.abs(reference - mean).max())
    return (
        int(np.flatnonzero(departure[:-1] > threshold)[0])
        if np.any(departure[:-1] > threshold)
        else departure.size - 1
    )


def _take(frames: Frames, rows: NDArray[np.intp]) -> Frames:
    return Frames(
        time=frames.time[rows],
        phasor=frames.phasor[rows],
        frequency=frames.frequency[rows],
        rocof=frames.rocof[rows],
        valid=frames.valid[rows],
    )


def _tail(frames: Frames, count: int) -> Frames:
    return _take(frames, np.arange(max(len(frames) - count, 0), len(frames)))


def _period(time: NDArray[np.float64]) -> float:
    """Return the reporting period, s, from the time stamps (0.02 s with too few)."""
    return float(np.median(np.diff(time))) if time.shape[0] > 1 else 0.02


def _mean(
    frames: Frames, deviation_hz: float, reference: float, window_s: float
) -> tuple[NDArray[np.complex128], NDArray[np.float64]]:
    """Mean phasors referred to `reference` and their standard errors; NaN when undefined.

    Frames whose windows (`window_s` long) overlap share samples, and so their errors: with
    frames d apart, each error is common to about L / d of them, and the variance of the
    mean is that many times what independent frames would give (capped at the count).
    """
    count = len(frames)
    if count == 0:
        return np.full(len(CHANNELS), np.nan + 0j), np.full(len(CHANNELS), np.nan)
    rotation = np.exp(2j * np.pi * deviation_hz * (reference - frames.time))
    aligned = frames.phasor * rotation[:, None]
    mean = aligned.mean(axis=0)
    if count < 2:
        return mean, np.full(len(CHANNELS), np.nan)
    spread = (np.abs(aligned - mean) ** 2).sum(axis=0) / (count - 1)
    spacing = float(np.median(np.diff(frames.time)))
    shared = min(max(window_s / spacing, 1.0), count) if spacing > 0 else count
    return mean, np.sqrt(spread * shared / count)
