"""The catalog as deployed: ``gridedge catalog serve`` under gunicorn with several workers."""

import concurrent.futures
import datetime
import http.client
import ipaddress
import json
import signal
import ssl
import subprocess
import sys
import time
from collections import Counter

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.catalog.conftest import ADMIN_TOKEN
from tests.fixtures.services import LOOPBACK, free_port, wait_for_port


class Served:
    """A running ``gridedge catalog serve`` and an HTTP client for it."""

    def __init__(self, tmp_path, config, *, workers=3, tls=None, **overrides):
        self.port = free_port()
        self.tls = tls
        settings = {
            "database": config.database,
            "bind": f"{LOOPBACK}:{self.port}",
            "workers": workers,
            "admin_token_sha256": config.admin_token_sha256,
            "grid_broker": config.grid_broker,
            "monitoring_broker": config.monitoring_broker,
            "topic_prefix": config.topic_prefix,
            **overrides,
        }
        if tls:
            settings["certfile"], settings["keyfile"] = map(str, tls)
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps({"catalog": settings}))
        self.log = (tmp_path / "catalog.log").open("w+b")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gridedge.cli", "catalog", "serve", "--config", str(path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        assert wait_for_port(self.port, self.process, timeout=60), self.output()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def request(self, method, path, *, token=None, body=None, headers=None, context=None):
        if self.tls:
            connection = http.client.HTTPSConnection(
                LOOPBACK, self.port, timeout=30, context=context
            )
        else:
            connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30)
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        return response.status, response.headers, content

    def stop(self) -> str:
        """Stop gunicorn; return everything it logged."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        output = self.output()
        self.log.close()
        return output


@pytest.fixture
def serve(tmp_path, config):
    started = []

    def start(**kwargs):
        served = Served(tmp_path, config, **kwargs)
        started.append(served)
        return served

    yield start
    for served in started:
        output = served.stop()
        assert "Traceback" not in output, output
        assert "database is locked" not in output, output


def test_workers_share_one_store_and_announce_presence_once(serve, subscribe, topic_prefix):
    served = serve(workers=3, sweep_interval_s=0.2)
    monitoring = subscribe("monitoring", f"{topic_prefix}presence/#")
    ids = [f"M{i}" for i in range(12)]
    tokens = {}
    for device_id in ids:
        status, _, content = served.request(
            "PUT",
            f"/v1/devices/{device_id}",
            token=ADMIN_TOKEN,
            body={"kind": "meter", "timeout_s": 1},
        )
        assert status == 201, content
        tokens[device_id] = json.loads(content)["token"]

    def poll(device_id):
        return served.request("GET", f"/v1/devices/{device_id}/settings", token=tokens[device_id])[
            0
        ]

    # Every device polls four times, concurrently, spread over the workers.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(poll, ids * 4))
    assert statuses == [200] * len(statuses)
    # Silence: after timeout (1 s) every worker's sweeper runs several times.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = Counter(
            (topic.rsplit("/", 1)[1], e.body["state"]) for topic, e, _ in monitoring.drain(0.5)
        )
        if sum(n for (_, s), n in states.items() if s == "disconnected") >= len(ids):
            break
    monitoring.drain(1.0)  # would catch a late duplicate
    states = Counter(
        (topic.rsplit("/", 1)[1], e.body["state"]) for topic, e, _ in monitoring.received
    )
    assert states == Counter({(i, s): 1 for i in ids for s in ("online", "disconnected")})
    _, _, listing = served.request("GET", "/v1/devices?state=disconnected", token=ADMIN_TOKEN)
    assert len(json.loads(listing)["items"]) == len(ids)


def test_settings_polls_from_many_clients_never_fail(serve):
    served = serve(workers=2)
    status, _, content = served.request(
        "PUT", "/v1/devices/M1", token=ADMIN_TOKEN, body={"kind": "meter"}
    )
    assert status == 201, (content, served.output())
    token = json.loads(content)["token"]
    _, headers, _ = served.request("GET", "/v1/devices/M1/settings", token=token)
    etag = headers["ETag"]

    def poll(i):
        conditional = {"If-None-Match": etag} if i % 2 else {}
        return served.request("GET", "/v1/devices/M1/settings", token=token, headers=conditional)[0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = Counter(pool.map(poll, range(400)))
    assert statuses == Counter({200: 200, 304: 200})


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certfile, keyfile


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serves_https_with_a_certificate(serve, tmp_path):
    certfile, keyfile = _self_signed(tmp_path)
    served = serve(workers=1, tls=(certfile, keyfile))
    trusting = ssl.create_default_context(cafile=str(certfile))
    status, _, content = served.request("GET", "/healthz", context=trusting)
    assert (status, json.loads(content)) == (200, {"status": "ok"})
    with pytest.raises(ssl.SSLCertVerificationError):
        served.request("GET", "/healthz", context=ssl.create_default_context())
