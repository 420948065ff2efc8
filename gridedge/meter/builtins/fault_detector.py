"""Built-in algorithm ``fault-detector``: fault detection and location on a feeder-head meter.

It runs :class:`gridedge.meter.faults.detection.FaultDetector` on every frame. When a fault
is declared it goes back to the last seconds of its samples and fits the phasors of the
fault's whole stable intervals (:func:`gridedge.meter.faults.interval.estimate`), publishes
the fault with those intervals on ``faults/{feeder}`` (grid broker), and - given the grid -
locates it with :func:`gridedge.meter.faults.locate` and publishes the location there too.
Location combines the head's phasors (impedance method) with the voltage magnitudes the
other meters of its topology portion fit over the same intervals and report on
``meters/{id}/fault-voltages`` (built-in ``fault-reporter``; :mod:`gridedge.meter.faults.reports`):
the algorithm waits until each has reported (or ``collect_s`` has passed). When the samples
hold no stable interval (a fault in the first second, a gap, a fault of less than a cycle),
it locates from the detector's frame sets alone and says so. The feeder model behind location
(power flow, sparse factorisations, scipy) is built when the first fault is to be located,
or at configuration with ``prebuild``: a meter that never sees a fault does not carry it.

Parameters
----------
``feeder`` (str, default the meter id)
    Names the topic.
``case`` (str, optional)
    ``turin`` or ``ieee33``: the grid the meter sits in, for its nominal voltage and for
    location. Switch states come from the topology in the meter's settings, so the feeder
    follows reconfigurations. Without it, faults are detected but not located.
``meter`` (str, default the meter id)
    Which meter of that grid this one is.
``nominal_voltage_v`` (float)
    Nominal phase-to-earth voltage at the meter, V RMS; from the grid when not given (which
    then loads at configuration rather than at the first fault).
``detection`` (object)
    Fields of :class:`gridedge.meter.faults.detection.DetectionSettings`.
``prebuild`` (bool, default false)
    Build the feeder model at configuration rather than at the first fault.
``downstream`` (bool, default true)
    Use the voltages the other meters of the topology portion report.
``collect_s`` (float, default 2.0)
    Longest wait for the downstream meters' reports after a fault, s. The head locates as
    soon as all are in (within tens of milliseconds on a healthy network); the wait only
    matters when one is slow or silent.
``keep_s`` (float, default 3.0)
    Seconds of samples kept for the fit: the 0.5 s before the fault, and the fault until
    the detector declares it.

Location can take longer than the meter's default deadline: give this algorithm its own
``deadline_s`` (5 s is ample for the Turin feeders).

Messages: ``{"state": "detected", "kind", "inception_time", "detection_time",
"cleared_time", "intervals"}`` (``intervals``: ``{"time", "frequency_hz", "prefault": [from,
to], "fault": [from, to]}``, s and Hz, or null without a fit), then ``{"state": "located",
"line", "from_bus", "to_bus", "distance_m", "resistance_ohm", "kind", "ambiguous",
"reasons", "sections", "candidates": [...], "meters_used", "meters_missing", "phasors",
"inception_time", "detection_time"}`` (``phasors``: ``"samples"`` from the interval fit, or
``"frames: <why not samples>"``) or ``{"state": "not located", "reason", "inception_time",
"detection_time"}``.
"""

import math
import time
from dataclasses import dataclass, field
from typing import Any

from gridedge import config
from gridedge.errors import ConfigurationError, FaultLocationError, InvalidInputError
from gridedge.grid.casenames import CASE_NAMES
from gridedge.meter.faults.detection import DetectionSettings, FaultDetector, FaultEvent
from gridedge.meter.faults.interval import IntervalPhasors, VoltageReport, estimate
from gridedge.meter.faults.reports import KEEP_S, intervals_body, report_from_body
from gridedge.meter.history import SampleHistory
from gridedge.meter.phasor import Frames
from gridedge.meter.plugin import (
    EVENT,
    FRAMES,
    MESSAGES,
    SAMPLES,
    BaseAlgorithm,
    Context,
    Declaration,
    Message,
    Output,
    SampleBlock,
    Subscription,
    number_parameter,
)
from gridedge.meter.portion import other_meters, switch_states
from gridedge.mqtt import Deduplicator

