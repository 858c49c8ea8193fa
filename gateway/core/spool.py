"""The durable job store: SQLite (WAL) for job records, one folder per job.

Theory of operation
-------------------
Every job lives in two places: a row in ``spool.db`` (its attributes, state,
documents and origin as JSON) and a folder ``jobs/<job-uuid>/`` holding its
document files. Folder and file names are always made here (a uuid, then
``doc-<n>``); nothing a client sends is ever used as a path.

A front-end receives a job like this::

    folder = spool.new_folder()                  # jobs/<uuid>/, not yet a job
    async with folder.document() as doc:         # jobs/<uuid>/doc-1.part
        await doc.write(chunk) ...               # small: kept in memory; large: streamed
        staged = await doc.finish()              # written, renamed to doc-1
    job = await spool.submit(queue, attrs, [NewDocument(staged, ...)], origin,
                             folder=folder)      # fsyncs, one committed transaction

Only after ``submit`` returns is the job durable, and only then may a
front-end acknowledge it (LPD's last ack, IPP's response). ``submit`` (and
``add_document``) fsyncs, in the commit's own thread and before the commit,
every document file not yet fsync'ed, the job's folder and, for a new job, the
``jobs`` folder; a path shared by the jobs of one group commit is fsync'ed once.
Small documents (up to `BUFFER_SIZE`) are held in memory until ``finish`` and
reach the disk in one step; large ones stream through a worker thread and are
fsync'ed by ``finish`` itself, so that a big fsync never holds up other jobs'
commits. A crash before the commit leaves a folder that no row names;
`Spool.open` deletes it. A crash after the commit leaves a pending job that
the dispatcher forwards again.

Job ids come from SQLite's AUTOINCREMENT, so they are positive, increase and
are never reused, also after jobs are purged and across restarts.

Reads are served from an in-memory copy of every row (the history is bounded
by retention), kept in id order with an index of each queue's jobs and of its
unfinished ones, so lpq, Get-Jobs and the dispatcher never touch the disk nor
sort. A change is validated against the job's newest version (committed or
still on its way to the disk) without awaiting in between, so two changes of
one job never race; it is then written by group commit
(`gateway.core.groupcommit`): changes that arrive together share one
transaction and one fsync. Only after the commit does the in-memory copy
change and do the listeners (the dispatcher) hear of it.
"""

from __future__ import annotations

import bisect
import errno
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import trio

from gateway.core.groupcommit import CommitFailed, GroupCommit, Write
from gateway.core.job import (
    Attributes,
    Document,
    Frontend,
    IllegalTransition,
    Job,
    JobState,
    Origin,
)

log = logging.getLogger("gateway.spool")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    state INTEGER NOT NULL,
    folder TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

JOBS_DIR = "jobs"
CHUNK_SIZE = 256 * 1024
#: A document up to this size is held in memory until `DocumentWriter.finish`.
BUFFER_SIZE = 256 * 1024
#: A document over this size is fsync'ed by `DocumentWriter.finish`, not by the commit.
SYNC_ON_FINISH = 1024 * 1024

JobListener = Callable[[Job, Job | None], None]


class SpoolError(Exception):
    """A spool operation that cannot be done, with a reason a client can read."""


class NoSpace(SpoolError):
    """The spool has no room: LPD NAK 2 ("no space"), IPP server-error-busy."""


class JobNotFound(SpoolError):
    """No job with that id (perhaps purged from history)."""


