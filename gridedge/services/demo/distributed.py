"""``gridedge demo``: a fault through FLISR on the distributed system, as a printed timeline.

The system of :mod:`.system` is started on loopback; once the meters and services report
themselves running, a fault is written into the shared scenario a second ahead of its time.
The simulator and the meters' simulated DAQs see it at the same instant; the feeder protection
opens the feeder breaker; M1 detects and locates the fault with its downstream meters'
voltages and publishes it; the reconfiguration service plans, waits for the clearing,
operates every switch with select-before-operate and posts the new topology; the catalog
pushes new settings to the affected meters, and M1 and M2 apply them. Each step is printed
with its latency from the inception, then everything is stopped and removed.
"""

import contextlib
import dataclasses
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from gridedge.errors import ServiceError
from gridedge.grid import Grid, cases
from gridedge.grid.scenario import Entry
from gridedge.grid.waveform import FaultInception
from gridedge.mqtt import Topics
from gridedge.services.demo.system import FEEDER, LV_LEVELS, System, SystemOptions
from gridedge.services.demo.timeline import Moment, Observer, Record, flisr, settled_round

LEAD_S = 1.0
"""How far ahead of its time the fault is written into the scenario, s."""

SETTLE_S = 2.0
"""Running time after everything is up, before the fault: the downstream meters' frames
before the inception are M1's pre-fault reference, s."""

PAPER = "the paper: about 10.5 s worst case with the Raspberry Pi meter, 2.5 s with the laptop"


@dataclasses.dataclass(frozen=True)
class DemoFault:
    """The fault the demo injects."""

    line: str = "F1-03"
    kind: str = "a-g"
    fraction: float = 0.4
    resistance_ohm: float = 1.0


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened, for the caller (tests, the latency measurement).

    Attributes
    ----------
    moments : list of Moment
        The story of the fault, in time order.
    latencies : dict of str to float
        Seconds from the inception to: ``detected``, ``located``, ``planned``,
        ``last_switch`` (the last operation acknowledged), ``topology`` (the catalog's new
        version announced), ``pushed`` (the last settings push), ``applied`` (the last
        hardware meter running the new settings); missing when that step did not happen.
    ready_s : float
        Seconds from the start until every part reported itself running.
    """

    moments: list[Moment]
    latencies: dict[str, float]
    ready_s: float


def run(
    stream: TextIO,
    fault: DemoFault | None = None,
    options: SystemOptions | None = None,
    *,
    timeout_s: float = 30.0,
    keep: Path | None = None,
) -> Outcome:
    """Start the system, walk a fault through FLISR, print the timeline, stop everything.

    Parameters
    ----------
    stream : text stream
        Where the timeline goes.
    fault : DemoFault, optional
    options : SystemOptions, optional
    timeout_s : float
        Longest wait for each phase (start-up, restoration), s.
    keep : Path, optional
        Keep the logs and files in this directory (removed otherwise).

    Raises
    ------
    ServiceError
        A part did not start or the restoration did not finish in time (with the logs of
        the parts that failed in the message).
    """
    fault = fault or DemoFault()
    options = options or SystemOptions()
    directory = keep or Path(tempfile.mkdtemp(prefix="gridedge-demo-"))
    grid = cases.turin()
    line = grid.line(fault.line)
    truth = (line.from_bus, line.to_bus, fault.fraction * line.length_km * 1e3)
    print(
        "gridedge demo: FLISR on the Turin case, every part of the paper's system a process\n",
        file=stream,
    )
    started = time.monotonic()
    system = System(directory, options)
    observer: Observer | None = None
    try:
        system.start()
        observer = Observer(system.brokers, Topics(options.topic_prefix))
        _describe(system, grid, stream)
        wait_ready(system, observer, timeout_s)
        ready_s = time.monotonic() - started
        print(f"  all running after {ready_s:.1f} s\n", file=stream, flush=True)
        system.wait(SETTLE_S)
        inception = inject(system, fault)
        print(
            f"Fault: {fault.kind} on line {fault.line} ({truth[0]}-{truth[1]}), "
            f"{truth[2]:.0f} m from {truth[0]}, through {fault.resistance_ohm:g} ohm\n",
            file=stream,
        )
        wait_done(system, observer, inception, timeout_s)
        moments = flisr(observer, inception, FEEDER, options.hardware_meters, truth)
        latencies = _latencies(moments, inception)
        _print_timeline(moments, inception, latencies, stream)
        return Outcome(moments, latencies, ready_s)
    finally:
        with _uninterrupted():
            if observer is not None:
                observer.close()
            codes = system.stop()
            unclean = {n: c for n, c in codes.items() if c != 0}
            print(
                f"\nStopped {len(codes)} processes and {len(system.brokers)} brokers"
                + (f" (exit statuses {unclean})" if unclean else ""),
                file=stream,
            )
            if keep is None:
                shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM off while everything is stopped.

    A second Ctrl-C must not leave processes behind. Only the main thread receives signals;
    elsewhere there is nothing to hold.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)


def _describe(system: System, grid: Grid, stream: TextIO) -> None:
    brokers = ", ".join(f"{n} {b.endpoint}" for n, b in system.brokers.items())
    print(f"  brokers    Mosquitto: {brokers}", file=stream)
    print(f"  catalog    {system.catalog_url} (gunicorn, 2 workers, SQLite)", file=stream)
    print(
        f"  meters     {', '.join(system.options.hardware_meters)}: gridedge meter processes, "
        "simulated DAQs following the shared scenario",
        file=stream,
    )
    simulated = sum(m.id not in system.options.hardware_meters for m in grid.meters)
    remote = sum(s.remote for s in grid.switches)
    print(
        f"  services   simulator (the other {simulated} meters, {remote} IoT switches, feeder "
        "protection), reconfiguration",
        file=stream,
        flush=True,
    )


def inject(system: System, fault: DemoFault, lead_s: float = LEAD_S) -> float:
    """Write `fault` into the system's scenario `lead_s` ahead; return its inception time."""
    inception = time.time() + lead_s
    event = FaultInception(inception, fault.line, fault.kind, fault.fraction, fault.resistance_ohm)
    system.scenario.append([Entry(event, "injected")])
    return inception


