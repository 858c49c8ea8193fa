"""The PostgreSQL job store, against a real server (tests/pgcluster.py).

Two `Spool` objects on one database stand for two gateways: each has its own
spool folder and both share one documents folder, as in a fleet.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from gateway import backends
from gateway.backends.file import FileBackend
from gateway.config import QueueConfig
from gateway.core.job import Job, JobState
from gateway.core.queues import Queue, Queues, Switches
from gateway.core.spool import (
    CommitFailed,
    GroupCommit,
    Record,
    Spool,
    SpoolError,
    StoreConflict,
    StoreError,
    Write,
)
from gateway.core.spool.migrations import LATEST, SchemaTooOld
from gateway.core.spool.postgres import CHANNEL, PostgresStore, _Link, redact, status, upgrade
from tests.helpers import spool_job
from tests.pgcluster import PgCluster

RECORD = Record(queue="lp", state=3, data='{"queue": "lp"}')


@asynccontextmanager
async def gateway(
    tmp_path: Path, dsn: str, name: str, *, follow: bool = False, store: PostgresStore | None = None
) -> AsyncIterator[Spool]:
    """A spool of gateway ``name`` on the shared store ``dsn``, following the
    others' changes when ``follow``."""
    spool = await Spool.open(
        tmp_path / name,
        store=store if store is not None else (lambda: PostgresStore.open(dsn)),
        documents=tmp_path / "shared-jobs",
    )
    try:
        async with trio.open_nursery() as nursery:
            if follow:
                await nursery.start(spool.follow, 0.2)
            yield spool
            nursery.cancel_scope.cancel()
    finally:
        await spool.aclose()


def heard(spool: Spool, wanted: Callable[[Job, Job | None], bool]) -> trio.Event:
    """An event set when ``spool``'s listeners hear a change matching ``wanted``."""
    event = trio.Event()

    def listener(job: Job, old: Job | None) -> None:
        if wanted(job, old):
            event.set()

    spool.add_listener(listener)
    return event


# ----------------------------------------------------------------------
# The JobStore contract


def test_ids_ascend_and_are_never_reused(pg_dsn: str) -> None:
    store = PostgresStore.open(pg_dsn)
    with store.transaction():
        first = store.insert("a", RECORD)
        second = store.insert("b", RECORD)
    assert 0 < first < second
    with store.transaction():
        store.delete([second])
    store.close()
    store = PostgresStore.open(pg_dsn)
    with store.transaction():
        third = store.insert("c", RECORD)
    assert third > second
    assert [j.id for j in store.load()] == [first, third]
    store.close()


def test_a_transaction_that_raises_is_rolled_back(pg_dsn: str) -> None:
    store = PostgresStore.open(pg_dsn)
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("a", RECORD)
        store.set_meta("k", "v")
        raise RuntimeError("boom")
    assert store.load() == []
    assert store.get_meta("k") is None
    with store.transaction():
        store.set_meta("k", "v1")
    with store.transaction():
        store.set_meta("k", "v2")
    assert store.get_meta("k") == "v2"
    store.close()


def test_an_update_on_another_revision_conflicts_and_writes_nothing(pg_dsn: str) -> None:
    store = PostgresStore.open(pg_dsn)
    with store.transaction():
        job_id = store.insert("a", RECORD)
    with store.transaction():
        store.update(job_id, Record("lp", 5, '{"v": 2}'), 1)
    with pytest.raises(StoreConflict), store.transaction():
        store.update(job_id, Record("lp", 7, '{"v": "stale"}'), 1)
    (stored,) = store.load()
    assert (stored.data, stored.revision) == ('{"v": 2}', 2)
    with store.transaction():
        store.update(job_id + 100, RECORD, 1)  # purged meanwhile: left alone
    store.close()


def test_the_schema_is_created_versioned_and_checked(pg_dsn: str) -> None:
    assert status(pg_dsn) == 0
    PostgresStore.open(pg_dsn).close()  # an empty database: created
    assert status(pg_dsn) == LATEST
    assert upgrade(pg_dsn) == (LATEST, LATEST)
    with psycopg.connect(pg_dsn, autocommit=True) as db:
        db.execute("UPDATE schema_version SET version = 0")
    with pytest.raises(SchemaTooOld, match="lpd-ipp-gateway db upgrade"):
        PostgresStore.open(pg_dsn)


def test_the_password_is_never_shown() -> None:
    assert redact("postgresql://gw:s3cret@db:5432/print") == "postgresql://gw:***@db:5432/print"


def test_sessions_commit_synchronously(pg_dsn: str) -> None:
    store = PostgresStore.open(pg_dsn)
    conn = store._main.get()
    assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    store.close()


