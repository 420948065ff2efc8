"""The contract between the meter and the algorithms it runs (API version 1).

An algorithm is shipped as a signed package (``docs/packages.md``) whose manifest names an
entry point ``module:function``; the function takes no arguments and returns an object with
the methods of :class:`Algorithm`. The meter calls them from one worker thread per algorithm,
never from the MQTT network thread, and never two at once. ``docs/algorithms.md`` describes the
contract for people; this module is its code.
"""

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from gridedge.channels import ChannelScaling
from gridedge.errors import ConfigurationError
from gridedge.meter.phasor import Frames, PhasorEstimator
from gridedge.mqtt import Envelope, Topics

FRAMES = "frames"
"""Input: phasor frames (:class:`gridedge.meter.phasor.Frames`) through ``on_frames``."""
SAMPLES = "samples"
"""Input: raw sample blocks (:class:`SampleBlock`) through ``on_samples``."""
MESSAGES = "messages"
"""Input: MQTT messages of the declared subscriptions through ``on_message``."""
INPUTS = (FRAMES, SAMPLES, MESSAGES)

MEASUREMENT = "measurement"
"""An output that is a measurement (buffered and replayed like an event)."""
EVENT = "event"
"""An output that is an event (a fault, an estimate): buffered and replayed."""

BROKERS = ("grid", "monitoring")


@dataclasses.dataclass(frozen=True)
class Output:
    """A topic an algorithm publishes on.

    Attributes
    ----------
    topic : str
        The full topic (build it with ``context.topics``).
    broker : str
        ``grid`` (faults, estimates, commands) or ``monitoring`` (measurements, telemetry).
    kind : str
        :data:`MEASUREMENT` or :data:`EVENT`.
    retain : bool
        Ask the broker to keep the last message for later subscribers.
    """

    topic: str
    broker: str = "monitoring"
    kind: str = MEASUREMENT
    retain: bool = False

    def __post_init__(self) -> None:
        if self.broker not in BROKERS:
            raise ConfigurationError(
                f"output {self.topic}: broker {self.broker!r} is not {BROKERS}"
            )
        if self.kind not in (MEASUREMENT, EVENT):
            raise ConfigurationError(f"output {self.topic}: kind {self.kind!r} is not known")
        if not self.topic or any(c in self.topic for c in "+#\0"):
            raise ConfigurationError(f"output topic {self.topic!r} is empty or has a wildcard")


@dataclasses.dataclass(frozen=True)
class Subscription:
    """A topic filter whose messages an algorithm receives through ``on_message``."""

    topic_filter: str
    broker: str = "grid"

    def __post_init__(self) -> None:
        if self.broker not in BROKERS:
            raise ConfigurationError(
                f"subscription {self.topic_filter}: broker {self.broker!r} is not {BROKERS}"
            )
        if not self.topic_filter:
            raise ConfigurationError("a subscription needs a topic filter")


