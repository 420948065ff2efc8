"""The catalog's REST interface through Falcon's test client, on SQLite and PostgreSQL.

Every response is checked against the OpenAPI document by the client fixture.
"""

import json

import pytest

from tests.catalog.conftest import ADMIN_TOKEN

METER = {"kind": "meter", "timeout_s": 60, "update_interval_s": 30, "parameters": {"bus": "B1"}}


def register(client, device_id="M1", document=None, role="devices"):
    result = client.put(f"/v1/{role}/{device_id}", token=ADMIN_TOKEN, json=document or METER)
    assert result.status_code in (200, 201), result.text
    return result.json


def test_health_and_openapi_need_no_credentials(client):
    assert client.get("/healthz").json == {"status": "ok"}
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert "/v1/devices/{id}/settings" in document["paths"]


def test_registration_issues_a_token_once_and_settings_follow(client):
    created = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=METER)
    assert created.status_code == 201
    token = created.json["token"]
    assert token.startswith("M1.")
    assert created.json["state"] == "registered"

    again = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json={**METER, "timeout_s": 90})
    assert again.status_code == 200
    assert "token" not in again.json
    assert again.json["revision"] > created.json["revision"]

    settings = client.get("/v1/devices/M1/settings", token=token)
    assert settings.status_code == 200
    assert settings.json["timeout_s"] == 90
    assert settings.json["update_interval_s"] == 30
    assert settings.json["parameters"] == {"bus": "B1"}
    assert settings.json["revision"] == again.json["revision"]
    assert settings.headers["etag"] == f'"r{again.json["revision"]}"'


