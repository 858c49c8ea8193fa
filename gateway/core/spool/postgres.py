"""The PostgreSQL job store: one database shared by several gateways.

Why: a fleet of gateways on one store loses no job and stops no queue when
one instance dies; SQLite (`gateway.core.spool.sqlite`) stays the store of a
single gateway. The driver is psycopg 3 in blocking mode: the `JobStore`
convention already runs every call in the spool's worker thread, one at a
time, so threads cost nothing here, and psycopg is the maintained driver with
libpq's full behaviour (``connect_timeout``, ``PGPASSWORD``, ``.pgpass``,
TLS). Schema: `gateway.core.spool.migrations`.

Durability: every session sets and checks ``synchronous_commit = on``, so a
commit returns only once the server has flushed its WAL: the spool
acknowledges jobs right after (`JobStore.transaction`).

Hearing of the others (`SharedStore`): every row carries the id of the
transaction that last wrote it (``xid``). `changes` reads the rows with
``xid >= cursor``, where the cursor is the snapshot's ``xmin`` of the previous
read: every transaction below it had ended, so a row committed late by a
transaction that took its id early is still found, which a plain
``change_seq > last`` would miss. Rows may come twice; the spool skips
revisions it has. A writing transaction ends with a ``NOTIFY`` so the others
read at once (`wait_for_change`, on a second connection that only listens);
they poll as well, in case a notification is lost (a dropped connection).

Conflicts: an update names the revision it was built on
(``WHERE revision = ...``); when another gateway wrote the job first the
update changes nothing and raises `StoreConflict` for that one write, the
rest of the batch commits (`gateway.core.spool.groupcommit`).

Outages: a broken connection is dropped; the next call reconnects, no more
often than the back-off allows (0.5 s doubling to 30 s), each attempt bounded
by ``connect_timeout``; meanwhile calls fail at once with `StoreError`
saying the database is unreachable, which the front-ends answer as busy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from . import migrations
from .store import Changes, Record, StoreConflict, StoredJob, StoreError

log = logging.getLogger("gateway.spool")

CHANNEL = "lpd_ipp_gateway"
CONNECT_TIMEOUT = 5  # seconds, per connection attempt
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
DISK_FULL = "53100"
#: deadlock_detected, serialization_failure: the transaction lost a race; run it again.
RACES = frozenset({"40P01", "40001"})
LISTEN_CLOSE_WAIT = 70.0  # seconds: longer than the longest poll interval


def redact(dsn: str) -> str:
    """``dsn`` without its password (for logs and messages)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Link:
    """One connection with reconnection and back-off (see the module doc)."""

    def __init__(
        self, dsn: str, password: str | None, *, listen: bool = False, channel: str = CHANNEL
    ) -> None:
        self._dsn = dsn
        self._password = password
        self._listen = listen
        self.channel = channel
        self.conn: psycopg.Connection[Any] | None = None
        self._delay = BACKOFF_FIRST
        self._next = 0.0
        self._why = ""

    def get(self) -> psycopg.Connection[Any]:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        now = time.monotonic()
        if now < self._next:
            raise StoreError(
                f"the job store is unreachable ({self._why}); retrying in {self._next - now:.1f} s"
            )
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
        if self._password is not None:
            kwargs["password"] = self._password
        try:
            conn = psycopg.connect(self._dsn, **kwargs)
            conn.execute("SET synchronous_commit = on")
            row = conn.execute("SHOW synchronous_commit").fetchone()
            if row is None or row[0] != "on":
                conn.close()
                raise StoreError("the job store does not keep synchronous_commit on")
            if self._listen:
                conn.execute(f"LISTEN {self.channel}")  # an identifier of ours, not input
        except psycopg.Error as exc:
            self.failed(exc)
            raise StoreError(f"the job store is unreachable: {self._why}") from exc
        if self._why:
            log.info("spool: connected to the job store again")
        self.conn = conn
        self._delay = BACKOFF_FIRST
        self._why = ""
        return conn

    def failed(self, exc: BaseException) -> None:
        """Drop the connection after ``exc``; wait the back-off before the next try."""
        self._why = _reason(exc)
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg.Error:
                pass
            self.conn = None
        self._next = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, BACKOFF_MAX)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class PostgresStore:
    """A `SharedStore` in a PostgreSQL database. Create with `PostgresStore.open`."""

    shared = True

    def __init__(self, dsn: str, password: str | None = None) -> None:
        self.dsn = dsn
        self._main = _Link(dsn, password)
        self._listener = _Link(dsn, password, listen=True)
        self._cursor: str | None = None  # snapshot xmin of the previous read
        self._wrote = False
        self._tx: psycopg.Connection[Any] | None = None  # the connection of the open transaction

    @classmethod
    def open(cls, dsn: str, *, password: str | None = None, create: bool = True) -> PostgresStore:
        """Connect (blocking), create the schema in an empty database when
        ``create``, and check that the schema is this release's (`SchemaTooOld`)."""
        store = cls(dsn, password)
        try:
            conn = store._main.get()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (migrations.LOCK_KEY,))
                empty = migrations.is_empty(conn.cursor())
                version = migrations.current_version(conn.cursor())
                if empty and create:
                    _apply(conn, migrations.pending(0))
                    version = migrations.LATEST
                    log.info("spool: created the job store's schema in %s", redact(dsn))
            migrations.check(version)
        except psycopg.Error as exc:
            store.close()
            raise StoreError(f"the job store failed: {_reason(exc)}") from exc
        except BaseException:
            store.close()
            raise
        return store

    # ------------------------------------------------------------------
    # The JobStore interface

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except StoreConflict:
            raise
        except psycopg.OperationalError as exc:
            self._main.failed(exc)
            full = exc.sqlstate == DISK_FULL
            raise StoreError(f"the job store failed: {_reason(exc)}", no_space=full) from exc
        except psycopg.Error as exc:
            conn = self._main.conn
            if conn is not None and conn.broken:
                self._main.failed(exc)
            state = getattr(exc, "sqlstate", None)
            raise StoreError(
                f"the job store failed: {_reason(exc)}",
                no_space=state == DISK_FULL,
                retry=state in RACES,
            ) from exc

    def _conn(self) -> psycopg.Connection[Any]:
        return self._main.get()

    def load(self) -> list[StoredJob]:
        with self._errors():
            conn = self._conn()
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor = _xmin(conn)
                rows = conn.execute(
                    "SELECT id, folder, data, revision FROM jobs ORDER BY id"
                ).fetchall()
            self._cursor = cursor
            return [StoredJob(i, folder, data, rev) for i, folder, data, rev in rows]

    def transaction(self) -> AbstractContextManager[object]:
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[object]:
        with self._errors():
            conn = self._conn()
            self._wrote = False
            self._tx = conn
            try:
                with conn.transaction():
                    yield conn
                    if self._wrote:
                        conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            finally:
                self._tx = None

    def _writing(self) -> psycopg.Connection[Any]:
        """The open transaction's connection (writes never reconnect midway)."""
        if self._tx is None:
            raise StoreError("a write outside a transaction")
        return self._tx

    def insert(self, folder: str, record: Record) -> int:
        with self._errors():
            row = (
                self._writing()
                .execute(
                    "INSERT INTO jobs (queue, state, folder, data) VALUES (%s, %s, %s, %s)"
                    " RETURNING id",
                    (record.queue, record.state, folder, record.data),
                )
                .fetchone()
            )
            self._wrote = True
            assert row is not None
            return int(row[0])

    def update(self, job_id: int, record: Record, revision: int = 0) -> None:
        with self._errors():
            conn = self._writing()
            cur = conn.execute(
                "UPDATE jobs SET state = %s, data = %s, revision = revision + 1,"
                " xid = pg_current_xact_id() WHERE id = %s AND revision = %s",
                (record.state, record.data, job_id, revision),
            )
            if cur.rowcount:
                self._wrote = True
                return
            exists = conn.execute("SELECT 1 FROM jobs WHERE id = %s", (job_id,)).fetchone()
        if exists is not None:
            raise StoreConflict(job_id)

    def delete(self, job_ids: Sequence[int]) -> None:
        if not job_ids:
            return
        with self._errors():
            conn = self._writing()
            ids = list(job_ids)
            conn.execute("DELETE FROM jobs WHERE id = ANY(%s)", (ids,))
            conn.execute(
                "INSERT INTO purged (id) SELECT unnest(%s::bigint[]) ON CONFLICT (id) DO NOTHING",
                (ids,),
            )
            self._wrote = True

    def get_meta(self, key: str) -> str | None:
        with self._errors():
            row = self._conn().execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
            return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._errors():
            self._writing().execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key)"
                " DO UPDATE SET value = excluded.value, xid = pg_current_xact_id()",
                (key, value),
            )
            self._wrote = True

    def close(self) -> None:
        self._main.close()
        listening = self._listener.conn
        # A `wait_for_change` abandoned by a cancelled follower may still be
        # waiting on that connection (up to its timeout): let it end first.
        held = listening is not None and listening.lock.acquire(timeout=LISTEN_CLOSE_WAIT)
        try:
            self._listener.close()
        finally:
            if held:
                assert listening is not None
                listening.lock.release()

    # ------------------------------------------------------------------
    # The SharedStore additions

    def get(self, job_id: int) -> StoredJob | None:
        with self._errors():
            row = (
                self._conn()
                .execute("SELECT id, folder, data, revision FROM jobs WHERE id = %s", (job_id,))
                .fetchone()
            )
            return None if row is None else StoredJob(row[0], row[1], row[2], row[3])

    def changes(self) -> Changes:
        with self._errors():
            conn = self._conn()
            since = self._cursor or "0"
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor = _xmin(conn)
                rows = conn.execute(
                    "SELECT id, folder, data, revision FROM jobs WHERE xid >= %s::xid8 ORDER BY id",
                    (since,),
                ).fetchall()
                purged = conn.execute(
                    "SELECT id FROM purged WHERE xid >= %s::xid8 ORDER BY id", (since,)
                ).fetchall()
                meta = conn.execute(
                    "SELECT key, value FROM meta WHERE xid >= %s::xid8", (since,)
                ).fetchall()
            self._cursor = cursor
            return Changes(
                [StoredJob(i, folder, data, rev) for i, folder, data, rev in rows],
                [int(r[0]) for r in purged],
                {str(k): str(v) for k, v in meta},
            )

    def wait_for_change(self, timeout: float) -> bool:
        try:
            conn = self._listener.get()
            # One notification is enough: the read that follows covers a burst.
            with closing(conn.notifies(timeout=timeout, stop_after=1)) as heard:
                return any(True for _ in heard)
        except psycopg.Error as exc:
            self._listener.failed(exc)
            raise StoreError(f"the job store is unreachable: {_reason(exc)}") from exc