COLLECT_S = 2.0
"""Default longest wait for the downstream meters' reports, s."""


@dataclass
class _Pending:
    """A declared fault waiting for the downstream meters' reports."""

    event: FaultEvent
    phasors: IntervalPhasors | str  # the fit, or why there is none
    deadline: float
    reports: dict[str, VoltageReport | str] = field(default_factory=dict)


class FaultDetectorAlgorithm(BaseAlgorithm):
    """Detect on every frame; fit and locate each fault when the grid is known."""

    def __init__(self) -> None:
        self._detector: Any = None
        self._detector_key: tuple[Any, ...] = ()
        self._history: SampleHistory | None = None
        self._history_key: tuple[float, ...] = ()
        self._scaling: Any = None
        self._f0 = 50.0
        self._logger: Any = None
        self._case: str | None = None
        self._grid: Any = None
        self._feeder: Any = None
        self._states: dict[str, bool] = {}
        self._meter_id = ""
        self._device_id = ""
        self._topic = ""
        self._publish: Any = None
        self._downstream: frozenset[str] = frozenset()
        self._dedup = Deduplicator()
        self._collect_s = COLLECT_S
        self._pending: list[_Pending] = []

    def configure(self, context: Context) -> Declaration:
        """Build the detector; keep it (and what it remembers) while its settings stay."""
        parameters = context.parameters
        case = parameters.get("case")
        if case is not None and case not in CASE_NAMES:
            raise ConfigurationError(f"case {case!r} is not one of {CASE_NAMES}")
        meter_id = str(parameters.get("meter", context.meter_id))
        states = switch_states(context.topology)
        if (case, meter_id, states) != (self._case, self._meter_id, self._states):
            if case != self._case:
                self._grid = None
            self._case, self._meter_id, self._states = case, meter_id, states
            self._feeder = None
        self._device_id = context.meter_id
        self._logger = context.logger
        self._topic = context.topics.faults(str(parameters.get("feeder", context.meter_id)))
        self._publish = context.publish
        nominal = parameters.get("nominal_voltage_v")
        if nominal is None:
            if case is None:
                raise ConfigurationError("give nominal_voltage_v, or the case the meter is in")
            grid = self._case_grid()
            nominal = grid.bus(grid.meter(meter_id).bus).kv * 1e3 / math.sqrt(3)
        settings = config.from_mapping(
            DetectionSettings, parameters.get("detection", {}), where="parameters.detection"
        )
        measurement = context.measurement
        key = (float(nominal), settings, measurement.window_s, measurement.latency_s)
        if key != self._detector_key:
            self._detector_key = key
            self._detector = FaultDetector(
                float(nominal),
                settings,
                window_s=measurement.window_s,
                span_s=measurement.latency_s,
                f0=measurement.f0,
            )
        history = (
            measurement.fs,
            measurement.start_time,
            number_parameter(parameters, "keep_s", KEEP_S, minimum=1.0),
        )
        if history != self._history_key:
            self._history_key = history
            self._history = SampleHistory(history[0], history[1], 6, history[2])
        self._scaling = measurement.scaling
        self._f0 = measurement.f0
        if parameters.get("prebuild", False) and case is not None:
            self._model()
        self._collect_s = number_parameter(parameters, "collect_s", COLLECT_S)
        meters: tuple[str, ...] = ()
        if parameters.get("downstream", True) and case is not None:
            meters = other_meters(context.topology, meter_id)
        self._downstream = frozenset(meters)
        subscriptions = tuple(
            Subscription(context.topics.fault_voltages(m), broker="grid") for m in meters
        )
        return Declaration(
            inputs=frozenset({FRAMES, SAMPLES, MESSAGES} if meters else {FRAMES, SAMPLES}),
            outputs=(Output(self._topic, broker="grid", kind=EVENT),),
            subscriptions=subscriptions,
        )

    def on_samples(self, block: SampleBlock) -> None:
        """Keep the samples, in primary units, for the fit after a fault."""
        assert self._history is not None
        self._history.add(block.first_index, self._scaling.to_primary(block.samples))

    def on_frames(self, frames: Frames) -> None:
        """Detect; fit and publish every fault the frames complete; locate what is ready."""
        for event in self._detector.push(frames):
            phasors = self._fit(event)
            body = _detected(event)
            body["intervals"] = (
                intervals_body(phasors.intervals) if isinstance(phasors, IntervalPhasors) else None
            )
            self._publish(self._topic, body)
            if self._case is not None:
                deadline = time.time() + (self._collect_s if body["intervals"] else 0.0)
                self._pending.append(_Pending(event, phasors, deadline))
        self._locate_ready()

    def on_message(self, message: Message) -> None:
        """Take a downstream meter's report of a pending fault (copies dropped)."""
        envelope = message.envelope
        if (
            not message.retained
            and envelope.sender in self._downstream
            and not self._dedup.is_duplicate(envelope)
        ):
            try:
                head, inception, report = report_from_body(envelope.body)
            except InvalidInputError as exc:
                self._logger.warning("report of %s dropped: %s", envelope.sender, exc)
                return
            for pending in self._pending:
                if head == self._device_id and inception == pending.event.inception_time:
                    pending.reports[envelope.sender] = report
        self._locate_ready()

    def _fit(self, event: FaultEvent) -> IntervalPhasors | str:
        """The event's phasors over its stable intervals, or why the samples hold none."""
        assert self._history is not None
        oldest, newest = self._history.span
        try:
            if math.isnan(oldest):
                raise InvalidInputError("no samples kept yet")
            start, samples = self._history.window(oldest, newest)
            return estimate(
                samples, start, self._history.fs, None, event.inception_time, f0=self._f0
            )
        except InvalidInputError as exc:
            return str(exc)

    def _locate_ready(self) -> None:
        """Locate the faults whose reports are in, or whose wait is over."""
        while self._pending:
            pending = self._pending[0]
            if pending.reports.keys() < self._downstream and time.time() < pending.deadline:
                return
            self._pending.pop(0)
            self._publish(self._topic, self._located(pending))

    def _case_grid(self) -> Any:
        if self._grid is None:
            from gridedge.grid import cases

            self._grid = getattr(cases, self._case)()
        return self._grid

    def _model(self) -> Any:
        if self._feeder is None:
            from gridedge.meter.faults.feeder import FeederModel

            self._feeder = FeederModel(self._case_grid(), self._meter_id, self._states or None)
        return self._feeder

    def _located(self, pending: _Pending) -> dict[str, Any]:
        from gridedge.meter.faults.location import locate, locate_reported

        event, phasors = pending.event, pending.phasors
        times = {"inception_time": event.inception_time, "detection_time": event.detection_time}
        reports = {m: r for m, r in pending.reports.items() if not isinstance(r, str)}
        try:
            if isinstance(phasors, IntervalPhasors):
                found = locate_reported(self._model(), phasors, reports, kind=event.kind)
            else:
                found = locate(
                    self._model(),
                    event.prefault,
                    event.fault,
                    kind=event.kind,
                    uncertainty=event.uncertainty,
                )
        except (FaultLocationError, InvalidInputError) as exc:
            return {"state": "not located", "reason": str(exc), **times}
        return {
            **times,
            "state": "located",
            "line": found.line,
            "from_bus": found.from_bus,
            "to_bus": found.to_bus,
            "distance_m": found.distance_m,
            "resistance_ohm": found.resistance_ohm,
            "kind": str(found.kind),
            "ambiguous": found.ambiguous,
            "reasons": list(found.reasons),
            "sections": list(found.sections),
            "candidates": [
                {"line": c.line, "from_bus": c.from_bus, "distance_m": c.distance_m}
                for c in found.candidates
            ],
            "meters_used": list(found.meters_used),
            "meters_missing": list(found.meters_missing),
            "phasors": "samples" if isinstance(phasors, IntervalPhasors) else f"frames: {phasors}",
        }


def _detected(event: FaultEvent) -> dict[str, Any]:
    return {
        "state": "detected",
        "kind": None if event.kind is None else str(event.kind),
        "inception_time": event.inception_time,
        "detection_time": event.detection_time,
        "cleared_time": event.cleared_time,
    }


def create() -> FaultDetectorAlgorithm:
    """Entry point of the package."""
    return FaultDetectorAlgorithm()
