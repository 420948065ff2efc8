"""Signed algorithm packages: the format module, and upload and download through the catalog."""

import datetime
import hashlib
import io
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge import packages
from gridedge.errors import InvalidInputError, VerificationError
from tests.catalog.conftest import ADMIN_TOKEN

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(days=365)
FILES = {"fault_location/__init__.py": b"def run(frames):\n    return None\n"}


def build(key, name="fault-location", version="1.0.0", expires=LATER, **overrides):
    return packages.build(
        name=name,
        version=version,
        entry_point="fault_location:run",
        files=FILES,
        expires=expires,
        private_key=key,
        **overrides,
    )


def rezip(archive: bytes, replace: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        members = {name: source.read(name) for name in source.namelist()}
    members.update(replace)
    return packages.zip_files(members)


def test_a_built_package_verifies_and_carries_its_payload(signing_key):
    archive = build(signing_key)
    verified = packages.verify(archive, [signing_key.public_key()], now=NOW)
    assert verified.manifest.name == "fault-location"
    assert verified.manifest.version == "1.0.0"
    assert verified.manifest.api_version == packages.API_VERSION
    assert verified.sha256 == hashlib.sha256(archive).hexdigest()
    with zipfile.ZipFile(io.BytesIO(verified.payload)) as payload:
        assert payload.read("fault_location/__init__.py") == FILES["fault_location/__init__.py"]
    # Deterministic: the same inputs give the same bytes, so the content address is stable.
    assert build(signing_key) == archive


def test_verification_rejects_every_kind_of_tampering(signing_key):
    archive = build(signing_key)
    trusted = [signing_key.public_key()]
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        manifest = source.read(packages.MANIFEST)
    cases = {
        "payload sha256": rezip(archive, {packages.PAYLOAD: packages.zip_files({"x.py": b"evil"})}),
        "signature does not match": rezip(
            archive, {packages.MANIFEST: manifest.replace(b'"1.0.0"', b'"9.0.0"')}
        ),
        "exactly": rezip(archive, {"extra.txt": b"x"}),
        "not a package archive": b"PK\x03\x04 but nothing more",
    }
    for needle, tampered in cases.items():
        with pytest.raises(VerificationError, match=needle):
            packages.verify(tampered, trusted, now=NOW)
    with pytest.raises(VerificationError, match="not trusted"):
        packages.verify(archive, [Ed25519PrivateKey.generate().public_key()], now=NOW)


def test_expiry_and_interface_version_are_checked(signing_key):
    archive = build(signing_key, expires=NOW + datetime.timedelta(seconds=1))
    packages.verify(archive, [signing_key.public_key()], now=NOW)
    with pytest.raises(VerificationError, match="expired"):
        packages.verify(
            archive, [signing_key.public_key()], now=NOW + datetime.timedelta(seconds=1)
        )
    future = build(signing_key, api_version=packages.API_VERSION + 1)
    with pytest.raises(VerificationError, match="api_version"):
        packages.verify(future, [signing_key.public_key()], now=NOW)


def test_versions_compare_as_numbers():
    assert packages.parse_version("1.10") > packages.parse_version("1.9.9")
    assert packages.parse_version("2") == packages.parse_version("2.0.0")
    for bad in ("01", "1..2", "1.2.3.4.5", "v1", ""):
        with pytest.raises(InvalidInputError, match="version"):
            packages.parse_version(bad)


def test_manifest_fields_are_checked_when_building(signing_key):
    with pytest.raises(InvalidInputError, match="name"):
        build(signing_key, name="Bad Name")
    with pytest.raises(InvalidInputError, match="entry_point"):
        packages.build(
            name="x",
            version="1",
            entry_point="no colon",
            files=FILES,
            expires=LATER,
            private_key=signing_key,
        )


def upload(client, archive, name="fault-location", version="1.0.0", token=ADMIN_TOKEN):
    return client.put(
        f"/v1/algorithms/{name}/{version}",
        token=token,
        body=archive,
        headers={"Content-Type": "application/octet-stream"},
    )


def test_upload_is_verified_content_addressed_and_only_goes_up(client, signing_key):
    archive = build(signing_key)
    stored = upload(client, archive)
    assert stored.status_code == 201
    assert stored.json["sha256"] == hashlib.sha256(archive).hexdigest()
    assert upload(client, archive).status_code == 200  # the same bytes again: nothing new
    other = build(signing_key, expires=LATER + datetime.timedelta(days=1))
    assert upload(client, other).status_code == 409  # same version, other content
    assert upload(client, build(signing_key, version="0.9"), version="0.9").status_code == 409
    assert upload(client, build(signing_key, version="1.1"), version="1.1").status_code == 201
    listed = client.get("/v1/algorithms", token=ADMIN_TOKEN).json["items"]
    assert [p["version"] for p in listed] == ["1.0.0", "1.1"]


def test_uploads_failing_verification_get_422(client, signing_key):
    foreign = build(Ed25519PrivateKey.generate())
    result = upload(client, foreign)
    assert result.status_code == 422
    assert "not trusted" in result.json["description"]
    assert upload(client, b"not a zip").status_code == 422
    mismatch = upload(client, build(signing_key), version="2.0")
    assert mismatch.status_code == 400
    assert "not fault-location 2.0" in mismatch.json["description"]
    wrong_type = client.put(
        "/v1/algorithms/fault-location/1.0",
        token=ADMIN_TOKEN,
        body=build(signing_key),
        headers={"Content-Type": "application/json"},
    )
    assert wrong_type.status_code == 415


def test_oversized_package_gets_413(client, config, signing_key):
    result = upload(client, b"\0" * (config.max_package_bytes + 1))
    assert result.status_code == 413


def test_a_device_downloads_only_the_packages_it_is_assigned(client, signing_key):
    archive = build(signing_key)
    upload(client, archive)
    upload(client, build(signing_key, name="state-estimation"), name="state-estimation")
    assignment = {"name": "fault-location", "version": "1.0.0", "parameters": {"window": 2}}
    meter = {"kind": "meter", "algorithms": [assignment]}
    token = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=meter).json["token"]
    settings = client.get("/v1/devices/M1/settings", token=token).json
    (algorithm,) = settings["algorithms"]
    assert algorithm["sha256"] == hashlib.sha256(archive).hexdigest()
    assert algorithm["entry_point"] == "fault_location:run"
    assert algorithm["parameters"] == {"window": 2}
    download = client.get(algorithm["url"], token=token)
    assert download.status_code == 200
    assert download.content == archive
    assert download.headers["etag"] == f'"{algorithm["sha256"]}"'
    assert client.get("/v1/algorithms/state-estimation/1.0.0", token=token).status_code == 403
    assert client.get("/v1/algorithms/absent/1.0", token=token).status_code == 403
    assert client.get("/v1/algorithms/absent/1.0", token=ADMIN_TOKEN).status_code == 404
    assert client.get("/v1/algorithms", token=token).status_code == 403


def test_assigning_a_package_that_is_not_stored_is_a_conflict(client):
    meter = {"kind": "meter", "algorithms": [{"name": "absent", "version": "1"}]}
    result = client.put("/v1/devices/M1", token=ADMIN_TOKEN, json=meter)
    assert result.status_code == 409
    assert "absent 1" in result.json["description"]
    assert client.get("/v1/devices/M1", token=ADMIN_TOKEN).status_code == 404