# ----------------------------------------------------------------------
# Two gateways on one store


async def test_a_job_submitted_on_one_gateway_reaches_the_other(
    tmp_path: Path, pg_dsn: str
) -> None:
    with trio.fail_after(20):
        async with (
            gateway(tmp_path, pg_dsn, "a") as a,
            gateway(tmp_path, pg_dsn, "b", follow=True) as b,
        ):
            arrived = heard(b, lambda job, old: old is None)
            job = await spool_job(a)
            await arrived.wait()
            there = b.get(job.id)
            assert there is not None and there.state == JobState.PENDING
            assert b.document_path(there.documents[0]).read_bytes() == b"hello, printer\n"
            assert list(b.pending_ids("lp")) == [job.id]

            canceled = heard(a, lambda job, old: job.state == JobState.CANCELED)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(a.follow, 0.2)
                await b.cancel(job.id)
                await canceled.wait()
                nursery.cancel_scope.cancel()
            got = a.get(job.id)
            assert got is not None and got.state == JobState.CANCELED


async def test_ids_are_shared_and_in_order_on_every_gateway(tmp_path: Path, pg_dsn: str) -> None:
    with trio.fail_after(20):
        async with gateway(tmp_path, pg_dsn, "a") as a, gateway(tmp_path, pg_dsn, "b") as b:
            made = [await spool_job(a), await spool_job(b), await spool_job(a)]
            await a.catch_up()
            await b.catch_up()
            ids = [j.id for j in made]
            assert ids == sorted(ids)
            assert [j.id for j in a.jobs()] == ids == [j.id for j in b.jobs()]


async def test_a_missed_notification_is_made_up_by_polling(tmp_path: Path, pg_dsn: str) -> None:
    deaf = PostgresStore.open(pg_dsn)
    deaf._listener = _Link(pg_dsn, None, listen=True, channel=CHANNEL + "_nobody")
    with trio.fail_after(20):
        async with (
            gateway(tmp_path, pg_dsn, "a") as a,
            gateway(tmp_path, pg_dsn, "b", follow=True, store=deaf) as b,
        ):
            arrived = heard(b, lambda job, old: old is None)
            job = await spool_job(a)
            await arrived.wait()
            assert b.get(job.id) is not None


async def test_a_conflicting_change_is_built_again_on_the_other_gateways_version(
    tmp_path: Path, pg_dsn: str
) -> None:
    with trio.fail_after(20):
        async with gateway(tmp_path, pg_dsn, "a") as a, gateway(tmp_path, pg_dsn, "b") as b:
            job = await spool_job(a)
            await b.catch_up()
            await b.cancel(job.id)  # a has not heard of it
            told = heard(a, lambda j, old: j.state == JobState.CANCELED)
            # a tries to start forwarding it, on the version it has: a conflict; the
            # change is built again on b's version, where it no longer applies.
            await spool_job(a)
            taken = await a.transition_if(job.id, {JobState.PENDING}, JobState.PROCESSING)
            assert taken is None
            assert told.is_set()
            got = a.get(job.id)
            assert got is not None and got.state == JobState.CANCELED
            store = PostgresStore.open(pg_dsn)
            (row,) = [s for s in store.load() if s.id == job.id]
            store.close()
            assert row.revision == 2  # b's cancel, and nothing of a's on top
            assert len(list(a.jobs())) == 2


async def test_a_conflict_fails_only_its_own_write_in_a_batch(pg_dsn: str) -> None:
    store = PostgresStore.open(pg_dsn)
    with store.transaction():
        job_id = store.insert("a", RECORD)
    with store.transaction():
        store.update(job_id, RECORD, 1)  # another gateway's change: revision 2
    commits: GroupCommit[PostgresStore] = GroupCommit(
        store, trio.CapacityLimiter(1), store.transaction
    )
    stale: Write[PostgresStore] = Write(lambda s: s.update(job_id, RECORD, 1), lambda _: None)
    dependent: Write[PostgresStore] = Write(
        lambda s: s.update(job_id, RECORD, 2), lambda _: None, after=stale
    )
    fresh: Write[PostgresStore] = Write(lambda s: s.insert("b", RECORD), lambda _: None)
    results: dict[str, BaseException | object] = {}

    async def run(name: str, write: Write[PostgresStore]) -> None:
        try:
            results[name] = await commits.write(write)
        except CommitFailed as exc:
            results[name] = exc

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:  # queued in this order
            for name, write in (("first", fresh), ("stale", stale), ("dep", dependent)):
                nursery.start_soon(run, name, write)
                await wait_all_tasks_blocked()
    assert commits.batches <= 2
    assert isinstance(results["stale"], CommitFailed) and results["stale"].conflict == job_id
    assert isinstance(results["dep"], CommitFailed) and results["dep"].dependent
    assert isinstance(results["first"], int)
    assert sorted(j.id for j in store.load()) == [job_id, results["first"]]
    assert {j.id: j.revision for j in store.load()}[job_id] == 2
    store.close()