def _xmin(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()
    assert row is not None
    return str(row[0])


def _apply(conn: psycopg.Connection[Any], steps: Sequence[tuple[int, str]]) -> None:
    for version, sql in steps:
        conn.execute(sql.encode())  # the migrations' own SQL, no client input
        if version == 1:
            conn.execute("CREATE TABLE schema_version (version integer PRIMARY KEY)")
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))


def upgrade(dsn: str, *, password: str | None = None) -> tuple[int, int]:
    """Bring the schema at ``dsn`` to this release's (``db upgrade``), one
    transaction, serialised between gateways: (version before, after)."""
    link = _Link(dsn, password)
    try:
        conn = link.get()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (migrations.LOCK_KEY,))
            before = migrations.current_version(conn.cursor())
            if before > migrations.LATEST:
                migrations.check(before)
            steps = migrations.pending(before)
            if not migrations.is_empty(conn.cursor()):
                steps = [(v, sql) for v, sql in steps if v > 1 or before >= 1]
                if before < 1:
                    raise migrations.SchemaTooOld(
                        "the database has a schema_version table at version 0: not ours"
                    )
            _apply(conn, steps)
        return before, max(before, migrations.LATEST)
    except psycopg.Error as exc:
        raise StoreError(f"the job store failed: {_reason(exc)}") from exc
    finally:
        link.close()


def status(dsn: str, *, password: str | None = None) -> int:
    """The schema version at ``dsn`` (0: empty), for ``db status``."""
    link = _Link(dsn, password)
    try:
        conn = link.get()
        return migrations.current_version(conn.cursor())
    except psycopg.Error as exc:
        raise StoreError(f"the job store failed: {_reason(exc)}") from exc
    finally:
        link.close()


def read_password(path: Path | None) -> str | None:
    """The password in ``path`` (``[spool] store_password_file``: its first
    line), None without a file (then the URL's, PGPASSWORD or ~/.pgpass)."""
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise StoreError(f"cannot read the store password file {path}: {exc.strerror}") from exc
    return lines[0] if lines else ""


def opener(dsn: str, password_file: Path | None = None) -> Callable[[], PostgresStore]:
    """What `Spool.open` calls (in a worker thread) to open the store at ``dsn``."""

    def open_store() -> PostgresStore:
        return PostgresStore.open(dsn, password=read_password(password_file))

    return open_store


__all__ = [
    "CHANNEL",
    "PostgresStore",
    "opener",
    "read_password",
    "redact",
    "status",
    "upgrade",
]
