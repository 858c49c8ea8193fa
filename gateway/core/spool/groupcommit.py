"""Group commit: the writes that arrive together share one transaction and one fsync.

Theory of operation
-------------------
A durable commit waits for the disk: with SQLite's ``synchronous=FULL`` an fsync
of the WAL, with PostgreSQL a flush of its WAL; a millisecond or more.
Committing each job change on its own would put one flush per change in a
single line: eight clients sending jobs at once, and the dispatcher moving them
on, would all queue behind each other's flush.

`GroupCommit.write` queues a `Write` and waits. The first writer to find no
commit under way becomes the *leader*: it takes every write queued so far and
commits them in one transaction (one fsync) in the store's thread. Writes that
arrive meanwhile queue up; when the leader is done it wakes the first of them,
which leads the next batch. So a write never waits for more than the commit
under way plus its own, and under load each fsync carries many writes.

Before the transaction, in the same thread, the batch fsyncs the files and
folders its writes name in `Write.sync` (a new job's documents and folder, the
``jobs`` folder): each path once per batch, however many writes name it. On
ext4 (data=ordered) the first of these fsyncs commits the journal for all of
them, so a batch costs about two flushes whatever its size. A write whose path
cannot be fsync'ed fails alone; the others go on.

The store is whatever the writes' `Write.apply` are given (a `JobStore`, or a
bare SQLite connection in tests); ``transaction`` opens its transaction. A
write that was built on another one (`Write.after`) fails when that one fails.

A write's `Write.publish` runs after its batch is committed, in the order the
writes were queued, in the event loop: that is where the spool updates its
in-memory copy and tells its listeners, so nothing is seen before it is
durable. When a batch fails (the disk is full, an I/O error), it is rolled
back, every write in it gets an error and `Write.undo` runs instead. A write
that meets another gateway's change of the same job (`StoreConflict`, from a
shared store) fails alone, without its dependents; the rest of the batch
commits.

Waiting is shielded from cancellation: once queued, a write is committed or
failed, and its publish runs, whatever happens to the task that queued it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import trio

from . import sqlite
from .staging import fsync_path, is_disk_full
from .store import StoreConflict, StoreError

log = logging.getLogger("gateway.spool")

DB = TypeVar("DB")

#: How often a batch that lost a race (`StoreError.retry`) is run before it fails.
RACE_ATTEMPTS = 3


class CommitFailed(Exception):
    """The batch this write was in could not be committed (carries the reason)."""

    def __init__(
        self, reason: str, *, no_space: bool, dependent: bool = False, conflict: int | None = None
    ) -> None:
        super().__init__(reason)
        self.no_space = no_space
        self.dependent = dependent  # only because the write it was built on failed
        #: The job another writer changed first (`StoreConflict`): only this write
        #: failed, the rest of its batch committed.
        self.conflict = conflict


def _nothing() -> None:
    return None


@dataclass(eq=False, slots=True)
class Write(Generic[DB]):
    """One change to the store and what to do once it is durable."""

    apply: Callable[[DB], Any]  # in the store's thread, inside the transaction
    publish: Callable[[Any], None]  # in the event loop after the commit, given apply's result
    undo: Callable[[], None] = _nothing  # in the event loop if the write failed
    sync: Sequence[str] = ()  # paths to fsync before the commit (files, then folders)
    after: Write[DB] | None = None  # a write this one was built on: if it fails, so does this
    result: Any = None
    error: CommitFailed | None = None
    done: bool = False
    wake: trio.Event = field(default_factory=trio.Event)


class GroupCommit(Generic[DB]):
    """Commits queued `Write` objects in batches; see the module doc.

    Each write's ``apply`` is given ``db``; ``transaction()`` opens the one
    transaction of a batch (by default `sqlite.transaction` on ``db``, a bare
    SQLite connection). Batches run in worker threads under ``limiter``.
    """

    def __init__(
        self,
        db: DB,
        limiter: trio.CapacityLimiter,
        transaction: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        self._db = db
        self._limiter = limiter
        self._transaction: Callable[[], AbstractContextManager[object]] = (
            transaction or partial(sqlite.transaction, db)  # type: ignore[arg-type]
        )
        self._queue: list[Write[DB]] = []
        self._leading = False
        self._idle = trio.Event()
        self._idle.set()
        #: Commits made and writes they carried (for tests and the benchmark notes).
        self.batches = 0
        self.writes = 0

    async def write(self, write: Write[DB]) -> Any:
        """Queue ``write``, wait until it is committed and published; its result.

        Raises `CommitFailed` when its batch could not be committed.
        """
        self._queue.append(write)
        if self._leading:
            with trio.CancelScope(shield=True):
                await write.wake.wait()
        if not write.done:  # nobody was committing, or the last leader handed over to us
            if not self._leading:
                self._leading = True
                self._idle = trio.Event()  # the same event until leadership ends
            try:
                batch, self._queue = self._queue, []
                with trio.CancelScope(shield=True):
                    await self._commit(batch)
            finally:
                if self._queue:
                    self._queue[0].wake.set()
                else:
                    self._leading = False
                    self._idle.set()
        if write.error is not None:
            raise write.error
        return write.result

    async def wait_idle(self) -> None:
        """Wait until no commit is under way and none is queued."""
        while self._leading:
            await self._idle.wait()

    async def _commit(self, batch: list[Write[DB]]) -> None:
        try:
            ready = await trio.to_thread.run_sync(
                _transaction, self._db, self._transaction, batch, limiter=self._limiter
            )
        except Exception as exc:  # StoreError, OSError; anything else must not hang the batch
            log.error("spool: commit of %d change(s) failed: %s", len(batch), exc)  # noqa: TRY400 (one line, no traceback)
            for write in batch:
                if write.error is None:
                    write.error = _failure(exc, "the spool database failed")
            ready = []
        else:
            if ready:
                self.batches += 1
                self.writes += len(ready)
        try:
            for write in batch:
                if write.error is None:
                    _run_quietly(write.publish, write.result)
                else:
                    _run_quietly(write.undo)
        finally:
            for write in batch:
                write.done = True
                write.wake.set()


def _transaction(
    db: DB, transaction: Callable[[], AbstractContextManager[object]], batch: list[Write[DB]]
) -> list[Write[DB]]:
    """In the store's thread: fsync what the writes name, then commit those
    whose paths were fsync'ed in one transaction. Returns the writes committed."""
    failed: dict[str, OSError | None] = {}
    ready = []
    for write in batch:
        if write.after is not None and write.after.error is not None:
            write.error = CommitFailed(
                f"an earlier change it depends on failed: {write.after.error}",
                no_space=write.after.error.no_space,
                dependent=True,
            )
            continue
        for path in write.sync:
            if path not in failed:
                failed[path] = fsync_path(path)
            error = failed[path]
            if error is not None:
                log.error("spool: cannot fsync %s: %s", path, error.strerror)
                write.error = _failure(error, "cannot write to the spool")
                break
        else:
            ready.append(write)
    if not ready:
        return ready
    for attempt in range(1, RACE_ATTEMPTS + 1):
        committed: list[Write[DB]] = []
        try:
            with transaction():
                for write in ready:
                    if write.after is not None and write.after.error is not None:
                        write.error = CommitFailed(
                            f"an earlier change it depends on failed: {write.after.error}",
                            no_space=False,
                            dependent=True,
                        )
                        continue
                    try:
                        write.result = write.apply(db)
                    except StoreConflict as exc:  # another gateway changed the job: this write only
                        write.error = CommitFailed(str(exc), no_space=False, conflict=exc.job_id)
                        continue
                    committed.append(write)
        except StoreError as exc:
            if not exc.retry or attempt == RACE_ATTEMPTS:
                raise
            # Lost a race with another gateway (a deadlock): all was rolled back,
            # so run the whole batch again from a clean slate.
            log.info("spool: commit lost a race with another gateway, trying again: %s", exc)
            for write in ready:
                write.error = None
                write.result = None
            continue
        return committed
    return []  # not reached: the last attempt returns or raises


def _failure(exc: BaseException, what: str) -> CommitFailed:
    """What clients are told (lpq, printer-state-message, the status page): the
    error without file names, which stay in the log line written beside it."""
    full = _is_full(exc)
    if full:
        return CommitFailed("no space left in the spool", no_space=True)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return CommitFailed(f"{what}: {reason}", no_space=False)


def _is_full(exc: BaseException) -> bool:
    return is_disk_full(exc) or (isinstance(exc, StoreError) and exc.no_space)


def _run_quietly(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        log.exception("spool: after-commit step failed")


__all__ = ["CommitFailed", "GroupCommit", "Write"]
