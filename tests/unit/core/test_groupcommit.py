"""Group commit of spool writes: grouping, publish order, failures that stay
contained, fsync before commit, buffered documents, and the id-ordered indexes.

Concurrency is made deterministic without sleeps: a change issued by a task
runs synchronously up to its first checkpoint, so "issued" is recorded right
before the call; a `GroupCommit` is held up by holding its capacity limiter
(the database thread) while other writes queue behind the leader.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.spool import (
    BUFFER_SIZE,
    CHUNK_SIZE,
    JOBS_DIR,
    SYNC_ON_FINISH,
    JobFolder,
    NewDocument,
    NotPossible,
    Spool,
    SpoolError,
)
from gateway.core.spool.groupcommit import CommitFailed, GroupCommit, Write
from tests import pgcluster
from tests.helpers import spool_job

ORIGIN = Origin(Frontend.API, peer="127.0.0.1", host="client.example", user="alice")


# ----------------------------------------------------------------------
# Helpers


@asynccontextmanager
async def reopened(spool: Spool, **options: Any) -> AsyncIterator[Spool]:
    """Close ``spool`` and open its root again (the recovery path)."""
    await spool.aclose()
    again = await Spool.open(spool.root, **options)
    try:
        yield again
    finally:
        await again.aclose()


def rows_on_disk(root: Path) -> dict[int, dict[str, Any]]:
    """Every committed job row, read with a connection of its own."""
    if pgcluster.selected_store() == "postgresql":
        return {i: json.loads(data) for i, data in pgcluster.rows(pgcluster.database_for(root))}
    with closing(sqlite3.connect(root / "spool.db")) as db:
        rows = db.execute("SELECT id, data FROM jobs ORDER BY id").fetchall()
    return {job_id: json.loads(data) for job_id, data in rows}


async def stage(spool: Spool, data: bytes, folder: JobFolder | None = None) -> NewDocument:
    """Write one document into ``folder`` (a new one by default), not yet a job."""
    folder = folder or spool.new_folder()
    async with folder.document() as writer:
        for i in range(0, len(data), CHUNK_SIZE):
            await writer.write(data[i : i + CHUNK_SIZE])
        staged = await writer.finish()
    return NewDocument(staged, "text/plain", "doc.txt")


async def submit(spool: Spool, folder: JobFolder, docs: Sequence[NewDocument]) -> Job:
    return await spool.submit("lp", {"job-name": "j"}, docs, ORIGIN, folder=folder)


def real(path: Path | str) -> str:
    return os.path.realpath(path)


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths passed to os.fsync (by any module), in call order."""
    paths: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return paths


class Recorder:
    """Writes for a bare `GroupCommit` on table ``t``, logging publish and undo."""

    def __init__(self, tmp_path: Path) -> None:
        self.db = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
        self.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        self.limiter = trio.CapacityLimiter(1)
        self.commits = GroupCommit(self.db, self.limiter)
        self.events: list[str] = []
        self.outcomes: dict[str, object] = {}
        self.finished: dict[str, trio.Event] = {}

    def write(
        self,
        name: str,
        *,
        sync: Sequence[str] = (),
        apply: Callable[[sqlite3.Connection], Any] | None = None,
    ) -> Write:
        def insert(db: sqlite3.Connection) -> int | None:
            return db.execute("INSERT INTO t (v) VALUES (?)", (name,)).lastrowid

        return Write(
            apply=apply or insert,
            publish=lambda result: self.events.append(f"publish {name}"),
            undo=lambda: self.events.append(f"undo {name}"),
            sync=sync,
        )

    async def run(self, name: str, write: Write) -> None:
        self.finished[name] = done = trio.Event()
        try:
            self.outcomes[name] = await self.commits.write(write)
        except CommitFailed as exc:
            self.outcomes[name] = exc
        finally:
            done.set()

    async def queue(self, nursery: trio.Nursery, name: str, write: Write) -> None:
        """Start a task that writes, and return once it waits (leads or is queued)."""
        nursery.start_soon(self.run, name, write)
        await wait_all_tasks_blocked()

    def rows(self) -> list[str]:
        return [v for (v,) in self.db.execute("SELECT v FROM t ORDER BY id")]


# ----------------------------------------------------------------------
# 1. Grouping


