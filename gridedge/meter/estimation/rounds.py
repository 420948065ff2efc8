"""The multilevel estimation as rounds over MQTT (the paper's section IV-C).

Every level runs once per round. A round is a multiple of the interval on the absolute time
base (``round_time``), so the concentrators, the LV levels and the MV level, on different
machines, agree on which readings belong together without talking about it. Each level's
result travels in a body ``{"time": T, "message": ...}`` (the message in the dict form of
:mod:`gridedge.meter.estimation.messages`) on ``se/concentrator/{node}``, ``se/lv/{node}``
and ``se/mv/{node}``.

A level collects the messages of round T from the levels below (:class:`Rounds`) and runs
when all have come, or ``wait_s`` after T with what it has (pseudo-measurements stand in for
the rest). The meter it runs on adds its own readings: voltage and power averaged over the
frames of the last ``window_s`` before T (:class:`OwnReadings`).
"""

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from gridedge import config
from gridedge.errors import ConfigurationError, InvalidInputError
from gridedge.grid import Measurement
from gridedge.meter.estimation import messages
from gridedge.meter.estimation.accuracy import AccuracyClass
from gridedge.meter.phasor import Frames

T = TypeVar("T")

KEPT_ROUNDS = 3
"""Rounds still open this many intervals after their time are dropped."""

STEADY_SPAN_PU = 0.05
"""Widest spread of a meter's voltage over a window that is still one steady state, p.u.

A level averages the window's readings into one state; a fault, an interruption or a
switching inside the window would average two states into one the grid never had (and
the estimate diverges or misleads). 5 % of nominal is the order of the rapid voltage
changes EN 50160 expects of normal operation, far above what load moves in a second.
"""


def round_time(t: float, interval_s: float) -> float:
    """The round a time belongs to: the last multiple of `interval_s` at or before `t`, s."""
    return math.floor(t / interval_s) * interval_s


def encode(time: float, message: Any) -> dict[str, Any]:
    """The body that carries a level's `message` of round `time`."""
    return {"time": time, "message": messages.to_dict(message)}


