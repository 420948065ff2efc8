"""``gridedge reconfigure serve``: the remote service that restores supply after a fault.

The FLISR flow's last part (DESIGN.md section 2, the paper's section IV-B):

1. A feeder-head meter publishes a located fault on ``faults/{feeder}`` (bus pair and
   distance, and the ``sections`` that hold it). Copies are dropped (sender, session,
   sequence number). A location the meter flags ambiguous is reported and not acted on
   (unless ``act_on_ambiguous``) - but for a fault at a bus it cannot place on one side or
   the other, whose ``sections`` are then every line that meets there: those are isolated
   together.
2. The plan comes from :class:`~gridedge.services.reconfiguration.Restorer` on the current
   topology, read from the catalog (``GET /v1/topology``, again whenever the retained
   ``topology`` topic announces a new version).
3. Protection must have cleared the fault first: the service waits (``clearing_wait_s``) for
   a breaker opened by ``protection`` since the inception (``switches/{id}/state``), since
   isolating switches open dead. That breaker is closed again once the fault is isolated,
   before the ties, when the plan leaves it closed.
4. Each step is one select-before-operate exchange (:mod:`.switching`); the first that fails
   stops the plan, so that nothing is closed onto a fault that was not isolated.
5. The switch states that were actually reached are posted as a new topology version
   (``PUT /v1/topology`` with ``If-Match``; read again and redone on 412); the catalog pushes
   new settings to the meters it affects.

Progress is published on ``restoration/{feeder}``: ``planned`` (the steps), then
``restored`` or ``aborted`` (every operation with its times, the topology version and the
affected meters), or ``not acted`` with the reason.
"""

import argparse
import dataclasses
import logging
import queue
import signal
import threading
import time
from typing import Any

from gridedge import config
from gridedge.errors import (
    GridedgeError,
    InvalidInputError,
    IsolationError,
    NotFoundError,
    PreconditionFailedError,
)
from gridedge.grid import Grid, from_dict, to_dict
from gridedge.meter.catalog_client import CatalogClient
from gridedge.meter.settings import GRID, MONITORING
from gridedge.mqtt import Connection, Deduplicator, Envelope, Received, Topics
from gridedge.services.reconfiguration.plan import RestorationPlan, SwitchingStep
from gridedge.services.reconfiguration.planner import Restorer
from gridedge.services.reconfiguration.settings import SECTION as LIMITS_SECTION
from gridedge.services.reconfiguration.settings import SERVICE_SECTION, Limits, ServiceSettings
from gridedge.services.reconfiguration.switching import Operation, Responses, SwitchCommander
from gridedge.services.runtime import (
    OFFLINE,
    SECTION,
    ServiceProvisioning,
    announce,
    connect,
    self_configure,
    status_will,
)

logger = logging.getLogger(__name__)

PROTECTION = "protection"
CLOCK_SLACK_S = 0.05
"""A trip time-stamped this much before the inception still counts as its clearing, s."""


@dataclasses.dataclass(frozen=True)
class Located:
    """A located fault as a meter reported it.

    Attributes
    ----------
    feeder : str
        The feeder of its topic (``faults/{feeder}``).
    envelope : Envelope
        The meter's message; its body is the ``located`` report of ``fault-detector``.
    """

    feeder: str
    envelope: Envelope

    @property
    def body(self) -> dict[str, Any]:
        """The message body."""
        return self.envelope.body


