"""Auto-update applied live: parameters, algorithms added, updated and removed, acquisition,
topology and topic re-parameterisation, broker endpoints.

The meters here poll only once an hour: every change reaches them through the catalog's
retained push on ``config/{id}``.
"""

import time

import numpy as np
import pytest

from gridedge.meter.builtins import build
from gridedge.mqtt import Connection, Deduplicator
from tests.daemon.algorithms import LATER, probe
from tests.daemon.conftest import SIMULATED, algorithm, builtin, measurements_of, running
from tests.fixtures.services import start_mosquitto

HOURLY = 3600


def publisher(decimation, version="1.0.0"):
    return {
        "name": "phasor-publisher",
        "version": version,
        "parameters": {"decimation": decimation},
    }


def frame_spacing(subscriber, count=3, timeout=10.0):
    """Seconds between consecutive published frames, from the next `count` measurements."""
    subscriber.received.clear()
    times = []
    while len(times) < count:
        _, envelope = subscriber.wait_for(
            lambda t, e: t.endswith("/measurements") and e.body["t"] > (times[-1] if times else 0),
            timeout,
        )
        times.append(envelope.body["t"])
    return np.round(np.diff(times), 6).tolist()


@pytest.fixture(scope="module")
def probe_uploaded(catalog, signing_key):
    catalog.upload(probe(signing_key))


def grid_document(meter_id, load_kw):
    """A two-bus feeder with the meter at its head."""
    line = {
        "r1_ohm_per_km": 0.12,
        "x1_ohm_per_km": 0.11,
        "c1_nf_per_km": 300.0,
        "r0_ohm_per_km": 0.5,
        "x0_ohm_per_km": 0.3,
        "c0_nf_per_km": 300.0,
    }
    return {
        "format": "gridedge.grid",
        "version": 1,
        "name": "feeder",
        "frequency_hz": 50.0,
        "buses": [{"id": "B1", "kv": 22.0}, {"id": "B2", "kv": 22.0}],
        "lines": [
            {
                "id": "L1",
                "from_bus": "B1",
                "to_bus": "B2",
                "length_km": 1.0,
                **line,
            }
        ],
        "transformers": [],
        "switches": [],
        "loads": [{"id": "D1", "bus": "B2", "p_kw": load_kw, "q_kvar": 10.0}],
        "sources": [{"id": "S1", "bus": "B1", "sk_mva": 100.0}],
        "meters": [{"id": meter_id, "bus": "B1", "branch": "L1"}],
        "measurements": [],
    }


def test_algorithms_change_live_without_a_restart(catalog, meters, subscribe, signing_key):
    meter, status = meters([publisher(50)], update_interval_s=HOURLY)
    status.wait(running("phasor-publisher", "1.0.0"))
    pid = meter.process.pid
    measurements = subscribe("monitoring", measurements_of(catalog, meter.device_id))
    assert frame_spacing(measurements, 2) == [1.0]

    # New parameters: the same instance is re-configured.
    catalog.assign(meter.device_id, [publisher(5)], update_interval_s=HOURLY)
    deadline = time.monotonic() + 10
    while frame_spacing(measurements) != [0.1, 0.1]:
        assert time.monotonic() < deadline

    # A new version, a new algorithm and new acquisition options at once.
    catalog.upload(build(builtin("phasor-publisher"), signing_key, LATER, version="1.1.0"))
    harmonics = {
        "acquisition": {
            **SIMULATED["acquisition"],
            "options": {
                **SIMULATED["acquisition"]["options"],
                "harmonic_orders": [5, 7],
                "harmonic_fractions": [0.04, 0.03],
                "noise_lsb": 0.0,
            },
        }
    }
    pq = {"name": "power-quality", "version": "1.0.0", "parameters": {"interval_s": 0.5}}
    catalog.assign(meter.device_id, [publisher(5, "1.1.0"), pq], harmonics, HOURLY)
    body = status.fresh(
        lambda b: running("phasor-publisher", "1.1.0")(b) and running("power-quality")(b)
    )
    assert algorithm(body, "phasor-publisher")["state"] == "probation"
    _, result = measurements.wait_for(
        lambda t, e: t.endswith("/power-quality") and e.body["thd_percent"] is not None
    )
    thd = result.body["thd_percent"]
    assert thd.keys() == {"Va", "Vb", "Vc", "Ia", "Ib", "Ic"}
    # 5 % on every voltage; the 12-bit DAQ's quantisation adds a little.
    voltages = [thd[c] for c in ("Va", "Vb", "Vc")]
    assert np.allclose(voltages, 100 * np.hypot(0.04, 0.03), atol=0.05)
    assert result.body["voltage_unbalance_percent"] < 0.5

    # After its probation the new version is committed and the old one deleted.
    status.fresh(lambda b: algorithm(b, "phasor-publisher").get("state") == "running")
    versions = meter.state_dir / "algorithms" / "phasor-publisher" / "versions"
    assert sorted(p.name for p in versions.iterdir()) == ["1.1.0"]
    assert meter.current("phasor-publisher") == "1.1.0"

    # Removed: it stops publishing and leaves the disk.
    catalog.assign(meter.device_id, [pq], harmonics, HOURLY)
    status.fresh(lambda b: "phasor-publisher" not in b["algorithms"])
    assert meter.current("phasor-publisher") is None
    measurements.drain(0.5)  # what was on its way
    measurements.received.clear()
    measurements.drain(1.0)
    assert not [e for t, e, _ in measurements.received if t.endswith("/measurements")]
    assert meter.process.pid == pid
    assert meter.process.poll() is None


