"""Topology versions: If-Match, affected meters, their settings and the MQTT pushes."""

import copy

import pytest

from gridedge.grid import cases, to_dict
from tests.catalog.conftest import ADMIN_TOKEN


@pytest.fixture(scope="module")
def turin():
    return to_dict(cases.turin())


def put_topology(client, document, token=ADMIN_TOKEN, **headers):
    return client.put("/v1/topology", token=token, json=document, headers=headers)


def feeder_two_load_changed(document):
    changed = copy.deepcopy(document)
    load = next(x for x in changed["loads"] if "SS10" in x["bus"])
    load["p_kw"] += 1.0
    return changed


def test_first_version_needs_if_none_match_and_reaches_every_meter(client, turin):
    assert client.get("/v1/topology", token=ADMIN_TOKEN).status_code == 404
    assert put_topology(client, turin).status_code == 412
    created = put_topology(client, turin, **{"If-None-Match": "*"})
    assert created.status_code == 201
    assert created.headers["etag"] == '"t1"'
    assert created.json == {"version": 1, "affected": sorted(m["id"] for m in turin["meters"])}
    current = client.get("/v1/topology", token=ADMIN_TOKEN)
    assert current.json == turin
    unchanged = client.get("/v1/topology", token=ADMIN_TOKEN, headers={"If-None-Match": '"t1"'})
    assert unchanged.status_code == 304
    assert put_topology(client, turin, **{"If-None-Match": "*"}).status_code == 412


def test_stale_or_missing_revisions_get_412(client, turin):
    put_topology(client, turin, **{"If-None-Match": "*"})
    changed = feeder_two_load_changed(turin)
    missing = put_topology(client, changed)
    assert missing.status_code == 412
    assert '"t1"' in missing.json["description"]
    assert put_topology(client, changed, **{"If-Match": '"t7"'}).status_code == 412
    assert put_topology(client, changed, **{"If-Match": '"t1"'}).status_code == 200
    stale = put_topology(client, turin, **{"If-Match": '"t1"'})
    assert stale.status_code == 412
    assert "stale" in stale.json["description"]


def test_a_change_bumps_and_pushes_only_the_affected_meters(client, turin, subscribe, topic_prefix):
    tokens = {}
    for meter in turin["meters"]:
        registered = client.put(
            f"/v1/devices/{meter['id']}", token=ADMIN_TOKEN, json={"kind": "meter"}
        )
        tokens[meter["id"]] = registered.json["token"]
    put_topology(client, turin, **{"If-None-Match": "*"})

    def settings(meter_id):
        return client.get(f"/v1/devices/{meter_id}/settings", token=tokens[meter_id]).json

    before = {m: settings(m) for m in tokens}
    portion = before["M1"]["topology"]
    assert portion["version"] == 1
    assert portion["meter"] == "M1"
    assert "SS01" in portion["region"]
    assert "F1-01" in {line["id"] for line in portion["lines"]}
    assert "M1" in {m["id"] for m in portion["meters"]}
    assert all(bus["id"] in portion["region"] for bus in portion["buses"])

    grid = subscribe("grid", f"{topic_prefix}#")
    changed = put_topology(client, feeder_two_load_changed(turin), **{"If-Match": '"t1"'})
    assert changed.status_code == 200
    affected = set(changed.json["affected"])
    assert affected
    assert affected < set(tokens)
    after = {m: settings(m) for m in tokens}
    bumped = {m for m in tokens if after[m]["revision"] != before[m]["revision"]}
    assert bumped == affected
    assert all(after[m]["topology"]["version"] == 2 for m in affected)
    assert all(after[m] == before[m] for m in set(tokens) - affected)
    pushed = set()
    for _ in affected:
        topic, _ = grid.wait_for(
            lambda t, e: (
                "/config/" in t
                and e.body["revision"] > max(b["revision"] for b in before.values())
                and t.rsplit("/", 1)[1] not in pushed
            )
        )
        pushed.add(topic.rsplit("/", 1)[1])
    assert pushed == affected
    grid.wait_for(lambda t, e: t == f"{topic_prefix}topology" and e.body == {"version": 2})


def test_services_may_change_the_topology_and_devices_may_not(client, turin):
    service = client.put("/v1/services/reconf", token=ADMIN_TOKEN, json={"kind": "reconfiguration"})
    device = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json={"kind": "meter"})
    assert (
        put_topology(
            client, turin, token=device.json["token"], **{"If-None-Match": "*"}
        ).status_code
        == 403
    )
    assert client.get("/v1/topology", token=device.json["token"]).status_code == 403
    assert (
        put_topology(
            client, turin, token=service.json["token"], **{"If-None-Match": "*"}
        ).status_code
        == 201
    )


def test_a_grid_that_does_not_hold_together_gets_422(client, turin):
    broken = copy.deepcopy(turin)
    broken["lines"][0]["to_bus"] = "nowhere"
    result = put_topology(client, broken, **{"If-None-Match": "*"})
    assert result.status_code == 422
    assert "nowhere" in result.json["description"]
    assert put_topology(client, [1, 2], **{"If-None-Match": "*"}).status_code == 400
