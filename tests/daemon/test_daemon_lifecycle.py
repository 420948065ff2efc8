"""Boot, self-configuration from the catalog, last-known-good settings, clean stop."""

import time

import numpy as np

from gridedge.meter.catalog_client import CatalogClient
from gridedge.mqtt import Deduplicator
from tests.daemon.conftest import algorithm, measurements_of, running
from tests.fixtures.services import free_port

PUBLISHER = {"name": "phasor-publisher", "version": "1.0.0", "parameters": {"decimation": 10}}


def test_self_configuration_starts_acquisition_algorithms_and_publication(
    catalog, meters, subscribe
):
    meter, status = meters([PUBLISHER])
    measurements = subscribe("monitoring", measurements_of(catalog, meter.device_id))
    body = status.wait(running("phasor-publisher"))
    assert body["booted_from"] == "catalog"
    assert body["revision"] >= 1
    assert body["acquisition"]["fs"] == 6400.0
    assert body["brokers"]["monitoring"]["connected"]
    assert body["brokers"]["grid"]["connected"]
    assert algorithm(body, "phasor-publisher")["version"] == "1.0.0"

    # 50 frames/s decimated by 10: one frame in ten (0.2 s apart), each enveloped and numbered.
    messages = [measurements.wait_for(lambda t, e: True)]
    while len(messages) < 6:
        last = messages[-1][1].seq
        messages.append(measurements.wait_for(lambda t, e, last=last: e.seq > last))
    times = np.array([e.body["t"] for _, e in messages])
    assert np.allclose(np.diff(times), 0.2)
    envelopes = [e for _, e in messages]
    assert {e.sender for e in envelopes} == {meter.device_id}
    assert len({e.session for e in envelopes}) == 1
    assert [e.seq for e in envelopes] == list(range(envelopes[0].seq, envelopes[0].seq + 6))
    assert all(abs(e.ts - time.time()) < 5 for e in envelopes)
    frame = envelopes[-1].body
    assert frame["valid"]
    assert abs(frame["frequency"] - 50.0) < 0.01  # through a noisy 12-bit DAQ
    # The simulated feeder head of the Turin grid: 22 kV, the load of feeder 1.
    va, ia = complex(*frame["phasors"]["Va"]), complex(*frame["phasors"]["Ia"])
    assert abs(abs(va) / (22e3 / np.sqrt(3)) - 1) < 0.05
    assert 10.0 < abs(ia) < 400.0
    assert frame["p"] > 0

    # The catalog saw the poll: the meter is online.
    assert catalog.device(meter.device_id)["state"] == "online"
    assert meter.current("phasor-publisher") == "1.0.0"


def test_clean_stop_says_offline_and_keeps_settings(catalog, meters):
    meter, status = meters([PUBLISHER])
    status.wait(running("phasor-publisher"))
    assert meter.stop() == 0
    offline = status.subscriber.wait_for(lambda t, e: e.body == "offline")[1]
    assert offline.seq > 0  # said by the meter itself, not its last will (seq 0)
    assert (meter.state_dir / "settings.json").is_file()
    deadline = time.monotonic() + 10
    while catalog.device(meter.device_id)["state"] != "disconnected":
        assert time.monotonic() < deadline, "the catalog did not mark the meter disconnected"
        time.sleep(0.2)


def test_catalog_unreachable_at_boot_starts_from_last_known_good(catalog, meters, subscribe):
    meter, status = meters([PUBLISHER])
    first = status.wait(running("phasor-publisher"))
    assert meter.stop() == 0

    dead = f"http://127.0.0.1:{free_port()}"
    meter.start(GRIDEDGE_METER_CATALOG_URL=dead)
    measurements = subscribe("monitoring", measurements_of(catalog, meter.device_id))
    body = status.fresh(
        lambda b: b["booted_from"] == "last-known-good" and running("phasor-publisher")(b)
    )
    assert body["revision"] == first["revision"]
    dedup = Deduplicator()
    _, envelope = measurements.wait_for(lambda t, e: not dedup.is_duplicate(e))
    assert envelope.sender == meter.device_id
    assert "catalog unreachable at boot" in meter.log()


def test_without_catalog_or_settings_the_meter_waits_and_stops_cleanly(catalog, meters):
    meter, _ = meters([PUBLISHER], start=False, boot_wait_s=0.3)
    meter.start(GRIDEDGE_METER_CATALOG_URL=f"http://127.0.0.1:{free_port()}")
    deadline = time.monotonic() + 10
    while "waiting for the catalog" not in meter.log():
        assert time.monotonic() < deadline, meter.log()
        time.sleep(0.1)
    assert meter.stop() == 0


def test_the_client_polls_with_the_etag_and_gets_304(catalog, meters):
    meter, status = meters([PUBLISHER])
    status.wait(running("phasor-publisher"))
    client = CatalogClient(catalog.url, meter.device_id, (meter.directory / "token").read_text())
    document, etag = client.settings()
    assert document["id"] == meter.device_id
    assert etag == f'"r{document["revision"]}"'
    assert client.settings(etag) == (None, etag)
    before = catalog.device(meter.device_id)["last_seen"]
    time.sleep(1.5)  # the meter's update interval is 1 s: it polled meanwhile
    assert catalog.device(meter.device_id)["last_seen"] > before