def test_topology_and_topics_reparameterise_the_algorithms(
    catalog, meters, subscribe, brokers, probe_uploaded
):
    listen = f"{catalog.prefix}test/in/first"
    meter, status = meters(
        [{"name": "probe", "version": "1.0.0", "parameters": {"listen": [listen]}}],
        update_interval_s=HOURLY,
    )
    events = subscribe("grid", f"{catalog.prefix}test/{meter.device_id}/probe")
    _, announced = events.wait_for(lambda t, e: "configured" in e.body)
    assert announced.body["topology"] is None
    status.wait(running("probe"))
    sender = Connection(brokers["grid"].host, brokers["grid"].port, sender="operator")
    sender.start()
    try:
        sender.publish(listen, {"hello": 1})
        events.wait_for(lambda t, e: e.body.get("echo") == {"hello": 1})

        # A topology naming this meter reaches it: the algorithm is configured again.
        status_code, stored = catalog.request(
            "PUT",
            "/v1/topology",
            body=grid_document(meter.device_id, 100.0),
            headers={"If-None-Match": "*"},
        )
        assert status_code == 201, stored
        assert meter.device_id in stored["affected"]
        _, announced = events.wait_for(
            lambda t, e: (e.body.get("topology") or {}).get("version") == stored["version"]
        )
        assert announced.body["topology"]["meter"] == meter.device_id

        # Its topics re-parameterised: the old subscription is dropped, the new one taken.
        moved = f"{catalog.prefix}test/in/second"
        catalog.assign(
            meter.device_id,
            [{"name": "probe", "version": "1.0.0", "parameters": {"listen": [moved]}}],
            update_interval_s=HOURLY,
        )
        events.wait_for(lambda t, e: e.body.get("configured", {}).get("listen") == [moved])
        time.sleep(0.3)
        sender.publish(listen, {"hello": 2})
        sender.publish(moved, {"hello": 3})
        events.wait_for(lambda t, e: e.body.get("echo") == {"hello": 3})
        assert not [e for _, e, _ in events.received if e.body.get("echo") == {"hello": 2}]

        # A second topology version changes the meter's region: configured once more.
        status_code, again = catalog.request(
            "PUT",
            "/v1/topology",
            body=grid_document(meter.device_id, 250.0),
            headers={"If-Match": f'"t{stored["version"]}"'},
        )
        assert status_code == 200, again
        events.wait_for(
            lambda t, e: (e.body.get("topology") or {}).get("version") == again["version"]
        )
    finally:
        sender.close()


def test_a_broker_moves_without_losing_measurements(
    catalog, meters, subscribe, brokers, tmp_path, subscribe_to
):
    meter, status = meters([publisher(5)], update_interval_s=HOURLY)
    status.wait(running("phasor-publisher"))
    moved = start_mosquitto("monitoring2", tmp_path)
    try:
        before = subscribe("monitoring", measurements_of(catalog, meter.device_id))
        after = subscribe_to(moved, measurements_of(catalog, meter.device_id))
        new_status = subscribe_to(moved, f"{catalog.prefix}meters/{meter.device_id}/status")
        before.wait_for(lambda t, e: True)
        catalog.put_broker("monitoring", moved)
        new_status.wait_for(lambda t, e: isinstance(e.body, dict))
        after.drain(1.0)
        dedup = Deduplicator()
        envelopes = [
            e
            for _, e, _ in sorted(
                before.drain(0.2) + after.drain(0.2), key=lambda item: item[1].seq
            )
            if not dedup.is_duplicate(e)
        ]
        assert {e.session for e in envelopes} == {envelopes[0].session}
        seqs = [e.seq for e in envelopes]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert [e for _, e, _ in after.received]  # the new broker carries them now
    finally:
        catalog.put_broker("monitoring", brokers["monitoring"])
        status.fresh(lambda b: b["brokers"]["monitoring"]["connected"])
        moved.stop()
