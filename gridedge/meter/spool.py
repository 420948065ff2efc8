"""A bounded first-in first-out queue of messages on disk (SQLite).

The outbox keeps here what a broker could not take. SQLite in WAL mode survives a crash or a
power loss without corruption (at worst the last moments of appends are lost), and one file
per broker is simple to bound: when the messages held exceed the limit, the oldest are
deleted first and counted.
"""

import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    size INTEGER NOT NULL
)
"""


class Spool:
    """Messages waiting for a broker, oldest first.

    Parameters
    ----------
    path : Path
        The SQLite file (created if missing).
    max_bytes : int
        Largest total of topic and payload bytes held; older messages are dropped beyond it.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.dropped = 0
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages"
        ).fetchone()
        self._count = count
        self._bytes = size

    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        """Bytes of topics and payloads held."""
        return self._bytes

    def append(self, topic: str, payload: bytes, retain: bool) -> None:
        """Add a message after the others, dropping the oldest beyond the limit."""
        size = _size(topic, payload)
        with self._lock:
            self._db.execute(
                "INSERT INTO messages (topic, payload, retain, size) VALUES (?, ?, ?, ?)",
                (topic, payload, int(retain), size),
            )
            self._count += 1
            self._bytes += size
            self._trim()

    def prepend(self, messages: list[tuple[str, bytes, bool]]) -> None:
        """Put messages before all others, in the given order (they are older)."""
        if not messages:
            return
        with self._lock:
            (first,) = self._db.execute("SELECT COALESCE(MIN(id), 1) FROM messages").fetchone()
            start = first - len(messages)
            rows = [
                (start + k, topic, payload, int(retain), _size(topic, payload))
                for k, (topic, payload, retain) in enumerate(messages)
            ]
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO messages (id, topic, payload, retain, size) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
            self._count += len(rows)
            self._bytes += sum(r[4] for r in rows)
            self._trim()

    def peek(self, limit: int) -> list[tuple[int, str, bytes, bool]]:
        """The oldest `limit` messages: (id, topic, payload, retain)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, retain FROM messages ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(i, t, bytes(p), bool(r)) for i, t, p, r in rows]

    def delete(self, ids: list[int]) -> None:
        """Remove delivered messages."""
        if not ids:
            return
        with self._lock:
            marks = ",".join("?" * len(ids))
            removed = self._db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages WHERE id IN ({marks})",
                ids,
            ).fetchone()
            self._db.execute(f"DELETE FROM messages WHERE id IN ({marks})", ids)
            self._count -= removed[0]
            self._bytes -= removed[1]

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _trim(self) -> None:
        while self._bytes > self.max_bytes and self._count > 0:
            rows = self._db.execute("SELECT id, size FROM messages ORDER BY id LIMIT 64").fetchall()
            doomed = []
            for row_id, size in rows:
                if self._bytes <= self.max_bytes:
                    break
                doomed.append(row_id)
                self._bytes -= size
            self._db.execute(
                f"DELETE FROM messages WHERE id IN ({','.join('?' * len(doomed))})", doomed
            )
            self._count -= len(doomed)
            self.dropped += len(doomed)


def _size(topic: str, payload: bytes) -> int:
    return len(topic.encode()) + len(payload)