def wait_ready(system: System, observer: Observer, timeout_s: float) -> None:
    """Wait until the meters run their algorithms and both services say they are online.

    Raises
    ------
    ServiceError
        A part is not running within `timeout_s` (the logs of those that exited attached).
    """
    topics = observer.topics

    def running(meter: str, algorithm: str) -> Callable[[Record], bool]:
        def check(record: Record) -> bool:
            if record.topic != topics.status(meter):
                return False
            state = (record.body.get("algorithms", {}).get(algorithm) or {}).get("state")
            return state in ("running", "probation")

        return check

    waits = [
        (f"{m} running phasor-publisher", running(m, "phasor-publisher"))
        for m in system.options.hardware_meters
    ]
    for meter in system.options.hardware_meters:
        algorithm = "fault-detector" if meter == "M1" else "fault-reporter"
        waits.append((f"{meter} running {algorithm}", running(meter, algorithm)))
    for service in ("simulator", "reconfiguration"):
        waits.append(
            (
                f"{service} online",
                lambda r, s=service: (
                    r.topic == topics.service_status(s) and isinstance(r.body, dict)
                ),
            )
        )
    deadline = time.monotonic() + timeout_s
    for what, predicate in waits:
        found = observer.wait_for(
            lambda r, p=predicate: isinstance(r.body, dict) and p(r),
            max(0.0, deadline - time.monotonic()),
        )
        if found is None:
            raise ServiceError(f"{what}: not within {timeout_s:g} s{_dead(system)}")