def test_settings_etag_gives_304_until_they_change(client):
    token = register(client)["token"]
    first = client.get("/v1/devices/M1/settings", token=token)
    etag = first.headers["etag"]
    unchanged = client.get("/v1/devices/M1/settings", token=token, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == etag
    assert not unchanged.content
    register(client, document={**METER, "parameters": {"bus": "B2"}})
    changed = client.get("/v1/devices/M1/settings", token=token, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json["parameters"] == {"bus": "B2"}


def test_a_poll_records_the_device_online_with_its_time(client):
    token = register(client)["token"]
    before = client.get("/v1/devices/M1", token=ADMIN_TOKEN).json
    assert before["state"] == "registered"
    assert before["last_seen"] is None
    client.get("/v1/devices/M1/settings", token=token)
    first = client.get("/v1/devices/M1", token=ADMIN_TOKEN).json
    assert first["state"] == "online"
    client.get("/v1/devices/M1/settings", token=token)
    second = client.get("/v1/devices/M1", token=ADMIN_TOKEN).json
    assert second["last_seen"] > first["last_seen"]
    assert second["state_since"] == first["state_since"]


def test_the_administrator_reads_settings_without_making_the_device_online(client):
    register(client)
    assert client.get("/v1/devices/M1/settings", token=ADMIN_TOKEN).status_code == 200
    assert client.get("/v1/devices/M1", token=ADMIN_TOKEN).json["state"] == "registered"


def test_credentials_are_checked_and_leak_nothing(client):
    m1 = register(client, "M1")["token"]
    register(client, "M2")
    missing = client.get("/v1/devices/M2/settings")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/v1/devices/M1/settings", token="M1.not-the-secret")
    assert wrong.status_code == 401
    # Another device's settings, an unknown device's and a malformed id: all the same answer.
    other = client.get("/v1/devices/M2/settings", token=m1)
    unknown = client.get("/v1/devices/M9/settings", token=m1)
    malformed = client.get("/v1/devices/..bad/settings", token=m1)
    assert other.status_code == unknown.status_code == malformed.status_code == 403
    assert other.json == unknown.json == malformed.json
    # Only the administrator learns that a device does not exist.
    assert client.get("/v1/devices/M9/settings", token=ADMIN_TOKEN).status_code == 404
    assert client.get("/v1/devices/M9", token=ADMIN_TOKEN).status_code == 404
    assert client.get("/v1/devices/M9", token=m1).status_code == 403
    # A device token is no admin token, nor a service token.
    assert client.put("/v1/devices/M3", token=m1, json=METER).status_code == 403
    assert client.get("/v1/services/M1/settings", token=m1).status_code == 403
    assert client.get("/v1/devices", token=m1).status_code == 403
    assert client.get("/v1/devices", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_token_rotation_revokes_the_old_token(client):
    old = register(client)["token"]
    new = client.post("/v1/devices/M1/token", token=ADMIN_TOKEN).json["token"]
    assert client.get("/v1/devices/M1/settings", token=old).status_code == 401
    assert client.get("/v1/devices/M1/settings", token=new).status_code == 200
    assert client.post("/v1/devices/M9/token", token=ADMIN_TOKEN).status_code == 404


def test_listing_filters_by_state_and_kind(client):
    tokens = {i: register(client, i)["token"] for i in ("M1", "M2")}
    register(client, "S1", {"kind": "switch"})
    register(client, "reconf", {"kind": "reconfiguration"}, role="services")
    client.get("/v1/devices/M2/settings", token=tokens["M2"])

    def ids(query):
        listing = client.get(f"/v1/devices{query}", token=ADMIN_TOKEN).json
        return [d["id"] for d in listing["items"]]

    assert ids("") == ["M1", "M2", "S1"]
    assert ids("?state=online") == ["M2"]
    assert ids("?state=registered&kind=meter") == ["M1"]
    assert ids("?kind=switch") == ["S1"]
    services = client.get("/v1/services", token=ADMIN_TOKEN).json["items"]
    assert [s["id"] for s in services] == ["reconf"]
    assert client.get("/v1/devices?state=asleep", token=ADMIN_TOKEN).status_code == 400


def test_a_service_lists_devices_and_an_id_has_one_role(client):
    token = register(client, "reconf", {"kind": "reconfiguration"}, role="services")["token"]
    register(client, "M1")
    assert client.get("/v1/devices", token=token).status_code == 200
    assert client.get("/v1/services/reconf/settings", token=token).status_code == 200
    clash = client.put("/v1/services/M1", token=ADMIN_TOKEN, json={"kind": "aggregation"})
    assert clash.status_code == 409
    assert "device" in clash.json["description"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not JSON"),
        (b'{"kind": NaN}', "NaN"),
        (b"\xff\xfe", "UTF-8"),
        (b"[]", "must be a JSON object"),
        (b'{"kind": "Meter"}', "registration.kind"),
        (b'{"kind": "meter", "colour": 1}', "colour"),
        (b'{"kind": "meter", "timeout_s": 0}', "registration.timeout_s"),
        (b'{"kind": "meter", "timeout_s": true}', "registration.timeout_s"),
        (b'{"kind": "meter", "algorithms": [{"name": "x"}]}', "algorithms[0] misses version"),
        (b'{"kind": "meter", "algorithms": [{"name": "x", "version": "01"}]}', "version"),
        (b'{"kind": "meter", "parameters": 3}', "registration.parameters"),
    ],
)
def test_malformed_bodies_get_400_with_a_message(client, body, needle):
    result = client.put(
        "/v1/devices/M1",
        token=ADMIN_TOKEN,
        body=body,
        headers={"Content-Type": "application/json"},
    )
    assert result.status_code == 400
    assert needle in result.json["description"]


def test_body_limits_and_media_types(client, config):
    oversized = json.dumps({"kind": "meter", "parameters": {"x": "a" * config.max_json_bytes}})
    result = client.put(
        "/v1/devices/M1",
        token=ADMIN_TOKEN,
        body=oversized,
        headers={"Content-Type": "application/json"},
    )
    assert result.status_code == 413
    assert str(config.max_json_bytes) in result.json["description"]
    wrong_type = client.put(
        "/v1/devices/M1",
        token=ADMIN_TOKEN,
        body="kind=meter",
        headers={"Content-Type": "text/plain"},
    )
    assert wrong_type.status_code == 415


def test_unauthenticated_writes_are_refused_before_the_body_is_read(client):
    result = client.put(
        "/v1/devices/M1", body=b"x" * 10, headers={"Content-Type": "application/json"}
    )
    assert result.status_code == 401
    assert client.get("/v1/devices").status_code == 401


def test_brokers_are_in_every_settings_document(client):
    token = register(client)["token"]
    put = client.put("/v1/brokers/grid", token=ADMIN_TOKEN, json={"host": "10.0.0.1", "port": 1883})
    assert put.status_code == 201
    assert put.json == {"host": "10.0.0.1", "port": 1883, "tls": False}
    changed = client.put(
        "/v1/brokers/grid",
        token=ADMIN_TOKEN,
        json={"host": "grid.example", "port": 8883, "tls": True},
    )
    assert changed.status_code == 200
    assert client.get("/v1/brokers", token=token).json == {
        "grid": {"host": "grid.example", "port": 8883, "tls": True}
    }
    settings = client.get("/v1/devices/M1/settings", token=token).json
    assert settings["brokers"]["grid"]["port"] == 8883
    assert (
        client.put("/v1/brokers/grid", token=token, json={"host": "h", "port": 1}).status_code
        == 403
    )
    bad = client.put("/v1/brokers/grid", token=ADMIN_TOKEN, json={"host": "h", "port": 70000})
    assert bad.status_code == 400
    assert "broker.port" in bad.json["description"]


def test_topics_follow_the_configured_prefix(client, topic_prefix):
    token = register(client, "S7", {"kind": "switch"})["token"]
    topics = client.get("/v1/devices/S7/settings", token=token).json["topics"]
    assert topics["config"] == f"{topic_prefix}config/S7"
    assert topics["presence"] == f"{topic_prefix}presence/S7"
    assert topics["command"] == f"{topic_prefix}switches/S7/command"
    assert topics["state"] == f"{topic_prefix}switches/S7/state"


def test_unknown_or_blank_query_parameters_are_refused(client):
    register(client)
    for query in ("?=false", "?colour=red", "?state=", "?kind="):
        result = client.get(f"/v1/devices{query}", token=ADMIN_TOKEN)
        assert result.status_code == 400, query


def test_a_package_named_twice_is_well_formed_but_unprocessable(client):
    twice = {"kind": "meter", "algorithms": [{"name": "a", "version": "1"}] * 2}
    result = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=twice)
    assert result.status_code == 422
    assert "twice" in result.json["description"]
