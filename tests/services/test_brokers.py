"""The broker launcher the demo and the test fixtures share."""

import queue

from gridedge.mqtt import Connection, Sequencer
from gridedge.services.brokers import start_brokers
from tests.fixtures.services import require_program, start_mosquitto


def test_generated_configuration_sets_what_the_design_asks(tmp_path):
    broker = start_mosquitto("grid", tmp_path, persistence=True)
    try:
        text = broker.config.read_text()
    finally:
        broker.stop()
    for line in (
        "set_tcp_nodelay true",
        "max_queued_messages 100000",
        "persistence true",
        "autosave_on_changes true",
    ):
        assert line in text.splitlines()
    assert f"listener {broker.port} 127.0.0.1" in text


def test_a_persistent_broker_keeps_retained_messages_across_a_restart(tmp_path):
    require_program("mosquitto", "mosquitto", "/usr/sbin/mosquitto")
    started = start_brokers(tmp_path / "pair")
    assert sorted(started) == ["grid", "monitoring"]
    assert len({b.port for b in started.values()}) == 2
    grid = started["grid"]
    try:
        publisher = Connection(grid.host, grid.port, sender="writer")
        publisher.start()
        sent = publisher.send("kept", Sequencer("writer").seal({"n": 1}), retain=True)
        sent.wait_for_publish(5)
        publisher.close()
        grid.restart()
        reader = Connection(grid.host, grid.port, sender="reader")
        reader.start()
        reader.subscribe("kept")
        message = reader.inbox.get(timeout=5)
        reader.close()
    except queue.Empty:
        raise AssertionError("the retained message did not survive the restart") from None
    finally:
        for broker in started.values():
            broker.stop()
    assert message.retain
    assert message.envelope().body == {"n": 1}
