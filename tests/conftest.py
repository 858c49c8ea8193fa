"""Test rules (after trio-websocket's): loopback only, port 0, a deadline on every
I/O test (`trio.fail_after` or the subprocess helpers' timeouts), memory streams
where no real socket is needed, and no sleeps used as synchronisation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from gateway.core.spool import JobStore, Spool
from gateway.core.spool import api as spool_api
from gateway.core.spool.postgres import PostgresStore
from tests import pgcluster


@pytest.fixture(scope="session")
def pg_cluster() -> pgcluster.PgCluster:
    """The session's private PostgreSQL server (tests/pgcluster.py)."""
    return pgcluster.shared_cluster()


@pytest.fixture
def pg_dsn(pg_cluster: pgcluster.PgCluster) -> str:
    """A fresh, empty database on the private server: its DSN."""
    return pg_cluster.create_database()


def pytest_sessionfinish(session: pytest.Session) -> None:
    pgcluster.stop_shared()


@pytest.fixture(autouse=True)
def _store_under_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """GATEWAY_TEST_STORE=postgresql: every spool a test opens without naming a
    store uses a fresh database on the private server (one per spool folder, so
    a reopened spool finds its jobs again). Tests marked ``sqlite_only`` (they
    check SQLite's own file, or what only a single gateway does) are skipped
    then; tests/unit/core/test_postgres_store.py covers the shared behaviour."""
    if pgcluster.selected_store() != "postgresql":
        yield
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("checks the SQLite store (GATEWAY_TEST_STORE=postgresql)")

    def default_store(root: Path) -> Callable[[], JobStore]:
        dsn = pgcluster.database_for(root)
        return lambda: PostgresStore.open(dsn)

    with pytest.MonkeyPatch.context() as patch:  # its own: a test's monkeypatch.undo() keeps it
        patch.setattr(spool_api, "default_store", default_store)
        yield


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    s = await Spool.open(tmp_path / "spool")
    try:
        yield s
    finally:
        await s.aclose()