class ReconfigurationService:
    """The reconfiguration service (see the module docstring).

    Parameters
    ----------
    provisioning : ServiceProvisioning
        Its identity and catalog.
    settings : ServiceSettings
        How plans are carried out.
    limits : Limits
        What restored configurations must respect.
    """

    def __init__(
        self, provisioning: ServiceProvisioning, settings: ServiceSettings, limits: Limits
    ) -> None:
        self.provisioning = provisioning
        self.settings = settings
        self.limits = limits
        self.client: CatalogClient = provisioning.client()
        self.topics = Topics()
        self.version = 0
        self.grid: Grid | None = None
        self.restorer: Restorer | None = None
        self.responses = Responses()
        self._work: queue.Queue[Located | int] = queue.Queue()
        self._stop = threading.Event()
        self._dedup = Deduplicator()
        self._states: dict[str, dict[str, Any]] = {}
        self._state_changed = threading.Condition()
        self._connection: Connection | None = None

    def request_stop(self) -> None:
        """Ask the service to stop (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Configure from the catalog, connect, and serve until :meth:`request_stop`."""
        settings = self_configure(self.client, self.provisioning.boot_wait_s, self._stop)
        self.topics = settings.topics
        self._load_topology()
        sender = self.provisioning.id
        connection = self._connection = connect(settings, GRID, sender)
        monitoring = connect(settings, MONITORING, sender, will=status_will(settings, sender))
        commander = SwitchCommander(connection, self.topics, self.responses, self.settings)
        router = threading.Thread(
            target=connection.serve,
            args=(self._stop, self._dispatch),
            kwargs={"log": logger},
            name="router",
            daemon=True,
        )
        router.start()
        try:
            for topic_filter in (
                self.topics.switch_state("+"),
                self.topics.switch_response("+"),
                self.topics.topology(),
                self.topics.faults("+"),
            ):
                connection.subscribe(topic_filter)
            announce(
                monitoring,
                settings,
                sender,
                {"state": "online", "since": time.time(), "topology_version": self.version},
            )
            logger.info("serving topology version %d", self.version)
            while not self._stop.is_set():
                try:
                    item = self._work.get(timeout=0.2)
                except queue.Empty:
                    continue
                if isinstance(item, int):
                    if item > self.version:
                        self._load_topology()
                    continue
                try:
                    self.restore(item, commander)
                except GridedgeError as exc:
                    logger.error("restoration after the fault from %s failed: %s", item, exc)
                    self._report(item.feeder, {"state": "not acted", "reason": str(exc)})
            announce(monitoring, settings, sender, OFFLINE)
        finally:
            self._stop.set()
            connection.close()
            monitoring.close()
            router.join(2.0)

    # -- receiving -----------------------------------------------------------------------

    def _dispatch(self, received: Received) -> None:
        if not received.payload:
            return
        try:
            envelope = received.envelope()
        except InvalidInputError as exc:
            logger.warning("ignoring a message on %s: %s", received.topic, exc)
            return
        if self._dedup.is_duplicate(envelope):
            logger.info(
                "dropping a copy of %s %d on %s", envelope.sender, envelope.seq, received.topic
            )
            return
        topics, topic = self.topics, received.topic
        switch = topics.device_of(topic, "switches")
        feeder = topics.device_of(topic, "faults")
        if switch is not None and topic == topics.switch_response(switch):
            self.responses.deliver(envelope)
        elif switch is not None and topic == topics.switch_state(switch):
            if isinstance(envelope.body, dict):
                with self._state_changed:
                    self._states[switch] = envelope.body
                    self._state_changed.notify_all()
        elif topic == topics.topology() and isinstance(envelope.body, dict):
            self._work.put(int(envelope.body.get("version", 0)))
        elif (
            feeder is not None
            and topic == topics.faults(feeder)
            and not received.retain
            and isinstance(envelope.body, dict)
            and envelope.body.get("state") == "located"
        ):
            self._work.put(Located(feeder, envelope))

    # -- restoring -----------------------------------------------------------------------

    def restore(self, fault: Located, commander: SwitchCommander) -> None:
        """Plan, switch and post the topology for one located fault.

        Every outcome, including a fault not acted on, is published on
        ``restoration/{feeder}``.

        Parameters
        ----------
        fault : Located
            The meter's report.
        commander : SwitchCommander
            Operates the switches.

        Raises
        ------
        NotFoundError
            No topology has been read from the catalog yet.
        PreconditionFailedError
            The catalog's topology kept changing while the new one was posted.
        CatalogUnavailableError
            The catalog could not be reached to post the topology.
        """
        received = time.time()
        body = fault.body
        isolable = bool(body.get("sections"))
        if body.get("ambiguous") and not (isolable or self.settings.act_on_ambiguous):
            reasons = "; ".join(body.get("reasons", []))
            self._report(fault.feeder, {"state": "not acted", "reason": f"ambiguous: {reasons}"})
            return
        if self.restorer is None:
            raise NotFoundError("no topology has been read from the catalog")
        try:
            plan = self.restorer.plan(body)
        except (InvalidInputError, IsolationError) as exc:
            self._report(fault.feeder, {"state": "not acted", "reason": f"no plan: {exc}"})
            return
        planning_s = time.time() - received
        trips = self._wait_for_clearing(float(body.get("inception_time", received)))
        steps = with_reclosing(plan, trips)
        summary = {"fault": self._fault_json(fault)}
        self._report(
            fault.feeder,
            {
                "state": "planned",
                **summary,
                "steps": [dataclasses.asdict(s) for s in steps],
                "restored_kw": plan.state.restored_kw,
                "unserved_kw": plan.state.unserved_kw,
                "notes": list(plan.notes),
                "planning_s": planning_s,
                "cleared_by": trips,
            },
        )
        if not trips:
            reason = (
                f"protection did not clear the fault within {self.settings.clearing_wait_s:g} s:"
                " no switch is operated under fault current"
            )
            outcome = {"state": "aborted", "reason": reason, "operations": []}
            self._report(fault.feeder, {**outcome, **summary, "topology_version": self.version})
            return
        operations = self._execute(steps, commander)
        changes = {o.switch: o.action == "close" for o in operations if o.ok}
        # Tripped breakers left open are part of the truth the catalog must hold.
        version, affected = self._post({**dict.fromkeys(trips, False), **changes})
        failed = next((o for o in operations if not o.ok), None)
        self._report(
            fault.feeder,
            {
                "state": "aborted" if failed else "restored",
                **summary,
                "reason": None if failed is None else f"{failed.switch}: {failed.reason}",
                "operations": [o.to_json() for o in operations],
                "topology_version": version,
                "affected": affected,
            },
        )

    def _execute(self, steps: list[SwitchingStep], commander: SwitchCommander) -> list[Operation]:
        """Operate the steps in order; stop at the first that fails."""
        operations = []
        for step in steps:
            operation = commander.operate(step.switch, step.action)
            operations.append(operation)
            outcome = "acknowledged" if operation.ok else f"failed: {operation.reason}"
            logger.info("%s %s (%s) %s", step.action, step.switch, step.purpose, outcome)
            if not operation.ok:
                break
        return operations

    def _wait_for_clearing(self, inception: float) -> list[str]:
        """Breakers protection opened since `inception`, waiting for one up to the limit."""

        def tripped() -> list[str]:
            return sorted(
                switch
                for switch, state in self._states.items()
                if state.get("cause") == PROTECTION
                and state.get("closed") is False
                and float(state.get("since", 0.0)) >= inception - CLOCK_SLACK_S
            )

        with self._state_changed:
            self._state_changed.wait_for(
                lambda: bool(tripped()) or self._stop.is_set(), self.settings.clearing_wait_s
            )
            return tripped()

    def _post(self, changes: dict[str, bool]) -> tuple[int, list[str]]:
        """Post the current topology with `changes` applied; return the version and affected."""
        for _ in range(self.settings.topology_attempts):
            if self.grid is None:
                raise NotFoundError("no topology has been read from the catalog")
            grid = self.grid.with_switch_states(changes)
            try:
                version, affected = self.client.put_topology(to_dict(grid), self.version)
            except PreconditionFailedError as exc:
                logger.info("the topology changed meanwhile (%s); reading it again", exc)
                self._load_topology()
                continue
            self._use(version, grid)
            logger.info("topology version %d posted; %d meters affected", version, len(affected))
            return version, affected
        raise PreconditionFailedError(
            f"the topology kept changing: {self.settings.topology_attempts} attempts failed"
        )

    # -- helpers -------------------------------------------------------------------------

    def _load_topology(self) -> None:
        version, document = self.client.topology()
        self._use(version, from_dict(document))

    def _use(self, version: int, grid: Grid) -> None:
        self.version, self.grid = version, grid
        self.restorer = Restorer(grid, self.limits)
        logger.info("topology version %d in use", version)

    def _fault_json(self, fault: Located) -> dict[str, Any]:
        body = fault.body
        return {
            "line": body.get("line"),
            "from_bus": body.get("from_bus"),
            "to_bus": body.get("to_bus"),
            "distance_m": body.get("distance_m"),
            "inception_time": body.get("inception_time"),
            "meter": fault.envelope.sender,
            "seq": fault.envelope.seq,
        }

    def _report(self, feeder: str, body: dict[str, Any]) -> None:
        logger.info("restoration on %s: %s", feeder, body["state"])
        if self._connection is not None:
            self._connection.publish(self.topics.restoration(feeder), body)