class NotPossible(SpoolError):
    """The job's state does not allow this (IPP client-error-not-possible)."""


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A document file that is on disk, not yet part of a job (nor, unless
    ``synced``, fsync'ed: the commit that adds it to a job does that).

    ``sha256`` is the digest of a document that fitted in memory (`BUFFER_SIZE`);
    a larger one is not hashed while it streams in ("", see `DocumentWriter`)."""

    path: str  # relative to the spool root
    size: int
    sha256: str
    synced: bool = False


@dataclass(frozen=True, slots=True)
class NewDocument:
    """What a front-end knows about a document it has staged."""

    staged: StagedFile
    format: str
    name: str = ""
    attributes: Attributes | None = None


class DocumentWriter:
    """Streams one document into its job folder.

    Up to `BUFFER_SIZE` bytes are held in memory and hashed (SHA-256) when the
    document ends there. Past that, writes run in a worker thread so that disk
    latency never blocks the event loop, the caller keeps at most one chunk in
    memory, and nothing is hashed: SHA-256 runs at 190-350 MB/s on a small
    server's CPU, below its disk, so hashing would set the speed at which
    large documents are acknowledged. Whoever needs the digest of such a
    document (the file backend's sidecar) computes it when it reads the file.
    """

    def __init__(self, spool: Spool, folder: JobFolder, number: int) -> None:
        self._spool = spool
        self._folder = folder
        self.number = number
        self._final = folder.path / f"doc-{number}"
        self._part = folder.path / f"doc-{number}.part"
        self._file: BinaryIO | None = None
        self._buffer: list[bytes] = []
        self.size = 0
        self._open = True
        self._done = False

    def _create(self) -> BinaryIO:
        """Open the .part file (in a worker thread); closed in finish() or discard()."""
        if not self._folder.created:
            self._folder.path.mkdir(mode=0o750, exist_ok=True)
            self._folder.created = True
        return open(self._part, "wb")

    def _drain(self, file: BinaryIO) -> None:
        """Write the buffered pieces (in a worker thread)."""
        pieces, self._buffer = self._buffer, []
        for piece in pieces:
            file.write(piece)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes; raises `NoSpace` when the disk fills or a limit is hit."""
        if not self._open:
            raise SpoolError("document writer is closed")
        limit = self._spool.max_job_size
        if limit and self.size + len(data) > limit:
            raise NoSpace(f"job is larger than the limit of {limit} bytes")
        if self._file is None and self.size + len(data) <= BUFFER_SIZE:
            self._buffer.append(bytes(data))
            self.size += len(data)
            return

        def put() -> None:
            if self._file is None:
                self._file = self._create()
            self._drain(self._file)
            self._file.write(data)

        try:
            await trio.to_thread.run_sync(put)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace("no space left in the spool") from exc
            raise
        self.size += len(data)

    async def finish(self) -> StagedFile:
        """Write what is buffered and rename the file into place. Large files are
        fsync'ed here; the commit that adds the document to a job does the rest."""
        if not self._open:
            raise SpoolError("document writer is closed")
        self._open = False
        sync = self.size > SYNC_ON_FINISH
        digest = ""

        def settle() -> None:
            nonlocal digest
            if self._file is None:  # it all fitted in memory: hash it, then write it
                hashed = hashlib.sha256()
                for piece in self._buffer:
                    hashed.update(piece)
                digest = hashed.hexdigest()
                self._file = self._create()
            file = self._file
            try:
                self._drain(file)
                file.flush()
                if sync:
                    os.fsync(file.fileno())
            finally:
                file.close()
            os.rename(self._part, self._final)

        try:
            await trio.to_thread.run_sync(settle)
        except OSError as exc:
            await self.discard()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace("no space left in the spool") from exc
            raise
        self._done = True
        rel = self._final.relative_to(self._spool.root).as_posix()
        return StagedFile(path=rel, size=self.size, sha256=digest, synced=sync)

    async def discard(self) -> None:
        """Forget this document: close and delete whatever was written."""
        file, self._file = self._file, None
        self._open = False
        self._buffer = []
        if file is None and not self._folder.created:
            return  # nothing reached the disk

        def remove() -> None:
            if file is not None:
                file.close()
            for p in (self._part, self._final):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass

        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(remove)

    async def __aenter__(self) -> DocumentWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            await self.discard()


class JobFolder:
    """The folder of one job, made before the job exists so documents can stream in."""

    def __init__(self, spool: Spool, key: str) -> None:
        self._spool = spool
        self.key = key
        self.path = spool.root / JOBS_DIR / key
        self._next = 1
        self.created = False  # made on the first write that reaches the disk

    def document(self, number: int | None = None) -> DocumentWriter:
        """A writer for the next document (``async with folder.document() as w``)."""
        if number is None:
            number = self._next
        self._next = max(self._next, number + 1)
        return DocumentWriter(self._spool, self, number)

    async def discard(self) -> None:
        """Delete the folder and everything in it (a job that was never committed)."""
        if not self.created:
            return
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, self.path, True)


class Spool:
    """The durable job store. Create with `Spool.open`."""

    def __init__(
        self,
        root: Path,
        db: sqlite3.Connection,
        *,
        max_job_size: int,
        min_free_space: int,
        history_max_jobs: int,
        history_max_age: float,
    ) -> None:
        self.root = root
        self._db = db
        self.max_job_size = max_job_size
        self.min_free_space = min_free_space
        self.history_max_jobs = history_max_jobs
        self.history_max_age = history_max_age
        self._jobs: dict[int, Job] = {}  # committed versions, in id order
        self._newest: dict[int, Job] = {}  # versions accepted but not yet committed
        self._newest_write: dict[int, Write] = {}  # ... and the writes carrying them
        self._queue_ids: dict[str, dict[int, None]] = {}  # each queue's jobs, in id order
        self._active_ids: dict[str, dict[int, None]] = {}  # ... and its unfinished ones
        self._pending_ids: dict[str, list[int]] = {}  # ... and its pending ones, ascending
        self._folders: dict[int, str] = {}
        self._db_limiter = trio.CapacityLimiter(1)
        self._commits = GroupCommit(db, self._db_limiter)
        self._listeners: list[JobListener] = []
        self._closed = False

    # ------------------------------------------------------------------
    # Opening, recovery, closing

    @classmethod
    async def open(
        cls,
        root: Path,
        *,
        max_job_size: int = 0,
        min_free_space: int = 0,
        history_max_jobs: int = 1000,
        history_max_age: float = 7 * 86400.0,
    ) -> Spool:
        """Open (creating if needed) the spool at ``root`` and recover from a crash."""

        def setup() -> sqlite3.Connection:
            root.mkdir(mode=0o750, parents=True, exist_ok=True)
            (root / JOBS_DIR).mkdir(mode=0o750, exist_ok=True)
            db = sqlite3.connect(root / "spool.db", isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            return db

        db = await trio.to_thread.run_sync(setup)
        spool = cls(
            root,
            db,
            max_job_size=max_job_size,
            min_free_space=min_free_space,
            history_max_jobs=history_max_jobs,
            history_max_age=history_max_age,
        )
        await spool._recover()
        return spool

    async def _recover(self) -> None:
        rows = await self._run(
            lambda db: db.execute("SELECT id, folder, data FROM jobs ORDER BY id").fetchall()
        )
        for job_id, folder, data in rows:
            job = _job_from_json(job_id, json.loads(data))
            self._folders[job_id] = folder
            self._index(job, None)

        known = set(self._folders.values())

        def sweep() -> list[str]:
            removed = []
            for entry in (self.root / JOBS_DIR).iterdir():
                if entry.name not in known:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry.name)
                else:
                    for part in entry.glob("*.part"):
                        part.unlink(missing_ok=True)
            return removed

        removed = await trio.to_thread.run_sync(sweep)
        if removed:
            log.info("spool: removed %d unfinished job folder(s) left by a stop", len(removed))

        # Jobs that were being forwarded when the gateway stopped: if the backend never
        # confirmed them they go back to pending (at-least-once delivery); if it did,
        # they stay processing and the dispatcher resumes following them.
        for job in list(self._jobs.values()):
            forwarding = job.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED)
            if forwarding and job.backend_job_id is None:
                await self._store(
                    job.evolve(
                        state=JobState.PENDING,
                        state_reasons=("none",),
                        state_message="requeued after a restart",
                    ),
                    check=False,
                )
                log.info("job %d recovered: queue=%s requeued after a restart", job.id, job.queue)
        pending = sum(1 for j in self._jobs.values() if not j.state.is_terminal)
        if pending:
            log.info("spool: %d unfinished job(s) recovered from %s", pending, self.root)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            await self._commits.wait_idle()
            await self._run(lambda db: db.close())
        batches, writes = self.commit_stats
        if batches:
            log.info(
                "spool: %d change(s) committed in %d transaction(s) since the start",
                writes,
                batches,
            )

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        db = self._db
        return await trio.to_thread.run_sync(fn, db, limiter=self._db_limiter)

    async def _write(self, write: Write) -> Any:
        """Fsync what ``write`` names and commit it (grouped with concurrent
        writes), then publish it; spool errors for what went wrong."""
        if self._closed:
            raise SpoolError("the spool is closed")
        try:
            return await self._commits.write(write)
        except CommitFailed as exc:
            if exc.dependent:
                raise _Rebuild from exc
            raise (NoSpace if exc.no_space else SpoolError)(str(exc)) from exc

    @property
    def commit_stats(self) -> tuple[int, int]:
        """(transactions committed, changes they carried) since the spool was opened."""
        return self._commits.batches, self._commits.writes

    def _index(self, job: Job, old: Job | None) -> None:
        """Make ``job`` the committed version in memory and in the indexes."""
        if self._newest.get(job.id) is job:
            del self._newest[job.id]
        self._jobs[job.id] = job
        if old is not None and old.queue != job.queue:
            self._queue_ids[old.queue].pop(job.id, None)
            self._active_ids[old.queue].pop(job.id, None)
            _discard_sorted(self._pending_ids.get(old.queue, []), job.id)
        pending = self._pending_ids.setdefault(job.queue, [])
        if job.state == JobState.PENDING:
            if not pending or pending[-1] < job.id:
                pending.append(job.id)
            else:
                at = bisect.bisect_left(pending, job.id)
                if at == len(pending) or pending[at] != job.id:
                    pending.insert(at, job.id)
        else:
            _discard_sorted(pending, job.id)
        ids = self._queue_ids.setdefault(job.queue, {})
        active = self._active_ids.setdefault(job.queue, {})
        moved = job.id not in ids and bool(ids) and job.id < next(reversed(ids))
        ids[job.id] = None
        if job.state.is_terminal:
            active.pop(job.id, None)
        else:
            active[job.id] = None
        if moved:  # only a job moved between queues lands behind newer ones
            self._queue_ids[job.queue] = dict.fromkeys(sorted(ids))
            self._active_ids[job.queue] = dict.fromkeys(sorted(active))

    def _forget(self, job_id: int) -> None:
        job = self._jobs.pop(job_id)
        self._folders.pop(job_id, None)
        self._newest.pop(job_id, None)
        self._queue_ids[job.queue].pop(job_id, None)
        self._active_ids[job.queue].pop(job_id, None)
        _discard_sorted(self._pending_ids.get(job.queue, []), job_id)

    # ------------------------------------------------------------------
    # Listeners

    def add_listener(self, listener: JobListener) -> None:
        """Call ``listener(job, old)`` after every committed change (``old`` None = new)."""
        self._listeners.append(listener)

    def _notify(self, job: Job, old: Job | None) -> None:
        for listener in self._listeners:
            try:
                listener(job, old)
            except Exception:
                log.exception("spool listener failed")

    # ------------------------------------------------------------------
    # Space

    def free_space(self) -> int:
        return shutil.disk_usage(self.root).free

    def has_room(self, size: int) -> bool:
        """Whether a document of ``size`` bytes fits (size limit and free space)."""
        if self.max_job_size and size > self.max_job_size:
            return False
        return self.free_space() - size >= self.min_free_space

    def check_room(self, size: int) -> None:
        """Raise `NoSpace` with a reason unless ``size`` more bytes fit."""
        if self.max_job_size and size > self.max_job_size:
            raise NoSpace(
                f"job of {size} bytes is larger than the limit of {self.max_job_size} bytes"
            )
        if self.free_space() - size < self.min_free_space:
            raise NoSpace("not enough free space in the spool")

    # ------------------------------------------------------------------
    # Creating jobs

    def new_folder(self) -> JobFolder:
        """A folder for a job being received (not yet a job; see the module doc)."""
        return JobFolder(self, uuid.uuid4().hex)

    def folder_of(self, job_id: int) -> JobFolder:
        """The folder of an existing job, for adding documents (Send-Document)."""
        if job_id not in self._folders:
            raise JobNotFound(f"job {job_id} does not exist")
        folder = JobFolder(self, self._folders[job_id])
        job = self._newest_version(job_id)
        if job.documents:
            folder._next = max(d.number for d in job.documents) + 1
        return folder

    def document_path(self, doc: Document) -> Path:
        """Where a document's bytes are (for backends to read)."""
        return self.root / doc.path

    def _to_sync(self, documents: Iterable[NewDocument], folder: JobFolder) -> list[str]:
        """What must be fsync'ed before a commit adds ``documents`` in ``folder``."""
        documents = list(documents)
        paths = [str(self.root / d.staged.path) for d in documents if not d.staged.synced]
        if folder.created or documents:
            paths += [str(folder.path), str(self.root / JOBS_DIR)]
        return paths

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
        now = time.time()
        docs = tuple(_document(i, d) for i, d in enumerate(documents, start=1))
        attrs = dict(attributes)
        attrs.setdefault("job-uuid", f"urn:uuid:{uuid.UUID(folder.key)}")
        job = Job(
            id=0,
            queue=queue,
            state=JobState.PENDING_HELD if held else JobState.PENDING,
            attributes=attrs,
            documents=docs,
            origin=origin,
            state_reasons=("job-incoming",)
            if incoming
            else (("job-hold-until-specified",) if held else ("none",)),
            created=now,
            updated=now,
            incoming=incoming,
        )
        data = json.dumps(_job_to_json(job))
        made: list[Job] = []

        def insert(db: sqlite3.Connection) -> int:
            cur = db.execute(
                "INSERT INTO jobs (queue, state, folder, data) VALUES (?, ?, ?, ?)",
                (queue, int(job.state), folder.key, data),
            )
            assert cur.lastrowid is not None
            return cur.lastrowid

        def publish(job_id: int) -> None:
            new = job.evolve(id=job_id)
            self._folders[job_id] = folder.key
            self._index(new, None)
            made.append(new)
            self._notify(new, None)

        await self._write(Write(insert, publish, sync=self._to_sync(documents, folder)))
        return made[0]

    async def add_document(self, job_id: int, document: NewDocument, *, last: bool) -> Job:
        """Add a document to an incoming job (Send-Document); ``last`` closes it."""

        def build(job: Job) -> Job:
            if not job.incoming:
                raise NotPossible(f"job {job_id} is not waiting for documents")
            number = max((d.number for d in job.documents), default=0) + 1
            return job.evolve(
                documents=(*job.documents, _document(number, document)),
                incoming=not last,
                state_reasons=("job-incoming",) if not last else ("none",),
            )

        folder = JobFolder(self, self._folders.get(job_id, ""))
        sync = self._to_sync([document], folder)
        return _changed(await self._change(job_id, build, sync))

    async def close_job(self, job_id: int) -> Job:
        """Close an incoming job without another document (Close-Job, last-document)."""

        def build(job: Job) -> Job:
            if not job.incoming:
                return job
            if not job.documents:
                return job.evolve(
                    incoming=False,
                    state=JobState.ABORTED,
                    completed=time.time(),
                    state_reasons=("aborted-by-system",),
                    state_message="job was closed without any document",
                )
            return job.evolve(incoming=False, state_reasons=("none",))

        return _changed(await self._change(job_id, build))

    # ------------------------------------------------------------------
    # Reading

    def _newest_version(self, job_id: int) -> Job:
        """The version a change must start from: the newest, committed or not."""
        job = self._newest.get(job_id) or self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"job {job_id} does not exist")
        return job

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self, queue: str | None = None) -> Iterator[Job]:
        """Every job, in id order, optionally of one queue (a snapshot)."""
        if queue is None:
            return iter(list(self._jobs.values()))
        jobs = self._jobs
        return iter([jobs[i] for i in self._queue_ids.get(queue, ())])

    def active_jobs(self, queue: str | None = None) -> list[Job]:
        """Jobs not yet ended, in the order they will be (or are being) forwarded."""
        jobs = self._jobs
        if queue is not None:
            return [jobs[i] for i in self._active_ids.get(queue, ())]
        ids = sorted(i for active in self._active_ids.values() for i in active)
        return [jobs[i] for i in ids]

    def active_count(self, queue: str) -> int:
        """How many of the queue's jobs are not yet ended."""
        return len(self._active_ids.get(queue, ()))

    def pending_ids(self, queue: str) -> Sequence[int]:
        """Ids of the queue's jobs in state pending, ascending (do not modify)."""
        return self._pending_ids.get(queue, [])

    def next_pending(self, queue: str) -> Job | None:
        """The oldest job of ``queue`` that is waiting to be forwarded, if any."""
        jobs = self._jobs
        for job_id in self._active_ids.get(queue, ()):
            job = jobs[job_id]
            if job.state == JobState.PENDING and not job.incoming:
                return job
        return None

    # ------------------------------------------------------------------
    # Changing jobs

    async def update(self, job_id: int, **changes: Any) -> Job:
        """Change a job's fields; a change of ``state`` must be in the transition table."""

        def build(job: Job) -> Job:
            new = job.evolve(**changes)
            return _stamp(job, new) if "state" in changes else new

        return _changed(await self._change(job_id, build))

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
        if reasons is not None:
            changes["state_reasons"] = tuple(reasons) or ("none",)
        if message is not None:
            changes["state_message"] = message
        return await self.update(job_id, state=state, **changes)

    async def transition_if(
        self,
        job_id: int,
        only_from: Collection[JobState],
        state: JobState,
        *,
        reasons: Iterable[str] | None = None,
        message: str | None = None,
        **changes: Any,
    ) -> Job | None:
        """Like `transition`, but only while the job's newest version is in one of
        ``only_from``: None when something else (a cancel) moved it first."""
        if reasons is not None:
            changes["state_reasons"] = tuple(reasons) or ("none",)
        if message is not None:
            changes["state_message"] = message

        def build(job: Job) -> Job | None:
            if job.state not in only_from:
                return None
            return _stamp(job, job.evolve(state=state, **changes))

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
            forwarded = job.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED)
            return _stamp(
                job,
                job.evolve(
                    state=JobState.CANCELED,
                    state_reasons=(reason,),
                    state_message=message or "canceled",
                    cancel_requested=forwarded,
                    incoming=False,
                ),
            )

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
                return await self._store(new, old=job, sync=sync)
            except _Rebuild:
                continue

    async def _store(
        self, job: Job, *, old: Job | None = None, check: bool = True, sync: Sequence[str] = ()
    ) -> Job:
        """Write one job row. ``old`` is the newest version, read with no await
        since: this becomes the newest at once, so the next change starts from it."""
        if check and old is not None and job.state != old.state:
            old.state.check_transition(job.state)
        job = job.evolve(updated=time.time())
        data = json.dumps(_job_to_json(job))
        # Built on a version still on its way to the disk? Then this change
        # must not commit if that one fails (it carries that one's content).
        after = self._newest_write.get(job.id) if old is self._newest.get(job.id) else None
        self._newest[job.id] = job

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE jobs SET state = ?, data = ? WHERE id = ?",
                (int(job.state), data, job.id),
            )

        def publish(_: None) -> None:
            forget()
            if job.id not in self._folders:  # purged meanwhile
                self._newest.pop(job.id, None)
                return
            previous = self._jobs.get(job.id)
            self._index(job, old)
            self._notify(job, previous if old is None else old)

        def undo() -> None:
            forget()
            if self._newest.get(job.id) is job:
                del self._newest[job.id]

        def forget() -> None:
            if self._newest_write.get(job.id) is change:
                del self._newest_write[job.id]

        change = Write(write, publish, undo, sync, after)
        self._newest_write[job.id] = change
        await self._write(change)
        return job

    # ------------------------------------------------------------------
    # History retention

    async def purge(self, now: float | None = None) -> list[int]:
        """Forget ended jobs past the history limits (count and age), and their files."""
        now = time.time() if now is None else now
        ended = [j for j in self.jobs() if j.state.is_terminal and j.id not in self._newest]
        ended.sort(key=lambda j: (j.completed or j.created, j.id))
        doomed: list[Job] = []
        excess = len(ended) - self.history_max_jobs
        for index, job in enumerate(ended):
            too_old = now - (job.completed or job.created) > self.history_max_age
            if index < excess or too_old:
                doomed.append(job)
        if not doomed:
            return []
        ids = [j.id for j in doomed]
        folders = [self._folders[i] for i in ids]

        def delete(db: sqlite3.Connection) -> None:
            db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])

        def forget(_: None) -> None:
            for i in ids:
                self._forget(i)

        await self._write(Write(delete, forget))

        def remove() -> None:
            for key in folders:
                shutil.rmtree(self.root / JOBS_DIR / key, ignore_errors=True)

        await trio.to_thread.run_sync(remove)
        log.debug("spool: purged %d job(s) from history", len(ids))
        return ids

    async def expire_incoming(self, idle: float, now: float | None = None) -> list[Job]:
        """Close incoming jobs idle longer than ``idle`` seconds
        (multiple-operation-time-out): with documents they print, without they abort."""
        now = time.time() if now is None else now
        expired = []
        for job in list(self._jobs.values()):
            if job.incoming and now - max(job.updated, job.created) > idle:
                expired.append(await self.close_job(job.id))
        return expired


