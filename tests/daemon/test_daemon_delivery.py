"""Delivery through a broker restart: events kept on disk while it is away, replayed in order,
nothing lost once the copies are dropped.

This module's grid broker keeps its state on disk (persistence), as a deployed one must: the
subscriber's persistent session and the messages queued for it survive the restart.
"""

import queue
import time

import pytest

from gridedge.mqtt import Connection, Deduplicator, Envelope
from tests.daemon.algorithms import probe
from tests.daemon.conftest import algorithm, running, start_catalog
from tests.fixtures.services import start_mosquitto

EVENTS = 3000


@pytest.fixture(scope="module")
def persistent_grid(tmp_path_factory):
    broker = start_mosquitto("grid", tmp_path_factory.mktemp("persistent"), persistence=True)
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, brokers, persistent_grid, signing_key):
    catalog = start_catalog(
        tmp_path_factory.mktemp("catalog"),
        {"grid": persistent_grid, "monitoring": brokers["monitoring"]},
        signing_key,
    )
    catalog.upload(probe(signing_key))
    yield catalog
    output = catalog.served.stop()
    assert "Traceback" not in output, output


def collect(inbox, into, dedup, seconds):
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = inbox.get(timeout=left)
        except queue.Empty:
            return
        envelope = Envelope.decode(message.payload)
        into.append((envelope, dedup.is_duplicate(envelope)))


def test_a_broker_restart_during_a_burst_loses_no_event(catalog, meters, persistent_grid):
    topic_filter = f"{catalog.prefix}test/+/probe"
    subscriber = Connection(
        persistent_grid.host,
        persistent_grid.port,
        sender="burst-subscriber",
        client_id="burst-subscriber",
        session_expiry_s=300,
    )
    subscriber.start()
    subscriber.subscribe(topic_filter)
    received: list[tuple[Envelope, bool]] = []
    dedup = Deduplicator(window=4 * EVENTS)
    try:
        meter, status = meters(
            [
                {
                    "name": "probe",
                    "version": "1.0.0",
                    "parameters": {"burst": EVENTS, "per_frame": 20},
                }
            ]
        )
        status.wait(running("probe"))
        deadline = time.monotonic() + 20
        while sum(1 for e, _ in received if "n" in e.body) < EVENTS // 5:
            assert time.monotonic() < deadline, f"the burst did not start; {meter.log()}"
            collect(subscriber.inbox, received, dedup, 0.05)
        persistent_grid.restart()
        deadline = time.monotonic() + 30
        while len({e.body["n"] for e, copy in received if not copy and "n" in e.body}) < EVENTS:
            unique = {e.body["n"] for e, copy in received if not copy and "n" in e.body}
            assert time.monotonic() < deadline, (
                f"{EVENTS - len(unique)} events lost; "
                f"missing from {min(set(range(EVENTS)) - unique)}; {meter.log()}"
            )
            collect(subscriber.inbox, received, dedup, 0.5)
        events = [e for e, copy in received if not copy and "n" in e.body]
        assert sorted(e.body["n"] for e in events) == list(range(EVENTS))
        # In order: each event arrives after the ones sent before it.
        assert [e.body["n"] for e in events] == sorted(e.body["n"] for e in events)
        body = status.fresh(lambda b: b["brokers"]["grid"]["connected"])
        assert body["brokers"]["grid"]["replayed"] > 0  # the spool carried some of them
        assert body["brokers"]["grid"]["dropped"] == 0
        assert algorithm(body, "probe")["dropped"] == 0
    finally:
        subscriber.close()
