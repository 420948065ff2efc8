"""The shared MQTT plumbing (gridedge.mqtt) against a real Mosquitto broker."""

import socket
import uuid

import pytest

from gridedge.errors import InvalidInputError
from gridedge.mqtt import Connection, Deduplicator, Envelope, Topics, Will


def test_envelope_round_trip_and_rejects_malformed_payloads():
    envelope = Envelope("M1", "abc", 7, 1700000000.5, {"v": [1, 2]}, expires=1700000001.0)
    assert Envelope.decode(envelope.encode()) == envelope
    assert envelope.expired(now=1700000002.0)
    assert not envelope.expired(now=1700000000.9)
    for payload, needle in [
        (b"{", "not JSON"),
        (b"[]", "object"),
        (b'{"sender": "M1", "session": "s", "seq": "1", "ts": 1, "body": 1}', "seq"),
        (b'{"sender": "M1", "session": "s", "seq": 1, "ts": 1}', "body"),
    ]:
        with pytest.raises(InvalidInputError, match=needle):
            Envelope.decode(payload)


def test_deduplicator_drops_repeats_across_reordering_but_not_other_sessions():
    dedup = Deduplicator(window=4)

    def seen(seq, session="s1", sender="M1"):
        return dedup.is_duplicate(Envelope(sender, session, seq, 0.0, None))

    assert [seen(s) for s in (1, 3, 2, 3, 1)] == [False, False, False, True, True]
    assert not seen(1, session="s2")
    assert not seen(1, sender="M2")
    assert not seen(10)
    assert seen(5)  # below the window: too old to tell, treated as a repeat
    assert not seen(8)


def test_topics_use_the_prefix_and_refuse_wildcards():
    topics = Topics("grid1/")
    assert topics.status("M1") == "grid1/meters/M1/status"
    assert topics.state_estimate("lv", "N3") == "grid1/se/lv/N3"
    assert topics.device_of("grid1/meters/M1/status", "meters") == "M1"
    assert topics.device_of("other/meters/M1/status", "meters") is None
    for prefix in ("grid1", "a/+/", "#/"):
        with pytest.raises(InvalidInputError, match="prefix"):
            Topics(prefix)


@pytest.fixture
def prefix():
    return f"mqtt-{uuid.uuid4().hex[:8]}/"


def test_connection_round_trip_with_nodelay_and_retained_messages(brokers, prefix):
    broker = brokers["grid"]
    publisher = Connection(broker.host, broker.port, sender="pub")
    publisher.start()
    try:
        sock = publisher._client.socket()
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        first = publisher.publish(f"{prefix}a", {"n": 1}, retain=True)
        second = publisher.publish(f"{prefix}a", {"n": 2})
        assert (first.seq, second.seq) == (1, 2)
        assert first.session == second.session == publisher.session
        subscriber = Connection(broker.host, broker.port, sender="sub")
        subscriber.start()
        subscriber.subscribe(f"{prefix}#")
        retained = subscriber.inbox.get(timeout=15)
        assert retained.retain
        assert retained.envelope().body == {"n": 1}
        publisher.publish(f"{prefix}b", "live", expiry_s=30)
        live = subscriber.inbox.get(timeout=15)
        assert not live.retain
        assert live.envelope().body == "live"
        assert live.envelope().expires is not None
        subscriber.close()
    finally:
        publisher.clear_retained(f"{prefix}a")
        publisher.close()


def test_last_will_is_sent_when_the_session_dies(brokers, prefix):
    broker = brokers["monitoring"]
    watcher = Connection(broker.host, broker.port, sender="watcher")
    watcher.start()
    watcher.subscribe(f"{prefix}meters/+/status")
    meter = Connection(
        broker.host,
        broker.port,
        sender="M1",
        will=Will(Topics(prefix).status("M1"), "offline"),
        keepalive=5,
    )
    meter.start()
    # Cut the TCP connection without DISCONNECT, as a power loss would.
    meter._client.socket().shutdown(socket.SHUT_RDWR)
    message = watcher.inbox.get(timeout=10)
    envelope = message.envelope()
    assert message.topic == f"{prefix}meters/M1/status"
    assert (envelope.sender, envelope.seq, envelope.body) == ("M1", 0, "offline")
    meter.close()
    watcher.clear_retained(message.topic)
    watcher.close()
