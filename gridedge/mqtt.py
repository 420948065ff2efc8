"""MQTT 5 plumbing shared by the meter, the catalog and the services.

Three pieces, each small:

- :class:`Topics` spells the topic tree of the design (prefix configurable, ``gridedge/`` by
  default), so no component formats a topic by hand.
- :class:`Envelope` is the one message format: sender id, a random id of the sender's session,
  a per-session sequence number and a timestamp around a JSON body. :class:`Deduplicator`
  drops the copies a broker restart produces (QoS 1 duplicates and reorders).
- :class:`Connection` is one MQTT 5 session with one broker through paho-mqtt 2: TCP_NODELAY
  on the socket (without it a round trip on loopback takes tens of milliseconds), automatic
  reconnection with re-subscription, and paho callbacks that only put things on queues,
  because an exception inside a callback kills paho's network thread while the client still
  reports itself connected.
"""

import dataclasses
import itertools
import json
import logging
import math
import queue
import secrets
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gridedge.errors import BrokerUnavailableError, InvalidInputError

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "gridedge/"


@dataclasses.dataclass(frozen=True)
class Topics:
    """The topic tree of gridedge under one prefix.

    Parameters
    ----------
    prefix : str
        Prepended to every topic; empty or ending in ``/``.
    """

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if self.prefix and not self.prefix.endswith("/"):
            raise InvalidInputError(f"topic prefix {self.prefix!r} must be empty or end in '/'")
        if any(c in self.prefix for c in "+#\0"):
            raise InvalidInputError(f"topic prefix {self.prefix!r} holds a wildcard or NUL")

    def measurements(self, meter_id: str) -> str:
        """Return the topic of the measurements a meter publishes."""
        return f"{self.prefix}meters/{meter_id}/measurements"

    def status(self, meter_id: str) -> str:
        """Return the topic of a meter's own status (retained; its last will says offline)."""
        return f"{self.prefix}meters/{meter_id}/status"

    def service_status(self, service_id: str) -> str:
        """Return the topic of a remote service's own status (retained; last will offline)."""
        return f"{self.prefix}services/{service_id}/status"

    def presence(self, device_id: str) -> str:
        """Return the topic of the catalog's view of a device: online or disconnected (retained)."""
        return f"{self.prefix}presence/{device_id}"

    def config(self, device_id: str) -> str:
        """Return the topic of settings pushed by the catalog (retained)."""
        return f"{self.prefix}config/{device_id}"

    def faults(self, feeder: str) -> str:
        """Return the topic of the faults located on a feeder."""
        return f"{self.prefix}faults/{feeder}"

    def fault_voltages(self, meter_id: str) -> str:
        """Return the topic of a meter's voltage reports of faults, which feeder heads collect."""
        return f"{self.prefix}meters/{meter_id}/fault-voltages"

    def switch_command(self, switch_id: str) -> str:
        """Return the topic of commands to a switch (they expire and are never retained)."""
        return f"{self.prefix}switches/{switch_id}/command"

    def switch_state(self, switch_id: str) -> str:
        """Return the topic of a switch's state (retained)."""
        return f"{self.prefix}switches/{switch_id}/state"

    def switch_response(self, switch_id: str) -> str:
        """Return the topic of a switch's answers to commands (acknowledged or refused)."""
        return f"{self.prefix}switches/{switch_id}/response"

    def restoration(self, feeder: str) -> str:
        """Return the topic of the reconfiguration service's plans and their outcome."""
        return f"{self.prefix}restoration/{feeder}"

    def topology(self) -> str:
        """Return the topic of the current topology revision (retained)."""
        return f"{self.prefix}topology"

    def state_estimate(self, level: str, node: str) -> str:
        """Return the topic of state estimates of `level` (concentrator, lv, mv) for a node."""
        if level not in ("concentrator", "lv", "mv"):
            raise InvalidInputError(f"state-estimation level {level!r} is not concentrator/lv/mv")
        return f"{self.prefix}se/{level}/{node}"

    def device_of(self, topic: str, kind: str) -> str | None:
        """Return the device id in a topic ``{prefix}{kind}/{id}[/...]``, or None."""
        head = f"{self.prefix}{kind}/"
        if not topic.startswith(head):
            return None
        rest = topic[len(head) :]
        return rest.split("/", 1)[0] or None


