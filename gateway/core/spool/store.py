"""The storage interface of the spool: durable job records, committed in batches.

Why: the `Spool` keeps every job in memory and makes every decision itself (the
change protocol, the lifecycle rules, the indexes). From storage it needs
little: the records at start, one transaction per batch of changes, ids for new
jobs, deletion of purged ones, and a little key/value state. `JobStore` says
exactly that, so that another store (PostgreSQL, shared by several gateways)
can stand in for SQLite (`gateway.core.spool.sqlite`) without a change to the
Spool, the front-ends or the dispatcher.

A store sees records, never jobs: `Record.data` is the JSON text made by
`gateway.core.spool.records`, and ``queue`` and ``state`` are copies of two of
its fields that a store may keep in columns of their own. Document files and
job folders are not the store's business: the spool fsyncs them
(`gateway.core.spool.staging`) before it commits the records that name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    """One job as a store keeps it (made by `records.to_record`)."""

    queue: str
    state: int  # IPP job-state
    data: str  # the whole job as JSON, without its id


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job record as `JobStore.load` gives it back."""

    id: int
    folder: str  # the key of its folder, jobs/<folder>/
    data: str
    revision: int = 0  # how many times the record was written (0: a store without revisions)


class StoreError(Exception):
    """A transaction the store could not commit. ``no_space``: it ran out of
    room (a full disk or quota), which the spool reports as `NoSpace`."""

    def __init__(self, reason: str, *, no_space: bool = False, retry: bool = False) -> None:
        super().__init__(reason)
        self.no_space = no_space
        #: The transaction lost a race with another writer (a deadlock or a
        #: serialization failure) and was rolled back: running it again may succeed.
        self.retry = retry


class StoreConflict(StoreError):
    """An update built on a revision of the record that is no longer the stored
    one (another gateway changed the job meanwhile). Only that one write fails;
    the spool reads the job again (`SharedStore.get`) and builds the change anew."""

    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} was changed by another gateway")
        self.job_id = job_id


@dataclass(frozen=True, slots=True)
class Changes:
    """What other writers committed since the last `SharedStore.changes`."""

    jobs: list[StoredJob]  # new or changed records (also this gateway's own)
    purged: list[int]  # ids deleted
    meta: dict[str, str]  # keys set, with their values


class JobStore(Protocol):
    """Durable job records, changed in transactions.

    Calling convention: every method blocks. The spool calls them from a worker
    thread, one call at a time (never two at once, never from the event loop),
    so a store needs no locking of its own and may keep one connection.
    Writes (`insert`, `update`, `delete`, `set_meta`) happen only inside
    `transaction`; the spool queues them with group commit
    (`gateway.core.spool.groupcommit`), so that one transaction carries every
    change that arrived while the previous one was committed.

    A store allocates job ids, nothing more: it never changes a record it was
    not given, and it need not read records back except in `load`. While a
    spool is open it is the only writer of the records it loaded (the spool
    serves reads from memory). Gateways sharing one store hear of each other's
    changes through the few methods `SharedStore` adds.
    """

    def load(self) -> list[StoredJob]:
        """Every job record, in ascending id order (called once, at start)."""
        ...

    def transaction(self) -> AbstractContextManager[object]:
        """One transaction, as a ``with`` block: the writes made inside are all
        committed when the block ends, or, if it raises, none is (rolled back,
        and the exception goes on). Committed means durable on return (on the
        disk after fsync, or acknowledged by the server with synchronous commit):
        the spool acknowledges jobs to clients right after. A commit that fails
        raises `StoreError`, with ``no_space`` when the store is full.
        Transactions do not nest."""
        ...

    def insert(self, folder: str, record: Record) -> int:
        """Add a job; its id, allocated by the store (a SQLite AUTOINCREMENT, a
        PostgreSQL sequence): positive, and greater than the id of every job
        committed before, also of jobs since deleted and across restarts, so an
        id is never reused. (An id given in a transaction that was rolled back
        may be given again or skipped.) Inside `transaction` only."""
        ...

    def update(self, job_id: int, record: Record, revision: int = 0) -> None:
        """Replace a job's record. A job that is not stored (it was purged
        meanwhile) is left alone, without an error. Inside `transaction` only.
        ``revision`` is the revision of the record the change was built on; a
        store shared by several writers raises `StoreConflict` (and writes
        nothing) when the stored record has another one, and stores
        ``revision + 1``; a single-writer store may ignore it."""
        ...

    def delete(self, job_ids: Sequence[int]) -> None:
        """Forget jobs (purged from history); ids not stored are ignored. Their
        ids are never allocated again. Inside `transaction` only."""
        ...

    def get_meta(self, key: str) -> str | None:
        """A value of the store's small key/value state (the spool's own
        settings), None when unset."""
        ...

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the key/value state. Inside `transaction` only."""
        ...

    def close(self) -> None:
        """Release the store (called once, after the last transaction)."""
        ...


class SharedStore(JobStore, Protocol):
    """A `JobStore` that several gateways write at once (PostgreSQL).

    What such a store adds: each spool hears of the others' changes
    (`changes`, woken by `wait_for_change`), re-reads a job after a conflict
    (`get`), and `shared` tells the spool not to requeue, at open, jobs that
    another live gateway may be forwarding (`Spool.requeue_forwarding`).
    `wait_for_change` alone may be called from a second thread while the
    spool's thread uses the others (it has a connection of its own)."""

    shared: bool

    def get(self, job_id: int) -> StoredJob | None:
        """One job record as stored now, None when purged."""
        ...

    def changes(self) -> Changes:
        """Everything committed since the previous call (or since `load`), also
        by this store; a record may come twice (the spool skips revisions it has)."""
        ...

    def wait_for_change(self, timeout: float) -> bool:
        """Block until another writer announces a commit (True) or ``timeout``
        seconds pass (False); raises `StoreError` while the store is unreachable."""
        ...


__all__ = [
    "Changes",
    "JobStore",
    "Record",
    "SharedStore",
    "StoreConflict",
    "StoreError",
    "StoredJob",
]
