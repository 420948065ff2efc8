"""The paper's distributed system on loopback, as processes this one starts and stops.

Two Mosquitto brokers (``grid`` and ``monitoring``), the Device Catalog under gunicorn with
SQLite, seeded with the Turin case and holding the built-in algorithm packages signed with a
key made for the run; the two hardware meters M1 (feeder 1 head: phasor publisher, fault
detection and location) and M2 (secondary substation SS03: phasor publisher) as real
``gridedge meter`` processes whose acquisition is the grid simulator; the simulator service
(the other twelve meters, the IoT switches, the concentrators and the other LV levels of the
state estimation) and the reconfiguration service. M1 and M2 also run the MV and the LV level
of the estimation (``se-mv``, ``se-lv``) every few seconds. Every program
runs in the foreground of its own log file under one directory; :meth:`System.stop` ends them
all (SIGTERM, then SIGKILL), the meters first, the brokers last.
"""

import dataclasses
import datetime
import http.client
import io
import json
import logging
import secrets
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gridedge.catalog.auth import sha256_hex
from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.seed import seed
from gridedge.errors import CatalogUnavailableError, ServiceError
from gridedge.grid.scenario import ScenarioFile
from gridedge.meter.builtins import BUILTINS
from gridedge.meter.builtins import build as build_builtin
from gridedge.packages import MANIFEST, Manifest
from gridedge.services.brokers import Mosquitto, start_brokers
from gridedge.services.processes import LOOPBACK, Child, free_port, wait_for_port

logger = logging.getLogger(__name__)

HARDWARE_METERS = ("M1", "M2")
"""The paper's two real meters: M1 at the head of feeder 1, M2 at SS03."""

FEEDER = "F1"
"""The feeder M1 heads (its faults are published on ``faults/F1``)."""

LV_LEVELS = {"M2": "TS03"}
"""Hardware meters that run the LV level of the state estimation, and their transformer."""

PACKAGE_LIFETIME = datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class SystemOptions:
    """What the system is started with.

    Attributes
    ----------
    seed : int
        Seed of the simulated DAQ noise.
    decimation : int
        Every meter publishes one phasor frame in this many (10 per second at 5).
    limits : dict
        Overrides of the reconfiguration service's limits (section ``reconfiguration``).
    reconfigure : dict
        Overrides of the reconfiguration service's settings (section ``reconfigure``).
    silent_switches : tuple of str
        IoT switches that do not answer commands.
    select_timeout_s : float
        How long a switch's selection waits for its ``operate``, s.
    hardware_meters : tuple of str
        Meters run as ``gridedge meter`` processes.
    topic_prefix : str
        Prefix of every MQTT topic.
    update_interval_s : float
        Meters' settings poll interval, s.
    se_interval_s : float
        Time between state-estimation rounds, s (a minute in the paper); 0 runs none.
    """

    seed: int = 0
    decimation: int = 5
    limits: dict[str, Any] = dataclasses.field(default_factory=dict)
    reconfigure: dict[str, Any] = dataclasses.field(default_factory=dict)
    silent_switches: tuple[str, ...] = ()
    select_timeout_s: float = 5.0
    hardware_meters: tuple[str, ...] = HARDWARE_METERS
    topic_prefix: str = "gridedge/"
    update_interval_s: float = 30.0
    se_interval_s: float = 5.0


