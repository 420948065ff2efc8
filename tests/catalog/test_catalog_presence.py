"""Presence and settings pushes over MQTT: exactly one announcement per change of state."""

import threading

from gridedge.catalog.presence import PresenceWorker
from gridedge.catalog.publisher import MONITORING
from gridedge.catalog.service import Catalog
from gridedge.catalog.store import open_store
from gridedge.mqtt import Connection, Topics, Will
from tests.catalog.conftest import ADMIN_TOKEN

METER = {"kind": "meter", "timeout_s": 10}


def presence_of(subscriber, device_id):
    return [
        e.body["state"]
        for topic, e, _ in subscriber.received
        if topic.endswith(f"presence/{device_id}")
    ]


def test_registration_pushes_retained_settings_on_the_grid_broker(client, subscribe, topic_prefix):
    created = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=METER).json
    # Subscribing afterwards still gets it: the push is retained.
    grid = subscribe("grid", f"{topic_prefix}config/#")
    _, envelope = grid.wait_for(lambda t, e: t.endswith("config/M1"))
    assert envelope.body["revision"] == created["revision"]
    assert envelope.body["timeout_s"] == 10
    client.put("/v1/devices/M1", token=ADMIN_TOKEN, json={**METER, "timeout_s": 20})
    _, newer = grid.wait_for(lambda t, e: e.body["timeout_s"] == 20)
    assert newer.body["revision"] > created["revision"]
    assert newer.seq > envelope.seq


def test_each_change_of_state_is_announced_once_however_many_sweep(
    app, client, config, subscribe, topic_prefix
):
    token = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=METER).json["token"]
    monitoring = subscribe("monitoring", f"{topic_prefix}presence/#")
    for _ in range(3):
        assert client.get("/v1/devices/M1/settings", token=token).status_code == 200
    monitoring.wait_for(lambda t, e: e.body["state"] == "online")

    # Four workers, each with its own store connection, sweep at once 11 s later.
    start = app.catalog.clock()
    workers = [
        Catalog(
            config, open_store(config.database), app.catalog.publisher, clock=lambda: start + 11
        )
        for _ in range(4)
    ]
    barrier = threading.Barrier(len(workers))
    counts = []

    def sweep(catalog):
        barrier.wait()
        counts.append(catalog.sweep())

    threads = [threading.Thread(target=sweep, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 0, 1]
    monitoring.wait_for(lambda t, e: e.body["state"] == "disconnected")
    state = client.get("/v1/devices/M1", token=ADMIN_TOKEN).json["state"]
    assert state == "disconnected"

    # A poll brings it back, announced once again.
    client.get("/v1/devices/M1/settings", token=token)
    client.get("/v1/devices/M1/settings", token=token)
    monitoring.drain(0.5)
    assert presence_of(monitoring, "M1") == ["online", "disconnected", "online"]
    _, online = monitoring.wait_for(lambda t, e: e.body["state"] == "online")
    assert online.body["id"] == "M1"
    for worker in workers:
        worker.store.close()


def test_a_device_within_its_timeout_is_not_swept(app, client):
    token = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=METER).json["token"]
    client.get("/v1/devices/M1/settings", token=token)
    now = app.catalog.clock()
    app.catalog.clock = lambda: now + 9
    assert app.catalog.sweep() == 0
    assert client.get("/v1/devices/M1", token=ADMIN_TOKEN).json["state"] == "online"


def test_a_meters_last_will_disconnects_it(app, client, brokers, subscribe, topic_prefix):
    token = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=METER).json["token"]
    client.get("/v1/devices/M1/settings", token=token)
    monitoring = subscribe("monitoring", f"{topic_prefix}presence/#")
    monitoring.wait_for(lambda t, e: e.body["state"] == "online")
    worker = PresenceWorker(
        app.catalog, app.catalog.publisher.connections[MONITORING], interval_s=60
    )
    worker.start()
    broker = brokers["monitoring"]
    meter = Connection(
        broker.host,
        broker.port,
        sender="M1",
        will=Will(Topics(topic_prefix).status("M1"), "offline"),
    )
    meter.start()
    meter._client.socket().shutdown(2)  # a power cut: no DISCONNECT, the broker sends the will
    try:
        _, envelope = monitoring.wait_for(lambda t, e: e.body["state"] == "disconnected")
        assert envelope.body["last_seen"] is not None
        assert client.get("/v1/devices/M1", token=ADMIN_TOKEN).json["state"] == "disconnected"
        client.get("/v1/devices/M1/settings", token=token)
        monitoring.wait_for(lambda t, e: e.body["state"] == "online" and e.seq > envelope.seq)
    finally:
        worker.stop()
        meter.close()
        meter.clear_retained(Topics(topic_prefix).status("M1"))
