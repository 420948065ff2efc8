"""Packages on the meter: refused before any code runs, rolled back when they fail on
probation, disabled when they fail later, and exactly one version active whenever the meter
is killed during an activation."""

import datetime
import io
import json
import os
import time
import zipfile

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge import packages
from tests.daemon.algorithms import probe
from tests.daemon.conftest import algorithm, measurements_of, running

PUBLISHER = {"name": "phasor-publisher", "version": "1.0.0", "parameters": {"decimation": 10}}
BROKEN = (
    "MARKER = {marker!r}\nimport pathlib\npathlib.Path(MARKER).write_text('ran')\ndef create(:\n"
)


def assignment(version, **parameters):
    return {"name": "probe", "version": version, "parameters": parameters}


def rezip(archive, **members):
    """The same package with some members replaced (a tampered archive)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        files = {name: source.read(name) for name in source.namelist()}
    return packages.zip_files({**files, **members})


@pytest.fixture(scope="module")
def probe_1(catalog, signing_key):
    catalog.upload(probe(signing_key, version="1.0.0"))


def new_measurement(subscriber, after_seq):
    return subscriber.wait_for(lambda t, e: e.seq > after_seq)[1].seq


def test_bad_packages_are_refused_before_any_code_runs(
    catalog, meters, subscribe, signing_key, tmp_path, probe_1
):
    meter, status = meters([PUBLISHER, assignment("1.0.0")], max_package_bytes=64 * 1024)
    status.wait(running("probe", "1.0.0"))
    measurements = subscribe("monitoring", measurements_of(catalog, meter.device_id))
    seq = new_measurement(measurements, 0)
    stranger = Ed25519PrivateKey.generate()
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)

    def good(version, **kwargs):
        return probe(signing_key, version=version, marker=tmp_path / f"ran-{version}", **kwargs)

    signed = good("2.0.1")
    other_payload = packages.zip_files({"algo.py": b"import os\nos.abort()\n"})
    cases = [
        (
            "bad signature",
            rezip(signed, **{packages.SIGNATURE: bytes(64)}),
            None,
            "signature does not match",
        ),
        (
            "unknown key",
            probe(stranger, version="2.0.2", marker=tmp_path / "ran-2.0.2"),
            None,
            "is not trusted",
        ),
        (
            "digest mismatch",
            rezip(good("2.0.3"), **{packages.PAYLOAD: other_payload}),
            None,
            "differs from the manifest",
        ),
        ("older version", good("0.9.0"), None, "does not go up from 1.0.0"),
        ("expired", good("2.0.5", expires=past), None, "expired"),
        (
            "oversized",
            good("2.0.6", extra={"blob.bin": os.urandom(100_000)}),
            None,
            "limit of 65536 bytes",
        ),
        (
            "wrong API version",
            good("2.0.7", api_version=packages.API_VERSION + 1),
            None,
            "api_version 2 is not supported",
        ),
        (
            "import error",
            good("2.0.8", source=BROKEN.format(marker=str(tmp_path / "ran-2.0.8"))),
            None,
            "SyntaxError",
        ),
        ("not the package the settings name", good("2.0.9"), "0" * 64, "is not the"),
    ]
    for kind, archive, sha256, reason in cases:
        version = rezip_version(archive)
        catalog.plant(archive, sha256=sha256)
        catalog.assign(meter.device_id, [PUBLISHER, assignment(version)])
        body = status.fresh(
            lambda b, v=version: v in algorithm(b, "probe").get("refused", {}), timeout=15
        )
        entry = algorithm(body, "probe")
        assert reason in entry["refused"][version], (kind, entry)
        assert entry["version"] == "1.0.0", kind
        assert entry["state"] in ("probation", "running"), kind
        assert not list(tmp_path.glob("ran-*")), f"{kind}: the package's code ran"
        seq = new_measurement(measurements, seq)  # sampling and the others never stopped
    assert meter.current("probe") == "1.0.0"
    versions = meter.state_dir / "algorithms" / "probe" / "versions"
    assert [p.name for p in versions.iterdir()] == ["1.0.0"]


def rezip_version(archive):
    with zipfile.ZipFile(io.BytesIO(archive)) as members:
        return json.loads(members.read(packages.MANIFEST))["version"]


FAILURES = [
    ("3.0.1", {"fail": "raise"}, "on_frames raised RuntimeError: on_frames fails on purpose"),
    ("3.0.2", {"fail": "hang"}, "on_frames still running after"),
    ("3.0.3", {"fail": "overrun", "overrun_s": 0.7}, "(deadline 0.5 s)"),
    ("3.0.4", {"fail": "undeclared"}, "is not a declared output"),
    ("3.0.5", {"fail": "configure"}, "failed to start: load raised RuntimeError: configure fails"),
]


def test_a_new_version_that_fails_on_probation_is_rolled_back(
    catalog, meters, subscribe, signing_key, probe_1
):
    meter, status = meters([PUBLISHER, assignment("1.0.0")])
    status.wait(running("probe", "1.0.0"))
    measurements = subscribe("monitoring", measurements_of(catalog, meter.device_id))
    seq = new_measurement(measurements, 0)
    for version, failure, reason in FAILURES:
        catalog.plant(probe(signing_key, version=version))
        catalog.assign(meter.device_id, [PUBLISHER, assignment(version, **failure)])
        body = status.fresh(
            lambda b, v=version: v in algorithm(b, "probe").get("refused", {}), timeout=15
        )
        assert reason in algorithm(body, "probe")["refused"][version], failure
        body = status.fresh(running("probe", "1.0.0"))
        assert running("phasor-publisher")(body)
        assert meter.current("probe") == "1.0.0"
        assert not (meter.state_dir / "algorithms" / "probe" / "previous").exists()
        versions = meter.state_dir / "algorithms" / "probe" / "versions"
        assert [p.name for p in versions.iterdir()] == ["1.0.0"]
        # Sampling and the other algorithm never stopped.
        seq = new_measurement(measurements, seq)
        assert body["acquisition"]["ring_dropped"] == 0
    samples = body["acquisition"]["samples"]
    assert status.fresh(lambda b: b["acquisition"]["samples"] > samples)


def test_a_failure_after_probation_disables_only_that_algorithm(
    catalog, meters, subscribe, probe_1
):
    meter, status = meters(
        [PUBLISHER, assignment("1.0.0", fail="raise", after=75)], probation_s=1.0
    )
    body = status.wait(lambda b: algorithm(b, "probe").get("state") == "failed", timeout=15)
    assert "on_frames fails on purpose" in algorithm(body, "probe")["error"]
    assert meter.current("probe") == "1.0.0"  # nothing to go back to: kept, not run
    measurements = subscribe("monitoring", measurements_of(catalog, meter.device_id))
    new_measurement(measurements, new_measurement(measurements, 0))
    # New parameters give it another chance.
    catalog.assign(meter.device_id, [PUBLISHER, assignment("1.0.0")])
    status.fresh(running("probe", "1.0.0"))


def test_killed_during_an_activation_the_meter_restarts_with_exactly_one_version(
    catalog, meters, signing_key, probe_1
):
    meter, status = meters([assignment("1.0.0")], probation_s=1.0)
    status.wait(lambda b: algorithm(b, "probe").get("state") == "running")
    active = "1.0.0"
    # Kill while the package is verified, while the new version configures, and on probation.
    for version, delay in (("4.0.1", 0.15), ("4.0.2", 0.5), ("4.0.3", 1.1)):
        catalog.plant(probe(signing_key, version=version))
        catalog.assign(meter.device_id, [assignment(version, configure_sleep_s=0.5)])
        time.sleep(delay)
        meter.kill()
        found = meter.current("probe")
        assert found in (active, version), (version, delay, found)
        directory = meter.state_dir / "algorithms" / "probe" / "versions" / found
        assert (directory / "manifest.json").is_file()
        assert (directory / "payload" / "algo.py").is_file()
        meter.start()
        body = status.fresh(running("probe"), timeout=15)
        assert algorithm(body, "probe")["version"] in (active, version)
        assert len([n for n in body["algorithms"] if n == "probe"]) == 1
        status.fresh(running("probe", version), timeout=15)
        leftovers = [
            p for p in (meter.state_dir / "algorithms" / "probe").rglob("*") if ".tmp-" in p.name
        ]
        assert not leftovers
        active = version
