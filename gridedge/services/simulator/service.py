"""``gridedge simulator serve``: the grid simulation in real time, on MQTT (the Opal-RT stand-in).

What it does, each part in a thread of its own:

- **Sampling** (the calling thread): runs the waveform simulation of the scenario's grid in
  real time, block by block; takes up new scenario events before each block; turns every
  simulated meter's samples into phasor frames and publishes one in ``decimation`` on
  ``meters/{id}/measurements`` (monitoring broker) with the payload of the ``phasor-publisher``
  algorithm and an envelope whose sender is that meter.
- **Protection**: a fault that appears in the scenario opens its feeder's breaker
  ``protection_delay_s`` later (an event written to the scenario, so the hardware meters see
  the trip too).
- **Fault reports**: the simulated meters answer a feeder head's detected fault
  (``faults/{feeder}`` with its intervals) with their voltages over those intervals on
  ``meters/{id}/fault-voltages``, as the ``fault-reporter`` algorithm of a real meter does
  (:mod:`gridedge.meter.faults.reports`); the sampling thread keeps their last seconds of
  samples and answers once it has simulated past the fault.
- **Switches** (commands thread): the remotely controlled switches answer
  ``switches/{id}/command`` with select-before-operate (:mod:`.switchboard`); an operation is
  written to the scenario ``operate_s`` ahead, and acknowledged when the switch has moved.
- **States** (scheduler thread): every switch movement is published retained on
  ``switches/{id}/state`` at the time it happens, with its cause.
- **Estimation** (estimation thread, every ``se_interval_s``): the concentrators of every LV
  node publish on ``se/concentrator/{bus}`` and the simulated meters' LV levels on
  ``se/lv/{bus}`` (:mod:`.estimation`), for the hardware meters' levels to build on.

Every message is an envelope (sender, sequence number, time stamp); copies of commands are
dropped (:class:`gridedge.mqtt.Deduplicator`).
"""

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from gridedge.errors import ConfigurationError, GridedgeError, InvalidInputError
from gridedge.grid import cases
from gridedge.grid.casenames import CASE_NAMES
from gridedge.grid.scenario import Entry, ScenarioFile, advance
from gridedge.grid.waveform import FaultInception, Simulation, SwitchOperation, WaveformSettings
from gridedge.meter.builtins.phasor_publisher import frame_body
from gridedge.meter.estimation.rounds import encode, round_time
from gridedge.meter.faults.reports import (
    ReportRequest,
    VoltageReporter,
    report_body,
    request_from_body,
)
from gridedge.meter.pacing import Pacer
from gridedge.meter.phasor import PhasorEstimator
from gridedge.meter.settings import GRID, MONITORING
from gridedge.mqtt import Connection, Deduplicator, Received, Sequencer, Topics
from gridedge.services.runtime import (
    OFFLINE,
    ServiceProvisioning,
    announce,
    connect,
    self_configure,
    status_will,
)
from gridedge.services.simulator.protection import feeder_breaker
from gridedge.services.simulator.settings import SimulatorSettings
from gridedge.services.simulator.switchboard import SwitchBoard

logger = logging.getLogger(__name__)


MAX_BEHIND_S = 0.5
"""The sampling loop skips ahead when it is this far behind real time, s."""


