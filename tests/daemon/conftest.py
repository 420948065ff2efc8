"""Fixtures of the meter daemon tests: the real catalog under gunicorn, real Mosquitto brokers
and real meter processes (``gridedge meter``) with simulated acquisition.

The brokers, the signing key and the subscriber come from the catalog tests' fixtures, the
catalog runner from its gunicorn tests: one implementation of each.
"""

import hashlib
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridedge import packages
from gridedge.catalog.auth import sha256_hex
from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.store import PackageRecord, open_store
from gridedge.meter.builtins import BUILTINS, Builtin
from gridedge.meter.builtins import build as build_builtin
from gridedge.mqtt import Envelope
from tests.catalog.conftest import (  # noqa: F401 (fixtures used by the tests of this directory)
    ADMIN_TOKEN,
    Subscriber,
    brokers,
    public_hex,
    signing_key,
    subscribe,
)
from tests.catalog.test_catalog_gunicorn import Served
from tests.daemon.algorithms import LATER
from tests.fixtures.services import Mosquitto

SIMULATED = {
    "acquisition": {
        "backend": "simulated",
        "fs": 6400.0,
        "block_s": 0.02,
        "options": {"case": "turin", "meter": "M1"},
    }
}
"""Every test meter samples what meter M1 (a feeder head of the Turin grid, 22 kV) would."""


def builtin(name: str) -> Builtin:
    return next(b for b in BUILTINS if b.name == name)


class Catalog:
    """The catalog under gunicorn, and the administrator's operations on it."""

    def __init__(self, served: Served, config: CatalogConfig) -> None:
        self.served = served
        self.config = config
        self.prefix = config.topic_prefix
        self.url = f"http://127.0.0.1:{served.port}"

    def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _, content = self.served.request(method, path, token=ADMIN_TOKEN, **kwargs)
        return status, json.loads(content) if content else None

    def put_broker(self, name: str, broker: Mosquitto) -> None:
        status, body = self.request(
            "PUT", f"/v1/brokers/{name}", body={"host": broker.host, "port": broker.port}
        )
        assert status in (200, 201), body

    def upload(self, archive: bytes) -> dict[str, Any]:
        """Upload a package through the REST interface (verified by the catalog)."""
        manifest = _manifest(archive)
        connection = http.client.HTTPConnection("127.0.0.1", self.served.port, timeout=10)
        connection.request(
            "PUT",
            f"/v1/algorithms/{manifest['name']}/{manifest['version']}",
            body=archive,
            headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}",
                "Content-Type": "application/octet-stream",
            },
        )
        response = connection.getresponse()
        content = response.read()
        connection.close()
        assert response.status in (200, 201), content
        return json.loads(content)

    def plant(self, archive: bytes, *, sha256: str | None = None) -> str:
        """Store a package without verification, as a compromised catalog would serve it."""
        manifest = _manifest(archive)
        digest = sha256 or hashlib.sha256(archive).hexdigest()
        store = open_store(self.config.database)
        try:
            with store.transaction() as tx:
                tx.add_package(
                    PackageRecord(
                        digest,
                        manifest["name"],
                        manifest["version"],
                        manifest,
                        time.time(),
                        archive,
                    )
                )
        finally:
            store.close()
        return digest

    def assign(
        self,
        device_id: str,
        algorithms: list[dict[str, Any]],
        parameters: dict[str, Any] | None = None,
        update_interval_s: float = 1,
    ) -> str | None:
        """Register a meter or replace its registration; return its token when new."""
        status, body = self.request(
            "PUT",
            f"/v1/devices/{device_id}",
            body={
                "kind": "meter",
                "update_interval_s": update_interval_s,
                "algorithms": algorithms,
                "parameters": SIMULATED if parameters is None else parameters,
            },
        )
        assert status in (200, 201), body
        return body.get("token")

    def device(self, device_id: str) -> dict[str, Any]:
        status, body = self.request("GET", f"/v1/devices/{device_id}")
        assert status == 200, body
        return body


def _manifest(archive: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(archive)) as members:
        return json.loads(members.read(packages.MANIFEST))


def start_catalog(
    directory: Path, endpoints: dict[str, Mosquitto], key: Ed25519PrivateKey
) -> Catalog:
    config = CatalogConfig(
        database=f"sqlite:///{directory / 'catalog.sqlite3'}",
        admin_token_sha256=sha256_hex(ADMIN_TOKEN),
        package_keys=(public_hex(key),),
        grid_broker=endpoints["grid"].endpoint,
        monitoring_broker=endpoints["monitoring"].endpoint,
        topic_prefix=f"daemon-{uuid.uuid4().hex[:8]}/",
        max_package_bytes=1024 * 1024,
    )
    served = Served(
        directory,
        config,
        workers=2,
        package_keys=list(config.package_keys),
        max_package_bytes=config.max_package_bytes,
        sweep_interval_s=1.0,
    )
    catalog = Catalog(served, config)
    for name in ("grid", "monitoring"):
        catalog.put_broker(name, endpoints[name])
    for item in BUILTINS:
        catalog.upload(build_builtin(item, key, LATER))
    return catalog


