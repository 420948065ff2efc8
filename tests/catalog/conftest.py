"""Fixtures of the catalog tests: real brokers, both stores, the app with a validating client."""

import queue
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import falcon.testing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gridedge.catalog import openapi
from gridedge.catalog.app import create_app
from gridedge.catalog.auth import sha256_hex
from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.publisher import MqttPublisher
from gridedge.catalog.store import open_store
from gridedge.mqtt import Connection, Envelope
from tests.fixtures.openapi import ResponseValidator
from tests.fixtures.services import Mosquitto, PostgreSQL, start_mosquitto, start_postgresql

ADMIN_TOKEN = "admin-token-for-tests"
STORES = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Mosquitto]]:
    """The ``grid`` and ``monitoring`` brokers, for the whole session."""
    directory = tmp_path_factory.mktemp("mosquitto")
    started = {name: start_mosquitto(name, directory) for name in ("grid", "monitoring")}
    yield started
    for broker in started.values():
        broker.stop()


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    """A throwaway PostgreSQL cluster, for the whole session."""
    cluster = start_postgresql()
    yield cluster
    cluster.stop()


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """An empty store of each kind in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    cluster = request.getfixturevalue("postgresql")
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return cluster.url


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    """The key the tests sign algorithm packages with."""
    return Ed25519PrivateKey.generate()


def public_hex(key: Ed25519PrivateKey) -> str:
    """Return the raw public key of `key` as hex."""
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@pytest.fixture
def topic_prefix() -> str:
    """A topic prefix of this test alone, so retained messages of others never show."""
    return f"test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def config(
    database_url: str,
    brokers: dict[str, Mosquitto],
    signing_key: Ed25519PrivateKey,
    topic_prefix: str,
) -> CatalogConfig:
    """Catalog settings for one test."""
    return CatalogConfig(
        database=database_url,
        admin_token_sha256=sha256_hex(ADMIN_TOKEN),
        package_keys=(public_hex(signing_key),),
        grid_broker=brokers["grid"].endpoint,
        monitoring_broker=brokers["monitoring"].endpoint,
        topic_prefix=topic_prefix,
        max_json_bytes=1024 * 1024,
        max_package_bytes=256 * 1024,
    )


@pytest.fixture
def app(config: CatalogConfig) -> Iterator[falcon.App]:
    """The catalog application with a real store and real MQTT sessions."""
    publisher = MqttPublisher.from_config(config, sender="catalog-test")
    store = open_store(config.database)
    yield create_app(config, store=store, publisher=publisher)
    publisher.close()
    store.close()


class Client:
    """A Falcon test client that checks every response against the OpenAPI document."""

    def __init__(self, app: falcon.App) -> None:
        self._client = falcon.testing.TestClient(app)
        self.validator = ResponseValidator(openapi.document())

    def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> falcon.testing.Result:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        result = self._client.simulate_request(method, path, headers=headers, **kwargs)
        self.validator.validate(
            method, path, result.status_code, result.headers.get("content-type"), result.content
        )
        return result

    def get(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> falcon.testing.Result:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def client(app: falcon.App) -> Client:
    """A validating test client of the app."""
    return Client(app)


class Subscriber:
    """An MQTT session that collects the messages of a topic filter."""

    def __init__(self, broker: Mosquitto, topic_filter: str) -> None:
        self.connection = Connection(broker.host, broker.port, sender="test-subscriber")
        self.connection.start()
        self.connection.subscribe(topic_filter)
        self.received: list[tuple[str, Envelope, bool]] = []

    def wait_for(
        self, predicate: Callable[[str, Envelope], bool], timeout: float = 15.0
    ) -> tuple[str, Envelope]:
        """Return the first message (already received or arriving) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        for topic, envelope, _ in self.received:
            if predicate(topic, envelope):
                return topic, envelope
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.connection.inbox.get(timeout=left)
            except queue.Empty:
                break
            if not message.payload:
                continue
            envelope = message.envelope()
            self.received.append((message.topic, envelope, message.retain))
            if predicate(message.topic, envelope):
                return message.topic, envelope
        raise AssertionError(f"no matching message within {timeout} s; got {self.received}")

    def drain(self, seconds: float) -> list[tuple[str, Envelope, bool]]:
        """Collect messages for `seconds`; return all received so far."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.connection.inbox.get(timeout=left)
            except queue.Empty:
                break
            if message.payload:
                self.received.append((message.topic, message.envelope(), message.retain))
        return self.received

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def subscribe(brokers: dict[str, Mosquitto]) -> Iterator[Callable[[str, str], Subscriber]]:
    """Make subscribers to a broker (``grid`` or ``monitoring``); closed after the test."""
    made: list[Subscriber] = []

    def make(broker: str, topic_filter: str) -> Subscriber:
        subscriber = Subscriber(brokers[broker], topic_filter)
        made.append(subscriber)
        return subscriber

    yield make
    for subscriber in made:
        subscriber.close()
