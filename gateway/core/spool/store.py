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


class StoreError(Exception):
    """A transaction the store could not commit. ``no_space``: it ran out of
    room (a full disk or quota), which the spool reports as `NoSpace`."""

    def __init__(self, reason: str, *, no_space: bool = False) -> None:
        super().__init__(reason)
        self.no_space = no_space


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
    serves reads from memory); gateways sharing one store would first need a
    way to hear of each other's changes, which this interface does not have.
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

    def update(self, job_id: int, record: Record) -> None:
        """Replace a job's record. A job that is not stored (it was purged
        meanwhile) is left alone, without an error. Inside `transaction` only."""
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


__all__ = ["JobStore", "Record", "StoreError", "StoredJob"]
