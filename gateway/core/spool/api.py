"""The `Spool`: what the front-ends and the dispatcher call.

Why: one object owns the job core's state: the committed jobs in memory
(`JobIndex`), the versions on their way to the store, the listeners. It applies
the lifecycle rules of `gateway.core.job`, checks each change against the
transition table, and writes through a `JobStore` by group commit. It knows
nothing of SQL (`sqlite.py`), of the record format (`records.py`) or of how
files are written (`staging.py`).

The change protocol
-------------------
A change is built from the job's newest version (committed or still on its
way to the store) without awaiting in between, so two changes of one job never
race; it becomes the newest version at once, and is then committed by group
commit (changes that arrive together share one transaction and one fsync).
Only after the commit does the in-memory copy change and do the listeners (the
dispatcher) hear of it, in commit order. A change built on one that then fails
must not commit (it carries that one's content): it fails too (`Write.after`),
and is built again from the version that is then newest (`_Rebuild`).

Several gateways on one store
-----------------------------
With a `SharedStore` (PostgreSQL) other gateways write too. `follow` reads
what they commit and makes it the committed version here, telling the
listeners, as for a change of our own. Every version has a revision; a write
names the one it was built on, and when another gateway wrote the job first
the store refuses that write alone (a conflict): the spool reads the job
again and the change is built anew from it (the same `_Rebuild` path), so a
cancel at one gateway is never overwritten by another's forwarding. Jobs left
"being forwarded" are requeued by the queue's lease holder
(`requeue_forwarding`), not at open.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import trio

from gateway.core.job import Attributes, Document, Job, JobState, Origin

from . import recovery, retention
from .errors import JobNotFound, NoSpace, NotPossible, SpoolError
from .groupcommit import CommitFailed, GroupCommit, Write
from .indexes import JobIndex
from .lock import SpoolLock
from .records import from_record, to_record
from .sqlite import DB_FILE, SQLiteStore
from .staging import JobFolder, NewDocument, Reservation, Staging
from .store import JobStore, SharedStore, StoredJob, StoreError

log = logging.getLogger("gateway.spool")

JobListener = Callable[[Job, Job | None], None]
MetaListener = Callable[[str, str], None]
#: With a shared store, job folders younger than this are never swept at open:
#: another gateway may be receiving into them (`recovery.sweep_orphan_folders`).
SHARED_SWEEP_GRACE = 24 * 3600.0
#: How often a spool on a shared store reads the others' changes when no
#: notification came (`Spool.follow`), seconds.
DEFAULT_POLL_INTERVAL = 1.0
T = TypeVar("T")


class Spool:
    """The durable job store. Create with `Spool.open`."""

    def __init__(
        self,
        staging: Staging,
        store: JobStore,
        *,
        history_max_jobs: int,
        history_max_age: float,
        lock: SpoolLock | None = None,
    ) -> None:
        self.root = staging.root
        self._lock = lock
        self._staging = staging
        self._store = store
        self.history_max_jobs = history_max_jobs
        self.history_max_age = history_max_age
        self._index = JobIndex()  # the committed versions
        self._newest: dict[int, Job] = {}  # versions accepted but not yet committed
        self._newest_write: dict[int, Write[JobStore]] = {}  # ... and the writes carrying them
        self._store_limiter = trio.CapacityLimiter(1)  # one store call at a time
        self._commits = GroupCommit(store, self._store_limiter, store.transaction)
        self._listeners: list[JobListener] = []
        self._meta_listeners: list[MetaListener] = []
        #: The revision of each committed version, and of versions on their way
        #: (optimistic concurrency with other gateways on a shared store).
        self._revisions: dict[int, int] = {}
        self._newest_revision: dict[int, int] = {}
        self._inserting: set[int] = set()  # ids inserted here, not yet published
        self._meta_seen: dict[str, str] = {}
        self._shared: SharedStore | None = (
            store if getattr(store, "shared", False) else None  # type: ignore[assignment]
        )
        self._closed = False
        #: Why the last commit failed, while no commit has succeeded since (None: fine).
        self.commit_failure: str | None = None
        #: Ended jobs wait for their accounting record before retention forgets them
        #: (set by `gateway.core.accounting.Accountant`).
        self.keep_unaccounted = False

    # ------------------------------------------------------------------
    # Opening, closing

    @classmethod
    async def open(
        cls,
        root: Path,
        *,
        max_job_size: int = 0,
        min_free_space: int = 0,
        history_max_jobs: int = 1000,
        history_max_age: float = 7 * 86400.0,
        store: JobStore | Callable[[], JobStore] | None = None,
        documents: Path | None = None,
    ) -> Spool:
        """Open (creating if needed) the spool at ``root`` and recover from a crash.

        Job records go to ``store`` (a store, or a function opening one, called
        in a worker thread), by default ``spool.db`` in ``root``; document files
        go to ``documents``, by default ``root/jobs/``. The spool closes the
        store. A shared store (`SharedStore`) is followed by `follow`.

        The folder is locked first (`gateway.core.spool.lock`), before anything
        is read or swept: `SpoolLocked` when another process has it open."""
        staging = Staging(
            root, max_job_size=max_job_size, min_free_space=min_free_space, documents=documents
        )
        if store is None:
            store = default_store(root)

        def setup() -> tuple[SpoolLock, JobStore]:
            staging.prepare()
            lock = SpoolLock.acquire(root)
            try:
                return lock, store() if callable(store) else store
            except BaseException:
                lock.release()
                raise

        lock, opened = await trio.to_thread.run_sync(setup)
        spool = cls(
            staging,
            opened,
            history_max_jobs=history_max_jobs,
            history_max_age=history_max_age,
            lock=lock,
        )
        try:
            await spool._recover()
        except BaseException:
            await spool.aclose()
            raise
        return spool

    async def _recover(self) -> None:
        """Load every record, sweep what a stop left in ``jobs/`` and requeue the
        jobs that were being forwarded (see `gateway.core.spool.recovery`)."""
        for stored in await self._run(self._store.load):
            self._index.add(from_record(stored.id, stored.data), stored.folder)
            self._revisions[stored.id] = stored.revision

        known = self._index.folders()
        jobs_dir = self._staging.jobs_dir
        grace = SHARED_SWEEP_GRACE if self._shared is not None else 0.0
        removed = await trio.to_thread.run_sync(
            functools.partial(recovery.sweep_orphan_folders, jobs_dir, known, grace=grace)
        )
        if removed:
            log.info("spool: removed %d unfinished job folder(s) left by a stop", len(removed))
        if self._shared is not None:
            # Another live gateway may be forwarding them: the queue's lease
            # holder requeues them (`requeue_forwarding`).
            return
        await self.requeue_forwarding()

    async def requeue_forwarding(self, queue: str | None = None) -> list[Job]:
        """Put back the jobs (of ``queue``, or all) that were being forwarded
        when their gateway stopped (`Job.after_restart`). A single gateway does
        it at open; on a shared store the gateway that takes a queue's lease
        calls it for that queue. The jobs requeued."""
        done = []
        jobs = self._index.jobs(queue)
        for job in recovery.requeued(jobs):
            if job.id in self._newest:  # being changed right now: not left behind by a stop
                continue
            old = self._index.get(job.id)
            try:
                stored = await self._store_version(job, old=old, check=False)
            except _Rebuild:  # another gateway changed it first: it was not left behind
                continue
            done.append(stored)
            log.info("job %d recovered: queue=%s requeued after a restart", job.id, job.queue)
        if queue is None:
            pending = sum(1 for j in self._index.jobs() if not j.state.is_terminal)
            if pending:
                log.info("spool: %d unfinished job(s) recovered from %s", pending, self.root)
        return done

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            await self._commits.wait_idle()
            try:
                await self._run(self._store.close)
            finally:
                if self._lock is not None:
                    self._lock.release()
        batches, writes = self.commit_stats
        if batches:
            log.info(
                "spool: %d change(s) committed in %d transaction(s) since the start",
                writes,
                batches,
            )

    async def _run(self, fn: Callable[[], T]) -> T:
        """Call the store outside a commit (in its thread, one call at a time)."""
        return await trio.to_thread.run_sync(fn, limiter=self._store_limiter)

    async def _write(self, write: Write[JobStore]) -> Any:
        """Fsync what ``write`` names and commit it (grouped with concurrent
        writes), then publish it; spool errors for what went wrong."""
        if self._closed:
            raise SpoolError("the spool is closed")
        try:
            result = await self._commits.write(write)
        except CommitFailed as exc:
            if exc.conflict is not None:
                await self._refresh(exc.conflict)
                raise _Rebuild from exc
            if exc.dependent:
                raise _Rebuild from exc
            self.commit_failure = str(exc)
            raise (NoSpace if exc.no_space else SpoolError)(str(exc)) from exc
        self.commit_failure = None
        return result

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(transactions committed, changes they carried) since the spool was opened."""
        return self._commits.batches, self._commits.writes

    # ------------------------------------------------------------------
    # Listeners

    def add_listener(self, listener: JobListener) -> None:
        """Call ``listener(job, old)`` after every committed change (``old`` None = new)."""
        self._listeners.append(listener)

    def add_meta_listener(self, listener: MetaListener) -> None:
        """Call ``listener(key, value)`` when another gateway sharing the store
        set a key of the key/value state (`set_meta`); never for this spool's own."""
        self._meta_listeners.append(listener)

    def _notify(self, job: Job, old: Job | None) -> None:
        for listener in self._listeners:
            try:
                listener(job, old)
            except Exception:
                log.exception("spool listener failed")

    # ------------------------------------------------------------------
    # Documents and room (see `gateway.core.spool.staging`)

    @property
    def max_job_size(self) -> int:
        return self._staging.max_job_size

    @property
    def min_free_space(self) -> int:
        return self._staging.min_free_space

    def free_space(self) -> int:
        return self._staging.free_space()

    @property
    def reserved(self) -> int:
        """Bytes promised to files being received (LPD ack 1), not yet on the disk."""
        return self._staging.reserved

    def has_room(self, size: int) -> bool:
        """Whether a document of ``size`` bytes fits (size limit and free space)."""
        return self._staging.has_room(size)

    def check_room(self, size: int, *, job_size: int | None = None) -> None:
        """Raise `NoSpace` with a reason unless ``size`` more bytes fit (the free
        space less what is reserved; a job of ``job_size`` within the limit)."""
        self._staging.check_room(size, job_size=job_size)

    def reserve(self, size: int, *, job_size: int | None = None) -> Reservation:
        """Room for ``size`` bytes about to come (LPD ack 1), or `NoSpace`;
        pass it to `JobFolder.document` and/or release it (``with``)."""
        return self._staging.reserve(size, job_size=job_size)

    def new_folder(self) -> JobFolder:
        """A folder for a job being received (not yet a job; see the package doc)."""
        return self._staging.new_folder()

    def folder_of(self, job_id: int) -> JobFolder:
        """The folder of an existing job, for adding documents (Send-Document)."""
        key = self._folder_key(job_id)
        return self._staging.folder(key, self._newest_version(job_id).next_document_number)

    def _folder_key(self, job_id: int) -> str:
        key = self._index.folder(job_id)
        if key is None:
            raise JobNotFound(f"job {job_id} does not exist")
        return key

    def document_path(self, doc: Document) -> Path:
        """Where a document's bytes are (for backends to read)."""
        return self._staging.document_path(doc)

    # ------------------------------------------------------------------
    # Creating jobs

    async def submit(
        self,
        queue: str,
        attributes: Attributes,
        documents: Sequence[NewDocument],
        origin: Origin,
        *,
        folder: JobFolder,
        incoming: bool = False,
        held: bool = False,
    ) -> Job:
        """Commit a new job; when this returns it is durable and may be acknowledged."""
        attrs = dict(attributes)
        attrs.setdefault("job-uuid", f"urn:uuid:{uuid.UUID(folder.key)}")
        job = Job.submitted(
            queue,
            attrs,
            tuple(d.to_document(i) for i, d in enumerate(documents, start=1)),
            origin,
            now=time.time(),
            incoming=incoming,
            held=held,
        )
        record = to_record(job)
        key = folder.key
        made: list[Job] = []

        def insert(store: JobStore) -> int:
            job_id = store.insert(key, record)
            self._inserting.add(job_id)  # the follower must leave it to publish
            return job_id

        def publish(job_id: int) -> None:
            self._inserting.discard(job_id)
            new = job.evolve(id=job_id)
            self._revisions[job_id] = max(self._revisions.get(job_id, 0), 1)
            self._index.add(new, key)
            made.append(new)
            self._notify(new, None)

        sync = self._staging.to_sync(documents, folder)
        await self._write(Write(insert, publish, sync=sync))
        return made[0]

    async def add_document(self, job_id: int, document: NewDocument, *, last: bool) -> Job:
        """Add a document to an incoming job (Send-Document); ``last`` closes it."""

        def build(job: Job) -> Job:
            if not job.incoming:
                raise NotPossible(f"job {job_id} is not waiting for documents")
            new = document.to_document(job.next_document_number)
            return job.with_document(new, last=last)

        sync = self._staging.to_sync([document], self._staging.folder(self._folder_key(job_id)))
        return _changed(await self._change(job_id, build, sync))

    async def close_job(self, job_id: int) -> Job:
        """Close an incoming job without another document (Close-Job, last-document)."""
        return _changed(await self._change(job_id, lambda job: job.closed(time.time())))

    # ------------------------------------------------------------------
    # Reading (from memory; see `gateway.core.spool.indexes`)

    def get(self, job_id: int) -> Job | None:
        return self._index.get(job_id)

    def jobs(self, queue: str | None = None) -> Iterator[Job]:
        """Every job, in id order, optionally of one queue (a snapshot)."""
        return self._index.jobs(queue)

    def active_jobs(self, queue: str | None = None) -> list[Job]:
        """Jobs not yet ended, in the order they will be (or are being) forwarded."""
        return self._index.active_jobs(queue)

    def active_count(self, queue: str) -> int:
        """How many of the queue's jobs are not yet ended."""
        return self._index.active_count(queue)

    def pending_ids(self, queue: str) -> Sequence[int]:
        """Ids of the queue's jobs in state pending, ascending (do not modify)."""
        return self._index.pending_ids(queue)

    def next_pending(self, queue: str) -> Job | None:
        """The oldest job of ``queue`` that is waiting to be forwarded, if any."""
        return self._index.next_pending(queue)

    def _newest_version(self, job_id: int) -> Job:
        """The version a change must start from: the newest, committed or not."""
        job = self._newest.get(job_id) or self._index.get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist")
        return job

    # ------------------------------------------------------------------
    # Changing jobs

    async def update(self, job_id: int, **changes: Any) -> Job:
        """Change a job's fields; a change of ``state`` must be in the transition table."""
        return _changed(await self._change(job_id, lambda job: job.changed(time.time(), **changes)))

    async def transition(
        self,
        job_id: int,
        state: JobState,
        *,
        reasons: Iterable[str] | None = None,
        message: str | None = None,
        **changes: Any,
    ) -> Job:
        """Move a job to ``state`` (checked against the table), with reasons and message."""
        changes |= _status(reasons, message)
        return await self.update(job_id, state=state, **changes)

    async def transition_if(
        self,
        job_id: int,
        only_from: Collection[JobState],
        state: JobState,
        *,
        reasons: Iterable[str] | None = None,
        message: str | None = None,
        in_queue: str | None = None,
        **changes: Any,
    ) -> Job | None:
        """Like `transition`, but only while the job's newest version is in one of
        ``only_from`` (and in queue `in_queue`, when given): None when something
        else (a cancel, a move to another queue) changed it first."""
        changes |= _status(reasons, message)

        def build(job: Job) -> Job | None:
            if job.state not in only_from or (in_queue is not None and job.queue != in_queue):
                return None
            return job.changed(time.time(), state=state, **changes)

        try:
            return await self._change(job_id, build)
        except JobNotFound:
            return None

    async def cancel(
        self, job_id: int, *, reason: str = "job-canceled-by-user", message: str = ""
    ) -> Job:
        """Cancel a job. One already forwarded is marked for the dispatcher to
        cancel at the backend too (``cancel_requested``)."""

        def build(job: Job) -> Job:
            if job.state.is_terminal:
                raise NotPossible(f"job {job_id} is already {job.state.keyword}")
            return job.canceled(time.time(), reason=reason, message=message)

        return _changed(await self._change(job_id, build))

    async def _change(
        self, job_id: int, build: Callable[[Job], Job | None], sync: Sequence[str] = ()
    ) -> Job | None:
        """Build a change from the job's newest version (with no await in between,
        so changes of one job never race) and store it. ``build`` returns None for
        no change. Should a change it was built on fail, it is built again from
        the version that is then newest."""
        while True:
            job = self._newest_version(job_id)
            new = build(job)
            if new is None or new is job:
                return new
            try:
                return await self._store_version(new, old=job, sync=sync)
            except _Rebuild:
                continue

    async def _store_version(
        self, job: Job, *, old: Job | None = None, check: bool = True, sync: Sequence[str] = ()
    ) -> Job:
        """Write a new version of a job. ``old`` is the newest version, read with
        no await since: this becomes the newest at once, so the next change
        starts from it."""
        if check and old is not None and job.state != old.state:
            old.state.check_transition(job.state)
        job = job.evolve(updated=time.time())
        record = to_record(job)
        # Built on a version still on its way to the store? Then this change
        # must not commit if that one fails (it carries that one's content).
        after = self._newest_write.get(job.id) if old is self._newest.get(job.id) else None
        base = self._newest_revision.get(job.id, self._revisions.get(job.id, 0))
        if after is None:
            base = self._revisions.get(job.id, 0)
        self._newest[job.id] = job
        self._newest_revision[job.id] = base + 1

        shared = self._shared is not None

        def write(store: JobStore) -> None:
            if shared:  # a single-writer store has no use for revisions
                store.update(job.id, record, base)
            else:
                store.update(job.id, record)

        def publish(_: None) -> None:
            forget()
            if self._index.folder(job.id) is None:  # purged meanwhile
                self._newest.pop(job.id, None)
                self._newest_revision.pop(job.id, None)
                return
            previous = self._index.get(job.id)
            if self._newest.get(job.id) is job:
                del self._newest[job.id]
                self._newest_revision.pop(job.id, None)
            if self._revisions.get(job.id, 0) > base + 1:  # another gateway's, built on it, came
                return
            self._revisions[job.id] = base + 1
            self._index.put(job, previous)
            self._notify(job, previous if old is None else old)

        def undo() -> None:
            forget()
            if self._newest.get(job.id) is job:
                del self._newest[job.id]
                self._newest_revision.pop(job.id, None)

        def forget() -> None:
            if self._newest_write.get(job.id) is change:
                del self._newest_write[job.id]

        change: Write[JobStore] = Write(write, publish, undo, sync, after)
        self._newest_write[job.id] = change
        await self._write(change)
        return job

    # ------------------------------------------------------------------
    # History retention (see `gateway.core.spool.retention`)

    async def purge(self, now: float | None = None) -> list[int]:
        """Forget ended jobs past the history limits (count and age), and their files."""
        now = time.time() if now is None else now
        ended = [
            j
            for j in self._index.jobs()
            if j.state.is_terminal
            and j.id not in self._newest
            and (j.accounted or not self.keep_unaccounted)
        ]
        doomed = retention.expired(
            ended, now=now, max_jobs=self.history_max_jobs, max_age=self.history_max_age
        )
        if not doomed:
            return []
        ids = [j.id for j in doomed]
        folders = [self._folder_key(i) for i in ids]

        def delete(store: JobStore) -> None:
            store.delete(ids)

        def forget(_: None) -> None:
            for i in ids:
                if self._index.folder(i) is not None:  # not already purged by another gateway
                    self._index.remove(i)
                self._newest.pop(i, None)
                self._revisions.pop(i, None)

        await self._write(Write(delete, forget))
        await trio.to_thread.run_sync(self._staging.remove_folders, folders)
        log.debug("spool: purged %d job(s) from history", len(ids))
        return ids

    async def expire_incoming(self, idle: float, now: float | None = None) -> list[Job]:
        """Close incoming jobs idle longer than ``idle`` seconds
        (multiple-operation-time-out): with documents they print, without they abort."""
        now = time.time() if now is None else now
        expired = []
        for job in list(self._index.jobs()):
            if job.idle_incoming(now, idle):
                expired.append(await self.close_job(job.id))
        return expired

    # ------------------------------------------------------------------
    # The store's key/value state

    async def get_meta(self, key: str) -> str | None:
        """A value of the spool's own key/value state (kept by the store)."""
        store = self._store
        return await self._run(lambda: store.get_meta(key))

    async def set_meta(self, key: str, value: str) -> None:
        """Set a value of the key/value state; durable when this returns."""

        def put(store: JobStore) -> None:
            store.set_meta(key, value)

        def seen(_: None) -> None:
            self._meta_seen[key] = value

        await self._write(Write(put, seen))

    # ------------------------------------------------------------------
    # Following the other gateways on a shared store

    @property
    def shared(self) -> bool:
        """Whether other gateways write the same store (PostgreSQL)."""
        return self._shared is not None

    async def follow(
        self,
        interval: float = DEFAULT_POLL_INTERVAL,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run until cancelled: apply what other gateways commit to the store,
        woken by their notifications, and every ``interval`` seconds in case
        one was missed. Returns at once for a store of one gateway."""
        task_status.started()
        shared = self._shared
        if shared is None:
            return
        failing = False
        while not self._closed:
            try:
                await self.catch_up()
                await trio.to_thread.run_sync(
                    shared.wait_for_change, interval, abandon_on_cancel=True
                )
                if failing:
                    log.info("spool: following the other gateways again")
                failing = False
            except (SpoolError, StoreError) as exc:
                if not failing:
                    log.warning("spool: cannot follow the other gateways: %s", exc)
                failing = True
                await trio.sleep(interval)  # the store's own back-off paces reconnection

    async def catch_up(self) -> int:
        """Read and apply what was committed to a shared store since the last
        read (`follow` calls it); how many jobs changed. `SpoolError` when the
        store is unreachable."""
        shared = self._shared
        if shared is None or self._closed:
            return 0
        try:
            changes = await self._run(shared.changes)
        except StoreError as exc:
            raise SpoolError(str(exc)) from exc
        changed = 0
        for stored in changes.jobs:
            changed += self._apply_remote(stored)
        for job_id in changes.purged:
            if self._index.folder(job_id) is not None and job_id not in self._newest:
                self._index.remove(job_id)
                self._revisions.pop(job_id, None)
                changed += 1
        for key, value in changes.meta.items():
            if self._meta_seen.get(key) == value:
                continue
            self._meta_seen[key] = value
            for listener in self._meta_listeners:
                try:
                    listener(key, value)
                except Exception:
                    log.exception("spool meta listener failed")
        return changed

    def _apply_remote(self, stored: StoredJob) -> int:
        """Make a record read from the shared store the committed version, unless
        this spool has it (or a newer one) already; tell the listeners."""
        job_id = stored.id
        if job_id in self._inserting:
            return 0
        known = max(self._revisions.get(job_id, 0), self._newest_revision.get(job_id, 0))
        if job_id in self._revisions and stored.revision <= known:
            return 0
        job = from_record(job_id, stored.data)
        old = self._index.get(job_id)
        self._revisions[job_id] = stored.revision
        if old is None:
            self._index.add(job, stored.folder)
        else:
            self._index.put(job, old)
        self._notify(job, old)
        return 1

    async def _refresh(self, job_id: int) -> None:
        """After a conflict: read the job as another gateway left it."""
        shared = self._shared
        if shared is None:
            return
        try:
            stored = await self._run(lambda: shared.get(job_id))
        except StoreError as exc:
            raise SpoolError(str(exc)) from exc
        if stored is None:
            if self._index.folder(job_id) is not None and job_id not in self._newest:
                self._index.remove(job_id)
                self._revisions.pop(job_id, None)
            return
        self._apply_remote(stored)


class _Rebuild(Exception):
    """A change was built on one that failed: build it again (see `Spool._change`)."""


def _changed(job: Job | None) -> Job:
    assert job is not None  # only transition_if's build returns None
    return job


def _status(reasons: Iterable[str] | None, message: str | None) -> dict[str, Any]:
    """The state_reasons / state_message changes a transition asks for."""
    changes: dict[str, Any] = {}
    if reasons is not None:
        changes["state_reasons"] = tuple(reasons) or ("none",)
    if message is not None:
        changes["state_message"] = message
    return changes


def _ignore(_: object) -> None:
    return None


def default_store(root: Path) -> Callable[[], JobStore]:
    """The store a spool at ``root`` uses when none is given: ``root/spool.db``.
    (The test suite replaces this function to run everything on PostgreSQL.)"""
    return lambda: SQLiteStore.open(root / DB_FILE)


__all__ = ["DEFAULT_POLL_INTERVAL", "JobListener", "MetaListener", "Spool", "default_store"]
