"""What the LV and MV levels have in common as on-board algorithms: the round loop.

A level algorithm collects, per round, one message from each sender of the level below
(``se/{lower}/{bus}``), keeps this meter's own readings from its phasor frames, runs its level
when a round is complete (or has waited long enough) and publishes the result, or the error,
on ``se/{own}/{bus}``. The built-ins ``se-lv`` and ``se-mv`` (``gridedge.meter.builtins``)
say only what differs: how the level is built, what a message from below is, and what goes
into the level's input.
"""

import abc
import math
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from gridedge.errors import ConfigurationError, GridedgeError, InvalidInputError
from gridedge.grid.casenames import CASE_NAMES
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

"""The built-in grids a level can be configured for (``case`` parameter)."""

Below = TypeVar("Below")


class Prepared(NamedTuple):
    """What the round loop needs of a level that was built.

    Attributes
    ----------
    senders : mapping of str to str
        For each bus whose ``se/{lower}/{bus}`` topic feeds the level: the key its messages
        are collected under.
    bus : str
        This meter's bus: where its readings are taken and its results are named.
    kv : float
        Nominal line-to-line voltage of that bus, kV.
    """

    senders: Mapping[str, str]
    bus: str
    kv: float


class LevelAlgorithm(BaseAlgorithm, abc.ABC, Generic[Below]):
    """One level of the multilevel estimation, run once per round.

    Subclasses set the class attributes and implement :meth:`prepare`, :meth:`sender` and
    :meth:`run_level`.
    """

    level: ClassVar[str]
    """The level's name in topics and logs: ``lv`` or ``mv``."""
    lower: ClassVar[str]
    """The level below in topics: ``concentrator`` or ``lv``."""
    message_type: ClassVar[type]
    """The class of a message from the level below."""

    def __init__(self) -> None:
        self._dedup = Deduplicator()
        self._publish: Any = None
        self._rounds_key: tuple[Any, ...] = ()
        self._readings_key: float | None = None

    @abc.abstractmethod
    def prepare(self, context: Context, case: str) -> Prepared:
        """Build the level for the context's parameters and topology (`case` is checked)."""

    @abc.abstractmethod
    def sender(self, message: Below) -> str:
        """The key a message from below is collected under (one of the senders' keys)."""

    @abc.abstractmethod
    def run_level(
        self, time: float, received: Mapping[str, Below], window: tuple[float, float]
    ) -> tuple[Any, dict[str, Any]]:
        """Run the level for round `time`: its output message and fields added to the body.

        Parameters
        ----------
        received : mapping
            The round's messages from below, by sender key.
        window : tuple of float
            The interval of this meter's readings the round uses, s (absolute time base).
        """

    def configure(self, context: Context) -> Declaration:
        """Build the level (again only when what it depends on changed); subscribe below.

        The rounds in progress (and which ran last) and this meter's readings survive a
        re-configuration that keeps their timing and voltage (a topology push): dropping them
        would skip the round under way and, until a window of new readings is in, the next,
        or run again a round that had run. A change of senders (a feeder that lost or gained
        substations) changes what a complete round waits for.
        """
        case = context.parameters.get("case", "turin")
        if case not in CASE_NAMES:
            raise ConfigurationError(f"case {case!r} is not one of {CASE_NAMES}")
        senders, bus, kv = self.prepare(context, case)
        self._settings = RoundSettings.of(context.parameters)
        timing = (self._settings.interval_s, self._settings.wait_s or 0.0)
        if timing != self._rounds_key:
            self._rounds_key = timing
            self._rounds = Rounds(*timing, senders.values())
        else:
            self._rounds.expect(senders.values())
        if kv != self._readings_key:
            self._readings_key = kv
            self._readings = OwnReadings(kv * 1e3 / math.sqrt(3))
        self._topic = context.topics.state_estimate(self.level, bus)
        self._publish = context.publish
        self._logger = context.logger
        return Declaration(
            inputs=frozenset({FRAMES, MESSAGES}),
            outputs=(Output(self._topic, broker="grid", kind=EVENT),),
            subscriptions=tuple(
                Subscription(context.topics.state_estimate(self.lower, b)) for b in senders
            ),
        )

    def on_frames(self, frames: Frames) -> None:
        """Keep this meter's readings; run the rounds they complete."""
        self._readings.add_frames(frames)
        readings = self._readings
        self._rounds.open(readings.newest, since=readings.first + self._settings.window_s)
        self._run()

    def on_message(self, message: Message) -> None:
        """Keep a result from below (copies and the errors of a level that failed dropped)."""
        body = message.envelope.body
        if message.retained or self._dedup.is_duplicate(message.envelope):
            return
        if isinstance(body, dict) and "error" in body:
            return
        try:
            time, received = decode(self.message_type, body)
        except InvalidInputError as exc:
            self._logger.warning("ignoring a message on %s: %s", message.topic, exc)
            return
        self._rounds.add(time, self.sender(received), received)
        self._run()

    def _run(self) -> None:
        for time, received in self._rounds.ready(self._readings.newest):
            window = (time - self._settings.window_s, time)
            try:
                output, extra = self.run_level(time, received, window)
            except GridedgeError as exc:
                self._logger.warning(
                    "%s level of round %.0f failed: %s", self.level.upper(), time, exc
                )
                self._publish(self._topic, {"time": time, "error": str(exc)})
                continue
            self._publish(self._topic, {**encode(time, output), **extra})