class System:
    """The distributed system (see the module docstring).

    Parameters
    ----------
    directory : Path
        Where every program keeps its files and logs.
    options : SystemOptions, optional
    brokers : dict of str to Mosquitto, optional
        Brokers already running (``grid`` and ``monitoring``); started (and stopped) here
        otherwise.
    """

    def __init__(
        self,
        directory: Path,
        options: SystemOptions | None = None,
        brokers: dict[str, Mosquitto] | None = None,
    ) -> None:
        self.directory = directory
        self.options = options or SystemOptions()
        self.brokers: dict[str, Mosquitto] = dict(brokers or {})
        self._own_brokers = not self.brokers
        self.admin_token = secrets.token_urlsafe(24)
        self.signing_key = Ed25519PrivateKey.generate()
        self.public_key = (
            self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
        )
        self.children: dict[str, Child] = {}
        self.tokens: dict[str, str] = {}
        self.catalog_port = 0
        self.scenario = ScenarioFile(directory / "scenario.json")

    # -- starting --------------------------------------------------------------------------

    def start(self) -> None:
        """Start everything; on failure, stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.brokers:
            self.brokers = start_brokers(self.directory / "brokers")
        config = self._catalog_config()
        self._start_catalog(config)
        self.tokens = seed(config, "turin", stream=io.StringIO())
        for builtin in BUILTINS:
            expires = datetime.datetime.now(datetime.UTC) + PACKAGE_LIFETIME
            self.upload(build_builtin(builtin, self.signing_key, expires))
        ScenarioFile.create(self.scenario.path, "turin", self.options.seed)
        for meter_id in self.options.hardware_meters:
            self.register_meter(meter_id)
        self._start_service("simulator", self._simulator_settings())
        self._start_service("reconfiguration", self._reconfiguration_settings())
        for meter_id in self.options.hardware_meters:
            self._start_meter(meter_id)

    @property
    def catalog_url(self) -> str:
        """Base URL of the catalog."""
        return f"http://{LOOPBACK}:{self.catalog_port}"

    def _catalog_config(self) -> CatalogConfig:
        self.catalog_port = free_port()
        return CatalogConfig(
            database=f"sqlite:///{self.directory / 'catalog.sqlite3'}",
            bind=f"{LOOPBACK}:{self.catalog_port}",
            workers=2,
            admin_token_sha256=sha256_hex(self.admin_token),
            package_keys=(self.public_key,),
            grid_broker=self.brokers["grid"].endpoint,
            monitoring_broker=self.brokers["monitoring"].endpoint,
            topic_prefix=self.options.topic_prefix,
            sweep_interval_s=1.0,
        )

    def _start_catalog(self, config: CatalogConfig) -> None:
        path = self.directory / "catalog.json"
        path.write_text(json.dumps({"catalog": dataclasses.asdict(config)}))
        child = self._child("catalog", ["catalog", "serve", "--config", str(path)])
        if not wait_for_port(self.catalog_port, child.process, timeout=60):
            raise CatalogUnavailableError(f"the catalog did not start:\n{child.output()}")

    def register_meter(self, meter_id: str) -> None:
        """Register a hardware meter with its algorithms and simulated acquisition.

        Raises
        ------
        ServiceError
            The catalog refused the registration.
        """
        algorithms: list[dict[str, Any]] = [
            {
                "name": "phasor-publisher",
                "version": "1.0.0",
                "parameters": {"decimation": self.options.decimation},
            }
        ]
        rounds = {"case": "turin", "interval_s": self.options.se_interval_s, "deadline_s": 5.0}
        if meter_id == "M1":
            algorithms.append(
                {
                    "name": "fault-detector",
                    "version": "1.0.0",
                    "parameters": {
                        "case": "turin",
                        "meter": meter_id,
                        "feeder": FEEDER,
                        "prebuild": True,
                        "deadline_s": 10.0,
                    },
                }
            )
            if self.options.se_interval_s > 0:
                algorithms.append({"name": "se-mv", "version": "1.0.0", "parameters": rounds})
        else:
            algorithms.append({"name": "fault-reporter", "version": "1.0.0", "parameters": {}})
            if meter_id in LV_LEVELS and self.options.se_interval_s > 0:
                parameters = {**rounds, "transformer": LV_LEVELS[meter_id]}
                algorithms.append({"name": "se-lv", "version": "1.0.0", "parameters": parameters})
        acquisition = {
            "backend": "simulated",
            "fs": 6400.0,
            "block_s": 0.02,
            "options": {"scenario": str(self.scenario.path)},
        }
        status, body = self.request(
            "PUT",
            f"/v1/devices/{meter_id}",
            {
                "kind": "meter",
                "update_interval_s": self.options.update_interval_s,
                "algorithms": algorithms,
                "parameters": {"acquisition": acquisition},
            },
        )
        if status not in (200, 201):
            raise ServiceError(f"the catalog refused the registration of {meter_id}: {body}")

    def _start_meter(self, meter_id: str) -> None:
        directory = self.directory / meter_id
        directory.mkdir(exist_ok=True)
        credential = directory / "token"
        credential.write_text(self.tokens[meter_id])
        provisioning = directory / "meter.json"
        settings = {
            "device_id": meter_id,
            "catalog_url": self.catalog_url,
            "credential": str(credential),
            "trusted_keys": [self.public_key],
            "state_dir": str(directory / "state"),
            "status_interval_s": 2.0,
            "boot_wait_s": 10.0,
            "retry_initial_s": 0.2,
        }
        provisioning.write_text(json.dumps({"meter": settings}))
        self._child(
            meter_id,
            ["--log-level", "INFO", "meter", "--provisioning", str(provisioning)],
        )

    def _simulator_settings(self) -> dict[str, Any]:
        return {
            "simulator": {
                "scenario": str(self.scenario.path),
                "hardware_meters": list(self.options.hardware_meters),
                "decimation": self.options.decimation,
                "silent_switches": list(self.options.silent_switches),
                "select_timeout_s": self.options.select_timeout_s,
                "se_interval_s": self.options.se_interval_s,
            }
        }

    def _reconfiguration_settings(self) -> dict[str, Any]:
        return {
            "reconfigure": dict(self.options.reconfigure),
            "reconfiguration": dict(self.options.limits),
        }

    def _start_service(self, service_id: str, settings: dict[str, Any]) -> None:
        credential = self.directory / f"{service_id}.token"
        credential.write_text(self.tokens[service_id])
        document = {
            "service": {
                "id": service_id,
                "catalog_url": self.catalog_url,
                "credential": str(credential),
            },
            **settings,
        }
        path = self.directory / f"{service_id}.json"
        path.write_text(json.dumps(document))
        command = "simulator" if service_id == "simulator" else "reconfigure"
        self._child(service_id, ["--log-level", "INFO", command, "serve", "--config", str(path)])

    def _child(self, name: str, arguments: list[str]) -> Child:
        child = Child(
            name,
            [sys.executable, "-m", "gridedge.cli", *arguments],
            self.directory / f"{name}.log",
        )
        self.children[name] = child
        return child

    # -- the catalog's REST interface, as the administrator ---------------------------------

    def request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """One request to the catalog as the administrator; the status and the decoded answer.

        Raises
        ------
        CatalogUnavailableError
            The catalog could not be reached.
        """
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        payload = body
        if body is not None and content_type == "application/json":
            payload = json.dumps(body).encode()
        if body is not None:
            headers["Content-Type"] = content_type
        connection = http.client.HTTPConnection(LOOPBACK, self.catalog_port, timeout=30)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise CatalogUnavailableError(f"catalog unreachable: {exc}") from None
        finally:
            connection.close()
        try:
            decoded = json.loads(content) if content else None
        except ValueError:
            decoded = content.decode(errors="replace")
        return response.status, decoded

    def upload(self, archive: bytes) -> None:
        """Upload a signed package (its name and version from its manifest).

        Raises
        ------
        ServiceError
            The catalog refused the package.
        """
        with zipfile.ZipFile(io.BytesIO(archive)) as members:
            manifest = Manifest.from_json(members.read(MANIFEST))
        status, body = self.request(
            "PUT",
            f"/v1/algorithms/{manifest.name}/{manifest.version}",
            archive,
            content_type="application/octet-stream",
        )
        if status not in (200, 201):
            raise ServiceError(f"the catalog refused package {manifest.name}: {body}")

    # -- stopping --------------------------------------------------------------------------

    def running(self) -> dict[str, bool]:
        """Whether each started program still runs."""
        return {name: child.running for name, child in self.children.items()}

    def stop(self) -> dict[str, int]:
        """Stop every program (meters, services, catalog, then the brokers); exit statuses."""
        codes = {}
        order = [*self.options.hardware_meters, "reconfiguration", "simulator", "catalog"]
        for name in [n for n in order if n in self.children] + [
            n for n in self.children if n not in order
        ]:
            codes[name] = self.children[name].stop()
        if self._own_brokers:
            for broker in self.brokers.values():
                broker.stop()
        return codes

    def logs(self) -> dict[str, str]:
        """Everything each program logged."""
        return {name: child.output() for name, child in self.children.items()}

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`, watching the programs.

        Raises
        ------
        ServiceError
            A program exited meanwhile.
        """
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            dead = [n for n, alive in self.running().items() if not alive]
            if dead:
                raise ServiceError(f"{', '.join(dead)} exited")
            time.sleep(0.05)
