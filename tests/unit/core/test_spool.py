"""The spool: durable jobs, ids that are never reused, recovery, retention."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import trio

from gateway.core.job import IllegalTransition, JobState
from gateway.core.spool import BUFFER_SIZE, JobNotFound, NewDocument, NoSpace, NotPossible, Spool
from tests.helpers import spool_job


async def test_submitted_job_is_readable_with_documents(spool: Spool) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 100
    job = await spool_job(spool, [(data, "application/pdf", "report.pdf")])
    assert job.id >= 1
    assert job.state == JobState.PENDING
    (doc,) = job.documents
    assert doc.size == len(data)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert spool.document_path(doc).read_bytes() == data
    assert spool.get(job.id) == job
    assert job.attributes["job-uuid"].startswith("urn:uuid:")


async def test_job_ids_increase_and_survive_restart_and_purge(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    spool = await Spool.open(root, history_max_jobs=1, history_max_age=1e9)
    ids = [(await spool_job(spool)).id for _ in range(3)]
    for job_id in ids:
        await spool.cancel(job_id)
    assert len(await spool.purge()) == 2
    await spool.aclose()
    spool = await Spool.open(root)
    later = (await spool_job(spool)).id
    await spool.aclose()
    assert ids == sorted(ids)
    assert later > max(ids)


@pytest.mark.sqlite_only
async def test_record_is_durable_in_sqlite(spool: Spool) -> None:
    job = await spool_job(spool)
    db = sqlite3.connect(spool.root / "spool.db")
    (row,) = db.execute("SELECT id, queue, state, data FROM jobs").fetchall()
    db.close()
    assert row[0] == job.id and row[1] == "lp" and row[2] == int(JobState.PENDING)
    assert json.loads(row[3])["attributes"]["requesting-user-name"] == "alice"


@pytest.mark.sqlite_only
async def test_unfinished_folders_are_removed_on_open(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    spool = await Spool.open(root)
    kept = await spool_job(spool)
    folder = spool.new_folder()  # a job being received when the gateway died
    writer = folder.document()
    await writer.__aenter__()
    await writer.write(b"half a job" * BUFFER_SIZE)  # past the buffer: on disk
    await spool.aclose()
    assert folder.path.exists()
    spool = await Spool.open(root)
    assert not folder.path.exists()
    assert spool.document_path(kept.documents[0]).exists()
    await spool.aclose()


@pytest.mark.sqlite_only
async def test_job_in_flight_without_backend_id_is_requeued(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    spool = await Spool.open(root)
    a = await spool_job(spool)
    b = await spool_job(spool)
    await spool.transition(a.id, JobState.PROCESSING)
    await spool.transition(b.id, JobState.PROCESSING)
    await spool.update(b.id, backend_job_id="77")
    await spool.aclose()
    spool = await Spool.open(root)
    assert spool.get(a.id).state == JobState.PENDING  # type: ignore[union-attr]
    assert spool.get(b.id).state == JobState.PROCESSING  # type: ignore[union-attr]
    assert spool.next_pending("lp").id == a.id  # type: ignore[union-attr]
    await spool.aclose()


async def test_illegal_transition_raises_and_changes_nothing(spool: Spool) -> None:
    job = await spool_job(spool)
    with pytest.raises(IllegalTransition):
        await spool.transition(job.id, JobState.COMPLETED)
    assert spool.get(job.id).state == JobState.PENDING  # type: ignore[union-attr]


async def test_cancel(spool: Spool) -> None:
    pending = await spool_job(spool)
    sent = await spool_job(spool)
    await spool.transition(sent.id, JobState.PROCESSING)
    canceled = await spool.cancel(pending.id)
    assert canceled.state == JobState.CANCELED and not canceled.cancel_requested
    assert canceled.completed is not None
    forwarded = await spool.cancel(sent.id)
    assert forwarded.state == JobState.CANCELED and forwarded.cancel_requested
    with pytest.raises(NotPossible):
        await spool.cancel(pending.id)
    with pytest.raises(JobNotFound):
        await spool.cancel(9999)


async def test_retention_by_age_removes_files(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "s", history_max_jobs=100, history_max_age=60)
    old = await spool_job(spool)
    await spool.cancel(old.id)
    path = spool.document_path(old.documents[0])
    live = await spool_job(spool)
    done = spool.get(old.id)
    assert done is not None and done.completed is not None
    assert await spool.purge(now=done.completed + 30) == []
    assert await spool.purge(now=done.completed + 61) == [old.id]
    assert spool.get(old.id) is None and not path.exists()
    assert spool.get(live.id) is not None  # active jobs are never purged
    await spool.aclose()


async def test_create_job_then_documents(spool: Spool) -> None:
    job = await spool_job(spool, [])
    job = await spool.update(job.id, incoming=True)
    assert spool.next_pending("lp") is None  # not forwarded while incoming
    folder = spool.folder_of(job.id)
    async with folder.document() as writer:
        await writer.write(b"page one")
        staged = await writer.finish()
    job = await spool.add_document(job.id, NewDocument(staged, "text/plain", "one"), last=True)
    assert not job.incoming and [d.number for d in job.documents] == [1]
    assert spool.next_pending("lp") == job
    with pytest.raises(NotPossible):
        await spool.add_document(job.id, NewDocument(staged, "text/plain"), last=True)


async def test_incoming_job_expires(spool: Spool) -> None:
    empty = await spool_job(spool, [])
    await spool.update(empty.id, incoming=True)
    with_doc = await spool_job(spool)
    await spool.update(with_doc.id, incoming=True)
    expired = await spool.expire_incoming(idle=10, now=with_doc.created + 11)
    states = {j.id: j.state for j in expired}
    assert states == {empty.id: JobState.ABORTED, with_doc.id: JobState.PENDING}


async def test_size_limit_gives_no_space(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "s", max_job_size=10)
    assert spool.has_room(10) and not spool.has_room(11)
    with pytest.raises(NoSpace, match="limit"):
        spool.check_room(11)
    folder = spool.new_folder()
    with pytest.raises(NoSpace):
        async with folder.document() as writer:
            await writer.write(b"x" * 8)
            await writer.write(b"x" * 8)
    assert not list(folder.path.glob("doc-*"))
    await spool.aclose()


async def test_listener_sees_every_change(spool: Spool) -> None:
    seen: list[tuple[int, JobState, JobState | None]] = []
    spool.add_listener(lambda job, old: seen.append((job.id, job.state, old and old.state)))
    job = await spool_job(spool)
    await spool.transition(job.id, JobState.PROCESSING)
    assert seen == [
        (job.id, JobState.PENDING, None),
        (job.id, JobState.PROCESSING, JobState.PENDING),
    ]


async def test_concurrent_submits_get_distinct_ids(spool: Spool) -> None:
    ids: list[int] = []

    async def one() -> None:
        ids.append((await spool_job(spool)).id)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(one)
    assert len(set(ids)) == 20