@pytest.fixture(scope="module")
def catalog(
    tmp_path_factory: pytest.TempPathFactory,
    brokers: dict[str, Mosquitto],  # noqa: F811
    signing_key: Ed25519PrivateKey,  # noqa: F811
) -> Iterator[Catalog]:
    """The catalog under gunicorn with the built-ins uploaded, for one test module."""
    catalog = start_catalog(tmp_path_factory.mktemp("catalog"), brokers, signing_key)
    yield catalog
    output = catalog.served.stop()
    assert "Traceback" not in output, output


class Meter:
    """A ``gridedge meter`` process."""

    def __init__(
        self,
        directory: Path,
        catalog: Catalog,
        device_id: str,
        token: str,
        keys: list[str],
        **policy: Any,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.device_id = device_id
        self.state_dir = directory / "state"
        credential = directory / "token"
        credential.write_text(token)
        settings = {
            "device_id": device_id,
            "catalog_url": catalog.url,
            "credential": str(credential),
            "trusted_keys": keys,
            "state_dir": str(self.state_dir),
            "boot_wait_s": 2.0,
            "retry_initial_s": 0.2,
            "retry_max_s": 1.0,
            "probation_s": 2.0,
            "deadline_s": 0.5,
            "configure_timeout_s": 5.0,
            "status_interval_s": 0.5,
            "max_package_bytes": 256 * 1024,
            **policy,
        }
        self.provisioning = directory / "meter.json"
        self.provisioning.write_text(json.dumps({"meter": settings}))
        self.log_path = directory / "meter.log"
        self.process: subprocess.Popen | None = None

    def start(self, **environment: str) -> "Meter":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridedge.cli",
                "--log-level",
                "INFO",
                "meter",
                "--provisioning",
                str(self.provisioning),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **environment},
        )
        log.close()
        return self

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the meter did not stop on SIGTERM:\n{self.log()}") from None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def current(self, name: str) -> str | None:
        link = self.state_dir / "algorithms" / name / "current"
        return os.readlink(link).split("/")[-1] if link.is_symlink() else None


class Status:
    """The meter's status messages on the monitoring broker."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    def wait(
        self, predicate: Callable[[Any], bool], timeout: float = 10.0, *, since: float = 0.0
    ) -> Any:
        """The first status body sent after `since` (seen or arriving) satisfying `predicate`."""

        def check(topic: str, envelope: Envelope) -> bool:
            body = envelope.body
            try:
                return envelope.ts >= since and isinstance(body, dict) and bool(predicate(body))
            except (KeyError, TypeError):
                return False

        return self.subscriber.wait_for(check, timeout)[1].body

    def fresh(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """Like :meth:`wait`, among the status messages sent from now on."""
        return self.wait(predicate, timeout, since=time.time())


def algorithm(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The status of algorithm `name` in a status body (empty if absent)."""
    return body["algorithms"].get(name, {})


def running(name: str, version: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """Predicate on status bodies: `name` (at `version`) takes inputs."""

    def check(body: dict[str, Any]) -> bool:
        entry = algorithm(body, name)
        return entry.get("state") in ("probation", "running") and (
            version is None or entry.get("version") == version
        )

    return check


def measurements_of(catalog: Catalog, device_id: str) -> str:
    """Topic filter of a meter's measurements (the phasor frames and those below them)."""
    return f"{catalog.prefix}meters/{device_id}/measurements/#"


@pytest.fixture
def meters(
    tmp_path: Path,
    catalog: Catalog,
    brokers: dict[str, Mosquitto],  # noqa: F811
    signing_key: Ed25519PrivateKey,  # noqa: F811
) -> Iterator[Callable[..., tuple[Meter, Status]]]:
    """Start meters registered with `algorithms`; stopped (SIGTERM, cleanly) after the test."""
    started: list[tuple[Meter, Subscriber]] = []

    def start(
        algorithms: list[dict[str, Any]],
        *,
        parameters: dict[str, Any] | None = None,
        start: bool = True,
        update_interval_s: float = 1,
        **policy: Any,
    ) -> tuple[Meter, Status]:
        device_id = f"M-{uuid.uuid4().hex[:8]}"
        token = catalog.assign(device_id, algorithms, parameters, update_interval_s)
        meter = Meter(
            tmp_path / device_id, catalog, device_id, token, [public_hex(signing_key)], **policy
        )
        subscriber = Subscriber(brokers["monitoring"], f"{catalog.prefix}meters/{device_id}/status")
        started.append((meter, subscriber))
        if start:
            meter.start()
        return meter, Status(subscriber)

    yield start
    for meter, subscriber in started:
        if meter.process is not None and meter.process.poll() is None:
            code = meter.stop()
            assert code == 0, (code, meter.log())
        subscriber.close()
        assert "Traceback" not in meter.log(), meter.log()


@pytest.fixture
def subscribe_to() -> Iterator[Callable[[Mosquitto, str], Subscriber]]:
    """Make subscribers to any broker this test started; closed after the test."""
    made: list[Subscriber] = []

    def make(broker: Mosquitto, topic_filter: str) -> Subscriber:
        subscriber = Subscriber(broker, topic_filter)
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.close()
