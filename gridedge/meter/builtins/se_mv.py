"""Built-in algorithm ``se-mv``: the MV level of the multilevel state estimation.

It runs on a feeder-head meter (the paper's M1) and estimates, once per round, the MV grid of
the region the meter observes - its feeder, from the source down
(:func:`gridedge.meter.estimation.areas.region_area`, with the switch states of the meter's
topology portion) - with :class:`gridedge.meter.estimation.multilevel.MVLevel`: from the LV
levels of the feeder's secondary substations (``se/lv/{bus}``, each weighted by its
covariance; pseudo-measurements for a silent one) and from this meter's own readings, busbar
voltage and power into the feeder, averaged over the last ``window_s`` of its frames. The
MV bus voltages and the slack voltage for each LV level go to ``se/mv/{bus}``, named after the
meter's bus.

When a reconfiguration changes the meter's portion, the catalog's settings push configures
the algorithm again: the level is rebuilt for the new feeder and subscribes to the LV levels
of the secondary substations now on it.

Parameters
----------
``case`` (str, default ``turin``)
    The grid the meter sits in.
``meter`` (str, default the meter id)
    Which meter of that grid this one is.
``interval_s``, ``wait_s``, ``window_s`` (float)
    Round interval (60 s), wait for the LV levels (half the interval), own readings' window
    (1 s).
"""

import math
from typing import Any

from gridedge.errors import ConfigurationError, GridedgeError, InvalidInputError
from gridedge.meter.estimation import areas
from gridedge.meter.estimation.accuracy import SUBSTATION_METER
from gridedge.meter.estimation.multilevel import LVOutput, MVInput, MVLevel
from gridedge.meter.estimation.rounds import OwnReadings, Rounds, RoundSettings, decode, encode
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
from gridedge.meter.portion import region, switch_states
from gridedge.mqtt import Deduplicator

CASES = ("turin", "ieee33")


class MVLevelAlgorithm(BaseAlgorithm):
    """One MV level per round, from the feeder's LV levels and this meter's readings."""

    def __init__(self) -> None:
        self._level: MVLevel | None = None
        self._key: tuple[Any, ...] = ()
        self._dedup = Deduplicator()
        self._publish: Any = None

    def configure(self, context: Context) -> Declaration:
        """Build the level for the meter's current region; subscribe to its LV levels."""
        from gridedge.grid import cases, topology

        parameters = context.parameters
        case = parameters.get("case", "turin")
        if case not in CASES:
            raise ConfigurationError(f"case {case!r} is not one of {CASES}")
        meter_id = str(parameters.get("meter", context.meter_id))
        states = switch_states(context.topology)
        key = (case, meter_id, tuple(sorted(states.items())))
        if key != self._key or self._level is None:
            grid = getattr(cases, case)().with_switch_states(states)
            observed = region(context.topology) or topology.of(grid).meter_region(meter_id)
            area = areas.region_area(grid, observed, meter_id)
            stations = [t.id for t in areas.secondary_transformers(area)]
            self._level = MVLevel(area, stations)
            self._stations = {grid.transformer(t).hv_bus: t for t in stations}
            self._meter = grid.meter(meter_id)
            self._nominal = grid.bus(self._meter.bus).kv * 1e3 / math.sqrt(3)
            self._key = key
        if self._meter.branch is None:
            raise ConfigurationError(f"meter {meter_id} measures no branch: no power into a feeder")
        self._settings = RoundSettings.of(parameters)
        self._rounds = Rounds(
            self._settings.interval_s, self._settings.wait_s or 0.0, self._stations.values()
        )
        self._readings = OwnReadings(self._nominal)
        self._name = context.meter_id
        self._topic = context.topics.state_estimate("mv", self._meter.bus)
        self._publish = context.publish
        self._logger = context.logger
        return Declaration(
            inputs=frozenset({FRAMES, MESSAGES}),
            outputs=(Output(self._topic, broker="grid", kind=EVENT),),
            subscriptions=tuple(
                Subscription(context.topics.state_estimate("lv", bus)) for bus in self._stations
            ),
        )

    def on_frames(self, frames: Frames) -> None:
        """Keep this meter's readings; run the rounds they complete."""
        self._readings.add_frames(frames)
        readings = self._readings
        self._rounds.open(readings.newest, since=readings.first + self._settings.window_s)
        self._run()

    def on_message(self, message: Message) -> None:
        """Keep an LV level's result (copies dropped; an LV level that failed is left out)."""
        body = message.envelope.body
        if message.retained or self._dedup.is_duplicate(message.envelope):
            return
        if isinstance(body, dict) and "error" in body:
            return
        try:
            time, output = decode(LVOutput, body)
        except InvalidInputError as exc:
            self._logger.warning("ignoring an LV level message on %s: %s", message.topic, exc)
            return
        self._rounds.add(time, output.transformer, output)
        self._run()

    def _run(self) -> None:
        level, meter = self._level, self._meter
        if level is None:
            return
        for time, outputs in self._rounds.ready(self._readings.newest):
            window = (time - self._settings.window_s, time)
            primary = self._readings.measurements(
                f"primary:{self._name}", meter.bus, str(meter.branch), window, SUBSTATION_METER
            )
            try:
                output = level.run(MVInput(time, tuple(outputs.values()), primary))
            except GridedgeError as exc:
                self._logger.warning("MV level of round %.0f failed: %s", time, exc)
                self._publish(self._topic, {"time": time, "error": str(exc)})
                continue
            body = encode(time, output)
            body["stations"] = sorted(outputs)
            body["pseudo"] = sorted(set(self._stations.values()) - set(outputs))
            self._publish(self._topic, body)


def create() -> MVLevelAlgorithm:
    """Entry point of the package."""
    return MVLevelAlgorithm()
