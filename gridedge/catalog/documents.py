"""Request documents: parse JSON bodies and check every field, naming the one that is wrong."""

import dataclasses
import json
import math
import re
from typing import Any

from gridedge.catalog.auth import ID_PATTERN
from gridedge.errors import InvalidDocumentError, InvalidInputError
from gridedge.packages import NAME_PATTERN as PACKAGE_NAME_PATTERN
from gridedge.packages import parse_version

KIND_PATTERN = r"[a-z][a-z0-9_-]{0,31}"
HOST_PATTERN = r"[A-Za-z0-9]([A-Za-z0-9.:-]{0,252})"
MAX_TIMEOUT_S = 7 * 86400.0
MAX_INTERVAL_S = 86400.0

KIND = re.compile(KIND_PATTERN)
_PACKAGE_NAME = re.compile(PACKAGE_NAME_PATTERN)
_HOST = re.compile(HOST_PATTERN)
_ID = re.compile(ID_PATTERN)


@dataclasses.dataclass(frozen=True)
class AlgorithmAssignment:
    """An algorithm a device runs: package name and version, and its parameters."""

    name: str
    version: str
    parameters: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Registration:
    """What the administrator says about a device or service.

    Attributes
    ----------
    kind : str
        What it is (``meter``, ``switch``, ``reconfiguration`` ...).
    timeout_s : float or None
        Silence after which it counts as disconnected; the catalog's default if None.
    update_interval_s : float or None
        How often it polls its settings; the catalog's default if None.
    algorithms : tuple of AlgorithmAssignment
        Algorithms it runs.
    parameters : dict
        Free-form settings handed to it unchanged.
    """

    kind: str
    timeout_s: float | None
    update_interval_s: float | None
    algorithms: tuple[AlgorithmAssignment, ...]
    parameters: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """Return the document as stored and listed."""
        document: dict[str, Any] = {
            "kind": self.kind,
            "algorithms": [dataclasses.asdict(a) for a in self.algorithms],
            "parameters": self.parameters,
        }
        if self.timeout_s is not None:
            document["timeout_s"] = self.timeout_s
        if self.update_interval_s is not None:
            document["update_interval_s"] = self.update_interval_s
        return document


@dataclasses.dataclass(frozen=True)
class BrokerEndpoint:
    """Where an MQTT broker listens."""

    host: str
    port: int
    tls: bool


def parse_json(body: bytes) -> Any:
    """Parse a request body as strict JSON (no NaN or Infinity).

    Raises
    ------
    InvalidInputError
        Not UTF-8 or not JSON; the message says where it stopped.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"request body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"request body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidInputError("request body is nested too deeply") from None


def check_id(value: str, what: str) -> str:
    """Check an identifier of a device, service or broker against ``ID_PATTERN``."""
    if _ID.fullmatch(value) is None:
        raise InvalidInputError(f"{what} {value!r} does not match {ID_PATTERN}")
    return value


def check_package_ref(name: str, version: str) -> tuple[str, str]:
    """Check a package name and version as they appear in a URL or a registration."""
    if not isinstance(name, str) or _PACKAGE_NAME.fullmatch(name) is None:
        raise InvalidInputError(f"package name {name!r} does not match {PACKAGE_NAME_PATTERN}")
    if not isinstance(version, str):
        raise InvalidInputError(f"package version {version!r} is not a string")
    parse_version(version)
    return name, version


def registration(document: Any) -> Registration:
    """Check a registration document (see the OpenAPI schema ``Registration``)."""
    fields = _object(
        document,
        "registration",
        required={"kind"},
        optional={"timeout_s", "update_interval_s", "algorithms", "parameters"},
    )
    kind = fields["kind"]
    if not isinstance(kind, str) or KIND.fullmatch(kind) is None:
        raise InvalidInputError(f"registration.kind {kind!r} does not match {KIND_PATTERN}")
    algorithms = fields.get("algorithms", [])
    if not isinstance(algorithms, list):
        raise InvalidInputError("registration.algorithms must be a list")
    assignments = tuple(_assignment(a, i) for i, a in enumerate(algorithms))
    names = [a.name for a in assignments]
    if len(set(names)) != len(names):
        # Well-formed (no schema can say "unique by name"), but contradictory: 422, not 400.
        raise InvalidDocumentError(f"registration.algorithms names a package twice: {names}")
    return Registration(
        kind=kind,
        timeout_s=_seconds(fields.get("timeout_s"), "registration.timeout_s", MAX_TIMEOUT_S),
        update_interval_s=_seconds(
            fields.get("update_interval_s"), "registration.update_interval_s", MAX_INTERVAL_S
        ),
        algorithms=assignments,
        parameters=_mapping(fields.get("parameters", {}), "registration.parameters"),
    )


def broker(document: Any) -> BrokerEndpoint:
    """Check a broker endpoint document (see the OpenAPI schema ``Broker``)."""
    fields = _object(document, "broker", required={"host", "port"}, optional={"tls"})
    host, port, tls = fields["host"], fields["port"], fields.get("tls", False)
    if isinstance(port, float) and port.is_integer():
        port = int(port)  # JSON does not tell 1883.0 from 1883, and neither does JSON Schema
    if not isinstance(host, str) or _HOST.fullmatch(host) is None:
        raise InvalidInputError(f"broker.host {host!r} does not match {HOST_PATTERN}")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InvalidInputError(f"broker.port {port!r} is not an integer in 1..65535")
    if not isinstance(tls, bool):
        raise InvalidInputError(f"broker.tls {tls!r} is not a boolean")
    return BrokerEndpoint(host, port, tls)


def _assignment(document: Any, index: int) -> AlgorithmAssignment:
    where = f"registration.algorithms[{index}]"
    fields = _object(document, where, required={"name", "version"}, optional={"parameters"})
    try:
        name, version = check_package_ref(fields["name"], fields["version"])
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    parameters = _mapping(fields.get("parameters", {}), f"{where}.parameters")
    return AlgorithmAssignment(name, version, parameters)


def _object(document: Any, where: str, *, required: set[str], optional: set[str]) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidInputError(f"{where} must be a JSON object")
    missing = required - set(document)
    if missing:
        raise InvalidInputError(f"{where} misses {', '.join(sorted(missing))}")
    unknown = set(document) - required - optional
    if unknown:
        raise InvalidInputError(f"{where} has unknown fields {', '.join(sorted(unknown))}")
    return document


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where} must be a JSON object")
    return value


def _seconds(value: Any, where: str, maximum: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"{where} {value!r} is not a number")
    if not (math.isfinite(value) and 1 <= value <= maximum):
        raise InvalidInputError(f"{where} {value!r} is not within 1..{maximum:g} s")
    return float(value)


def _reject_constant(name: str) -> Any:
    raise InvalidInputError(f"request body holds {name}, which JSON does not allow")
