"""The PostgreSQL schema of the shared job store, as versioned migrations.

Why: several gateways of different releases may meet one database, so the
schema has a version (table ``schema_version``) and only moves forward by the
numbered steps below, each applied once, in its own transaction, by
``lpd-ipp-gateway db upgrade``. A gateway refuses to start on a schema older
than its code (`SchemaTooOld`, naming the command), creates it in an empty
database, and refuses one newer than its code (an older release).

Tables (version 1):
- ``jobs``: one row per job; ``id`` from the sequence ``job_ids`` (so every
  gateway shows the same numbers and no id is reused), ``queue`` and ``state``
  copied out of ``data`` (the record, `gateway.core.spool.records`),
  ``folder`` (the job's folder under the documents folder), ``revision``
  (optimistic concurrency: an update names the revision it was built on) and
  ``xid``, the writing transaction's id (``pg_current_xact_id()``), by which
  other gateways find changed rows without missing one that committed late.
- ``meta``: the key/value state (admin state, subscriptions), same ``xid``.
- ``purged``: ids deleted by retention (tombstones, so others forget them too).
"""

from __future__ import annotations

from typing import Protocol

#: (version, SQL): append only; never change a step once released.
STEPS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE SEQUENCE job_ids;
        CREATE TABLE jobs (
            id bigint PRIMARY KEY DEFAULT nextval('job_ids'),
            queue text NOT NULL,
            state integer NOT NULL,
            folder text NOT NULL,
            data text NOT NULL,
            revision bigint NOT NULL DEFAULT 1,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id()
        );
        ALTER SEQUENCE job_ids OWNED BY jobs.id;
        CREATE INDEX jobs_xid ON jobs (xid);
        CREATE TABLE meta (
            key text PRIMARY KEY,
            value text NOT NULL,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id()
        );
        CREATE INDEX meta_xid ON meta (xid);
        CREATE TABLE purged (
            id bigint PRIMARY KEY,
            xid xid8 NOT NULL DEFAULT pg_current_xact_id()
        );
        CREATE INDEX purged_xid ON purged (xid);
        """,
    ),
)

LATEST = STEPS[-1][0]
UPGRADE_COMMAND = "lpd-ipp-gateway db upgrade"
#: Serialises `upgrade` between gateways starting at once (pg_advisory_xact_lock).
LOCK_KEY = 0x6C706469707067  # "lpdippg"


class SchemaTooOld(Exception):
    """The database's schema is older (or newer) than this release's."""


class _Cursor(Protocol):
    def execute(self, query: str, params: tuple[object, ...] = ...) -> object: ...
    def fetchone(self) -> tuple[object, ...] | None: ...


def is_empty(cur: _Cursor) -> bool:
    """Whether the database has no schema of ours yet (no ``schema_version``)."""
    cur.execute("SELECT to_regclass('schema_version') IS NULL")
    row = cur.fetchone()
    return row is None or bool(row[0])


def current_version(cur: _Cursor) -> int:
    """The schema version of the database (0: empty)."""
    if is_empty(cur):
        return 0
    cur.execute("SELECT max(version) FROM schema_version")
    row = cur.fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0  # type: ignore[call-overload]


def pending(version: int) -> list[tuple[int, str]]:
    """The steps a database at ``version`` still needs."""
    return [(v, sql) for v, sql in STEPS if v > version]


def check(version: int) -> None:
    """Raise `SchemaTooOld` unless a gateway can run on a schema at ``version``."""
    if version < LATEST:
        raise SchemaTooOld(
            f"the job store's schema is at version {version}, this gateway needs {LATEST}: "
            f"run {UPGRADE_COMMAND!r} first"
        )
    if version > LATEST:
        raise SchemaTooOld(
            f"the job store's schema is at version {version}, newer than this gateway "
            f"knows ({LATEST}): upgrade the gateway"
        )


__all__ = [
    "LATEST",
    "STEPS",
    "UPGRADE_COMMAND",
    "SchemaTooOld",
    "check",
    "current_version",
    "is_empty",
]
