"""The SQLite job store: ``spool.db`` in WAL mode, one row per job.

Why: SQLite with ``journal_mode=WAL`` and ``synchronous=FULL`` is durable at
every commit, needs no server and, with group commit, keeps up with the disk;
it is the store of a single gateway. All the SQL of the spool is here.

The schema is the on-disk format of every spool made so far: change it only
with a migration. ``data`` holds the whole job (`gateway.core.spool.records`);
``state`` is kept current for tools that read the database directly; ``queue``
is the queue the job was submitted to (nothing reads it back); ``folder`` is
the job's folder key under ``jobs/``. Ids come from AUTOINCREMENT, so they are
positive, increase and are never reused, also after jobs are purged and across
restarts. ``meta`` holds the key/value state (`JobStore.get_meta`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from .store import Record, StoredJob, StoreError

DB_FILE = "spool.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    state INTEGER NOT NULL,
    folder TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` on ``db`` (a connection in autocommit
    mode, ``isolation_level=None``), rolled back if the block raises. SQLite's
    errors come out as `StoreError` (``no_space`` for SQLITE_FULL)."""
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        raise StoreError(str(exc), no_space=full) from exc


class SQLiteStore:
    """A `JobStore` in one SQLite database file. Create with `SQLiteStore.open`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @classmethod
    def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed) the database at ``path`` (blocking)."""
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SCHEMA)
        return cls(db)

    def load(self) -> list[StoredJob]:
        rows = self._db.execute("SELECT id, folder, data FROM jobs ORDER BY id").fetchall()
        return [StoredJob(job_id, folder, data) for job_id, folder, data in rows]

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    def insert(self, folder: str, record: Record) -> int:
        cur = self._db.execute(
            "INSERT INTO jobs (queue, state, folder, data) VALUES (?, ?, ?, ?)",
            (record.queue, record.state, folder, record.data),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def update(self, job_id: int, record: Record, revision: int = 0) -> None:
        # The only writer: ``revision`` (for stores shared by several) is not needed.
        self._db.execute(
            "UPDATE jobs SET state = ?, data = ? WHERE id = ?",
            (record.state, record.data, job_id),
        )

    def delete(self, job_ids: Sequence[int]) -> None:
        self._db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self._db.close()


__all__ = ["DB_FILE", "SCHEMA", "SQLiteStore", "transaction"]
