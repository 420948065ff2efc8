"""Built-in algorithm ``fault-detector``: fault detection and location on a feeder-head meter.

It runs :class:`gridedge.meter.faults.detection.FaultDetector` on every frame. When a fault
is declared it publishes it on ``faults/{feeder}`` (grid broker) and, given the grid, locates
it with :func:`gridedge.meter.faults.locate` and publishes the location there too. Location
combines the head meter's phasors (impedance method) with the sparse voltage magnitudes of
the downstream meters: the algorithm subscribes to the measurements (``phasor-publisher``
frames, monitoring broker) of every other meter in its topology portion, keeps a few seconds
of them, and after a fault waits until each has reported past the fault (or ``collect_s``
has passed) before it locates. The feeder model behind location (power flow, sparse
factorisations, scipy) is built when the first fault is to be located, or at configuration
with ``prebuild``: a meter that never sees a fault does not carry it.

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
    Use the voltages the other meters of the topology portion publish.
``collect_s`` (float, default 1.0)
    Longest wait for the downstream meters' frames after a fault, s.

Location can take longer than the meter's default deadline: give this algorithm its own
``deadline_s`` (5 s is ample for the Turin feeders).

Messages: ``{"state": "detected", "kind", "inception_time", "detection_time",
"cleared_time"}``, then ``{"state": "located", "line", "from_bus", "to_bus", "distance_m",
"resistance_ohm", "kind", "ambiguous", "reasons", "candidates": [...], "meters_used",
"meters_missing", "inception_time", "detection_time"}`` or ``{"state": "not located",
"reason", "inception_time", "detection_time"}``.
"""

import math
import time
from typing import Any

from gridedge import config
from gridedge.errors import ConfigurationError, FaultLocationError, InvalidInputError
from gridedge.meter.faults.detection import DetectionSettings, FaultDetector, FaultEvent
from gridedge.meter.faults.downstream import DownstreamVoltages
from gridedge.meter.phasor import Frames
from gridedge.meter.plugin import (
    EVENT,
    FRAMES,
    MESSAGES,
    BaseAlgorithm,
    Context,
    Declaration,
    Message,
    Output,
    Subscription,
)
from gridedge.meter.portion import other_meters, switch_states
from gridedge.mqtt import Deduplicator, Topics

CASES = ("turin", "ieee33")


class FaultDetectorAlgorithm(BaseAlgorithm):
    """Detect on every frame; locate each fault when the grid is known."""

    def __init__(self) -> None:
        self._detector: Any = None
        self._detector_key: tuple[Any, ...] = ()
        self._case: str | None = None
        self._grid: Any = None
        self._feeder: Any = None
        self._states: dict[str, bool] = {}
        self._meter_id = ""
        self._topic = ""
        self._publish: Any = None
        self._topics = Topics()
        self._downstream = DownstreamVoltages(())
        self._dedup = Deduplicator()
        self._collect_s = 1.0
        self._pending: list[tuple[FaultEvent, float]] = []

    def configure(self, context: Context) -> Declaration:
        """Build the detector; keep it (and what it remembers) while its settings stay."""
        parameters = context.parameters
        case = parameters.get("case")
        if case is not None and case not in CASES:
            raise ConfigurationError(f"case {case!r} is not one of {CASES}")
        meter_id = str(parameters.get("meter", context.meter_id))
        states = switch_states(context.topology)
        if (case, meter_id, states) != (self._case, self._meter_id, self._states):
            if case != self._case:
                self._grid = None
            self._case, self._meter_id, self._states = case, meter_id, states
            self._feeder = None
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
        if parameters.get("prebuild", False) and case is not None:
            self._model()
        collect = parameters.get("collect_s", 1.0)
        if isinstance(collect, bool) or not isinstance(collect, int | float) or collect < 0:
            raise ConfigurationError(f"collect_s must be a number >= 0, got {collect!r}")
        self._collect_s = float(collect)
        self._topics = context.topics
        meters: tuple[str, ...] = ()
        if parameters.get("downstream", True) and case is not None:
            meters = other_meters(context.topology, meter_id)
        if self._downstream.meters != frozenset(meters):
            self._downstream = DownstreamVoltages(meters)
        subscriptions = tuple(
            Subscription(context.topics.measurements(m), broker="monitoring") for m in meters
        )
        return Declaration(
            inputs=frozenset({FRAMES, MESSAGES} if meters else {FRAMES}),
            outputs=(Output(self._topic, broker="grid", kind=EVENT),),
            subscriptions=subscriptions,
        )

    def on_frames(self, frames: Frames) -> None:
        """Detect; publish every fault the frames complete, and locate it once it can be."""
        for event in self._detector.push(frames):
            self._publish(self._topic, _detected(event))
            if self._case is not None:
                self._pending.append((event, time.time() + self._collect_s))
        self._locate_ready()

    def on_message(self, message: Message) -> None:
        """Keep a downstream meter's frame (copies dropped); locate what is ready."""
        envelope = message.envelope
        if not message.retained and not self._dedup.is_duplicate(envelope):
            meter = self._topics.device_of(message.topic, "meters")
            if meter is not None and message.topic == self._topics.measurements(meter):
                self._downstream.add(meter, envelope.body)
        self._locate_ready()

    def _locate_ready(self) -> None:
        """Locate the faults whose downstream frames are in, or whose wait is over."""
        while self._pending:
            event, deadline = self._pending[0]
            if not self._downstream.complete(event.time) and time.time() < deadline:
                return
            self._pending.pop(0)
            self._publish(self._topic, self._located(event))

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

    def _located(self, event: FaultEvent) -> dict[str, Any]:
        from gridedge.meter.faults.location import locate

        times = {"inception_time": event.inception_time, "detection_time": event.detection_time}
        voltages, prefault = self._downstream.around(event)
        try:
            found = locate(
                self._model(),
                event.prefault,
                event.fault,
                voltages,
                kind=event.kind,
                uncertainty=event.uncertainty,
                prefault_voltages=prefault,
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
            "candidates": [
                {"line": c.line, "from_bus": c.from_bus, "distance_m": c.distance_m}
                for c in found.candidates
            ],
            "meters_used": list(found.meters_used),
            "meters_missing": list(found.meters_missing),
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
