"""The SQLite file behind the embedded store. Every method here blocks: the store calls
them on its own thread, never on the event loop.

WAL journal, one transaction per batch: a crash (even SIGKILL) leaves the file as of the
last committed batch, never half-written. `synchronous=NORMAL` keeps commits cheap;
a committed batch survives a process crash, and only a power cut can lose the last few.
Summaries, signals, transcript entries and request records are stored as msgspec JSON,
so the schema stays small as the records grow fields.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    system TEXT NOT NULL DEFAULT '',
    summary BLOB NOT NULL,
    signals BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_last_seen ON sessions (last_seen);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    key BLOB NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS requests (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
"""

SessionRow = tuple[str, float, float, str, bytes, bytes]  # id, first_seen, last_seen, system, summary, signals


WAL_LIMIT_BYTES = 8 * 1024 * 1024


class Batch:
    """Writes waiting for the next flush."""

    __slots__ = ("sessions", "messages", "requests", "deleted", "trims")

    def __init__(self) -> None:
        self.sessions: dict[str, SessionRow] = {}
        self.messages: list[tuple[str, int, bytes, bytes]] = []
        self.requests: list[tuple[str, int, bytes]] = []
        self.deleted: set[str] = set()
        # session -> (messages, requests) up to which seq the per-session caps drop, after the inserts
        self.trims: dict[str, tuple[int, int]] = {}

    def __bool__(self) -> bool:
        return bool(self.sessions or self.messages or self.requests or self.deleted or self.trims)

    def __len__(self) -> int:
        return len(self.sessions) + len(self.messages) + len(self.requests) + len(self.deleted) + len(self.trims)

    def forget(self, session_id: str) -> None:
        """Drop pending writes of a session about to be deleted."""
        self.sessions.pop(session_id, None)
        self.trims.pop(session_id, None)
        self.messages = [m for m in self.messages if m[0] != session_id]
        self.requests = [r for r in self.requests if r[0] != session_id]
        self.deleted.add(session_id)

    def trim(self, session_id: str, messages: int, requests: int) -> None:
        held = self.trims.get(session_id, (0, 0))
        self.trims[session_id] = (max(held[0], messages), max(held[1], requests))

    def then(self, later: Batch) -> Batch:
        """This batch followed by `later` (a failed flush put back in front)."""
        merged = Batch()
        merged.deleted = self.deleted | later.deleted
        merged.sessions = {**self.sessions, **later.sessions}
        merged.messages = self.messages + later.messages
        merged.requests = self.requests + later.requests
        merged.trims = dict(self.trims)
        for session_id, (messages, requests) in later.trims.items():
            merged.trim(session_id, messages, requests)
        return merged


class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        assert self._db is not None, "database not open"
        return self._db

    def open(self) -> list[SessionRow]:
        """Open (creating it, private to the user) and return every session row."""
        if self.path != ":memory:":
            path = Path(self.path).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # transcripts are private
            os.close(fd)
            # SQLite maps the -shm file into memory: one it can't write kills the process
            # with SIGBUS at the first access, so refuse it here, by name.
            for companion in (Path(f"{path}-wal"), Path(f"{path}-shm")):
                if companion.exists() and (not companion.is_file() or not os.access(companion, os.R_OK | os.W_OK)):
                    raise PermissionError(13, "not a writable file", str(companion))
        db = sqlite3.connect(Path(self.path).expanduser() if self.path != ":memory:" else ":memory:",
                             check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            # The WAL keeps the size of its largest burst unless told otherwise: truncate it
            # back after each checkpoint, so the files on disk stay near the data they hold.
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"written by a newer Trooper (schema {version}, this one knows {SCHEMA_VERSION})")
            db.executescript(SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            rows = db.execute("SELECT id, first_seen, last_seen, system, summary, signals FROM sessions").fetchall()
        except BaseException:
            db.close()
            raise
        self._db = db
        return rows

    def write(self, batch: Batch) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for session_id in batch.deleted:
                db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
                db.execute("DELETE FROM requests WHERE session_id = ?", (session_id,))
            db.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?, ?)", batch.sessions.values())
            db.executemany("INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?)", batch.messages)
            db.executemany("INSERT OR REPLACE INTO requests VALUES (?, ?, ?)", batch.requests)
            for session_id, (messages, requests) in batch.trims.items():
                db.execute("DELETE FROM messages WHERE session_id = ? AND seq <= ?", (session_id, messages))
                db.execute("DELETE FROM requests WHERE session_id = ? AND seq <= ?", (session_id, requests))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def keys(self, session_id: str) -> tuple[int, list[bytes]]:
        """How many of the session's oldest messages were dropped, and the keys of the rest."""
        rows = self.db.execute("SELECT seq, key FROM messages WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
        return (rows[0][0] - 1 if rows else 0), [row[1] for row in rows]

    def transcript(self, session_id: str, after: int = 0) -> list[bytes]:
        rows = self.db.execute(
            "SELECT entry FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq", (session_id, after)
        )
        return [row[0] for row in rows]

    def requests(self, session_id: str, after: int = 0) -> list[bytes]:
        rows = self.db.execute(
            "SELECT record FROM requests WHERE session_id = ? AND seq > ? ORDER BY seq", (session_id, after)
        )
        return [row[0] for row in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