@dataclasses.dataclass(frozen=True)
class Declaration:
    """What an algorithm consumes and produces; ``configure`` returns it.

    Attributes
    ----------
    inputs : frozenset of str
        Among :data:`INPUTS`; only those methods are called.
    outputs : tuple of Output
        The only topics ``context.publish`` accepts.
    subscriptions : tuple of Subscription
        Topic filters delivered to ``on_message`` (needs :data:`MESSAGES` in `inputs`).
    """

    inputs: frozenset[str]
    outputs: tuple[Output, ...] = ()
    subscriptions: tuple[Subscription, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", frozenset(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "subscriptions", tuple(self.subscriptions))
        unknown = self.inputs - set(INPUTS)
        if unknown:
            raise ConfigurationError(f"declared inputs {sorted(unknown)} are not among {INPUTS}")
        if self.subscriptions and MESSAGES not in self.inputs:
            raise ConfigurationError(f"subscriptions need {MESSAGES!r} among the inputs")
        topics = [o.topic for o in self.outputs]
        if len(set(topics)) != len(topics):
            raise ConfigurationError(f"an output topic is declared twice: {topics}")

    def output(self, topic: str) -> Output | None:
        """Return the declared output of `topic`, or None."""
        return next((o for o in self.outputs if o.topic == topic), None)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """How the meter measures: what ``on_frames`` and ``on_samples`` receive.

    Attributes
    ----------
    fs : float
        Sampling rate, Hz.
    start_time : float
        Time of the sample with index 0, s (absolute time base): sample ``k`` of a
        :class:`SampleBlock` was taken at ``start_time + (first_index + k) / fs``.
    f0 : float
        Nominal frequency, Hz.
    reporting_rate : float
        Phasor frames per second.
    scaling : ChannelScaling
        Raw sample units to primary volts and amperes.
    window_s : float
        Half-length of the window a frame's phasors come from, s.
    latency_s : float
        Seconds from a frame's time stamp to the last sample it uses.
    """

    fs: float
    start_time: float
    f0: float
    reporting_rate: float
    scaling: ChannelScaling
    window_s: float
    latency_s: float

    @classmethod
    def of(cls, estimator: PhasorEstimator) -> "Measurement":
        """What `estimator` produces."""
        return cls(
            fs=estimator.fs,
            start_time=estimator.start_time,
            f0=estimator.f0,
            reporting_rate=estimator.reporting_rate,
            scaling=estimator.scaling,
            window_s=estimator.window_length / (2 * estimator.fs),
            latency_s=estimator.latency,
        )


@dataclasses.dataclass(frozen=True)
class SampleBlock:
    """Consecutive raw samples: ``samples[k]`` has the absolute index ``first_index + k``.

    Attributes
    ----------
    first_index : int
        Absolute index of the first row; a jump from the previous block is a gap.
    samples : ndarray of float64, shape (n, 6)
        Raw units, columns Va, Vb, Vc, Ia, Ib, Ic (``context.measurement.scaling`` converts).
    """

    first_index: int
    samples: NDArray[np.float64]


@dataclasses.dataclass(frozen=True)
class Message:
    """An MQTT message of a subscription: topic, envelope, and whether it was retained."""

    topic: str
    envelope: Envelope
    retained: bool


@dataclasses.dataclass(frozen=True)
class Context:
    """Everything an algorithm may know and do; handed to ``configure``.

    Attributes
    ----------
    meter_id : str
        The meter it runs on.
    name, version : str
        Its package.
    parameters : mapping
        Its parameters from the catalog's settings.
    topology : mapping or None
        The meter's portion of the grid topology.
    topics : Topics
        The topic tree.
    measurement : Measurement
        Sampling and phasor reporting.
    publish : callable
        ``publish(topic, body)``: send a JSON-compatible `body` on a declared output topic
        (in an envelope with sender, sequence number and time stamp). Thread-safe; never
        blocks on the network: messages wait in the meter's outbox.
    logger : logging.Logger
        Where to log.
    """

    meter_id: str
    name: str
    version: str
    parameters: Mapping[str, Any]
    topology: Mapping[str, Any] | None
    topics: Topics
    measurement: Measurement
    publish: Callable[[str, Any], None]
    logger: logging.Logger


class Algorithm(Protocol):
    """What the entry point of a package returns.

    Every method runs in the algorithm's own thread, one call at a time, under a deadline
    (``deadline_s`` of its parameters, or the meter's default). A method that raises or
    overruns its deadline fails the algorithm: it is disabled, or rolled back to the
    previous version during its probation.
    """

    def configure(self, context: Context) -> Declaration:
        """Take (new) settings; return what the algorithm consumes and produces from now on.

        Called first, and again on every change of its parameters, the topology, the topic
        tree or the acquisition.
        """
        ...

    def on_frames(self, frames: Frames) -> None:
        """Consume a block of phasor frames (input :data:`FRAMES`)."""
        ...

    def on_samples(self, block: SampleBlock) -> None:
        """Consume a block of raw samples (input :data:`SAMPLES`)."""
        ...

    def on_message(self, message: Message) -> None:
        """Consume a message of a subscription (input :data:`MESSAGES`)."""
        ...

    def close(self) -> None:
        """Release what the algorithm holds; no other method is called afterwards."""
        ...


class BaseAlgorithm:
    """Convenience base: inputs an algorithm does not declare need no method of their own."""

    def on_frames(self, frames: Frames) -> None:
        """Ignore frames."""

    def on_samples(self, block: SampleBlock) -> None:
        """Ignore samples."""

    def on_message(self, message: Message) -> None:
        """Ignore messages."""

    def close(self) -> None:
        """Hold nothing."""


def number_parameter(
    parameters: Mapping[str, Any],
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    inclusive: bool = True,
) -> float:
    """A number from an algorithm's parameters (`default` when absent), checked.

    Raises
    ------
    ConfigurationError
        Not a number (booleans are not), not finite, or below `minimum` (or at it, when not
        `inclusive`).
    """
    value = parameters.get(name, default)
    relation = ">=" if inclusive else ">"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
        or (value == minimum and not inclusive)
    ):
        raise ConfigurationError(f"{name} must be a number {relation} {minimum:g}, got {value!r}")
    return float(value)