@dataclasses.dataclass(frozen=True)
class Envelope:
    """One message: who sent it, in which session, its place in the session, when, and what.

    Attributes
    ----------
    sender : str
        Device or service id of the sender.
    session : str
        Random id chosen when the sender's connection object was made.
    seq : int
        Sequence number within the session, from 1; 0 marks a last will.
    ts : float
        Time of sending, seconds since the Unix epoch (UTC).
    body : Any
        The JSON-compatible content.
    expires : float or None
        For commands: the time after which the receiver must ignore it.
    """

    sender: str
    session: str
    seq: int
    ts: float
    body: Any
    expires: float | None = None

    def encode(self) -> bytes:
        """Encode the envelope as compact UTF-8 JSON."""
        document = {
            "sender": self.sender,
            "session": self.session,
            "seq": self.seq,
            "ts": self.ts,
            "body": self.body,
        }
        if self.expires is not None:
            document["expires"] = self.expires
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def decode(cls, payload: bytes) -> "Envelope":
        """Parse an encoded envelope.

        Raises
        ------
        InvalidInputError
            The payload is not JSON or misses or mistypes a field.
        """
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"envelope is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise InvalidInputError("envelope must be a JSON object")
        for name, kind in (("sender", str), ("session", str), ("seq", int), ("ts", float)):
            value = document.get(name)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidInputError(f"envelope field {name!r} must be {kind.__name__}")
            document[name] = value
        if "body" not in document:
            raise InvalidInputError("envelope has no 'body'")
        expires = document.get("expires")
        if expires is not None and not isinstance(expires, int | float):
            raise InvalidInputError("envelope field 'expires' must be a number")
        return cls(
            sender=document["sender"],
            session=document["session"],
            seq=document["seq"],
            ts=document["ts"],
            body=document["body"],
            expires=None if expires is None else float(expires),
        )

    def expired(self, now: float | None = None) -> bool:
        """Whether a command's expiry time has passed."""
        return self.expires is not None and (time.time() if now is None else now) > self.expires


class Deduplicator:
    """Recognise envelopes already seen, per sender session.

    Parameters
    ----------
    window : int
        Sequence numbers further than this below the highest one seen in a session count as
        duplicates; within it each number is remembered.
    max_sessions : int
        Sessions remembered; the least recently active are forgotten first.
    """

    def __init__(self, window: int = 1024, max_sessions: int = 65536) -> None:
        if window < 1 or max_sessions < 1:
            raise InvalidInputError("window and max_sessions must be positive")
        self._window = window
        self._max_sessions = max_sessions
        self._sessions: OrderedDict[tuple[str, str], tuple[int, set[int]]] = OrderedDict()

    def is_duplicate(self, envelope: Envelope) -> bool:
        """Tell whether `envelope` was seen before (or is too old to tell); record it if not."""
        key = (envelope.sender, envelope.session)
        highest, seen = self._sessions.pop(key, (0, set()))
        self._sessions[key] = (highest, seen)
        if len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)
        seq = envelope.seq
        if seq in seen or (seen and seq <= highest - self._window):
            return True
        seen.add(seq)
        if seq > highest:
            highest = seq
            floor = highest - self._window
            seen.difference_update([s for s in seen if s <= floor])
        self._sessions[key] = (highest, seen)
        return False


@dataclasses.dataclass(frozen=True)
class Received:
    """A message as it arrived: topic, raw payload and whether the broker replayed it retained."""

    topic: str
    payload: bytes
    retain: bool

    def envelope(self) -> Envelope:
        """Decode the payload as an :class:`Envelope`."""
        return Envelope.decode(self.payload)


@dataclasses.dataclass(frozen=True)
class Will:
    """A last will: published by the broker, retained, if the session ends uncleanly."""

    topic: str
    body: Any