async def test_concurrent_submits_are_grouped_and_all_durable(tmp_path: Path) -> None:
    """20 concurrent submits get distinct ids, published in increasing order, share
    fewer transactions than they are, and are all found again after reopening."""
    spool = await Spool.open(tmp_path / "spool")
    published: list[int] = []
    spool.add_listener(lambda job, old: published.append(job.id) if old is None else None)
    jobs: list[Job] = []

    async def one() -> None:
        jobs.append(await spool_job(spool))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(one)
        batches, writes = spool.commit_stats
        ids = sorted(job.id for job in jobs)
        assert ids == list(range(1, 21))
        assert published == ids  # publish follows commit order, which is id order
        assert writes == 20
        assert batches < writes, f"{writes} submits took {batches} transactions"
        assert [job.id for job in spool.jobs()] == ids
        assert sorted(rows_on_disk(spool.root)) == ids
        async with reopened(spool) as again:
            assert list(again.jobs()) == sorted(jobs, key=lambda job: job.id)


# ----------------------------------------------------------------------
# 2. Publish order


async def test_in_flight_changes_of_one_job_are_published_in_order(spool: Spool) -> None:
    """Changes of one job issued back to back (the later ones while the first is
    being committed) reach listeners in the order they were issued, each with the
    previous change as ``old``; the final job is the one read back after reopening."""
    with trio.fail_after(10):
        job = await spool_job(spool)
        seen: list[tuple[Job, Job | None]] = []
        spool.add_listener(lambda new, old: seen.append((new, old)))
        issued: list[str] = []
        before = spool.commit_stats

        async def change(name: str, call: Callable[[], Awaitable[Job]]) -> None:
            issued.append(name)  # no checkpoint before the change is validated and queued
            await call()

        changes: list[tuple[str, Callable[[], Awaitable[Job]]]] = [
            ("t", lambda: spool.transition(job.id, JobState.PROCESSING, message="t")),
            ("u1", lambda: spool.update(job.id, backend_job_id="42", state_message="u1")),
            ("u2", lambda: spool.update(job.id, impressions_completed=3, state_message="u2")),
        ]
        async with trio.open_nursery() as nursery:
            for name, call in changes:
                nursery.start_soon(change, name, call)
        batches = spool.commit_stats[0] - before[0]
        writes = spool.commit_stats[1] - before[1]
        assert writes == 3 and batches < 3  # the later changes were queued behind the first

        assert [new.state_message for new, _ in seen] == issued
        olds = [old for _, old in seen]
        assert olds == [job] + [new for new, _ in seen[:-1]]
        final = spool.get(job.id)
        assert final == seen[-1][0]
        assert final is not None
        assert final.state == JobState.PROCESSING and final.processing is not None
        assert final.backend_job_id == "42" and final.impressions_completed == 3
        async with reopened(spool) as again:
            assert again.get(job.id) == final


# ----------------------------------------------------------------------
# 3. transition_if against an in-flight cancel


@pytest.mark.parametrize("target", [JobState.PROCESSING, JobState.ABORTED])
@pytest.mark.parametrize("first", ["cancel", "transition_if"])
async def test_transition_if_and_cancel_in_flight(
    spool: Spool, first: str, target: JobState
) -> None:
    """A cancel and a transition_if(PENDING -> target), the second issued while the
    first is still being committed: the second sees the first's result. A cancel
    first wins (transition_if gives None); a transition to a terminal state first
    wins (cancel gives NotPossible); after a transition to PROCESSING the cancel
    goes on and asks for the backend job to be cancelled too. The disk agrees."""
    with trio.fail_after(10):
        job = await spool_job(spool)
        results: dict[str, Job | NotPossible | None] = {}
        committed_when_second_issued: list[JobState] = []

        async def cancel() -> None:
            try:
                results["cancel"] = await spool.cancel(job.id)
            except NotPossible as exc:
                results["cancel"] = exc

        async def transition_if() -> None:
            results["transition_if"] = await spool.transition_if(
                job.id, {JobState.PENDING}, target, backend_job_id="7"
            )

        calls = {"cancel": cancel, "transition_if": transition_if}
        second_name = "transition_if" if first == "cancel" else "cancel"
        first_issued = trio.Event()

        async def run_first() -> None:
            first_issued.set()  # wakes the second, which runs after this one has queued
            await calls[first]()

        async def run_second() -> None:
            await first_issued.wait()
            committed = spool.get(job.id)
            assert committed is not None
            committed_when_second_issued.append(committed.state)
            await calls[second_name]()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_second)
            nursery.start_soon(run_first)

        assert committed_when_second_issued == [JobState.PENDING]  # the first was in flight
        final = spool.get(job.id)
        assert final is not None
        disk = rows_on_disk(spool.root)[job.id]
        assert disk["state"] == int(final.state)
        assert disk["cancel_requested"] == final.cancel_requested

        moved = results["transition_if"]
        canceled = results["cancel"]
        if first == "cancel":
            assert isinstance(canceled, Job) and canceled.state == JobState.CANCELED
            assert moved is None
            assert final == canceled and not final.cancel_requested
            assert disk["processing"] is None and disk["backend_job_id"] is None
        elif target == JobState.ABORTED:
            assert isinstance(moved, Job) and moved.state == JobState.ABORTED
            assert isinstance(canceled, NotPossible)
            assert final == moved
        else:
            assert isinstance(moved, Job) and moved.state == JobState.PROCESSING
            assert isinstance(canceled, Job) and canceled.state == JobState.CANCELED
            assert final == canceled and final.cancel_requested
            assert disk["backend_job_id"] == "7" and disk["processing"] is not None


