"""The meter's link to one broker: MQTT session, outbox, subscriptions and message routing.

A link outlives its sessions: when the settings move the broker (or change the topic tree,
and with it the last will), the link opens a session with the new endpoint, moves the outbox
over (nothing unacknowledged is lost) and closes the old one. Received messages are taken off
the session's queue by the link's router thread and handed to the daemon: paho's network
thread only enqueues.
"""

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from gridedge.errors import BrokerUnavailableError
from gridedge.meter.outbox import Outbox
from gridedge.meter.settings import Endpoint
from gridedge.meter.spool import Spool
from gridedge.mqtt import Connection, Received, Sequencer, Will

logger = logging.getLogger(__name__)


class BrokerLink:
    """One broker as the meter uses it.

    Parameters
    ----------
    name : str
        ``grid`` or ``monitoring``.
    device_id : str
        The meter (sender of every envelope; part of the MQTT client id).
    endpoint : Endpoint
        Where the broker is.
    spool : Spool
        The outbox's disk queue.
    session_expiry_s : int
        MQTT session expiry (a persistent session when positive).
    will : Will, optional
        Last will of the session.
    on_message : callable
        ``on_message(link_name, received)``, called from the router thread.
    """

    def __init__(
        self,
        name: str,
        device_id: str,
        endpoint: Endpoint,
        *,
        spool: Spool,
        session_expiry_s: int,
        will: Will | None,
        on_message: Callable[[str, Received], None],
    ) -> None:
        self.name = name
        self.device_id = device_id
        self.endpoint = endpoint
        self.will = will
        self._session_expiry_s = session_expiry_s
        self._on_message = on_message
        self._filters: set[str] = set()
        self.connection = self._connect(endpoint, will)
        self.outbox = Outbox(name, spool, Sequencer(device_id))
        self._stop = threading.Event()
        self._router = threading.Thread(target=self._route, name=f"router-{name}", daemon=True)

    def start(self, timeout: float) -> None:
        """Connect (waiting up to `timeout` s; the session keeps trying after that)."""
        self.outbox.start(self.connection)
        self._router.start()
        self._open(self.connection, timeout)

    def switch(self, endpoint: Endpoint, will: Will | None, timeout: float) -> None:
        """Move to a new endpoint or last will without losing a message."""
        logger.info(
            "%s broker: moving from %s:%d to %s:%d",
            self.name,
            self.endpoint.host,
            self.endpoint.port,
            endpoint.host,
            endpoint.port,
        )
        connection = self._connect(endpoint, will)
        for topic_filter in self._filters:
            connection.subscribe(topic_filter)
        old = self.outbox.switch(connection)
        self.connection, self.endpoint, self.will = connection, endpoint, will
        if old is not None:
            old.close()
            self._drain(old.inbox)
        self._open(connection, timeout)

    def subscriptions(self, filters: set[str]) -> None:
        """Subscribe to exactly `filters` (now and after every reconnection)."""
        for topic_filter in sorted(self._filters - filters):
            self.connection.unsubscribe(topic_filter)
        for topic_filter in sorted(filters - self._filters):
            try:
                self.connection.subscribe(topic_filter)
            except BrokerUnavailableError as exc:
                logger.warning("%s; the subscription is renewed at the next session", exc)
        self._filters = set(filters)

    def publish_now(self, topic: str, body: Any, *, retain: bool) -> bool:
        """Publish without keeping the message if the broker is away (status telemetry)."""
        if not self.connection.connected:
            return False
        self.connection.publish(topic, body, retain=retain)
        return True

    def close(self) -> None:
        """Stop the router and the outbox (keeping its unsent messages) and disconnect."""
        self._stop.set()
        self.outbox.close()
        self.connection.close()
        self._router.join(2.0)

    def _connect(self, endpoint: Endpoint, will: Will | None) -> Connection:
        return Connection(
            endpoint.host,
            endpoint.port,
            sender=self.device_id,
            client_id=f"meter-{self.device_id}-{self.name}",
            will=will,
            keepalive=10,
            tls=endpoint.tls,
            session_expiry_s=self._session_expiry_s,
        )

    def _open(self, connection: Connection, timeout: float) -> None:
        try:
            connection.start(timeout)
        except BrokerUnavailableError as exc:
            logger.warning("%s broker: %s; retrying in the background", self.name, exc)

    def _route(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.connection.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            self._deliver(message)

    def _drain(self, inbox: "queue.Queue[Received]") -> None:
        while True:
            try:
                self._deliver(inbox.get_nowait())
            except queue.Empty:
                return

    def _deliver(self, message: Received) -> None:
        try:
            self._on_message(self.name, message)
        except Exception:
            # One bad message must not end the router.
            logger.exception(
                "%s broker: could not handle a message on %s", self.name, message.topic
            )
