"""What a meter knows before it first talks to the catalog: its provisioning.

Everything else (brokers, topics, algorithms, acquisition, topology) comes from the catalog.
Provisioning is read with :func:`gridedge.config.load` from the ``[meter]`` table of a TOML or
JSON file and ``GRIDEDGE_METER_*`` variables; the command line may override the identity.
"""

import dataclasses
import re
from pathlib import Path

from gridedge.errors import ConfigurationError

SECTION = "meter"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_ID = re.compile(ID_PATTERN)
_KEY = re.compile(r"[0-9a-fA-F]{64}")


@dataclasses.dataclass(frozen=True)
class Provisioning:
    """A meter's identity, trust anchors, local state and local policies.

    Attributes
    ----------
    device_id : str
        The meter's id in the catalog.
    catalog_url : str
        ``http://`` or ``https://`` base URL of the Device Catalog.
    credential : Path or None
        File holding the bearer token the catalog issued at registration.
    trusted_keys : tuple of str
        Ed25519 public keys (64 hex digits) that may sign algorithm packages.
    state_dir : Path
        Where last-known-good settings, installed packages and the outbox live.
    catalog_ca_file : Path or None
        PEM certificate authorities for an ``https`` catalog; the system's by default.
    http_timeout_s : float
        Timeout of one request to the catalog, s.
    boot_wait_s : float
        How long to try the catalog at boot before starting from last-known-good settings.
    retry_initial_s, retry_max_s : float
        First and largest delay between two attempts to reach the catalog (doubling, jittered).
    probation_s : float
        How long a newly activated algorithm version must run without failing before the
        previous version is deleted.
    deadline_s : float
        Longest call of an algorithm's method, s, unless its parameters say ``deadline_s``.
    configure_timeout_s : float
        Longest import plus ``configure`` of an algorithm, s.
    queue_length : int
        Inputs (frame blocks, sample blocks, messages) waiting for one algorithm at most;
        more are dropped and counted as overruns.
    max_package_bytes : int
        Largest package downloaded or unpacked.
    spool_max_bytes : int
        Largest outbox kept on disk per broker while it is unreachable; the oldest messages
        are dropped (and counted) beyond it.
    status_interval_s : float
        Seconds between two status telemetry messages.
    session_expiry_s : int
        MQTT session expiry: the brokers keep the meter's subscriptions this long while it is
        away.
    """

    device_id: str = ""
    catalog_url: str = ""
    credential: Path | None = None
    trusted_keys: tuple[str, ...] = ()
    state_dir: Path = Path("/var/lib/gridedge/meter")
    catalog_ca_file: Path | None = None
    http_timeout_s: float = 10.0
    boot_wait_s: float = 15.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0
    probation_s: float = 60.0
    deadline_s: float = 1.0
    configure_timeout_s: float = 10.0
    queue_length: int = 256
    max_package_bytes: int = 16 * 1024 * 1024
    spool_max_bytes: int = 32 * 1024 * 1024
    status_interval_s: float = 10.0
    session_expiry_s: int = 3600

    def __post_init__(self) -> None:
        if self.device_id and _ID.fullmatch(self.device_id) is None:
            raise ConfigurationError(
                f"meter.device_id {self.device_id!r} does not match {ID_PATTERN}"
            )
        if self.catalog_url and not self.catalog_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"meter.catalog_url {self.catalog_url!r} must start with http:// or https://"
            )
        for key in self.trusted_keys:
            if _KEY.fullmatch(key) is None:
                raise ConfigurationError(
                    f"meter.trusted_keys: {key!r} is not an Ed25519 public key (64 hex digits)"
                )
        for name in (
            "http_timeout_s",
            "retry_initial_s",
            "retry_max_s",
            "probation_s",
            "deadline_s",
            "configure_timeout_s",
            "status_interval_s",
        ):
            if not getattr(self, name) > 0:
                raise ConfigurationError(
                    f"meter.{name} must be positive, got {getattr(self, name)}"
                )
        if self.boot_wait_s < 0:
            raise ConfigurationError(f"meter.boot_wait_s must be >= 0, got {self.boot_wait_s}")
        for name in ("queue_length", "max_package_bytes", "spool_max_bytes"):
            if getattr(self, name) < 1:
                raise ConfigurationError(
                    f"meter.{name} must be at least 1, got {getattr(self, name)}"
                )
        if self.session_expiry_s < 0:
            raise ConfigurationError(
                f"meter.session_expiry_s must be >= 0, got {self.session_expiry_s}"
            )

    def check_complete(self) -> None:
        """Refuse to start without an identity, a catalog, a credential and a trusted key.

        Raises
        ------
        ConfigurationError
            Naming the first missing setting.
        """
        for name in ("device_id", "catalog_url", "credential", "trusted_keys"):
            if not getattr(self, name):
                raise ConfigurationError(
                    f"meter.{name} is not set (provisioning file, GRIDEDGE_METER_{name.upper()} "
                    "or the command line)"
                )

    def token(self) -> str:
        """Read the bearer token from the credential file.

        Raises
        ------
        ConfigurationError
            No credential file, or it cannot be read or is empty.
        """
        return read_token(self.credential, f"{SECTION}.credential")


def read_token(path: Path | None, setting: str) -> str:
    """Read a bearer token from the file `path`; `setting` names it in errors.

    Raises
    ------
    ConfigurationError
        No file given, or it cannot be read or is empty.
    """
    if path is None:
        raise ConfigurationError(f"{setting} is not set")
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigurationError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    if not token:
        raise ConfigurationError(f"{setting}: {path} is empty")
    return token
