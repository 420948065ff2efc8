"""Watching the flows: every message of the grid broker, and the meters' and services' status.

:class:`Observer` records each message with the time it arrived; :func:`flisr` reads a fault's
story out of the record - inception, protection trip, detection, location, plan, each
switching step, the topology posted, the settings pushed and applied - as :class:`Moment`
objects with their latency from the inception.
"""

import dataclasses
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from gridedge.errors import InvalidInputError
from gridedge.meter.estimation.rounds import RoundSettings
from gridedge.mqtt import Connection, Envelope, Received, Topics
from gridedge.services.brokers import Mosquitto


@dataclasses.dataclass(frozen=True)
class Record:
    """A message as the observer received it.

    Attributes
    ----------
    arrived : float
        When the observer received it, POSIX s.
    broker : str
        ``grid`` or ``monitoring``.
    topic : str
    envelope : Envelope
    retained : bool
        The broker replayed it as a retained message.
    """

    arrived: float
    broker: str
    topic: str
    envelope: Envelope
    retained: bool

    @property
    def body(self) -> Any:
        """The message body."""
        return self.envelope.body


class Observer:
    """Subscribes to the flows' topics on both brokers and records what arrives.

    Parameters
    ----------
    brokers : dict of str to Mosquitto
        ``grid`` and ``monitoring``.
    topics : Topics
    """

    def __init__(self, brokers: dict[str, Mosquitto], topics: Topics) -> None:
        self.topics = topics
        self.records: list[Record] = []
        self._arrived = threading.Condition()
        self._connections: dict[str, Connection] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        # Everything of the flows but the concentrators' hundreds of messages per round.
        filters = {
            "grid": [
                f"{topics.prefix}{kind}"
                for kind in (
                    "faults/#",
                    "switches/#",
                    "restoration/#",
                    "config/#",
                    "se/lv/#",
                    "se/mv/#",
                )
            ]
            + [topics.topology(), topics.fault_voltages("+")],
            "monitoring": [topics.status("+"), topics.service_status("+")],
        }
        for name, subscriptions in filters.items():
            broker = brokers[name]
            connection = Connection(broker.host, broker.port, sender=f"observer-{name}")
            connection.start()
            for topic_filter in subscriptions:
                connection.subscribe(topic_filter)
            self._connections[name] = connection
            thread = threading.Thread(
                target=connection.serve,
                args=(self._stop, functools.partial(self._record, name)),
                name=f"observer-{name}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def _record(self, name: str, received: Received) -> None:
        # Empty payloads clear retained messages; other undecodable ones are not the flows'.
        if not received.payload:
            return
        try:
            envelope = received.envelope()
        except InvalidInputError:
            return
        record = Record(time.time(), name, received.topic, envelope, received.retain)
        with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()

    def wait_for(
        self, predicate: Callable[[Record], bool], timeout: float, *, after: int = 0
    ) -> Record | None:
        """The first record from index `after` on that satisfies `predicate`.

        Waits up to `timeout` s for it; None if none came.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = next((r for r in self.records[after:] if predicate(r)), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._arrived.wait(left)

    def select(self, predicate: Callable[[Record], bool]) -> list[Record]:
        """Every record so far that satisfies `predicate`."""
        with self._arrived:
            return [r for r in self.records if predicate(r)]

    def close(self) -> None:
        """Stop receiving."""
        self._stop.set()
        for connection in self._connections.values():
            connection.close()
        for thread in self._threads:
            thread.join(1.0)


@dataclasses.dataclass(frozen=True)
class Moment:
    """One step of the story of a fault.

    Attributes
    ----------
    time : float
        When it happened (the sender's time stamp), POSIX s.
    what : str
        The step, in words.
    kind : str
        ``inception``, ``trip``, ``detected``, ``located``, ``planned``, ``selected``,
        ``operated``, ``refused``, ``restored``, ``aborted``, ``topology``, ``pushed``,
        ``applied``, ``estimate``.
    """

    time: float
    what: str
    kind: str


def flisr(
    observer: Observer,
    inception: float,
    feeder: str,
    meters: tuple[str, ...],
    truth: tuple[str, str, float],
) -> list[Moment]:
    """The moments of the fault that started at `inception` on `feeder`, in time order.

    `meters` are the meter daemons whose applying of new settings is shown; `truth` the
    fault's bus pair and distance from the first bus, m, to report the location error.
    """
    topics = observer.topics
    since = inception - 0.05
    records = observer.select(lambda r: r.envelope.ts >= since)
    moments = [Moment(inception, "fault inception", "inception")]
    pushed_revision: dict[str, int] = {}
    for record in records:
        body, ts = record.body, record.envelope.ts
        switch = topics.device_of(record.topic, "switches")
        if record.topic == topics.faults(feeder) and isinstance(body, dict):
            moments.append(_fault(body, ts, record.envelope.sender, truth, inception))
        elif switch is not None and record.topic == topics.switch_state(switch):
            if body.get("cause") == "protection" and not body.get("closed"):
                moments.append(Moment(body["since"], f"protection opens {switch}", "trip"))
        elif switch is not None and record.topic == topics.switch_response(switch):
            moments.append(_response(switch, body, ts))
        elif record.topic == topics.restoration(feeder):
            moments.append(_restoration(body, ts))
        elif record.topic == topics.topology() and not record.retained:
            moments.append(Moment(ts, f"catalog: topology version {body['version']}", "topology"))
        elif record.topic.startswith(topics.config("")) and not record.retained:
            device = topics.device_of(record.topic, "config")
            if device is not None and isinstance(body, dict):
                pushed_revision[device] = body.get("revision", 0)
                moments.append(Moment(ts, f"settings pushed to {device}", "pushed"))
    applied_at = inception
    for meter in meters:
        revision = pushed_revision.get(meter)
        if revision is None:
            continue
        applied = next(
            (
                r
                for r in records
                if r.topic == topics.status(meter)
                and isinstance(r.body, dict)
                and (r.body.get("revision") or 0) >= revision
            ),
            None,
        )
        if applied is not None:
            applied_at = max(applied_at, applied.envelope.ts)
            moments.append(
                Moment(applied.envelope.ts, f"{meter} runs settings revision {revision}", "applied")
            )
    moments += estimation_round(records, topics, applied_at, meters)
    return sorted(moments, key=lambda m: m.time)


def settled_round(record: Record, topics: Topics, after: float) -> bool:
    """Whether `record` is an MV-level result of a round whose readings all came after `after`.

    A round whose window held a fault, an outage or a switching is refused by the levels
    (:data:`gridedge.meter.estimation.rounds.STEADY_SPAN_PU`); the first one wholly after
    the restoration shows the grid as it now is. The demo's levels use the default window.
    """
    return (
        record.topic.startswith(topics.state_estimate("mv", ""))
        and "message" in record.body
        and record.body["time"] - RoundSettings().window_s >= after
    )


def estimation_round(
    records: list[Record], topics: Topics, after: float, meters: tuple[str, ...]
) -> list[Moment]:
    """The first MV-level result of a round whose readings all came after `after`.

    With it, the LV-level results of its round that `meters` computed.
    """
    mv = next((r for r in records if settled_round(r, topics, after)), None)
    if mv is None:
        return []
    time = mv.body["time"]
    moments = []
    for record in records:
        if not record.topic.startswith(topics.state_estimate("lv", "")):
            continue
        body = record.body
        if body.get("time") != time or "message" not in body:
            continue
        if record.envelope.sender not in meters:
            continue
        lv = body["message"]
        sigma = lv["covariance"][1][1] ** 0.5
        moments.append(
            Moment(
                record.envelope.ts,
                f"state estimation: LV level of {lv['transformer']} on "
                f"{record.envelope.sender}: {lv['bus']} at {lv['vm_pu']:.4f} p.u., "
                f"{lv['p_kw']:.1f} +- {sigma:.2f} kW into the transformer "
                f"({body.get('concentrators', 0)} concentrators)",
                "estimate",
            )
        )
    message = mv.body["message"]
    voltages = dict(zip(message["voltages"]["buses"], message["voltages"]["vm_pu"], strict=True))
    stations = ", ".join(mv.body.get("stations", []))
    shown = ", ".join(f"{b} {v:.4f}" for b, v in voltages.items() if b.startswith("SS"))
    moments.append(
        Moment(
            mv.envelope.ts,
            f"state estimation: MV level on {mv.envelope.sender} for the feeder it now heads, "
            f"from the LV levels of {stations}: {shown} p.u.",
            "estimate",
        )
    )
    return moments


def _fault(
    body: dict[str, Any], ts: float, sender: str, truth: tuple[str, str, float], inception: float
) -> Moment:
    if body.get("state") == "detected":
        confirmed = 1000 * (body["detection_time"] - inception)
        intervals = body.get("intervals")
        fitted = (
            f"its samples fitted over {1000 * (intervals['fault'][1] - intervals['fault'][0]):.0f}"
            " ms of fault"
            if intervals
            else "no stable interval in its samples"
        )
        return Moment(
            ts,
            f"fault detected at {sender} ({body.get('kind')}; confirmed by its frame of "
            f"{confirmed:.0f} ms; {fitted})",
            "detected",
        )
    if body.get("state") != "located":
        return Moment(ts, f"fault not located by {sender}: {body.get('reason')}", "located")
    pair = (body["from_bus"], body["to_bus"])
    if pair == truth[:2]:
        error = f"error {body['distance_m'] - truth[2]:+.0f} m"
    else:
        error = f"the fault is on {truth[0]}-{truth[1]}"
    used = len(body.get("meters_used", []))
    return Moment(
        ts,
        f"fault located by {sender}: {pair[0]}-{pair[1]}, {body['distance_m']:.0f} m from "
        f"{pair[0]} ({error}; {used} downstream meters' voltages)",
        "located",
    )


def _response(switch: str, body: dict[str, Any], ts: float) -> Moment:
    result = body.get("result")
    operation = body.get("operation")
    if result == "selected":
        return Moment(ts, f"{switch} selected to {operation}", "selected")
    if result == "operated":
        state = "closed" if body.get("closed") else "open"
        return Moment(ts, f"{switch} {state}: operation acknowledged", "operated")
    return Moment(ts, f"{switch} {result}: {body.get('reason')}", "refused")


def _restoration(body: dict[str, Any], ts: float) -> Moment:
    state = body.get("state")
    if state == "planned":
        steps = ", ".join(f"{s['action']} {s['switch']}" for s in body.get("steps", []))
        return Moment(
            ts,
            f"plan: {steps} (restores {body.get('restored_kw', 0):.0f} kW)",
            "planned",
        )
    if state in ("restored", "aborted"):
        affected = body.get("affected", [])
        what = (
            f"{state}: topology version {body.get('topology_version')} posted to the catalog, "
            f"{len(affected)} meters affected"
        )
        if body.get("reason"):
            what += f" ({body['reason']})"
        return Moment(ts, what, state)
    return Moment(ts, f"reconfiguration {state}: {body.get('reason')}", state or "")
