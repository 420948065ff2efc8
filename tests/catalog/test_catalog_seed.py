"""``gridedge catalog seed --case turin`` against a real store and brokers."""

import io

from gridedge.catalog.seed import seed
from gridedge.grid import cases
from tests.catalog.conftest import ADMIN_TOKEN


def test_seeding_turin_registers_everything_and_prints_working_credentials(config, client):
    out = io.StringIO()
    issued = seed(config, "turin", stream=out)
    grid = cases.turin()
    meters = [m.id for m in grid.meters]
    switches = [s.id for s in grid.switches if s.remote]
    assert len(meters) == 14
    assert set(issued) == {*meters, *switches, "reconfiguration", "simulator"}
    text = out.getvalue()
    assert "topology Turin: version 1" in text
    assert all(token in text for token in issued.values())

    devices = client.get("/v1/devices", token=ADMIN_TOKEN).json["items"]
    kinds = {d["id"]: d["kind"] for d in devices}
    assert [i for i in kinds if kinds[i] == "meter"] == sorted(meters)
    assert sorted(i for i in kinds if kinds[i] == "switch") == sorted(switches)
    assert set(client.get("/v1/brokers", token=ADMIN_TOKEN).json) == {"grid", "monitoring"}
    settings = client.get("/v1/devices/M2/settings", token=issued["M2"]).json
    assert settings["topology"]["version"] == 1
    assert settings["parameters"]["bus"] == "SS03"
    assert settings["brokers"]["grid"]["port"] == int(config.grid_broker.rsplit(":", 1)[1])
    switch = switches[0]
    assert client.get(f"/v1/devices/{switch}/settings", token=issued[switch]).status_code == 200

    again = io.StringIO()
    assert seed(config, "turin", stream=again) == {}
    assert "topology Turin: version 2" in again.getvalue()
    assert "M1               already registered" in again.getvalue()
