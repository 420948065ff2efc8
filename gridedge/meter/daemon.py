"""The meter daemon (the paper's 3SMA runtime): boot, self-configure, run, auto-update, stop.

Life cycle (DESIGN.md section 2, the paper's section IV-A):

1. **Boot.** Take the state directory (one daemon per directory), finish or undo any
   interrupted package change on disk, then ask the catalog for this meter's settings,
   retrying with jittered exponential backoff for ``boot_wait_s``; if it cannot be reached,
   start from the last-known-good settings on disk.
2. **Self-configuration.** Connect to the ``grid`` and ``monitoring`` brokers (MQTT 5,
   persistent sessions, last will "offline" on ``meters/{id}/status``), start acquisition
   and estimation, start the algorithms (those on disk first, then whatever the settings add
   or change), and publish status.
3. **Auto-update.** A poller asks the catalog every ``update_interval_s`` with the ETag of
   the settings in use (304 when unchanged); the catalog's retained push on ``config/{id}``
   arrives at once. A newer revision is applied live: brokers moved, topology or topics
   changed (algorithms re-configured, subscriptions renewed), acquisition changed (chain
   restarted), algorithms added, updated (with probation and rollback) or removed.
4. **Stop** on SIGTERM or SIGINT: status "offline", algorithms closed, unsent messages kept
   in the outbox on disk for the next start.

All of it is driven from the main thread through one event queue; the MQTT network threads,
the poller, the acquisition and estimation threads and the algorithms' threads only hand
events over.
"""

import contextlib
import fcntl
import logging
import os
import queue
import signal
import threading
import time
from typing import Any

from paho.mqtt.client import topic_matches_sub

from gridedge import __version__
from gridedge.errors import (
    AccessDeniedError,
    AuthenticationError,
    CatalogUnavailableError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
)
from gridedge.meter import backoff, lastgood, settings
from gridedge.meter.catalog_client import CatalogClient
from gridedge.meter.deployer import Deployer, Policy
from gridedge.meter.host import Host
from gridedge.meter.installer import Installed, Installer
from gridedge.meter.links import BrokerLink
from gridedge.meter.measurement import MeasurementChain
from gridedge.meter.phasor import PhasorEstimator
from gridedge.meter.plugin import Context, Measurement, Message, Output
from gridedge.meter.provisioning import Provisioning
from gridedge.meter.settings import GRID, MONITORING, AlgorithmSpec, MeterSettings
from gridedge.meter.sources import open_source
from gridedge.meter.spool import Spool
from gridedge.meter.usage import CpuMeter, memory
from gridedge.mqtt import Received, Will

logger = logging.getLogger(__name__)

OFFLINE = "offline"
ONLINE = "online"
_TICK_S = 0.1