async def test_change_built_on_a_failed_change_does_not_commit_it(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Send-Document whose file cannot be fsync'ed fails; a cancel issued while it
    was in flight must not commit that document as part of the job anyway."""
    with trio.fail_after(10):
        job = await spool_job(spool, [])
        job = await spool.update(job.id, incoming=True)
        doc = await stage(spool, b"page one", spool.folder_of(job.id))
        broken = real(spool.root / doc.staged.path)
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}") == broken:
                raise OSError(errno.EIO, "Input/output error")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        outcome: dict[str, object] = {}
        add_issued = trio.Event()

        async def add() -> None:
            add_issued.set()
            try:
                outcome["add"] = await spool.add_document(job.id, doc, last=True)
            except SpoolError as exc:
                outcome["add"] = exc

        async def cancel() -> None:
            await add_issued.wait()
            outcome["cancel"] = await spool.cancel(job.id)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel)
            nursery.start_soon(add)

        assert isinstance(outcome["add"], SpoolError)  # the client is told it failed
        final = spool.get(job.id)
        assert final is not None and final.state == JobState.CANCELED
        assert final.documents == (), "a document whose Send-Document failed is in the job"
        assert rows_on_disk(spool.root)[job.id]["documents"] == []


# ----------------------------------------------------------------------
# 4. GroupCommit failures


async def test_write_whose_path_cannot_be_fsynced_fails_alone(tmp_path: Path) -> None:
    """In one batch, a write naming a missing path gets CommitFailed and its undo
    runs (not its publish); the other write commits and is published."""
    rec = Recorder(tmp_path)
    with trio.fail_after(10):
        # Holding the limiter keeps the leader waiting for the database thread.
        async with trio.open_nursery() as nursery, rec.limiter:
            await rec.queue(nursery, "lead", rec.write("lead"))
            bad = rec.write("bad", sync=[str(tmp_path / "missing")])
            good = rec.write("good", sync=[str(tmp_path)])
            nursery.start_soon(rec.run, "bad", bad)  # both queue behind the leader
            nursery.start_soon(rec.run, "good", good)
            await wait_all_tasks_blocked()
    failure = rec.outcomes["bad"]
    assert isinstance(failure, CommitFailed) and not failure.no_space
    assert isinstance(rec.outcomes["good"], int)
    assert "undo bad" in rec.events and "publish bad" not in rec.events
    assert {"publish lead", "publish good"} <= set(rec.events)
    assert "undo good" not in rec.events
    assert rec.rows() == ["lead", "good"]
    assert (rec.commits.batches, rec.commits.writes) == (2, 2)


async def test_database_error_fails_the_whole_batch(tmp_path: Path) -> None:
    """A write whose apply raises sqlite3.OperationalError fails every write of its
    batch, each undone and none published, and the transaction is rolled back;
    the next write commits as usual."""
    rec = Recorder(tmp_path)

    def broken(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO nowhere (v) VALUES ('x')")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery, rec.limiter:
            await rec.queue(nursery, "lead", rec.write("lead"))
            await rec.queue(nursery, "one", rec.write("one"))  # applied, then rolled back
            await rec.queue(nursery, "bad", rec.write("bad", apply=broken))
            await rec.queue(nursery, "two", rec.write("two"))
        assert rec.rows() == ["lead"]
        assert not rec.db.in_transaction
        for name in ("one", "bad", "two"):
            assert isinstance(rec.outcomes[name], CommitFailed), name
            assert f"undo {name}" in rec.events and f"publish {name}" not in rec.events
        await rec.run("after", rec.write("after"))
    assert rec.rows() == ["lead", "after"]
    assert rec.events[-1] == "publish after"


async def test_wait_idle_returns_when_the_last_batch_is_done(tmp_path: Path) -> None:
    """wait_idle(), called while one batch commits and another is queued behind
    it, returns once both are committed (Spool.aclose relies on it, shielded)."""
    rec = Recorder(tmp_path)
    idle = trio.Event()

    async def wait_idle() -> None:
        await rec.commits.wait_idle()
        idle.set()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async with rec.limiter:
                await rec.queue(nursery, "first", rec.write("first"))
                await rec.queue(nursery, "second", rec.write("second"))
                nursery.start_soon(wait_idle)
                await wait_all_tasks_blocked()
                assert not idle.is_set()
            await rec.finished["first"].wait()
            await rec.finished["second"].wait()
            await wait_all_tasks_blocked()  # let a woken wait_idle() return
            returned = idle.is_set()
            nursery.cancel_scope.cancel()
    assert rec.rows() == ["first", "second"]
    assert rec.commits.batches == 2
    assert returned, "wait_idle() still waits though both batches are committed"


# ----------------------------------------------------------------------
# 5. fsync before commit


async def test_submit_fsyncs_document_folder_and_jobs_before_commit(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Submitting a job with a small document fsyncs the document, its folder and
    jobs/ (files first), while the job's row is not yet committed."""
    db_path = spool.root / "spool.db"
    calls: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if pgcluster.selected_store() == "postgresql":
            rows = len(pgcluster.rows(pgcluster.database_for(spool.root)))
        else:
            with closing(sqlite3.connect(db_path)) as db:
                (rows,) = db.execute("SELECT count(*) FROM jobs").fetchone()
        calls.append((os.readlink(f"/proc/self/fd/{fd}"), rows))
        real_fsync(fd)

    with trio.fail_after(10):
        folder = spool.new_folder()
        doc = await stage(spool, b"small", folder)
        monkeypatch.setattr(os, "fsync", fsync)
        await submit(spool, folder, [doc])
    expected = [spool.root / doc.staged.path, folder.path, spool.root / JOBS_DIR]
    assert calls == [(real(path), 0) for path in expected]
    assert len(rows_on_disk(spool.root)) == 1


async def test_jobs_folder_is_fsynced_once_per_transaction(
    spool: Spool, fsynced: list[str]
) -> None:
    """Concurrent submits share transactions, and each transaction fsyncs jobs/
    once however many new jobs it carries; each document and folder once."""
    with trio.fail_after(10):
        staged = []
        for i in range(8):
            folder = spool.new_folder()
            staged.append((folder, await stage(spool, b"doc %d" % i, folder)))
        fsynced.clear()
        async with trio.open_nursery() as nursery:
            for folder, doc in staged:
                nursery.start_soon(submit, spool, folder, [doc])
    batches, writes = spool.commit_stats
    assert writes == 8 and batches < writes
    assert fsynced.count(real(spool.root / JOBS_DIR)) == batches
    for folder, doc in staged:
        assert fsynced.count(real(folder.path)) == 1
        assert fsynced.count(real(spool.root / doc.staged.path)) == 1


# ----------------------------------------------------------------------
# 6. Small and large documents


@pytest.mark.parametrize("size", [0, 1, BUFFER_SIZE])
async def test_small_document_reaches_the_disk_only_at_finish(spool: Spool, size: int) -> None:
    """A document of up to BUFFER_SIZE bytes makes no folder before finish(); its
    StagedFile has the right size and sha256 and is left for the commit to fsync."""
    data = bytes(i % 251 for i in range(size))
    folder = spool.new_folder()
    with trio.fail_after(10):
        async with folder.document() as writer:
            for i in range(0, size, 4096):
                await writer.write(data[i : i + 4096])
            assert not folder.path.exists()
            staged = await writer.finish()
    assert staged.size == size
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert not staged.synced
    assert (spool.root / staged.path).read_bytes() == data


async def test_medium_document_streams_to_disk_unsynced(spool: Spool) -> None:
    """Past BUFFER_SIZE a document streams into its folder before finish(), unhashed
    (sha256 ""; its bytes are all there); up to SYNC_ON_FINISH it is still left for
    the commit to fsync."""
    data = os.urandom(BUFFER_SIZE + 1)
    folder = spool.new_folder()
    with trio.fail_after(10):
        async with folder.document() as writer:
            await writer.write(data[:BUFFER_SIZE])
            assert not folder.path.exists()
            await writer.write(data[BUFFER_SIZE:])
            assert folder.path.is_dir()
            staged = await writer.finish()
    assert (staged.size, staged.sha256) == (len(data), "")
    assert (spool.root / staged.path).read_bytes() == data
    assert not staged.synced


async def test_large_document_is_fsynced_by_finish_not_by_the_commit(
    spool: Spool, fsynced: list[str]
) -> None:
    """A document over SYNC_ON_FINISH is fsync'ed by finish() (StagedFile.synced)
    and the commit then fsyncs only its folder and jobs/."""
    data = os.urandom(SYNC_ON_FINISH + 1)
    folder = spool.new_folder()
    with trio.fail_after(10):
        doc = await stage(spool, data, folder)
        staged = doc.staged
        assert staged.synced
        assert (staged.size, staged.sha256) == (len(data), "")
        assert fsynced == [real(spool.root / staged.path) + ".part"]  # before the rename
        fsynced.clear()
        job = await submit(spool, folder, [doc])
    assert fsynced == [real(folder.path), real(spool.root / JOBS_DIR)]
    assert spool.document_path(job.documents[0]).read_bytes() == data


# ----------------------------------------------------------------------
# 7. Reads: jobs(), active_jobs(), next_pending()


def ids(jobs: Any) -> list[int]:
    return [job.id for job in jobs]


def check_reads(spool: Spool, expect: dict[str, Any]) -> None:
    assert ids(spool.jobs()) == expect["all"]
    assert ids(spool.active_jobs()) == expect["active"]
    for queue in ("a", "b", "none"):
        assert ids(spool.jobs(queue)) == expect["jobs"].get(queue, []), queue
        assert ids(spool.active_jobs(queue)) == expect["active_in"].get(queue, []), queue
        pending = spool.next_pending(queue)
        assert (pending and pending.id) == expect["next"].get(queue), queue
    for job in spool.jobs():
        assert ids(spool.jobs(job.queue)).count(job.id) == 1


async def test_reads_are_in_id_order_per_queue_after_reopen_and_purge(tmp_path: Path) -> None:
    """jobs(), active_jobs() and next_pending() give each queue's jobs in id order
    with ended ones left out where they should be, after changes, a move between
    queues, a reopen (recovery) and a purge of the ended jobs."""
    spool = await Spool.open(tmp_path / "spool")
    with trio.fail_after(10):
        made = [await spool_job(spool, queue=q) for q in "ababab"]  # ids 1..6
        assert ids(made) == [1, 2, 3, 4, 5, 6]
        await spool.cancel(1)
        await spool.cancel(4)
        await spool.transition(3, JobState.PROCESSING, backend_job_id="x")
        await spool.update(5, queue="b")  # lands between 4 and 6 in queue b
        expect: dict[str, Any] = {
            "all": [1, 2, 3, 4, 5, 6],
            "active": [2, 3, 5, 6],
            "jobs": {"a": [1, 3], "b": [2, 4, 5, 6]},
            "active_in": {"a": [3], "b": [2, 5, 6]},
            "next": {"a": None, "b": 2},
        }
        check_reads(spool, expect)
        await spool.transition(2, JobState.PROCESSING)  # b's next is now 5
        await spool.update(2, backend_job_id="y")
        expect["next"] = {"a": None, "b": 5}
        check_reads(spool, expect)

        async with reopened(spool, history_max_jobs=0) as again:
            check_reads(again, expect)
            assert await again.purge() == [1, 4]
            expect |= {
                "all": [2, 3, 5, 6],
                "jobs": {"a": [3], "b": [2, 5, 6]},
            }
            check_reads(again, expect)
            late = await spool_job(again, queue="a")
            assert late.id == 7
            expect["all"].append(7)
            expect["active"].append(7)
            expect["jobs"]["a"].append(7)
            expect["active_in"]["a"].append(7)
            expect["next"]["a"] = 7
            check_reads(again, expect)
            async with reopened(again) as third:
                check_reads(third, expect)


def test_a_failure_told_to_clients_names_no_file() -> None:
    from gateway.core.spool.groupcommit import _failure

    error = OSError(5, "Input/output error", "/srv/spool/jobs/1234/doc-1")
    failed = _failure(error, "cannot write to the spool")
    assert str(failed) == "cannot write to the spool: Input/output error"
    assert "/srv" not in str(failed)
    assert not failed.no_space