class _Rebuild(Exception):
    """A change was built on one that failed: build it again (see `Spool._change`)."""


def _changed(job: Job | None) -> Job:
    assert job is not None  # only transition_if's build returns None
    return job


def _discard_sorted(ids: list[int], job_id: int) -> None:
    at = bisect.bisect_left(ids, job_id)
    if at < len(ids) and ids[at] == job_id:
        del ids[at]


def _stamp(old: Job, new: Job) -> Job:
    """Set the time-at-* fields that a change of state implies."""
    now = time.time()
    if new.state != old.state:
        if new.state == JobState.PROCESSING and old.processing is None:
            new = new.evolve(processing=now)
        if new.state.is_terminal and new.completed is None:
            new = new.evolve(completed=now)
    return new


def _document(number: int, new: NewDocument) -> Document:
    return Document(
        number=number,
        path=new.staged.path,
        format=new.format,
        size=new.staged.size,
        sha256=new.staged.sha256,
        name=new.name,
        attributes=dict(new.attributes or {}),
    )


def _job_to_json(job: Job) -> dict[str, Any]:
    return {
        "queue": job.queue,
        "state": int(job.state),
        "attributes": job.attributes,
        "documents": [d.to_json() for d in job.documents],
        "origin": job.origin.to_json(),
        "state_reasons": list(job.state_reasons),
        "state_message": job.state_message,
        "created": job.created,
        "processing": job.processing,
        "completed": job.completed,
        "updated": job.updated,
        "incoming": job.incoming,
        "backend_job_id": job.backend_job_id,
        "attempts": job.attempts,
        "not_before": job.not_before,
        "cancel_requested": job.cancel_requested,
        "impressions_completed": job.impressions_completed,
    }


def _job_from_json(job_id: int, data: dict[str, Any]) -> Job:
    return Job(
        id=job_id,
        queue=data["queue"],
        state=JobState(data["state"]),
        attributes=data["attributes"],
        documents=tuple(Document.from_json(d) for d in data["documents"]),
        origin=Origin.from_json(data.get("origin", {"frontend": Frontend.API.value})),
        state_reasons=tuple(data.get("state_reasons", ("none",))),
        state_message=data.get("state_message", ""),
        created=data.get("created", 0.0),
        processing=data.get("processing"),
        completed=data.get("completed"),
        updated=data.get("updated", 0.0),
        incoming=data.get("incoming", False),
        backend_job_id=data.get("backend_job_id"),
        attempts=data.get("attempts", 0),
        not_before=data.get("not_before", 0.0),
        cancel_requested=data.get("cancel_requested", False),
        impressions_completed=data.get("impressions_completed", 0),
    )


__all__ = [
    "DocumentWriter",
    "IllegalTransition",
    "JobFolder",
    "JobNotFound",
    "NewDocument",
    "NoSpace",
    "NotPossible",
    "Spool",
    "SpoolError",
    "StagedFile",
]