class MeterDaemon:
    """One meter.

    Parameters
    ----------
    provisioning : Provisioning
        Identity, catalog, credential, trusted keys, state directory and local policies.
    """

    def __init__(self, provisioning: Provisioning) -> None:
        provisioning.check_complete()
        self.provisioning = provisioning
        self.device_id = provisioning.device_id
        self.state_dir = provisioning.state_dir
        self.settings: MeterSettings | None = None
        self.booted_from = ""
        self.client = CatalogClient(
            provisioning.catalog_url,
            provisioning.device_id,
            provisioning.token(),
            timeout_s=provisioning.http_timeout_s,
            ca_file=provisioning.catalog_ca_file,
        )
        self.host = Host()
        self.deployer = Deployer(
            Installer(
                self.state_dir / "algorithms",
                provisioning.trusted_keys,
                provisioning.max_package_bytes,
            ),
            self.host,
            Policy(
                probation_s=provisioning.probation_s,
                deadline_s=provisioning.deadline_s,
                configure_timeout_s=provisioning.configure_timeout_s,
                queue_length=provisioning.queue_length,
            ),
            download=self._download,
            make_context=self._context,
            emit=self._emit,
            on_failure=lambda slot, reason: self._events.put(("failure", (slot, reason))),
        )
        self.links: dict[str, BrokerLink] = {}
        self.chain: MeasurementChain | None = None
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop_requested = False
        self._stopped = threading.Event()
        self._cpu = CpuMeter()
        self._started = time.monotonic()
        self._lock_file: Any = None

    # -- life cycle ----------------------------------------------------------------------------

    def run(self) -> None:
        """Boot, then serve until :meth:`request_stop` (SIGTERM, SIGINT); then shut down."""
        self._take_state_dir()
        try:
            self.deployer.installer.recover()
            self.host.start()
            document = self._boot_settings()
            if document is not None:
                self._apply(document)
            poller = threading.Thread(target=self._poll, name="catalog-poller", daemon=True)
            poller.start()
            self._serve()
        finally:
            self._shut_down()

    def request_stop(self) -> None:
        """Ask the daemon to stop (safe from a signal handler)."""
        self._stop_requested = True

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGTERM and SIGINT."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.request_stop())

    def _take_state_dir(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.state_dir / "lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                f"another meter daemon is using the state directory {self.state_dir}"
            ) from None
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()

    def _boot_settings(self) -> dict[str, Any] | None:
        """Settings from the catalog, retried for ``boot_wait_s``; else the last-known-good."""
        deadline = time.monotonic() + self.provisioning.boot_wait_s
        delays = backoff.delays(self.provisioning.retry_initial_s, self.provisioning.retry_max_s)
        while not self._stop_requested:
            try:
                document, _ = self.client.settings()
            except CatalogUnavailableError as exc:
                wait = next(delays)
                if time.monotonic() + wait > deadline:
                    logger.warning("catalog unreachable at boot (%s)", exc)
                    break
                logger.info("catalog unreachable (%s); trying again in %.1f s", exc, wait)
                self._sleep(wait)
                continue
            self.booted_from = "catalog"
            return document
        document = lastgood.load(self.state_dir)
        if document is None:
            logger.warning("no last-known-good settings: waiting for the catalog")
            return None
        self.booted_from = "last-known-good"
        logger.warning("starting from the last-known-good settings")
        return document

    def _serve(self) -> None:
        next_status = time.monotonic()
        while not self._stop_requested:
            try:
                kind, payload = self._events.get(timeout=_TICK_S)
            except queue.Empty:
                kind, payload = "", None
            if kind == "settings":
                self._apply(payload)
                next_status = time.monotonic()
            elif kind == "failure":
                self.deployer.failed(*payload)
                next_status = time.monotonic()
            self.deployer.tick()
            if time.monotonic() >= next_status:
                self._publish_status()
                next_status = time.monotonic() + self.provisioning.status_interval_s

    def _shut_down(self) -> None:
        self._stopped.set()
        monitoring = self.links.get(MONITORING)
        if monitoring is not None and self.settings is not None:
            monitoring.publish_now(
                self.settings.topics.status(self.device_id), OFFLINE, retain=True
            )
        if self.chain is not None:
            self.chain.stop()
        self.host.close(self.provisioning.deadline_s)
        for link in self.links.values():
            link.close()
        if self._lock_file is not None:
            self._lock_file.close()
        logger.info("meter %s stopped", self.device_id)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop_requested and time.monotonic() < end:
            time.sleep(min(_TICK_S, max(0.0, end - time.monotonic())))

    # -- settings ----------------------------------------------------------------------------

    def _poll(self) -> None:
        """Auto-update: poll the catalog with the ETag in use; back off while it is away."""
        delays = None
        while not self._stopped.is_set():
            current = self.settings
            wait = current.update_interval_s if current else self.provisioning.retry_max_s
            try:
                document, _ = self.client.settings(current.etag if current else None)
            except CatalogUnavailableError as exc:
                delays = delays or backoff.delays(
                    self.provisioning.retry_initial_s, self.provisioning.retry_max_s
                )
                wait = min(wait, next(delays))
                logger.info("catalog unreachable (%s); polling again in %.1f s", exc, wait)
            except (AuthenticationError, AccessDeniedError, NotFoundError) as exc:
                logger.error("the catalog refuses this meter: %s", exc)
            else:
                delays = None
                if document is not None:
                    self._events.put(("settings", document))
            if current is None and delays is None:
                wait = self.provisioning.retry_initial_s
            self._stopped.wait(wait)

    def _apply(self, document: dict[str, Any]) -> None:
        try:
            new = settings.parse(document, self.device_id)
        except ConfigurationError as exc:
            logger.error(
                "settings refused, keeping revision %s: %s",
                self.settings.revision if self.settings else None,
                exc,
            )
            return
        old = self.settings
        if old is not None and new.revision <= old.revision:
            return
        if old is None:
            self._configure(new)
        else:
            self._update(old, new)
        lastgood.save(self.state_dir, new.document)
        logger.info("running settings revision %d", new.revision)

    def _configure(self, new: MeterSettings) -> None:
        """Self-configuration: brokers, acquisition, algorithms."""
        self.settings = new
        for name in (GRID, MONITORING):
            spool = Spool(
                self.state_dir / "outbox" / f"{name}.sqlite3", self.provisioning.spool_max_bytes
            )
            self.links[name] = BrokerLink(
                name,
                self.device_id,
                new.brokers[name],
                spool=spool,
                session_expiry_s=self.provisioning.session_expiry_s,
                will=self._will(name, new),
                on_message=self._on_message,
            )
        for link in self.links.values():
            link.start(timeout=2.0)
        self._start_chain(new)
        self.deployer.restore(new.algorithms)
        self._subscribe()

    def _update(self, old: MeterSettings, new: MeterSettings) -> None:
        """Auto-update: apply what changed, live."""
        changes = settings.changes(old, new)
        logger.info(
            "revision %d: brokers moved %s, topics %s, topology %s, acquisition %s; algorithms "
            "added %s, updated %s, re-parameterised %s, removed %s",
            new.revision,
            sorted(changes.brokers),
            changes.topics,
            changes.topology,
            changes.acquisition,
            sorted(changes.added),
            sorted(changes.updated),
            sorted(changes.reparameterised),
            sorted(changes.removed),
        )
        self.settings = new
        for name in (GRID, MONITORING):
            if name in changes.brokers or changes.topics:
                self.links[name].switch(new.brokers[name], self._will(name, new), timeout=2.0)
        if changes.acquisition:
            self._start_chain(new)
        self.deployer.apply(
            new.algorithms,
            reconfigure=changes.topology or changes.topics or changes.acquisition,
        )
        self._subscribe()

    def _will(self, name: str, current: MeterSettings) -> Will | None:
        if name != MONITORING:
            return None
        return Will(current.topics.status(self.device_id), OFFLINE)

    def _start_chain(self, current: MeterSettings) -> None:
        if self.chain is not None:
            self.chain.stop()
            self.chain = None
        try:
            source = open_source(current.acquisition, self.device_id)
        except (ConfigurationError, InvalidInputError, ImportError, OSError) as exc:
            logger.error("acquisition cannot start: %s", exc)
            return
        self.chain = MeasurementChain(
            source,
            current.acquisition,
            on_frames=self.host.on_frames,
            on_samples=self.host.on_samples,
            wants_samples=lambda: self.host.wants("samples"),
        )
        self.chain.start()

    def _subscribe(self) -> None:
        current = self.settings
        if current is None:
            return
        filters: dict[str, set[str]] = {
            GRID: {current.topics.config(self.device_id)},
            MONITORING: set(),
        }
        for slot in self.host.slots():
            if slot.active and slot.declaration is not None:
                for subscription in slot.declaration.subscriptions:
                    filters[subscription.broker].add(subscription.topic_filter)
        for name, link in self.links.items():
            link.subscriptions(filters[name])

    # -- algorithms' side ----------------------------------------------------------------------

    def _download(self, spec: AlgorithmSpec) -> bytes:
        return self.client.download(spec.url, self.provisioning.max_package_bytes)

    def _context(self, spec: AlgorithmSpec, installed: Installed, publish: Any) -> Context:
        current = self.settings
        if current is None:
            raise ConfigurationError("algorithms start after the settings")
        acquisition = current.acquisition
        # Without acquisition (it failed to start) algorithms still run, on messages only.
        estimator = (
            self.chain.estimator
            if self.chain
            else PhasorEstimator(acquisition.fs, acquisition.f0, acquisition.reporting_rate)
        )
        return Context(
            meter_id=self.device_id,
            name=spec.name,
            version=installed.version,
            parameters=spec.parameters,
            topology=current.topology,
            topics=current.topics,
            measurement=Measurement.of(estimator),
            publish=publish,
            logger=logging.getLogger(f"gridedge.algorithms.{spec.name}"),
        )

    def _emit(self, output: Output, body: Any) -> None:
        self.links[output.broker].outbox.put(output.topic, body, retain=output.retain)

    def _on_message(self, broker: str, received: Received) -> None:
        """Route a message (router threads): pushed settings, or to subscribed algorithms."""
        current = self.settings
        if not received.payload or current is None:
            return
        try:
            envelope = received.envelope()
        except InvalidInputError as exc:
            logger.warning("ignoring a message on %s: %s", received.topic, exc)
            return
        if broker == GRID and received.topic == current.topics.config(self.device_id):
            if isinstance(envelope.body, dict):
                self._events.put(("settings", envelope.body))
            return
        self.host.on_message(
            broker, Message(received.topic, envelope, received.retain), topic_matches_sub
        )

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status telemetry document."""
        current = self.settings
        return {
            "state": ONLINE,
            "software": __version__,
            "revision": current.revision if current else None,
            "booted_from": self.booted_from,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "cpu_percent": round(self._cpu.percent(), 2),
            "memory": memory(),
            "acquisition": self.chain.report() if self.chain else None,
            "brokers": {name: link.outbox.report() for name, link in self.links.items()},
            "algorithms": self.deployer.report(),
        }

    def _publish_status(self) -> None:
        monitoring = self.links.get(MONITORING)
        if monitoring is None or self.settings is None:
            return
        monitoring.publish_now(
            self.settings.topics.status(self.device_id), self.status(), retain=True
        )


def run(provisioning: Provisioning) -> None:
    """Run a meter until SIGTERM or SIGINT."""
    daemon = MeterDaemon(provisioning)
    daemon.install_signal_handlers()
    with contextlib.suppress(KeyboardInterrupt):
        daemon.run()
