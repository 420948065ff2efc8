"""Settings of the catalog service, read through :func:`gridedge.config.load`."""

import dataclasses

from gridedge.errors import ConfigurationError

SECTION = "catalog"


@dataclasses.dataclass(frozen=True)
class CatalogConfig:
    """Everything the catalog needs; each field may come from a file or ``GRIDEDGE_CATALOG_*``.

    Attributes
    ----------
    database : str
        ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or a ``postgresql://`` URL.
    bind : str
        ``host:port`` gunicorn listens on.
    workers : int
        gunicorn worker processes.
    threads : int
        Threads per worker (gunicorn's threaded worker when more than one). One by default:
        sync workers keep the 99th percentile of a poll under 10 ms where threads handing
        the GIL to each other stretch it to 15-40 ms (docs/performance.md, Catalog).
    admin_token_sha256 : str
        Hex sha256 of the administrator's bearer token (``gridedge catalog token`` makes one).
    package_keys : tuple of str
        Ed25519 public keys (64 hex digits each) trusted to sign algorithm packages.
    grid_broker, monitoring_broker : str
        ``host:port`` of the two MQTT brokers the catalog publishes to; empty: no MQTT.
    topic_prefix : str
        Prefix of every MQTT topic.
    sweep_interval_s : float
        Seconds between two presence sweeps (each worker sweeps; the store arbitrates).
    default_timeout_s : float
        Silence after which a device is disconnected, unless its registration says otherwise.
    default_update_interval_s : float
        Poll interval handed to devices, unless their registration says otherwise.
    max_json_bytes : int
        Largest JSON request body; larger ones get 413.
    max_package_bytes : int
        Largest algorithm package; larger ones get 413.
    busy_timeout_ms : int
        How long an SQLite statement waits for another writer before failing.
    certfile, keyfile : str
        PEM certificate chain and key: serve HTTPS instead of HTTP.
    """

    database: str = "sqlite:///gridedge-catalog.sqlite3"
    bind: str = "127.0.0.1:8080"
    workers: int = 2
    threads: int = 1
    admin_token_sha256: str = ""
    package_keys: tuple[str, ...] = ()
    grid_broker: str = ""
    monitoring_broker: str = ""
    topic_prefix: str = "gridedge/"
    sweep_interval_s: float = 5.0
    default_timeout_s: float = 180.0
    default_update_interval_s: float = 60.0
    max_json_bytes: int = 1024 * 1024
    max_package_bytes: int = 16 * 1024 * 1024
    busy_timeout_ms: int = 10_000
    certfile: str = ""
    keyfile: str = ""

    def __post_init__(self) -> None:
        for name in ("workers", "threads", "max_json_bytes", "max_package_bytes"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"catalog.{name} must be at least 1")
        for name in ("sweep_interval_s", "default_timeout_s", "default_update_interval_s"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(f"catalog.{name} must be positive")
        if bool(self.certfile) != bool(self.keyfile):
            raise ConfigurationError("catalog.certfile and catalog.keyfile go together")
        if self.admin_token_sha256 and not _is_sha256(self.admin_token_sha256):
            raise ConfigurationError("catalog.admin_token_sha256 must be 64 lowercase hex digits")
        for name in ("grid_broker", "monitoring_broker", "bind"):
            if getattr(self, name):
                split_host_port(getattr(self, name), f"catalog.{name}")


def split_host_port(text: str, setting: str) -> tuple[str, int]:
    """Split ``host:port`` into its parts.

    Raises
    ------
    ConfigurationError
        No colon, or the port is not an integer in 1..65535.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"{setting}: {text!r} is not host:port")
    return host, int(port)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