def with_reclosing(plan: RestorationPlan, tripped: list[str]) -> list[SwitchingStep]:
    """The plan's steps with the tripped breakers it leaves closed reclosed before the ties.

    Isolation and sectionalising come first, so a breaker recloses onto a healthy part, and
    the ties close last, each onto a dead part, as the plan orders them.

    Parameters
    ----------
    plan : RestorationPlan
        The planner's plan; its switch states say which breakers end up closed.
    tripped : list of str
        Breakers protection opened.

    Returns
    -------
    list of SwitchingStep
        The steps in the order to carry them out.
    """
    operated = {s.switch for s in plan.steps}
    reclose = [
        SwitchingStep(switch, "close", "restore", "recloses the breaker protection opened")
        for switch in tripped
        if plan.switch_states.get(switch) and switch not in operated
    ]
    first = [s for s in plan.steps if s.purpose != "restore"]
    ties = [s for s in plan.steps if s.purpose == "restore"]
    return [*first, *reclose, *ties]


def run(args: argparse.Namespace) -> int:
    """Run the service from the file ``args.config`` until SIGTERM or SIGINT."""
    service = ReconfigurationService(
        config.load(ServiceProvisioning, args.config, section=SECTION),
        config.load(ServiceSettings, args.config, section=SERVICE_SECTION),
        config.load(Limits, args.config, section=LIMITS_SECTION),
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.request_stop())
    service.run()
    return 0
