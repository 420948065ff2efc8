"""Deliver measurements and events to one broker in order, keeping them on disk while it is away.

Every message is sealed in its envelope (sender, session, sequence number, time stamp) when
it is made, so that a copy sent again after a reconnection is recognisably the same message.
While the broker takes messages they go straight to the MQTT session (paho keeps each until
the broker acknowledges it, and sends it again after a reconnection). While it does not, they
go to the :class:`~gridedge.meter.spool.Spool` on disk, bounded, oldest dropped first. Once
the broker is back and has acknowledged everything sent before, a sender thread replays the
spool in order, waiting for each batch to be acknowledged before deleting it; new messages
queue behind the spool until it is empty. Copies are possible (a batch interrupted by another
disconnection is sent again); loss is not, short of the spool's bound.
"""

import collections
import logging
import threading
import time
from typing import Any

from paho.mqtt.client import MQTT_ERR_SUCCESS, MQTTMessageInfo

from gridedge.meter.spool import Spool
from gridedge.mqtt import Connection, Envelope, Sequencer

logger = logging.getLogger(__name__)

BATCH = 64
"""Messages replayed from the spool before waiting for their acknowledgements."""


def _acknowledged(info: MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        # Not sent on this connection (no session at the time): not acknowledged.
        return False


class Outbox:
    """Everything one broker should receive from this meter.

    Parameters
    ----------
    name : str
        The broker (``grid`` or ``monitoring``), for logs and reports.
    spool : Spool
        Where messages wait while the broker is away.
    sequencer : Sequencer
        Seals bodies into envelopes of this meter's session with this broker.
    ack_timeout_s : float
        How long the sender waits for a batch's acknowledgements before sending it again.
    """

    def __init__(
        self, name: str, spool: Spool, sequencer: Sequencer, ack_timeout_s: float = 10.0
    ) -> None:
        self.name = name
        self.spool = spool
        self.sequencer = sequencer
        self.ack_timeout_s = ack_timeout_s
        self.sent = 0
        self.replayed = 0
        self._connection: Connection | None = None
        self._direct = False
        self._pending: collections.deque[tuple[MQTTMessageInfo, str, Envelope, bool]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, name=f"outbox-{name}", daemon=True)

    def start(self, connection: Connection) -> None:
        """Deliver through `connection` from now on."""
        self._connection = connection
        self._thread.start()

    def put(self, topic: str, body: Any, *, retain: bool = False) -> Envelope:
        """Seal `body` and send it, or keep it on disk while the broker is away; never waits."""
        envelope = self.sequencer.seal(body)
        with self._lock:
            connection = self._connection
            if self._direct and connection is not None and connection.connected:
                info = connection.send(topic, envelope, retain=retain)
                if info.rc == MQTT_ERR_SUCCESS:
                    self._pending.append((info, topic, envelope, retain))
                    self.sent += 1
                    self._prune()
                    return envelope
                # The session ended a moment ago: paho sends it after reconnecting, and the
                # spool sends it too; the consumers drop the copy.
            self._direct = False
            self.spool.append(topic, envelope.encode(), retain)
        self._wake.set()
        return envelope

    def switch(self, connection: Connection) -> Connection | None:
        """Deliver through a new connection; return the old one (to be closed by the caller).

        Messages the old connection has not had acknowledged go back to the spool, ahead of
        everything there, and are sent again on the new one.
        """
        with self._lock:
            old = self._connection
            self._connection = connection
            self._direct = False
            self._requeue()
        self._wake.set()
        return old

    def close(self) -> None:
        """Stop the sender; keep every unacknowledged message in the spool."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        with self._lock:
            self._direct = False
            self._requeue()
        self.spool.close()

    def report(self) -> dict[str, Any]:
        """Counters for status telemetry."""
        connection = self._connection
        return {
            "connected": bool(connection and connection.connected),
            "sent": self.sent,
            "replayed": self.replayed,
            "spooled": len(self.spool),
            "spool_bytes": self.spool.bytes,
            "spool_fill": round(self.spool.bytes / self.spool.max_bytes, 4),
            "dropped": self.spool.dropped,
        }

    # -- the sender thread -------------------------------------------------------------------

    def _send(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            connection = self._connection
            if connection is None or not connection.connected:
                continue
            if not self._earlier_acknowledged():
                continue
            batch = self.spool.peek(BATCH)
            if not batch:
                with self._lock:
                    if len(self.spool) == 0 and connection is self._connection:
                        self._direct = True
                continue
            self._replay(connection, batch)

    def _earlier_acknowledged(self) -> bool:
        """Whether everything sent directly before has been acknowledged (waits a little)."""
        deadline = time.monotonic() + self.ack_timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            with self._lock:
                self._prune()
                if not self._pending:
                    return True
            time.sleep(0.01)
        return False

    def _replay(self, connection: Connection, batch: list[tuple[int, str, bytes, bool]]) -> None:
        infos = []
        for _, topic, payload, retain in batch:
            infos.append(connection.send(topic, Envelope.decode(payload), retain=retain))
        deadline = time.monotonic() + self.ack_timeout_s
        while not all(_acknowledged(i) for i in infos):
            if time.monotonic() > deadline or self._stop.is_set() or not connection.connected:
                # Sent again later, whole: the consumers drop the copies.
                return
            time.sleep(0.005)
        self.spool.delete([row[0] for row in batch])
        self.replayed += len(batch)
        self._wake.set()

    # -- with the lock held ------------------------------------------------------------------

    def _prune(self) -> None:
        while self._pending and _acknowledged(self._pending[0][0]):
            self._pending.popleft()

    def _requeue(self) -> None:
        self._prune()
        unacknowledged = [
            (topic, envelope.encode(), retain)
            for info, topic, envelope, retain in self._pending
            if not _acknowledged(info)
        ]
        self._pending.clear()
        self.spool.prepend(unacknowledged)