class Scheduler:
    """Runs actions at given POSIX times, one after the other, in a thread of its own."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` at POSIX time `when` (at once if it has passed)."""
        with self._wake:
            heapq.heappush(self._heap, (when, next(self._order), action))
            self._wake.notify()

    def stop(self) -> None:
        """Stop the thread; actions not yet due are dropped."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    self._wake.wait(None if not self._heap else self._heap[0][0] - time.time())
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._heap)
            try:
                action()
            except Exception:
                logger.exception("a scheduled action failed")


class SimulatorService:
    """The simulator service (see the module docstring).

    Parameters
    ----------
    provisioning : ServiceProvisioning
        Its identity and catalog (its settings give the brokers and topics).
    settings : SimulatorSettings
    """

    def __init__(self, provisioning: ServiceProvisioning, settings: SimulatorSettings) -> None:
        if settings.scenario is None:
            raise ConfigurationError("simulator.scenario is not set")
        self.provisioning = provisioning
        self.settings = settings
        self.scenario = ScenarioFile(settings.scenario)
        self.follower = self.scenario.follow()
        if self.follower.case not in CASE_NAMES:
            raise ConfigurationError(
                f"scenario {settings.scenario}: case {self.follower.case!r} is not one of "
                f"{CASE_NAMES}"
            )
        self.grid = getattr(cases, self.follower.case)()
        unknown = set(settings.hardware_meters) - {m.id for m in self.grid.meters}
        if unknown:
            raise ConfigurationError(f"simulator.hardware_meters: unknown meters {sorted(unknown)}")
        self.simulated = tuple(
            m.id for m in self.grid.meters if m.id not in settings.hardware_meters
        )
        self.board = SwitchBoard(self.grid, self.grid.switch_states(), settings.select_timeout_s)
        self._stop = threading.Event()
        self._scheduler = Scheduler()
        self._dedup = Deduplicator()
        self._requests: queue.SimpleQueue[ReportRequest] = queue.SimpleQueue()
        self._started = time.time()
        self._connections: dict[str, Connection] = {}
        self.topics = Topics()

    def request_stop(self) -> None:
        """Ask the service to stop (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Configure from the catalog, connect, and simulate until :meth:`request_stop`."""
        settings = self_configure(
            self.provisioning.client(), self.provisioning.boot_wait_s, self._stop
        )
        self.topics = settings.topics
        sender = self.provisioning.id
        try:
            self._connections[GRID] = connect(settings, GRID, sender)
            self._connections[MONITORING] = connect(
                settings, MONITORING, sender, will=status_will(settings, sender)
            )
            self._scheduler.start()
            for switch_id in self.board.remote:
                self._publish_state(
                    switch_id, self.board.state(switch_id), "initial", self._started
                )
            commands = threading.Thread(
                target=self._connections[GRID].serve,
                args=(self._stop, self._received),
                kwargs={"log": logger},
                name="commands",
                daemon=True,
            )
            commands.start()
            estimation = threading.Thread(target=self._estimate, name="estimation", daemon=True)
            if self.settings.se_interval_s > 0:
                estimation.start()
            self._connections[GRID].subscribe(settings.topics.switch_command("+"))
            self._connections[GRID].subscribe(settings.topics.faults("+"))
            announce(
                self._connections[MONITORING],
                settings,
                sender,
                {
                    "state": "online",
                    "since": time.time(),
                    "scenario": str(self.scenario.path),
                    "meters": list(self.simulated),
                    "switches": list(self.board.remote),
                },
            )
            logger.info(
                "simulating %s (%d meters published, hardware %s) from %s",
                self.grid.name,
                len(self.simulated),
                ", ".join(self.settings.hardware_meters),
                self.scenario.path,
            )
            self._sample()
            commands.join(2.0)
            if estimation.is_alive():
                estimation.join(5.0)
            announce(self._connections[MONITORING], settings, sender, OFFLINE)
        finally:
            self._scheduler.stop()
            for connection in self._connections.values():
                connection.close()

    # -- sampling --------------------------------------------------------------------------

    def _sample(self) -> None:
        settings = self.settings
        simulation = Simulation(
            self.grid,
            (),
            WaveformSettings(fs=settings.fs, seed=self.follower.seed, start_time=time.time()),
        )
        pacer = Pacer(settings.fs)
        pacer.restart()
        estimators = {
            m: PhasorEstimator(
                settings.fs,
                simulation.f0,
                settings.reporting_rate,
                scaling=simulation.scalings[m],
                start_time=simulation.settings.start_time,
            )
            for m in self.simulated
        }
        sequencers = {m: Sequencer(m) for m in self.simulated}
        reporters = {
            m: VoltageReporter(settings.fs, simulation.settings.start_time, simulation.f0)
            for m in self.simulated
        }
        counts = dict.fromkeys(self.simulated, 0)
        block = max(1, round(settings.block_s * settings.fs))
        topics = self.topics
        monitoring = self._connections[MONITORING]
        position = 0
        while not self._stop.is_set():
            new = self.follower.poll()
            if new:
                advance(simulation, new, position)
                self._take_up(new)
            behind = pacer.due() - (position + block)
            if behind > settings.fs * MAX_BEHIND_S:
                # Stalled (a loaded machine): skip to now, as a DAQ would overrun, rather than
                # publish stale frames while catching up. The estimators restart at the gap.
                logger.warning("sampling %.2f s behind; skipping ahead", behind / settings.fs)
                position += behind
            pacer.wait_for(position + block)
            for meter in self.simulated:
                raw = simulation.samples(meter, position, block)
                frames = estimators[meter].push(raw, position)
                reporters[meter].add(position, simulation.scalings[meter].to_primary(raw)[:, :3])
                for k in range(len(frames)):
                    if counts[meter] % settings.decimation == 0:
                        envelope = sequencers[meter].seal(frame_body(frames, k))
                        monitoring.send(topics.measurements(meter), envelope)
                    counts[meter] += 1
            self._report_faults(reporters, sequencers)
            position += block

    def _report_faults(
        self, reporters: dict[str, VoltageReporter], sequencers: dict[str, Sequencer]
    ) -> None:
        """Hand the heads' requests to the simulated meters; publish what they answer."""
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                break
            for meter, reporter in reporters.items():
                if meter != request.head:
                    reporter.request(request)
        for meter, reporter in reporters.items():
            for request, report in reporter.ready():
                self._connections[GRID].send(
                    self.topics.fault_voltages(meter),
                    sequencers[meter].seal(report_body(request, report)),
                )

    def _take_up(self, entries: tuple[Entry, ...]) -> None:
        """Schedule the state messages of switch events; let protection act on faults."""
        for entry in entries:
            event = entry.event
            if isinstance(event, SwitchOperation):
                self._scheduler.at(
                    entry.at,
                    lambda e=event, cause=entry.cause: self._moved(
                        e.switch_id, e.closed, cause, e.time_s
                    ),
                )
            elif isinstance(event, FaultInception) and entry.at >= self._started:
                self._protect(event)

    def _protect(self, fault: FaultInception) -> None:
        try:
            breaker = feeder_breaker(self.grid, self.board.states(), fault.location)
        except InvalidInputError as exc:
            logger.warning("protection ignores the fault: %s", exc)
            return
        if breaker is None:
            logger.info("no feeder breaker clears the fault at %s", fault.location)
            return
        trip = fault.time_s + self.settings.protection_delay_s
        self.scenario.append([Entry(SwitchOperation(trip, breaker, False), "protection")])
        logger.info(
            "protection opens %s %.3f s after the fault at %s",
            breaker,
            self.settings.protection_delay_s,
            fault.location,
        )

    def _moved(self, switch_id: str, closed: bool, cause: str, at: float) -> None:
        self.board.moved([(switch_id, closed)])
        self._publish_state(switch_id, closed, cause, at)

    def _publish_state(self, switch_id: str, closed: bool, cause: str, at: float) -> None:
        self._connections[GRID].publish(
            self.topics.switch_state(switch_id),
            {"closed": closed, "cause": cause or "scenario", "since": at},
            retain=True,
        )

    # -- estimation ------------------------------------------------------------------------

    def _estimate(self) -> None:
        from gridedge.services.simulator.estimation import SimulatedEstimation

        interval = self.settings.se_interval_s
        levels = SimulatedEstimation(self.grid, self.settings.hardware_meters, self.follower.seed)
        grid = self._connections[GRID]
        sequencers = {t: Sequencer(m.id) for t, m in levels.meter_of.items()}
        while not self._stop.wait(
            max(0.0, round_time(time.time(), interval) + interval - time.time())
        ):
            when = round_time(time.time(), interval)
            try:
                nodes, outputs = levels.round(when, self.board.states())
            except GridedgeError as exc:
                logger.warning("estimation round %.0f failed: %s", when, exc)
                continue
            for node in nodes:
                grid.publish(
                    self.topics.state_estimate("concentrator", node.bus), encode(when, node)
                )
            for output in outputs:
                envelope = sequencers[output.transformer].seal(encode(when, output))
                grid.send(self.topics.state_estimate("lv", output.bus), envelope)
            logger.info(
                "estimation round %.0f: %d concentrators, %d LV levels",
                when,
                len(nodes),
                len(outputs),
            )

    # -- commands --------------------------------------------------------------------------

    def _received(self, received: Received) -> None:
        if self.topics.device_of(received.topic, "faults") is not None:
            self._fault(received)
        else:
            self._command(received)

    def _fault(self, received: Received) -> None:
        """Queue a head's request for the simulated meters' voltages of its fault."""
        try:
            envelope = received.envelope()
            if received.retain or self._dedup.is_duplicate(envelope):
                return
            request = request_from_body(envelope.sender, envelope.body)
        except InvalidInputError as exc:
            logger.warning("ignoring a fault message on %s: %s", received.topic, exc)
            return
        if request is not None:
            self._requests.put(request)

    def _command(self, received: Received) -> None:
        topics = self.topics
        switch_id = topics.device_of(received.topic, "switches")
        if (
            not received.payload
            or switch_id is None
            or received.topic != topics.switch_command(switch_id)
        ):
            return
        try:
            envelope = received.envelope()
        except InvalidInputError as exc:
            logger.warning("ignoring a command on %s: %s", received.topic, exc)
            return
        if self._dedup.is_duplicate(envelope):
            logger.info("dropping a copy of command %d from %s", envelope.seq, envelope.sender)
            return
        if switch_id in self.settings.silent_switches:
            logger.info("switch %s is silent: no answer to %s", switch_id, envelope.body)
            return
        decision = self.board.decide(switch_id, envelope, received.retain)
        if decision.closed is None:
            self._respond(switch_id, decision.response)
            return
        # The switch moves operate_s from now: written ahead so every follower has it in time,
        # acknowledged when it has happened.
        at = time.time() + self.settings.operate_s
        self.scenario.append([Entry(SwitchOperation(at, switch_id, decision.closed), "command")])
        self._scheduler.at(at, lambda: self._respond(switch_id, {**decision.response, "at": at}))

    def _respond(self, switch_id: str, body: dict[str, Any]) -> None:
        self._connections[GRID].publish(self.topics.switch_response(switch_id), body)