def decode(cls: type[T], body: Any) -> tuple[float, T]:
    """Round time and message of type `cls` from a body :func:`encode` made.

    Raises
    ------
    InvalidInputError
        The body is not such a body, naming the field at fault.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("time"), int | float):
        raise InvalidInputError(f"a {cls.__name__} body needs a numeric 'time'")
    return float(body["time"]), messages.from_dict(cls, body.get("message"))


class Rounds:
    """The messages of the rounds in progress, from a known set of senders.

    Parameters
    ----------
    interval_s : float
        Time between rounds, s.
    wait_s : float
        How long after its time a round waits for missing messages, s.
    expected : iterable of str
        The keys (nodes, stations) a complete round has.
    """

    def __init__(self, interval_s: float, wait_s: float, expected: Iterable[str]) -> None:
        self.interval_s = interval_s
        self.wait_s = wait_s
        self.expected = frozenset(expected)
        self._open: dict[float, dict[str, Any]] = {}
        self._last = -math.inf
        self._since = -math.inf

    def add(self, time: float, key: str, message: Any) -> None:
        """Keep a message of round `time` (a round already run ignores it)."""
        if time > self._last and key in self.expected:
            self._open.setdefault(time, {})[key] = message

    def expect(self, expected: Iterable[str]) -> None:
        """Change the keys a complete round has; rounds in progress keep what still counts."""
        self.expected = frozenset(expected)
        for got in self._open.values():
            for key in got.keys() - self.expected:
                del got[key]

    def open(self, now: float, since: float = -math.inf) -> None:
        """Open the round `now` falls in, so that it runs even if no message comes.

        A round whose time is before `since` (the first of the caller's own readings) is not
        opened: the caller could not take part in it.
        """
        self._since = since
        time = round_time(now, self.interval_s)
        if time >= since and time > self._last:
            self._open.setdefault(time, {})

    def ready(self, now: float) -> list[tuple[float, dict[str, Any]]]:
        """The rounds to run now (complete, or past their wait), oldest first.

        `now` is the time the caller's own readings reach: a round runs only once they
        have passed its time.
        """
        ready = []
        for time in sorted(self._open):
            if time < self._since:
                del self._open[time]
                continue
            if time > now:
                break
            got = self._open[time]
            if self.expected <= got.keys() or now >= time + self.wait_s:
                del self._open[time]
                self._last = time
                ready.append((time, got))
        for time in [t for t in self._open if t < now - KEPT_ROUNDS * self.interval_s]:
            del self._open[time]
        return ready


class OwnReadings:
    """A meter's voltage and three-phase power, kept for a while and averaged over windows.

    Parameters
    ----------
    nominal_v : float
        Nominal phase-to-earth voltage at the meter, V (the per-unit base).
    keep_s : float
        Seconds of readings kept.

    Attributes
    ----------
    first, newest : float
        Time stamps of the oldest and the newest frame taken, s (absolute time base);
        infinite before the first.
    """

    def __init__(self, nominal_v: float, keep_s: float = 10.0) -> None:
        self.nominal_v = nominal_v
        self.keep_s = keep_s
        # (time, positive-sequence voltage p.u., P kW, Q kvar) of valid frames, in order.
        self._rows: deque[tuple[float, float, float, float]] = deque()
        self.newest = -math.inf
        self.first = math.inf

    def add_frames(self, frames: Frames) -> None:
        """Take a block of the meter's own phasor frames."""
        if len(frames) == 0:
            return
        self.first = min(self.first, float(frames.time[0]))
        self.newest = max(self.newest, float(frames.time[-1]))
        valid = frames.valid
        voltage = np.abs(frames.voltage_sequence[valid, 1]) / self.nominal_v
        p = frames.total_active_power[valid] / 1e3
        q = frames.total_reactive_power[valid] / 1e3
        self._rows.extend(
            zip(frames.time[valid].tolist(), voltage.tolist(), p.tolist(), q.tolist(), strict=True)
        )
        self._trim()

    def _trim(self) -> None:
        while self._rows and self._rows[0][0] < self.newest - self.keep_s:
            self._rows.popleft()

    def average(self, start: float, end: float) -> tuple[float, float, float] | None:
        """Mean voltage (p.u.), P (kW) and Q (kvar) of the readings in [start, end].

        None when there are none.

        Raises
        ------
        InvalidInputError
            The voltage spreads over more than :data:`STEADY_SPAN_PU` in the window: it
            holds no one steady state to average.
        """
        inside = np.array([r[1:] for r in self._rows if start <= r[0] <= end])
        if inside.size == 0:
            return None
        lowest, highest = inside[:, 0].min(), inside[:, 0].max()
        if highest - lowest > STEADY_SPAN_PU:
            raise InvalidInputError(
                f"the readings of {start:.1f}-{end:.1f} s are not one steady state (voltage "
                f"{lowest:.3f} to {highest:.3f} p.u.): a fault, an interruption or a "
                "switching in the window"
            )
        v, p, q = inside.mean(axis=0)
        return float(v), float(p), float(q)

    def measurements(
        self,
        name: str,
        bus: str,
        branch: str,
        window: tuple[float, float],
        accuracy: AccuracyClass,
    ) -> tuple[Measurement, ...]:
        """The average over `window` as estimation measurements.

        ``v`` at `bus`, ``p`` and ``q`` into `branch` at `bus`, with the standard deviations
        of `accuracy`; none without readings.

        Raises
        ------
        InvalidInputError
            The readings in the window are not one steady state (:meth:`average`).
        """
        average = self.average(*window)
        if average is None:
            return ()
        v, p, q = average
        return (
            Measurement(f"{name}:v", "v", bus, v, float(accuracy.sigma("v", v))),
            Measurement(f"{name}:p", "p", branch, p, float(accuracy.sigma("p", p)), side=bus),
            Measurement(f"{name}:q", "q", branch, q, float(accuracy.sigma("q", q)), side=bus),
        )


@dataclasses.dataclass(frozen=True)
class RoundSettings:
    """When a level runs (the parameters ``interval_s``, ``wait_s``, ``window_s``).

    Attributes
    ----------
    interval_s : float
        Time between rounds, s (a minute in the paper).
    wait_s : float
        How long after its time a round waits for the levels below, s; half the interval
        when not given.
    window_s : float
        The meter's own readings averaged over this long before the round's time, s.
    """

    interval_s: float = 60.0
    wait_s: float | None = None
    window_s: float = 1.0

    def __post_init__(self) -> None:
        if self.wait_s is None:
            object.__setattr__(self, "wait_s", self.interval_s / 2)
        for name in ("interval_s", "wait_s", "window_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        if self.window_s > self.interval_s or self.wait_s >= self.interval_s:  # type: ignore[operator]
            raise ConfigurationError(
                "window_s must not exceed interval_s, and wait_s must be below it"
            )

    @classmethod
    def of(cls, parameters: Mapping[str, Any]) -> "RoundSettings":
        """The round settings among an algorithm's parameters (the others are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return config.from_mapping(
            cls, {k: v for k, v in parameters.items() if k in names}, where="parameters"
        )