def wait_done(system: System, observer: Observer, inception: float, timeout_s: float) -> Record:
    """Wait for the restoration's outcome, then for the meters to run their pushed settings.

    Returns
    -------
    Record
        The reconfiguration service's final report (``restored``, ``aborted`` or
        ``not acted``).

    Raises
    ------
    ServiceError
        No outcome within `timeout_s` of the inception.
    """
    topics = observer.topics
    done = observer.wait_for(
        lambda r: (
            r.topic == topics.restoration(FEEDER)
            and r.envelope.ts >= inception
            and r.body.get("state") in ("restored", "aborted", "not acted")
        ),
        timeout_s + LEAD_S,
    )
    if done is None:
        raise ServiceError(f"no restoration within {timeout_s:g} s of the fault{_dead(system)}")
    revision = max(
        (
            r.body.get("revision", 0)
            for r in observer.select(
                lambda r: r.topic.startswith(topics.config("")) and not r.retained
            )
        ),
        default=0,
    )
    applied = inception
    for meter in system.options.hardware_meters:
        status = observer.wait_for(
            lambda r, m=meter: (
                r.topic == topics.status(m) and (r.body.get("revision") or 0) >= revision
            ),
            5.0,
        )
        applied = max(applied, status.envelope.ts if status else applied)
    interval = system.options.se_interval_s
    if interval > 0 and "M1" in system.options.hardware_meters:
        # The first estimation round of the feeder as it is now, and the LV levels the
        # hardware meters ran for the same round (they may finish after the MV level).
        mv = observer.wait_for(lambda r: settled_round(r, topics, applied), 2 * interval + 5.0)
        running = set(LV_LEVELS) & set(system.options.hardware_meters) if mv else set()
        for meter in sorted(running):
            observer.wait_for(
                lambda r, m=meter: (
                    r.topic.startswith(topics.state_estimate("lv", ""))
                    and r.envelope.sender == m
                    and r.body.get("time") == mv.body["time"]
                ),
                interval + 5.0,
            )
    return done


def _dead(system: System) -> str:
    dead = [name for name, alive in system.running().items() if not alive]
    logs = system.logs()
    return "".join(f"\n--- {name} exited:\n{logs[name][-3000:]}" for name in dead)


def _latencies(moments: list[Moment], inception: float) -> dict[str, float]:
    last: dict[str, float] = {}
    first: dict[str, float] = {}
    for moment in moments:
        first.setdefault(moment.kind, moment.time - inception)
        last[moment.kind] = moment.time - inception
    latencies = {k: first[k] for k in ("trip", "detected", "located", "planned") if k in first}
    for name, kind in (
        ("last_switch", "operated"),
        ("topology", "topology"),
        ("pushed", "pushed"),
        ("applied", "applied"),
    ):
        if kind in last:
            latencies[name] = last[kind]
    return latencies


def _print_timeline(
    moments: list[Moment], inception: float, latencies: dict[str, float], stream: TextIO
) -> None:
    print(f"{'t (ms)':>9}  event", file=stream)
    pushes = [m for m in moments if m.kind == "pushed"]
    for moment in moments:
        if moment.kind == "pushed" and moment is not pushes[0]:
            continue  # one line for all the pushes (printed with the first)
        what = moment.what
        if moment.kind == "pushed":
            devices = ", ".join(m.what.removeprefix("settings pushed to ") for m in pushes)
            last = 1000 * (pushes[-1].time - inception)
            what = (
                f"catalog pushes settings (retained) to {len(pushes)} meters, the last at "
                f"{last:.1f}: {devices}"
            )
        print(f"{1000 * (moment.time - inception):9.1f}  {what}", file=stream)
    print("\nEnd to end, from the inception:", file=stream)
    for name, label in (
        ("located", "fault located by M1"),
        ("last_switch", "last switch operation acknowledged"),
        ("topology", "new topology in the catalog"),
        ("applied", "new settings running on M1 and M2"),
    ):
        if name in latencies:
            print(f"  {label:<38} {latencies[name]:6.3f} s", file=stream)
    print(f"  ({PAPER})", file=stream)
