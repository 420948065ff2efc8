"""What the catalog does, independent of HTTP: the resources call these methods.

Every change is one store transaction; messages are published after it commits, so nobody
hears of a change that did not happen. Presence changes are announced by whichever worker's
conditional update made them (see :mod:`gridedge.catalog.store`), hence exactly once.
"""

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from gridedge import packages
from gridedge.catalog import documents, topology
from gridedge.catalog.auth import (
    Authenticator,
    Caller,
    bearer,
    issue_token,
    require,
    sha256_hex,
    split_token,
)
from gridedge.catalog.config import CatalogConfig
from gridedge.catalog.publisher import GRID, MONITORING, Publisher
from gridedge.catalog.settings import render
from gridedge.catalog.store import PackageRecord, Principal, Store, Transaction
from gridedge.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PreconditionFailedError,
)
from gridedge.grid import Grid
from gridedge.mqtt import Received, Topics

logger = logging.getLogger(__name__)

OFFLINE = "offline"


@dataclasses.dataclass(frozen=True)
class Registered:
    """Outcome of a registration: the principal, and its token if one was issued."""

    principal: Principal
    token: str | None
    created: bool


class Catalog:
    """The Device Catalog's operations.

    Parameters
    ----------
    config : CatalogConfig
        Settings.
    store : Store
        Where state lives.
    publisher : Publisher
        Where announcements and settings pushes go.
    clock : callable
        Current time, seconds since the Unix epoch.
    """

    def __init__(
        self,
        config: CatalogConfig,
        store: Store,
        publisher: Publisher,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.topics = Topics(config.topic_prefix)
        self.authenticator = Authenticator(config.admin_token_sha256, store)
        self.trusted_keys = [packages.load_public_key(k) for k in config.package_keys]
        # Topology versions never change once stored: parsing each one once is safe.
        self._grid_cache: tuple[int, Grid] | None = None

    # -- principals ------------------------------------------------------------------------

    def register(
        self, role: str, principal_id: str, registration: documents.Registration
    ) -> Registered:
        """Register a device or service, or replace its registration; push its new settings.

        Raises
        ------
        ConflictError
            The id belongs to a principal of the other role, or an algorithm names a package
            the catalog does not have.
        """
        now = self.clock()
        spec = registration.to_json()
        if registration.timeout_s is None:
            timeout_s = self.config.default_timeout_s
        else:
            timeout_s = registration.timeout_s
        with self.store.transaction() as tx:
            existing = tx.principal(principal_id)
            if existing is not None and existing.role != role:
                raise ConflictError(f"{principal_id} is already registered as a {existing.role}")
            revision = tx.next_revision()
            settings = self._renderer(tx)(principal_id, spec, revision)
            token = None
            if existing is None:
                token, token_sha256 = issue_token(principal_id)
                tx.insert_principal(
                    Principal(
                        id=principal_id,
                        role=role,
                        kind=registration.kind,
                        spec=spec,
                        token_sha256=token_sha256,
                        timeout_s=timeout_s,
                        state="registered",
                        state_since=now,
                        last_seen=None,
                        revision=revision,
                        settings=settings,
                    )
                )
            else:
                tx.update_registration(
                    principal_id, kind=registration.kind, spec=spec, timeout_s=timeout_s
                )
                tx.set_settings(principal_id, revision, settings)
            principal = tx.principal(principal_id)
        self._push({principal_id: settings})
        logger.info("%s %s registered (revision %d)", role, principal_id, revision)
        return Registered(principal, token, existing is None)

    def rotate_token(self, role: str, principal_id: str) -> str:
        """Issue a new token to a principal; the old one stops working at once."""
        with self.store.transaction() as tx:
            self._principal(tx, role, principal_id)
            token, token_sha256 = issue_token(principal_id)
            tx.set_token(principal_id, token_sha256)
        return token

    def principal(self, caller: Caller, role: str, principal_id: str) -> Principal:
        """Return a principal's record: to the administrator, services and itself."""
        if caller.id != principal_id:
            require(caller, "service")
        return self._principal(self.store.reader(), role, principal_id)

    def principals(
        self, caller: Caller, role: str, *, state: str | None, kind: str | None
    ) -> list[Principal]:
        """List principals of a role, optionally filtered: to the administrator and services."""
        require(caller, "service")
        return self.store.reader().principals(role, state=state, kind=kind)

    def poll(self, role: str, principal_id: str, authorization: str | None) -> tuple[int, str]:
        """Serve a principal's settings (revision and JSON text) and record the poll.

        A principal polling for itself is recorded online with the time of the poll; the
        administrator may read anyone's settings without that.

        Raises
        ------
        AuthenticationError
            Missing or invalid credentials.
        AccessDeniedError
            Valid credentials of another principal.
        NotFoundError
            The administrator asked for an unknown id.
        """
        now = self.clock()
        token = bearer(authorization)
        parts = split_token(token)
        if parts is not None and parts[0] == principal_id:
            # Fast path: one statement authenticates, records the poll and reads the settings.
            hit = self.store.poll(principal_id, role, sha256_hex(parts[1]), now)
            if hit is not None:
                return hit
        caller = self.authenticator.authenticate(authorization)
        if caller.is_admin:
            principal = self._principal(self.store.reader(), role, principal_id)
            return principal.revision, principal.settings
        if caller.id != principal_id or caller.role != role:
            raise AccessDeniedError("these credentials do not allow reading these settings")
        if self.store.mark_online(principal_id, now):
            self._announce(principal_id, "online", now, now)
        else:
            self.store.touch(principal_id, now)
        principal = self._principal(self.store.reader(), role, principal_id)
        return principal.revision, principal.settings

    # -- presence --------------------------------------------------------------------------

    def sweep(self) -> int:
        """Disconnect the principals silent past their timeout; return how many this call did."""
        now = self.clock()
        swept = self.store.sweep(now)
        for principal_id, last_seen in swept:
            self._announce(principal_id, "disconnected", now, last_seen)
        return len(swept)

    def on_status(self, message: Received) -> None:
        """Handle a meter's status message: its last will ("offline") disconnects it.

        Retained messages are ignored: they replay a state older than the catalog's own.
        """
        principal_id = self.topics.device_of(message.topic, "meters")
        if (
            message.retain
            or principal_id is None
            or message.topic != self.topics.status(principal_id)
        ):
            return
        try:
            body = message.envelope().body
        except InvalidInputError as exc:
            logger.warning("ignoring status on %s: %s", message.topic, exc)
            return
        if body != OFFLINE:
            return
        now = self.clock()
        if self.store.mark_disconnected(principal_id, now):
            principal = self.store.reader().principal(principal_id)
            self._announce(principal_id, "disconnected", now, principal and principal.last_seen)

    # -- brokers ---------------------------------------------------------------------------

    def brokers(self) -> dict[str, dict[str, Any]]:
        """Return the broker endpoints by name."""
        return self.store.reader().brokers()

    def put_broker(self, name: str, endpoint: documents.BrokerEndpoint) -> bool:
        """Add or change a broker endpoint; every principal's settings change. True if new."""
        with self.store.transaction() as tx:
            created = tx.put_broker(name, dataclasses.asdict(endpoint))
            pushes = self._rerender(
                tx, [p.id for r in ("device", "service") for p in tx.principals(r)]
            )
        self._push(pushes)
        return created

    # -- topology --------------------------------------------------------------------------

    def topology(self) -> tuple[int, dict[str, Any]]:
        """Return the current topology version and document.

        Raises
        ------
        NotFoundError
            No topology was ever stored.
        """
        current = self.store.reader().topology()
        if current is None:
            raise NotFoundError("no topology has been stored yet")
        return current

    def put_topology(
        self, document: Any, *, if_match: str | None, if_none_match: str | None
    ) -> tuple[int, frozenset[str]]:
        """Store a new topology version; re-render and push the settings of the meters it affects.

        Parameters
        ----------
        document : Any
            The grid in gridedge's JSON format.
        if_match : str or None
            ETag of the version this change is based on (required once a topology exists).
        if_none_match : str or None
            ``*`` to create the first version.

        Returns
        -------
        tuple of (int, frozenset of str)
            The new version and the ids of the affected meters.

        Raises
        ------
        PreconditionFailedError
            The change is based on a version that is not the current one.
        """
        grid = topology.check(document)
        now = self.clock()
        with self.store.transaction() as tx:
            current = self._current_grid(tx)
            _check_preconditions(current and current[0], if_match, if_none_match)
            if current is None:
                affected = topology.meters(grid)
                version = 1
            else:
                affected = topology.affected(current[1], grid)
                version = current[0] + 1
            tx.add_topology(version, document, now)
            registered = {p.id for p in tx.principals("device", kind="meter")}
            pushes = self._rerender(tx, sorted(affected & registered), grid=(version, grid))
        self._grid_cache = (version, grid)
        self._push(pushes)
        self.publisher.publish(GRID, self.topics.topology(), {"version": version}, retain=True)
        logger.info("topology version %d: %d meters affected", version, len(affected))
        return version, affected

    # -- packages --------------------------------------------------------------------------

    def upload(self, name: str, version: str, archive: bytes) -> tuple[PackageRecord, bool]:
        """Verify and store an algorithm package; True if it was not stored before.

        Raises
        ------
        VerificationError
            Signature, digest, interface version or expiry check failed.
        InvalidInputError
            The manifest names another package or version than the URL.
        ConflictError
            This version exists with other content, or a higher version exists.
        """
        documents.check_package_ref(name, version)
        verified = packages.verify(archive, self.trusted_keys)
        manifest = verified.manifest
        if (manifest.name, manifest.version) != (name, version):
            raise InvalidInputError(
                f"the package is {manifest.name} {manifest.version}, not {name} {version}"
            )
        document = json.loads(manifest.to_json())
        with self.store.transaction() as tx:
            existing = tx.package(name, version)
            if existing is not None:
                if existing.sha256 == verified.sha256:
                    return existing, False
                raise ConflictError(f"package {name} {version} exists with other content")
            newest = max(
                (p.version for p in tx.packages(name)), key=packages.parse_version, default=None
            )
            if newest is not None and packages.parse_version(version) <= packages.parse_version(
                newest
            ):
                raise ConflictError(
                    f"package {name}: version {version} does not go up from {newest}"
                )
            record = PackageRecord(verified.sha256, name, version, document, self.clock(), archive)
            tx.add_package(record)
        logger.info("package %s %s stored (sha256 %s)", name, version, verified.sha256)
        return dataclasses.replace(record, archive=None), True

    def packages(self, caller: Caller) -> list[PackageRecord]:
        """List stored packages: to the administrator and services."""
        require(caller, "service")
        return self.store.reader().packages()

    def download(self, caller: Caller, name: str, version: str) -> PackageRecord:
        """Return a package with its archive: devices get only those their settings name.

        Raises
        ------
        AccessDeniedError
            A device asked for a package it was not assigned.
        NotFoundError
            No such package.
        """
        documents.check_package_ref(name, version)
        reader = self.store.reader()
        if caller.role == "device":
            principal = reader.principal(caller.id or "")
            assigned = {
                (a["name"], a["version"])
                for a in (principal.spec if principal else {}).get("algorithms", [])
            }
            if (name, version) not in assigned:
                raise AccessDeniedError("this device is not assigned this package")
        record = reader.package(name, version, archive=True)
        if record is None:
            raise NotFoundError(f"package {name} {version} is not in the catalog")
        return record

    # -- helpers ---------------------------------------------------------------------------

    def _principal(self, tx: Transaction, role: str, principal_id: str) -> Principal:
        principal = tx.principal(principal_id)
        if principal is None or principal.role != role:
            raise NotFoundError(f"{role} {principal_id} is not registered")
        return principal

    def _current_grid(self, tx: Transaction) -> tuple[int, Grid] | None:
        """Return the latest stored topology version and its grid, parsed once per version."""
        version = tx.topology_version()
        if version is None:
            return None
        cached = self._grid_cache
        if cached is None or cached[0] != version:
            cached = self._grid_cache = (version, topology.check(tx.topology_document(version)))
        return cached

    def _renderer(
        self, tx: Transaction, grid: tuple[int, Grid] | None = None
    ) -> Callable[[str, dict[str, Any], int], str]:
        """Return a function rendering settings with the brokers and topology of `tx`.

        `grid` (version, grid) stands for a topology stored but not yet committed by `tx`.
        """
        brokers = tx.brokers()
        current = grid or self._current_grid(tx)

        def render_one(principal_id: str, spec: dict[str, Any], revision: int) -> str:
            assigned = {}
            for assignment in spec.get("algorithms", []):
                record = tx.package(assignment["name"], assignment["version"])
                if record is None:
                    raise ConflictError(
                        f"package {assignment['name']} {assignment['version']} is not in the "
                        "catalog; upload it first"
                    )
                assigned[(record.name, record.version)] = record
            portion = None
            if current is not None and spec["kind"] == "meter":
                portion = topology.portion(current[1], principal_id, version=current[0])
            return render(
                principal_id,
                spec,
                revision=revision,
                brokers=brokers,
                packages=assigned,
                topics=self.topics,
                topology=portion,
                default_update_interval_s=self.config.default_update_interval_s,
                default_timeout_s=self.config.default_timeout_s,
            )

        return render_one

    def _rerender(
        self, tx: Transaction, principal_ids: list[str], grid: tuple[int, Grid] | None = None
    ) -> dict[str, str]:
        """Give each principal new settings under one new revision; return them by id."""
        if not principal_ids:
            return {}
        revision = tx.next_revision()
        render_one = self._renderer(tx, grid)
        rendered = {}
        for principal_id in principal_ids:
            principal = tx.principal(principal_id)
            if principal is None:
                continue
            rendered[principal_id] = render_one(principal_id, principal.spec, revision)
            tx.set_settings(principal_id, revision, rendered[principal_id])
        return rendered

    def _push(self, settings: dict[str, str]) -> None:
        for principal_id, text in settings.items():
            self.publisher.publish(
                GRID, self.topics.config(principal_id), json.loads(text), retain=True
            )

    def _announce(self, principal_id: str, state: str, now: float, last_seen: float | None) -> None:
        self.publisher.publish(
            MONITORING,
            self.topics.presence(principal_id),
            {"id": principal_id, "state": state, "since": now, "last_seen": last_seen},
            retain=True,
        )
        logger.info("%s is %s", principal_id, state)


def _check_preconditions(
    current: int | None, if_match: str | None, if_none_match: str | None
) -> None:
    """Check If-Match / If-None-Match of a topology change against the current version."""
    if current is None:
        if if_match is not None:
            raise PreconditionFailedError("If-Match given, but no topology exists yet")
        if if_none_match != "*":
            raise PreconditionFailedError("the first topology is created with If-None-Match: *")
        return
    if if_none_match is not None:
        raise PreconditionFailedError(f"a topology exists (ETag {topology_etag(current)})")
    if if_match is None:
        raise PreconditionFailedError(
            f"If-Match is required: the current topology ETag is {topology_etag(current)}"
        )
    if if_match.strip() != topology_etag(current):
        raise PreconditionFailedError(
            f"If-Match {if_match!r} is stale: the current topology ETag is {topology_etag(current)}"
        )


def topology_etag(version: int) -> str:
    """Return the ETag of a topology version."""
    return f'"t{version}"'
