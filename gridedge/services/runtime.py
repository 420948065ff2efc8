"""What every remote service shares: its provisioning, self-configuration, its MQTT sessions.

A service is registered in the catalog like a device (``/v1/services/{id}``) and configures
itself the way a meter does (the paper's section IV-A): it presents its id and token, and the
catalog answers with its settings - broker endpoints, topic tree, parameters. Only the
identity, the catalog's URL and the credential are provisioned locally (section ``[service]``
of the service's file, or ``GRIDEDGE_SERVICE_*``).
"""

import dataclasses
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from gridedge.errors import CatalogUnavailableError, ConfigurationError
from gridedge.meter import backoff
from gridedge.meter.catalog_client import CatalogClient
from gridedge.meter.provisioning import read_token
from gridedge.meter.settings import MeterSettings, parse
from gridedge.mqtt import Connection, Will

logger = logging.getLogger(__name__)

SECTION = "service"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclasses.dataclass(frozen=True)
class ServiceProvisioning:
    """A service's identity and how it reaches the catalog.

    Attributes
    ----------
    id : str
        The service's id in the catalog (``reconfiguration``, ``simulator`` ...).
    catalog_url : str
        ``http://`` or ``https://`` base URL of the Device Catalog.
    credential : Path or None
        File holding the bearer token the catalog issued at registration.
    catalog_ca_file : Path or None
        PEM certificate authorities for an ``https`` catalog; the system's by default.
    http_timeout_s : float
        Timeout of one request to the catalog, s.
    boot_wait_s : float
        How long to keep asking the catalog for the settings at start, s.
    """

    id: str = ""
    catalog_url: str = ""
    credential: Path | None = None
    catalog_ca_file: Path | None = None
    http_timeout_s: float = 10.0
    boot_wait_s: float = 30.0

    def __post_init__(self) -> None:
        if self.id and _ID.fullmatch(self.id) is None:
            raise ConfigurationError(f"service.id {self.id!r} does not match {_ID.pattern}")
        if self.catalog_url and not self.catalog_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"service.catalog_url {self.catalog_url!r} must start with http:// or https://"
            )
        for name in ("http_timeout_s", "boot_wait_s"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"service.{name} must be positive")

    def client(self) -> CatalogClient:
        """A catalog client acting as this service.

        Raises
        ------
        ConfigurationError
            The identity, the catalog or the credential is missing or unreadable.
        """
        for name in ("id", "catalog_url", "credential"):
            if not getattr(self, name):
                raise ConfigurationError(
                    f"service.{name} is not set (the service's file or "
                    f"GRIDEDGE_SERVICE_{name.upper()})"
                )
        return CatalogClient(
            self.catalog_url,
            self.id,
            read_token(self.credential, f"{SECTION}.credential"),
            timeout_s=self.http_timeout_s,
            ca_file=self.catalog_ca_file,
            role="services",
        )


def self_configure(
    client: CatalogClient, wait_s: float, stop: threading.Event | None = None
) -> MeterSettings:
    """The service's settings from the catalog, asked again (jittered backoff) for `wait_s`.

    Raises
    ------
    CatalogUnavailableError
        No answer within `wait_s`, or `stop` was set.
    ConfigurationError
        The settings do not hold together.
    """
    deadline = time.monotonic() + wait_s
    delays = backoff.delays(0.2, 2.0)
    while True:
        try:
            document, _ = client.settings()
        except CatalogUnavailableError as exc:
            wait = next(delays)
            if time.monotonic() + wait > deadline or (stop is not None and stop.is_set()):
                raise
            logger.info("catalog unreachable (%s); trying again in %.1f s", exc, wait)
            time.sleep(wait)
            continue
        if document is None:  # a 304 cannot answer a request without an ETag
            raise CatalogUnavailableError("the catalog answered 304 to a first request")
        settings = parse(document, client.device_id)
        logger.info("settings revision %d from the catalog", settings.revision)
        return settings


OFFLINE = "offline"


def status_will(settings: MeterSettings, service_id: str) -> Will:
    """The last will of a service's monitoring session: "offline" on its status topic."""
    return Will(settings.topics.service_status(service_id), OFFLINE)


def announce(connection: Connection, settings: MeterSettings, service_id: str, state: Any) -> None:
    """Publish a service's status, retained: a dict once it serves, "offline" when it stops."""
    connection.publish(settings.topics.service_status(service_id), state, retain=True)


def connect(
    settings: MeterSettings,
    broker: str,
    sender: str,
    *,
    will: Will | None = None,
    timeout: float = 10.0,
) -> Connection:
    """Open an MQTT session with the broker `broker` (``grid`` or ``monitoring``) of `settings`.

    Raises
    ------
    BrokerUnavailableError
        No session within `timeout` s.
    """
    endpoint = settings.brokers[broker]
    connection = Connection(
        endpoint.host, endpoint.port, sender=sender, will=will, tls=endpoint.tls, keepalive=10
    )
    connection.start(timeout)
    return connection