class Sequencer:
    """Seals bodies into envelopes of one sender session, numbered from 1.

    Parameters
    ----------
    sender : str
        Id written into every envelope.
    session : str, optional
        Id of the session; random by default.

    Notes
    -----
    A component that keeps messages while its broker is away (the meter's outbox) seals them
    when they are made, so that a replay carries the original number and time stamp and
    consumers recognise copies.
    """

    def __init__(self, sender: str, session: str | None = None) -> None:
        self.sender = sender
        self.session = session or secrets.token_hex(8)
        # itertools.count is advanced atomically under the GIL: safe from any thread.
        self._seq = itertools.count(1)

    def seal(self, body: Any, *, expiry_s: float | None = None) -> Envelope:
        """Return the next envelope of the session around `body`.

        `expiry_s` is as for :meth:`Connection.publish`.
        """
        now = time.time()
        return Envelope(
            self.sender,
            self.session,
            next(self._seq),
            now,
            body,
            expires=None if expiry_s is None else now + expiry_s,
        )


class Connection:
    """One MQTT 5 session with one broker.

    Parameters
    ----------
    host, port : str, int
        The broker.
    sender : str
        Id written into every envelope this connection sends.
    client_id : str, optional
        MQTT client id; ``{sender}-{random}`` by default.
    will : Will, optional
        Last will, sent retained as an envelope with sequence number 0.
    keepalive : int
        Seconds between pings; the broker declares the session dead after 1.5 times this.
    tls : bool
        Connect with TLS using the system's certificate authorities.
    session_expiry_s : int
        0: a clean session on every connection. Above 0: a persistent session (clean start
        off, with this session expiry interval), so that the broker keeps the subscriptions
        and queues QoS 1 messages for them while the client is away; give a fixed
        `client_id` then.

    Notes
    -----
    Received messages of every subscription land on :attr:`inbox`, a queue of
    :class:`Received`, to be consumed by a thread of the caller.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        client_id: str | None = None,
        will: Will | None = None,
        keepalive: int = 30,
        tls: bool = False,
        session_expiry_s: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self._sequencer = Sequencer(sender)
        self.session = self._sequencer.session
        self.inbox: queue.Queue[Received] = queue.Queue()
        self._session_expiry_s = session_expiry_s
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._acknowledged = threading.Condition()
        self._granted: set[int] = set()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{sender}-{self.session}",
            protocol=paho.MQTTv5,
        )
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        if tls:
            self._client.tls_set()
        if will is not None:
            payload = Envelope(sender, self.session, 0, time.time(), will.body).encode()
            self._client.will_set(will.topic, payload, qos=1, retain=True)
        self._keepalive = keepalive
        self._client.on_socket_open = _set_nodelay
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def start(self, timeout: float = 10.0) -> None:
        """Connect in the background and wait up to `timeout` seconds for the session.

        Raises
        ------
        BrokerUnavailableError
            No session within `timeout`; the connection keeps retrying in the background.
        """
        properties = None
        if self._session_expiry_s > 0:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self._session_expiry_s
        self._client.connect_async(
            self.host,
            self.port,
            keepalive=self._keepalive,
            clean_start=self._session_expiry_s <= 0,
            properties=properties,
        )
        self._client.loop_start()
        if not self._connected.wait(timeout):
            raise BrokerUnavailableError(
                f"no MQTT session with {self.host}:{self.port} within {timeout} s"
            )

    def close(self) -> None:
        """Disconnect cleanly (no last will) and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        """Whether a session is established (as last reported by paho's network thread)."""
        return self._connected.is_set()

    def subscribe(self, topic_filter: str, qos: int = 1, *, timeout: float = 10.0) -> None:
        """Subscribe, now and again after every reconnection.

        When connected, waits up to `timeout` seconds for the broker's acknowledgement, so
        that messages published afterwards are sure to be delivered.

        Raises
        ------
        BrokerUnavailableError
            Connected, but no acknowledgement within `timeout`.
        """
        with self._lock:
            self._subscriptions[topic_filter] = qos
        if not self._connected.is_set():
            return
        _, mid = self._client.subscribe(topic_filter, qos)
        with self._acknowledged:
            if not self._acknowledged.wait_for(lambda: mid in self._granted, timeout):
                raise BrokerUnavailableError(
                    f"{self.host}:{self.port} did not acknowledge the subscription {topic_filter}"
                )
            self._granted.discard(mid)

    def unsubscribe(self, topic_filter: str) -> None:
        """Stop receiving `topic_filter`, now and after reconnections."""
        with self._lock:
            self._subscriptions.pop(topic_filter, None)
        if self._connected.is_set():
            self._client.unsubscribe(topic_filter)

    def publish(
        self,
        topic: str,
        body: Any,
        *,
        qos: int = 1,
        retain: bool = False,
        expiry_s: float | None = None,
    ) -> Envelope:
        """Send `body` in a new envelope; return the envelope.

        Parameters
        ----------
        topic : str
            Topic to publish on.
        body : Any
            JSON-compatible content.
        qos : int
            MQTT quality of service; QoS 1 messages are kept and sent after a reconnection.
        retain : bool
            Ask the broker to keep the message for later subscribers.
        expiry_s : float, optional
            For commands: seconds after which the broker drops it and the receiver ignores it.
        """
        envelope = self._sequencer.seal(body, expiry_s=expiry_s)
        self.send(topic, envelope, qos=qos, retain=retain)
        return envelope

    def send(
        self, topic: str, envelope: Envelope, *, qos: int = 1, retain: bool = False
    ) -> paho.MQTTMessageInfo:
        """Send an envelope sealed elsewhere (see :class:`Sequencer`) unchanged.

        Returns
        -------
        paho.mqtt.client.MQTTMessageInfo
            Tells when the broker acknowledged a QoS 1 message (``is_published()``).
        """
        properties = None
        if envelope.expires is not None:
            properties = Properties(PacketTypes.PUBLISH)
            properties.MessageExpiryInterval = max(1, math.ceil(envelope.expires - time.time()))
        return self._client.publish(
            topic, envelope.encode(), qos=qos, retain=retain, properties=properties
        )

    def serve(
        self,
        stop: threading.Event,
        handle: Callable[[Received], None],
        *,
        log: logging.Logger = logger,
        poll_s: float = 0.2,
    ) -> None:
        """Hand every received message to `handle`, in order, until `stop` is set.

        Meant as the body of the caller's thread. An exception in `handle` goes to `log` with
        the message's topic and never ends the loop: one bad message must not stop a service.
        """
        while not stop.is_set():
            try:
                received = self.inbox.get(timeout=poll_s)
            except queue.Empty:
                continue
            try:
                handle(received)
            except Exception:
                log.exception("could not handle a message on %s", received.topic)

    def clear_retained(self, topic: str) -> None:
        """Remove the retained message of `topic` from the broker."""
        self._client.publish(topic, b"", qos=1, retain=True)

    def _on_connect(self, client, userdata, flags, reason: ReasonCode, properties) -> None:
        if reason.is_failure:
            logger.warning("broker %s:%d refused the session: %s", self.host, self.port, reason)
            return
        with self._lock:
            subscriptions = list(self._subscriptions.items())
        for topic_filter, qos in subscriptions:
            client.subscribe(topic_filter, qos)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties) -> None:
        self._connected.clear()
        if reason != 0:
            logger.info("lost the session with %s:%d: %s", self.host, self.port, reason)

    def _on_subscribe(self, client, userdata, mid: int, reasons, properties) -> None:
        with self._acknowledged:
            self._granted.add(mid)
            self._acknowledged.notify_all()

    def _on_message(self, client, userdata, message: paho.MQTTMessage) -> None:
        self.inbox.put(Received(message.topic, message.payload, bool(message.retain)))


def _set_nodelay(client, userdata, sock: socket.socket) -> None:
    """Turn Nagle's algorithm off: small MQTT packets must not wait for an acknowledgement."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
