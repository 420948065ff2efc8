"""Built-in algorithm ``se-lv``: the LV level of the multilevel state estimation.

It runs on a secondary-substation meter (the paper's M2) and estimates the LV grid under one
transformer (:class:`gridedge.meter.estimation.multilevel.LVLevel`) once per round: from the
concentrators' estimates of its customer nodes (``se/concentrator/{bus}``, grid broker) and
from this meter's own readings, voltage of the MV busbar and power into the transformer,
averaged over the last ``window_s`` of its phasor frames. The result - MV busbar voltage, P
and Q into the transformer with their covariance, and every bus voltage of the LV grid - goes
to ``se/lv/{bus}`` for the MV level (see :mod:`gridedge.meter.estimation.rounds`).

Parameters
----------
``transformer`` (str)
    The secondary transformer this meter measures (``TS03`` for M2 in the Turin case).
``case`` (str, default ``turin``)
    The grid the meter sits in.
``interval_s``, ``wait_s``, ``window_s`` (float)
    Round interval (60 s), wait for the concentrators (half the interval), own readings'
    window (1 s).

Give it a ``deadline_s`` of a second or two: a round takes tens of milliseconds, building the
level at configuration a little more.
"""

import math
from typing import Any

from gridedge.errors import ConfigurationError, GridedgeError, InvalidInputError
from gridedge.meter.estimation.accuracy import SUBSTATION_METER
from gridedge.meter.estimation.multilevel import LVInput, LVLevel, NodeEstimate
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
from gridedge.mqtt import Deduplicator

CASES = ("turin", "ieee33")


class LVLevelAlgorithm(BaseAlgorithm):
    """One LV level per round, from the concentrators and this meter's readings."""

    def __init__(self) -> None:
        self._level: LVLevel | None = None
        self._key: tuple[str, str] = ("", "")
        self._dedup = Deduplicator()
        self._publish: Any = None

    def configure(self, context: Context) -> Declaration:
        """Build the level (once per case and transformer); subscribe to its concentrators."""
        parameters = context.parameters
        case = parameters.get("case", "turin")
        transformer = parameters.get("transformer")
        if case not in CASES:
            raise ConfigurationError(f"case {case!r} is not one of {CASES}")
        if not isinstance(transformer, str):
            raise ConfigurationError("give the secondary transformer this meter measures")
        if (case, transformer) != self._key or self._level is None:
            from gridedge.grid import cases

            self._grid = getattr(cases, case)()
            self._level = LVLevel(self._grid, transformer)
            self._key = (case, transformer)
        level = self._level
        self._settings = RoundSettings.of(parameters)
        self._rounds = Rounds(
            self._settings.interval_s, self._settings.wait_s or 0.0, level.customer_buses
        )
        self._readings = OwnReadings(self._grid.bus(level.bus).kv * 1e3 / math.sqrt(3))
        self._name = context.meter_id
        self._topics = context.topics
        self._topic = context.topics.state_estimate("lv", level.bus)
        self._publish = context.publish
        self._logger = context.logger
        return Declaration(
            inputs=frozenset({FRAMES, MESSAGES}),
            outputs=(Output(self._topic, broker="grid", kind=EVENT),),
            subscriptions=tuple(
                Subscription(context.topics.state_estimate("concentrator", bus))
                for bus in level.customer_buses
            ),
        )

    def on_frames(self, frames: Frames) -> None:
        """Keep this meter's readings; run the rounds they complete."""
        self._readings.add_frames(frames)
        readings = self._readings
        self._rounds.open(readings.newest, since=readings.first + self._settings.window_s)
        self._run()

    def on_message(self, message: Message) -> None:
        """Keep a concentrator's estimate (copies dropped)."""
        if message.retained or self._dedup.is_duplicate(message.envelope):
            return
        try:
            time, node = decode(NodeEstimate, message.envelope.body)
        except InvalidInputError as exc:
            self._logger.warning("ignoring a concentrator message on %s: %s", message.topic, exc)
            return
        self._rounds.add(time, node.bus, node)
        self._run()

    def _run(self) -> None:
        level = self._level
        if level is None:
            return
        for time, nodes in self._rounds.ready(self._readings.newest):
            window = (time - self._settings.window_s, time)
            substation = self._readings.measurements(
                self._name, level.bus, level.transformer, window, SUBSTATION_METER
            )
            message = LVInput(level.transformer, time, tuple(nodes.values()), substation)
            try:
                output = level.run(message)
            except GridedgeError as exc:
                self._logger.warning("LV level of round %.0f failed: %s", time, exc)
                self._publish(self._topic, {"time": time, "error": str(exc)})
                continue
            body = encode(time, output)
            body["concentrators"] = len(nodes)
            self._publish(self._topic, body)


def create() -> LVLevelAlgorithm:
    """Entry point of the package."""
    return LVLevelAlgorithm()
