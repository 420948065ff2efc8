"""The settings a meter receives from the catalog, parsed and checked.

The catalog serves them at ``GET /v1/devices/{id}/settings`` (self-configuration and
auto-update) and pushes them retained on ``config/{id}``; both carry the same JSON document
(the OpenAPI schema ``Settings``). :func:`parse` turns it into a :class:`MeterSettings`,
refusing a document that does not hold together with the field that is wrong, so that a bad
revision never replaces a good one. :func:`changes` says what differs between two revisions.
"""

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from gridedge import config
from gridedge.errors import ConfigurationError
from gridedge.mqtt import Topics

GRID = "grid"
MONITORING = "monitoring"
BROKERS = (GRID, MONITORING)
"""The two brokers every meter connects to (DESIGN.md section 3)."""

BACKENDS = ("simulated", "comtrade", "uldaq")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a broker listens."""

    host: str
    port: int
    tls: bool = False


@dataclasses.dataclass(frozen=True)
class AlgorithmSpec:
    """One algorithm the meter runs, as the catalog assigns it.

    Attributes
    ----------
    name, version : str
        The package.
    sha256 : str
        Hex sha256 of the whole package archive (its content address).
    url : str
        Path of the package on the catalog.
    parameters : dict
        Handed to the algorithm's ``configure``.
    """

    name: str
    version: str
    sha256: str
    url: str
    parameters: dict[str, Any]

    @property
    def parameters_key(self) -> str:
        """The parameters as canonical JSON, to compare two assignments."""
        return json.dumps(self.parameters, sort_keys=True)


@dataclasses.dataclass(frozen=True)
class AcquisitionSettings:
    """Where samples come from and how they become phasor frames.

    Read from the table ``parameters.acquisition`` of the settings.

    Attributes
    ----------
    backend : str
        ``simulated`` (the grid simulator), ``comtrade`` (replay of a record) or ``uldaq``
        (a Measurement Computing USB DAQ).
    fs : float
        Sampling rate, Hz; a whole multiple of `f0` and of `reporting_rate` (a COMTRADE
        record brings its own).
    f0 : float
        Nominal frequency, Hz.
    reporting_rate : float
        Phasor frames per second.
    block_s : float
        Samples are read and estimated in blocks of this length, s.
    ring_s : float
        Seconds of samples the ring between acquisition and estimation holds.
    options : dict
        Settings of the backend (see its documentation).
    """

    backend: str = "simulated"
    fs: float = 6400.0
    f0: float = 50.0
    reporting_rate: float = 50.0
    block_s: float = 0.05
    ring_s: float = 2.0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigurationError(
                f"acquisition.backend {self.backend!r} is not one of {', '.join(BACKENDS)}"
            )
        for name in ("fs", "f0", "reporting_rate", "block_s", "ring_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigurationError(f"acquisition.{name} must be positive, got {value!r}")
        if self.ring_s < 2 * self.block_s:
            raise ConfigurationError(
                f"acquisition.ring_s ({self.ring_s}) must hold at least two blocks "
                f"({2 * self.block_s} s)"
            )


@dataclasses.dataclass(frozen=True)
class MeterSettings:
    """A revision of a meter's settings.

    Attributes
    ----------
    device_id : str
        The meter.
    revision : int
        The catalog's revision of these settings (ETag ``"r{revision}"``).
    update_interval_s : float
        Seconds between two polls of the catalog.
    brokers : dict of str to Endpoint
        The ``grid`` and ``monitoring`` brokers.
    topics : Topics
        The topic tree (its prefix comes with the settings).
    algorithms : tuple of AlgorithmSpec
        The algorithms to run, by distinct names.
    topology : dict or None
        This meter's portion of the grid topology.
    acquisition : AcquisitionSettings
        The acquisition chain.
    document : dict
        The whole document as received (stored as last-known-good).
    """

    device_id: str
    revision: int
    update_interval_s: float
    brokers: dict[str, Endpoint]
    topics: Topics
    algorithms: tuple[AlgorithmSpec, ...]
    topology: dict[str, Any] | None
    acquisition: AcquisitionSettings
    document: dict[str, Any]

    @property
    def etag(self) -> str:
        """The ETag the catalog gives this revision."""
        return f'"r{self.revision}"'


@dataclasses.dataclass(frozen=True)
class Changes:
    """What differs between two revisions of settings."""

    brokers: frozenset[str]
    topics: bool
    topology: bool
    acquisition: bool
    added: frozenset[str]
    updated: frozenset[str]
    reparameterised: frozenset[str]
    removed: frozenset[str]


def parse(document: Any, device_id: str) -> MeterSettings:
    """Check a settings document and return it parsed.

    Parameters
    ----------
    document : Any
        The decoded JSON document.
    device_id : str
        The meter these settings must be for.

    Raises
    ------
    ConfigurationError
        A field is missing or wrong; the message names it.
    """
    if not isinstance(document, dict):
        raise ConfigurationError("settings must be a JSON object")
    for name in ("id", "revision", "update_interval_s", "brokers", "topics", "algorithms"):
        if name not in document:
            raise ConfigurationError(f"settings.{name} is missing")
    if document["id"] != device_id:
        raise ConfigurationError(f"settings.id {document['id']!r} is not this meter ({device_id})")
    revision = document["revision"]
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ConfigurationError(f"settings.revision {revision!r} is not a non-negative integer")
    interval = document["update_interval_s"]
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
        raise ConfigurationError(f"settings.update_interval_s {interval!r} is not positive")
    parameters = document.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ConfigurationError("settings.parameters must be an object")
    topology = document.get("topology")
    if topology is not None and not isinstance(topology, dict):
        raise ConfigurationError("settings.topology must be an object or null")
    return MeterSettings(
        device_id=device_id,
        revision=revision,
        update_interval_s=float(interval),
        brokers=_brokers(document["brokers"]),
        topics=_topics(document["topics"]),
        algorithms=_algorithms(document["algorithms"]),
        topology=topology,
        acquisition=_acquisition(parameters.get("acquisition", {})),
        document=document,
    )


def changes(old: MeterSettings, new: MeterSettings) -> Changes:
    """Compare two revisions."""
    before = {a.name: a for a in old.algorithms}
    after = {a.name: a for a in new.algorithms}
    kept = before.keys() & after.keys()
    return Changes(
        brokers=frozenset(n for n in BROKERS if old.brokers[n] != new.brokers[n]),
        topics=old.topics != new.topics,
        topology=old.topology != new.topology,
        acquisition=old.acquisition != new.acquisition,
        added=frozenset(after.keys() - before.keys()),
        updated=frozenset(
            n
            for n in kept
            if (before[n].version, before[n].sha256) != (after[n].version, after[n].sha256)
        ),
        reparameterised=frozenset(
            n
            for n in kept
            if before[n].version == after[n].version
            and before[n].parameters_key != after[n].parameters_key
        ),
        removed=frozenset(before.keys() - after.keys()),
    )


def _acquisition(value: Any) -> AcquisitionSettings:
    where = "settings.parameters.acquisition"
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where} must be an object")
    table = dict(value)
    options = table.pop("options", {})
    if not isinstance(options, dict):
        raise ConfigurationError(f"{where}.options must be an object")
    return dataclasses.replace(
        config.from_mapping(AcquisitionSettings, table, where=where), options=options
    )


def _brokers(value: Any) -> dict[str, Endpoint]:
    if not isinstance(value, Mapping):
        raise ConfigurationError("settings.brokers must be an object")
    brokers = {}
    for name in BROKERS:
        if name not in value:
            raise ConfigurationError(
                f"settings.brokers has no {name!r} broker (it has {sorted(value)})"
            )
        brokers[name] = config.from_mapping(Endpoint, value[name], where=f"settings.brokers.{name}")
        if not 0 < brokers[name].port < 65536:
            raise ConfigurationError(
                f"settings.brokers.{name}.port {brokers[name].port} is not a port"
            )
    return brokers


def _topics(value: Any) -> Topics:
    if not isinstance(value, Mapping) or not isinstance(value.get("prefix"), str):
        raise ConfigurationError("settings.topics must be an object with a string 'prefix'")
    try:
        return Topics(value["prefix"])
    except ValueError as exc:
        raise ConfigurationError(f"settings.topics.prefix: {exc}") from None


def _algorithms(value: Any) -> tuple[AlgorithmSpec, ...]:
    if not isinstance(value, list):
        raise ConfigurationError("settings.algorithms must be a list")
    specs = []
    for index, item in enumerate(value):
        where = f"settings.algorithms[{index}]"
        if not isinstance(item, dict):
            raise ConfigurationError(f"{where} must be an object")
        for name in ("name", "version", "sha256", "url"):
            if not isinstance(item.get(name), str):
                raise ConfigurationError(f"{where}.{name} is missing or not a string")
        parameters = item.get("parameters", {})
        if not isinstance(parameters, dict):
            raise ConfigurationError(f"{where}.parameters must be an object")
        specs.append(
            AlgorithmSpec(item["name"], item["version"], item["sha256"], item["url"], parameters)
        )
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"settings.algorithms names an algorithm twice: {names}")
    return tuple(specs)