async def test_purges_and_meta_reach_the_other_gateway(tmp_path: Path, pg_dsn: str) -> None:
    with trio.fail_after(20):
        async with gateway(tmp_path, pg_dsn, "a") as a, gateway(tmp_path, pg_dsn, "b") as b:
            seen: list[tuple[str, str]] = []
            b.add_meta_listener(lambda key, value: seen.append((key, value)))
            job = await spool_job(a)
            await a.cancel(job.id)
            await b.catch_up()
            a.history_max_jobs = 0
            assert await a.purge() == [job.id]
            await a.set_meta("admin.queue.lp", '{"paused": true}')
            await b.catch_up()
            assert b.get(job.id) is None
            assert seen == [("admin.queue.lp", '{"paused": true}')]
            assert await b.get_meta("admin.queue.lp") == '{"paused": true}'


async def test_only_the_lease_holder_requeues_jobs_being_forwarded(
    tmp_path: Path, pg_dsn: str
) -> None:
    with trio.fail_after(20):
        async with gateway(tmp_path, pg_dsn, "a") as a:
            job = await spool_job(a)
            await a.transition(job.id, JobState.PROCESSING)
        async with gateway(tmp_path, pg_dsn, "b") as b:
            still = b.get(job.id)
            assert still is not None and still.state == JobState.PROCESSING  # not at open
            (requeued,) = await b.requeue_forwarding("lp")
            assert requeued.id == job.id and requeued.state == JobState.PENDING
            assert await b.requeue_forwarding("lp") == []


async def test_an_outage_fails_commits_then_the_store_reconnects(tmp_path: Path) -> None:
    cluster = await trio.to_thread.run_sync(PgCluster.start)
    try:
        dsn = await trio.to_thread.run_sync(cluster.create_database)
        with trio.fail_after(60):
            async with gateway(tmp_path, dsn, "a") as a:
                kept = await spool_job(a)
                await trio.to_thread.run_sync(cluster.pause)
                with pytest.raises(SpoolError, match="job store"):
                    await spool_job(a)
                with pytest.raises(SpoolError, match="unreachable"):
                    await spool_job(a)  # within the back-off: at once, without a connect
                await trio.to_thread.run_sync(cluster.resume)
                while True:  # the back-off lets a reconnection through within a second
                    try:
                        again = await spool_job(a)
                        break
                    except SpoolError as exc:
                        assert "unreachable" in str(exc)
                        await trio.sleep(0.1)
                assert again.id > kept.id
        store = PostgresStore.open(dsn)
        assert [s.id for s in store.load()] == [kept.id, again.id]
        store.close()
    finally:
        await trio.to_thread.run_sync(cluster.stop)


def test_a_store_that_cannot_be_reached_says_so(pg_cluster: PgCluster) -> None:
    with pytest.raises(StoreError, match="unreachable"):
        PostgresStore.open(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x")


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_pause_on_one_gateway_pauses_the_queue_on_the_other(
    tmp_path: Path, pg_dsn: str
) -> None:
    out = (tmp_path / "out").as_uri()
    make = functools.partial(
        backends.create, context=backends.BackendContext("testhost", tmp_path / "a")
    )
    with trio.fail_after(20):
        async with gateway(tmp_path, pg_dsn, "a") as a, gateway(tmp_path, pg_dsn, "b") as b:
            made_a = [Queue(QueueConfig("lp", out), FileBackend(out))]
            made_b = [Queue(QueueConfig("lp", out), FileBackend(out))]
            queues_a = await Queues.restore(a, made_a, make)
            queues_b = await Queues.restore(b, made_b, make)
            lp_a, lp_b = queues_a.get("lp"), queues_b.get("lp")
            assert lp_a is not None and lp_b is not None and lp_b.enabled
            await queues_a.set_switches([(lp_a, Switches(enabled=False, accepting=True))])
            await b.catch_up()
            assert not lp_b.enabled and lp_b.accepting
            await queues_a.set_switches([(lp_a, Switches(enabled=True, accepting=True))])
            await b.catch_up()
            assert lp_b.enabled
            for queue in (*made_a, *made_b):
                await queue.backend.aclose()
