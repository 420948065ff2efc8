"""Where the catalog keeps its state: SQLite (one WAL file) or PostgreSQL, chosen by a URL.

Every gunicorn worker opens its own connections (one per thread, reopened after a fork); all
state lives in the database, so any worker answers any request and the workers agree on who
announces a change of presence: the one whose conditional ``UPDATE`` changed the row.

SQLite is tuned for many processes: WAL journal (readers never wait for the writer),
``synchronous=NORMAL``, a busy timeout, single-statement writes in autocommit mode and
``BEGIN IMMEDIATE`` for multi-statement writes, so that no transaction has to upgrade a read
lock to a write lock (the case a busy timeout cannot help and that ends in "database is
locked").
"""

import contextlib
import dataclasses
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from gridedge.errors import ConfigurationError

logger = logging.getLogger(__name__)

ROLES = ("device", "service")
STATES = ("registered", "online", "disconnected")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS principals (
    id TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    token_sha256 TEXT NOT NULL,
    timeout_s DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    state_since DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION,
    revision BIGINT NOT NULL,
    settings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS principals_by_state ON principals (state, role);
CREATE TABLE IF NOT EXISTS brokers (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS topologies (
    version BIGINT PRIMARY KEY,
    document TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS packages (
    sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    archive {blob} NOT NULL,
    uploaded DOUBLE PRECISION NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revision', 0) ON CONFLICT (name) DO NOTHING;
"""

_PRINCIPAL_COLUMNS = (
    "id, role, kind, spec, token_sha256, timeout_s, state, state_since, last_seen, revision, "
    "settings"
)


@dataclasses.dataclass(frozen=True)
class Principal:
    """A registered device or service.

    Attributes
    ----------
    id : str
        Its identifier.
    role : str
        ``device`` or ``service``.
    kind : str
        What it is (``meter``, ``switch``, ``reconfiguration`` ...).
    spec : dict
        The registration document as the administrator sent it.
    token_sha256 : str
        Hex sha256 of the secret part of its bearer token.
    timeout_s : float
        Silence after which it counts as disconnected, seconds.
    state : str
        ``registered`` (never heard from), ``online`` or ``disconnected``.
    state_since : float
        When the state last changed, seconds since the Unix epoch.
    last_seen : float or None
        Time of its last poll, seconds since the Unix epoch.
    revision : int
        Revision of its settings; changes whenever they do.
    settings : str
        Its settings, as the JSON text served to it.
    """

    id: str
    role: str
    kind: str
    spec: dict[str, Any]
    token_sha256: str
    timeout_s: float
    state: str
    state_since: float
    last_seen: float | None
    revision: int
    settings: str

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> "Principal":
        """Build from a row selected with the columns in their declared order."""
        values = list(row)
        values[3] = json.loads(values[3])
        return cls(*values)


@dataclasses.dataclass(frozen=True)
class PackageRecord:
    """An algorithm package in the store (the archive itself only when asked for)."""

    sha256: str
    name: str
    version: str
    manifest: dict[str, Any]
    uploaded: float
    archive: bytes | None = None


class _Dialect(Protocol):
    blob: str

    def connect(self) -> Any: ...

    def begin(self, connection: Any) -> contextlib.AbstractContextManager[None]: ...

    def sql(self, statement: str) -> str: ...

    def lock_schema(self, connection: Any) -> None: ...

    def has_schema(self, connection: Any) -> bool: ...

    def writing(self) -> contextlib.AbstractContextManager[Any]: ...


class _SQLite:
    blob = "BLOB"

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._writer = threading.Lock()

    def writing(self) -> threading.Lock:
        """Serialise this process's writers on a mutex.

        SQLite's busy handler makes a blocked writer sleep 1, 2, 5, 10 ... ms between tries;
        threads of one worker queueing on a mutex instead leave only the other processes to
        contend through it.
        """
        return self._writer

    def connect(self) -> sqlite3.Connection:
        # isolation_level=None: autocommit; transactions are opened explicitly by begin().
        # Each connection serves one thread; check_same_thread=False only lets close() run
        # from another.
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            timeout=self.busy_timeout_ms / 1000,
            check_same_thread=False,
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        return connection

    @contextlib.contextmanager
    def begin(self, connection: sqlite3.Connection) -> Iterator[None]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def sql(self, statement: str) -> str:
        return statement

    def lock_schema(self, connection: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE already serialises schema changes."""

    def has_schema(self, connection: sqlite3.Connection) -> bool:
        row = connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'counters'"
        ).fetchone()
        return row is not None


class _PostgreSQL:
    blob = "BYTEA"
    _PARAMETER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def begin(self, connection: Any) -> contextlib.AbstractContextManager[None]:
        return connection.transaction()

    def sql(self, statement: str) -> str:
        return self._PARAMETER.sub(r"%(\1)s", statement)

    def writing(self) -> contextlib.AbstractContextManager[None]:
        """PostgreSQL locks rows, not the database: writers need no mutex."""
        return contextlib.nullcontext()

    def lock_schema(self, connection: Any) -> None:
        # Several workers may start at once; CREATE ... IF NOT EXISTS alone races in PostgreSQL.
        connection.execute("SELECT pg_advisory_xact_lock(424242)")

    def has_schema(self, connection: Any) -> bool:
        return connection.execute("SELECT to_regclass('counters')").fetchone()[0] is not None


class Transaction:
    """Statements run inside one transaction of a :class:`Store` (see :meth:`Store.transaction`)."""

    def __init__(self, connection: Any, dialect: _Dialect) -> None:
        self._connection = connection
        self._dialect = dialect

    def execute(self, statement: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run one statement written with ``:name`` parameters; return the cursor."""
        return self._connection.execute(self._dialect.sql(statement), parameters or {})

    def principal(self, principal_id: str) -> Principal | None:
        """Return the principal `principal_id`, or None."""
        row = self.execute(
            f"SELECT {_PRINCIPAL_COLUMNS} FROM principals WHERE id = :id", {"id": principal_id}
        ).fetchone()
        return None if row is None else Principal.from_row(row)

    def principals(
        self, role: str, *, state: str | None = None, kind: str | None = None
    ) -> list[Principal]:
        """Return the principals of `role`, optionally of one state and kind, ordered by id."""
        filters = {"role": role, "state": state, "kind": kind}
        where = " AND ".join(f"{k} = :{k}" for k, v in filters.items() if v is not None)
        rows = self.execute(
            f"SELECT {_PRINCIPAL_COLUMNS} FROM principals WHERE {where} ORDER BY id", filters
        ).fetchall()
        return [Principal.from_row(r) for r in rows]

    def insert_principal(self, principal: Principal) -> None:
        """Add a new principal."""
        values = dataclasses.asdict(principal)
        values["spec"] = json.dumps(principal.spec)
        names = _PRINCIPAL_COLUMNS.replace(" ", "").split(",")
        self.execute(
            f"INSERT INTO principals ({_PRINCIPAL_COLUMNS}) "
            f"VALUES ({', '.join(':' + n for n in names)})",
            values,
        )

    def update_registration(
        self, principal_id: str, *, kind: str, spec: dict[str, Any], timeout_s: float
    ) -> None:
        """Replace what the administrator registered about a principal."""
        self.execute(
            "UPDATE principals SET kind = :kind, spec = :spec, timeout_s = :timeout_s "
            "WHERE id = :id",
            {"id": principal_id, "kind": kind, "spec": json.dumps(spec), "timeout_s": timeout_s},
        )

    def set_token(self, principal_id: str, token_sha256: str) -> None:
        """Replace a principal's token hash."""
        self.execute(
            "UPDATE principals SET token_sha256 = :h WHERE id = :id",
            {"id": principal_id, "h": token_sha256},
        )

    def set_settings(self, principal_id: str, revision: int, settings: str) -> None:
        """Store a principal's newly rendered settings under a new revision."""
        self.execute(
            "UPDATE principals SET revision = :revision, settings = :settings WHERE id = :id",
            {"id": principal_id, "revision": revision, "settings": settings},
        )

    def next_revision(self) -> int:
        """Take the next settings revision; unique across principals and never reused."""
        row = self.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'revision' RETURNING value"
        ).fetchone()
        return int(row[0])

    def brokers(self) -> dict[str, dict[str, Any]]:
        """Return the broker endpoints by name."""
        rows = self.execute("SELECT name, spec FROM brokers ORDER BY name").fetchall()
        return {name: json.loads(spec) for name, spec in rows}

    def put_broker(self, name: str, spec: dict[str, Any]) -> bool:
        """Insert or replace a broker endpoint; return True if it was new."""
        existed = self.execute(
            "SELECT 1 FROM brokers WHERE name = :name", {"name": name}
        ).fetchone()
        self.execute(
            "INSERT INTO brokers (name, spec) VALUES (:name, :spec) "
            "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec",
            {"name": name, "spec": json.dumps(spec)},
        )
        return existed is None

    def topology(self) -> tuple[int, dict[str, Any]] | None:
        """Return the latest topology version and document, or None before the first."""
        row = self.execute(
            "SELECT version, document FROM topologies ORDER BY version DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def topology_version(self) -> int | None:
        """Return the latest topology version, or None before the first."""
        row = self.execute("SELECT MAX(version) FROM topologies").fetchone()
        return None if row[0] is None else int(row[0])

    def topology_document(self, version: int) -> dict[str, Any]:
        """Return the document of a stored topology version."""
        row = self.execute(
            "SELECT document FROM topologies WHERE version = :v", {"v": version}
        ).fetchone()
        return json.loads(row[0])

    def add_topology(self, version: int, document: dict[str, Any], created: float) -> None:
        """Store a new topology version."""
        self.execute(
            "INSERT INTO topologies (version, document, created) VALUES (:v, :d, :c)",
            {"v": version, "d": json.dumps(document), "c": created},
        )

    def packages(self, name: str | None = None) -> list[PackageRecord]:
        """Return package metadata (no archives), optionally of one name, by name and upload."""
        where = "" if name is None else "WHERE name = :name "
        rows = self.execute(
            "SELECT sha256, name, version, manifest, uploaded FROM packages "
            f"{where}ORDER BY name, uploaded",
            {"name": name},
        ).fetchall()
        return [PackageRecord(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def package(self, name: str, version: str, *, archive: bool = False) -> PackageRecord | None:
        """Return one package, with its archive if asked, or None."""
        row = self.execute(
            "SELECT sha256, name, version, manifest, uploaded"
            + (", archive" if archive else "")
            + " FROM packages WHERE name = :name AND version = :version",
            {"name": name, "version": version},
        ).fetchone()
        if row is None:
            return None
        blob = bytes(row[5]) if archive else None
        return PackageRecord(row[0], row[1], row[2], json.loads(row[3]), row[4], blob)

    def add_package(self, record: PackageRecord) -> None:
        """Store a package (its archive is required)."""
        self.execute(
            "INSERT INTO packages (sha256, name, version, manifest, archive, uploaded) "
            "VALUES (:sha256, :name, :version, :manifest, :archive, :uploaded)",
            {
                "sha256": record.sha256,
                "name": record.name,
                "version": record.version,
                "manifest": json.dumps(record.manifest),
                "archive": record.archive,
                "uploaded": record.uploaded,
            },
        )


class Store:
    """The catalog's database: thread- and fork-safe, one connection per thread.

    Use :func:`open_store` to make one.
    """

    def __init__(self, dialect: _Dialect, url: str) -> None:
        self.url = url
        self._dialect = dialect
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[tuple[int, Any]] = []

    def _connection(self) -> Any:
        local = self._local
        # A connection must never cross a fork: gunicorn forks workers after the app may exist.
        if getattr(local, "pid", None) != os.getpid():
            local.connection = self._dialect.connect()
            local.pid = os.getpid()
            with self._lock:
                self._opened.append((local.pid, local.connection))
        return local.connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Run the enclosed statements as one write transaction."""
        connection = self._connection()
        with self._dialect.writing(), self._dialect.begin(connection):
            yield Transaction(connection, self._dialect)

    def reader(self) -> Transaction:
        """Return a handle for single-statement reads in autocommit mode."""
        return Transaction(self._connection(), self._dialect)

    def migrate(self) -> None:
        """Create the tables if they do not exist (safe to run from several workers at once)."""
        # Schema statements lock whole tables: never take those locks once the tables exist,
        # or a worker starting late deadlocks with the requests of the others.
        if self._dialect.has_schema(self._connection()):
            return
        with self.transaction() as tx:
            self._dialect.lock_schema(tx._connection)
            for statement in _SCHEMA.format(blob=self._dialect.blob).split(";"):
                if statement.strip():
                    tx.execute(statement)

    def ping(self) -> None:
        """Run a trivial query; raises if the database cannot be reached."""
        self.reader().execute("SELECT 1").fetchone()

    def close(self) -> None:
        """Close the connections this process opened, in every thread."""
        with self._lock:
            opened, self._opened = self._opened, []
            self._local = threading.local()
        for pid, connection in opened:
            if pid == os.getpid():
                connection.close()

    def _write(self, statement: str, parameters: dict[str, Any]) -> tuple[list[Any], int]:
        """Run one writing statement in autocommit mode; return its RETURNING rows and count."""
        with self._dialect.writing():
            cursor = self.reader().execute(statement, parameters)
            rows = cursor.fetchall() if cursor.description else []
            return rows, cursor.rowcount

    def poll(
        self, principal_id: str, role: str, token_sha256: str, now: float
    ) -> tuple[int, str] | None:
        """Record a poll of an online principal whose token matches; the fast path.

        Returns
        -------
        tuple of (int, str) or None
            The settings revision and JSON text; None when the id, role or token does not
            match or the principal is not online (the caller then takes the slow path).
        """
        rows, _ = self._write(
            "UPDATE principals SET last_seen = :now WHERE id = :id AND role = :role "
            "AND token_sha256 = :h AND state = 'online' RETURNING revision, settings",
            {"now": now, "id": principal_id, "role": role, "h": token_sha256},
        )
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def mark_online(self, principal_id: str, now: float) -> bool:
        """Flip a principal to online; True only for the one caller whose update flipped it."""
        _, count = self._write(
            "UPDATE principals SET state = 'online', state_since = :now, last_seen = :now "
            "WHERE id = :id AND state <> 'online'",
            {"now": now, "id": principal_id},
        )
        return count == 1

    def touch(self, principal_id: str, now: float) -> None:
        """Record a poll time without changing the state."""
        self._write(
            "UPDATE principals SET last_seen = :now WHERE id = :id",
            {"now": now, "id": principal_id},
        )

    def mark_disconnected(self, principal_id: str, now: float) -> bool:
        """Flip an online principal to disconnected; True only for the caller that flipped it."""
        _, count = self._write(
            "UPDATE principals SET state = 'disconnected', state_since = :now "
            "WHERE id = :id AND state = 'online'",
            {"now": now, "id": principal_id},
        )
        return count == 1

    def sweep(self, now: float) -> list[tuple[str, float]]:
        """Disconnect every online principal silent for longer than its timeout.

        Returns
        -------
        list of (str, float)
            Id and last-seen time of each principal this call disconnected; a principal
            appears in the result of exactly one caller, however many sweep at once.
        """
        # Find the candidates with a read, which takes no write lock, then let a conditional
        # update of just those decide: polls are not held up while the table is scanned.
        candidates = [
            row[0]
            for row in self.reader()
            .execute(
                "SELECT id FROM principals WHERE state = 'online' AND last_seen + timeout_s < :now",
                {"now": now},
            )
            .fetchall()
        ]
        rows = []
        for start in range(0, len(candidates), 500):
            chunk = {f"id{i}": c for i, c in enumerate(candidates[start : start + 500])}
            found, _ = self._write(
                "UPDATE principals SET state = 'disconnected', state_since = :now "
                f"WHERE id IN ({', '.join(':' + k for k in chunk)}) AND state = 'online' "
                "AND last_seen + timeout_s < :now RETURNING id, last_seen",
                {"now": now, **chunk},
            )
            rows.extend(found)
        return [(r[0], float(r[1])) for r in rows]


def open_store(url: str, *, busy_timeout_ms: int = 10_000, migrate: bool = True) -> Store:
    """Open the store a URL names and create its tables.

    Parameters
    ----------
    url : str
        ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or ``postgresql://...``.
    busy_timeout_ms : int
        SQLite only: how long a statement waits for another process's write.
    migrate : bool
        Create missing tables.

    Raises
    ------
    ConfigurationError
        Unknown scheme or empty path.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ConfigurationError(f"database URL {url!r} names no file")
        store = Store(_SQLite(Path(path), busy_timeout_ms), url)
    elif url.startswith(("postgresql://", "postgres://")):
        store = Store(_PostgreSQL(url), url)
    else:
        raise ConfigurationError(
            f"database URL {url!r}: expected sqlite:///PATH or postgresql://..."
        )
    if migrate:
        store.migrate()
    return store
