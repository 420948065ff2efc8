"""Built-in algorithm ``fault-detector``: fault detection and location on a feeder-head meter.

It runs :class:`gridedge.meter.faults.detection.FaultDetector` on every frame. When a fault
is declared it publishes it on ``faults/{feeder}`` (grid broker) and, given the grid, locates
it with :func:`gridedge.meter.faults.locate` (impedance method on the head meter's phasors)
and publishes the location there too. The feeder model behind location (power flow, sparse
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

Location can take longer than the meter's default deadline: give this algorithm its own
``deadline_s`` (5 s is ample for the Turin feeders).

Messages: ``{"state": "detected", "kind", "inception_time", "detection_time",
"cleared_time"}``, then ``{"state": "located", "line", "from_bus", "to_bus", "distance_m",
"resistance_ohm", "kind", "ambiguous", "reasons", "candidates": [...]}`` or
``{"state": "not located", "reason"}``.
"""

import math
from collections.abc import Mapping
from typing import Any

from gridedge import config
from gridedge.errors import ConfigurationError, FaultLocationError, InvalidInputError
from gridedge.meter.faults.detection import DetectionSettings, FaultDetector, FaultEvent
from gridedge.meter.phasor import Frames
from gridedge.meter.plugin import EVENT, FRAMES, BaseAlgorithm, Context, Declaration, Output

CASES = ("turin", "ieee33")


def switch_states(topology: Mapping[str, Any] | None) -> dict[str, bool]:
    """Switch states of the topology in a meter's settings (none: the grid's own)."""
    if not topology:
        return {}
    return {s["id"]: bool(s.get("closed", True)) for s in topology.get("switches", [])}


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
        return Declaration(
            inputs=frozenset({FRAMES}), outputs=(Output(self._topic, broker="grid", kind=EVENT),)
        )

    def on_frames(self, frames: Frames) -> None:
        """Detect; publish and locate every fault the frames complete."""
        for event in self._detector.push(frames):
            self._publish(self._topic, _detected(event))
            if self._case is not None:
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

        try:
            found = locate(
                self._model(),
                event.prefault,
                event.fault,
                kind=event.kind,
                uncertainty=event.uncertainty,
            )
        except (FaultLocationError, InvalidInputError) as exc:
            return {"state": "not located", "reason": str(exc)}
        return {
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
