"""The storage seam: the SQLite store keeps the `JobStore` promises, records
round-trip, and the Spool runs over another store (here one in memory, as a
PostgreSQL store would stand in) without knowing which."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from gateway.core.job import Document, Frontend, Job, JobState, Origin
from gateway.core.spool import JobStore, NoSpace, Record, Spool, SQLiteStore, StoredJob
from gateway.core.spool.records import from_record, to_record
from gateway.core.spool.store import StoreError
from tests.helpers import spool_job

ORIGIN = Origin(Frontend.LPD, peer="10.0.0.1", host="h", user="u", lpd_control_file="cfA001h")


def record(name: str, state: JobState = JobState.PENDING) -> Record:
    return Record("lp", int(state), f'{{"name": "{name}"}}')


# ----------------------------------------------------------------------
# The SQLite store


def test_sqlite_ids_increase_and_are_never_reused(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "spool.db")
    with store.transaction():
        first = store.insert("a", record("a"))
        second = store.insert("b", record("b"))
    with store.transaction():
        store.delete([second])
    store.close()
    store = SQLiteStore.open(tmp_path / "spool.db")
    with store.transaction():
        third = store.insert("c", record("c"))
    assert 0 < first < second < third
    assert store.load() == [
        StoredJob(first, "a", record("a").data),
        StoredJob(third, "c", record("c").data),
    ]
    store.close()


def test_sqlite_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "spool.db")
    with store.transaction():
        kept = store.insert("a", record("a"))
    with pytest.raises(KeyError), store.transaction():
        store.update(kept, record("changed", JobState.CANCELED))
        store.insert("b", record("b"))
        raise KeyError("the batch failed")
    with store.transaction():
        store.update(9999, record("nobody"))  # purged meanwhile: no error
    assert store.load() == [StoredJob(kept, "a", record("a").data)]
    store.close()


def test_sqlite_errors_are_store_errors(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "spool.db")
    with pytest.raises(StoreError) as failed, store.transaction():
        store.insert("a", Record("lp", 3, None))  # type: ignore[arg-type]
    assert not failed.value.no_space
    assert store.load() == []
    store.close()


def test_sqlite_meta(tmp_path: Path) -> None:
    store = SQLiteStore.open(tmp_path / "spool.db")
    assert store.get_meta("seed") is None
    with store.transaction():
        store.set_meta("seed", "one")
    with store.transaction():
        store.set_meta("seed", "two")
    store.close()
    store = SQLiteStore.open(tmp_path / "spool.db")
    assert store.get_meta("seed") == "two"
    store.close()


# ----------------------------------------------------------------------
# Records


def test_record_round_trip() -> None:
    job = Job(
        id=0,
        queue="office",
        state=JobState.PROCESSING_STOPPED,
        attributes={"job-name": "report", "copies": 2, "media": ["a4"]},
        documents=(Document(1, "jobs/x/doc-1", "application/pdf", 10, "ab", "r.pdf", {"k": 1}),),
        origin=ORIGIN,
        state_reasons=("printer-stopped",),
        state_message="stopped",
        created=1.5,
        processing=2.5,
        updated=3.5,
        backend_job_id="42",
        attempts=2,
        not_before=4.5,
        cancel_requested=True,
        impressions_completed=7,
    )
    stored = to_record(job)
    assert (stored.queue, stored.state) == ("office", int(JobState.PROCESSING_STOPPED))
    assert from_record(12, stored.data) == job.evolve(id=12)


def test_old_record_without_optional_fields_loads() -> None:
    job = from_record(3, '{"queue": "lp", "state": 9, "attributes": {}, "documents": []}')
    assert job.state == JobState.COMPLETED and job.origin.frontend == Frontend.API
    assert (job.state_reasons, job.attempts, job.completed) == (("none",), 0, None)


# ----------------------------------------------------------------------
# The Spool over another store


class MemoryStore:
    """A `JobStore` in a dict, with transactions that roll back."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, Record]] = {}
        self.meta: dict[str, str] = {}
        self.last_id = 0
        self.transactions = 0
        self.closed = False

    def load(self) -> list[StoredJob]:
        return [StoredJob(i, f, r.data) for i, (f, r) in sorted(self.rows.items())]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        saved = copy.copy(self.rows), copy.copy(self.meta), self.last_id
        try:
            yield
        except BaseException:
            self.rows, self.meta, self.last_id = saved
            raise
        self.transactions += 1

    def insert(self, folder: str, record: Record) -> int:
        self.last_id += 1
        self.rows[self.last_id] = (folder, record)
        return self.last_id

    def update(self, job_id: int, record: Record) -> None:
        if job_id in self.rows:
            self.rows[job_id] = (self.rows[job_id][0], record)

    def delete(self, job_ids: Sequence[int]) -> None:
        for job_id in job_ids:
            self.rows.pop(job_id, None)

    def get_meta(self, key: str) -> str | None:
        return self.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self.meta[key] = value

    def close(self) -> None:
        self.closed = True


async def test_spool_runs_over_another_store(tmp_path: Path) -> None:
    store = MemoryStore()
    typed: JobStore = store
    spool = await Spool.open(tmp_path / "spool", store=typed, history_max_jobs=0)
    a = await spool_job(spool)
    b = await spool_job(spool, queue="office")
    await spool.transition(b.id, JobState.PROCESSING)
    await spool.cancel(a.id)
    await spool.set_meta("seed", "s1")
    assert await spool.get_meta("seed") == "s1"
    assert not (tmp_path / "spool" / "spool.db").exists()
    await spool.aclose()
    assert store.closed and store.transactions >= 5

    store.closed = False
    again = await Spool.open(tmp_path / "spool", store=store, history_max_jobs=0)
    moved = again.get(b.id)
    assert moved is not None and moved.state == JobState.PENDING  # requeued after a restart
    assert again.next_pending("office") == moved
    canceled = again.get(a.id)
    assert canceled is not None and canceled.state == JobState.CANCELED
    assert again.document_path(canceled.documents[0]).exists()
    assert await again.purge() == [a.id]
    assert sorted(store.rows) == [b.id]
    assert not again.document_path(canceled.documents[0]).exists()
    c = await spool_job(again)
    assert c.id > b.id
    await again.aclose()


async def test_spool_reports_a_failed_store_transaction(tmp_path: Path) -> None:
    class Full(MemoryStore):
        def insert(self, folder: str, record: Record) -> int:
            raise StoreError("database or disk is full", no_space=True)

    spool = await Spool.open(tmp_path / "spool", store=Full())
    with pytest.raises(NoSpace, match="no space"):
        await spool_job(spool)
    assert list(spool.jobs()) == []
    await spool.aclose()
