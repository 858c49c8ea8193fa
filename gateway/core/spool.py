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
        await doc.write(chunk) ...               # streamed, hashed as it goes
        staged = await doc.finish()              # fsync file, rename, fsync dir
    job = await spool.submit(queue, attrs, [NewDocument(staged, ...)], origin,
                             folder=folder)      # one committed transaction

Only after ``submit`` returns is the job durable, and only then may a
front-end acknowledge it (LPD's last ack, IPP's response). A crash before the
commit leaves a folder that no row names; `Spool.open` deletes it. A crash
after the commit leaves a pending job that the dispatcher forwards again.

Job ids come from SQLite's AUTOINCREMENT, so they are positive, increase and
are never reused, also after jobs are purged and across restarts.

Reads are served from an in-memory copy of every row (the history is bounded
by retention), so lpq and Get-Jobs never touch the disk. Writes go through
one lock: validate against the in-memory job, write the row in a worker
thread (SQLite commit with fsync), then replace the in-memory job and tell
the listeners (the dispatcher) what changed.
"""

from __future__ import annotations

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

JobListener = Callable[[Job, Job | None], None]


class SpoolError(Exception):
    """A spool operation that cannot be done, with a reason a client can read."""


class NoSpace(SpoolError):
    """The spool has no room: LPD NAK 2 ("no space"), IPP server-error-busy."""


class JobNotFound(SpoolError):
    """No job with that id (perhaps purged from history)."""


class NotPossible(SpoolError):
    """The job's state does not allow this (IPP client-error-not-possible)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A document file that is on disk and fsync'ed, not yet part of a job."""

    path: str  # relative to the spool root
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class NewDocument:
    """What a front-end knows about a document it has staged."""

    staged: StagedFile
    format: str
    name: str = ""
    attributes: Attributes | None = None


class DocumentWriter:
    """Streams one document into its job folder, hashing as it writes.

    Writes run in a worker thread so that disk latency never blocks the
    event loop; the caller keeps at most one chunk in memory.
    """

    def __init__(self, spool: Spool, folder: JobFolder, number: int) -> None:
        self._spool = spool
        self._folder = folder
        self.number = number
        self._final = folder.path / f"doc-{number}"
        self._part = folder.path / f"doc-{number}.part"
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False

    async def _open(self) -> None:
        def create() -> BinaryIO:
            self._folder.path.mkdir(mode=0o750, exist_ok=True)
            return open(self._part, "wb")  # closed in finish() or discard()

        self._file = await trio.to_thread.run_sync(create)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes; raises `NoSpace` when the disk fills or a limit is hit."""
        if self._file is None:
            raise SpoolError("document writer is closed")
        limit = self._spool.max_job_size
        if limit and self.size + len(data) > limit:
            raise NoSpace(f"job is larger than the limit of {limit} bytes")
        file = self._file
        digest = self._hash

        def put() -> None:
            file.write(data)
            digest.update(data)

        try:
            await trio.to_thread.run_sync(put)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace("no space left in the spool") from exc
            raise
        self.size += len(data)

    async def finish(self) -> StagedFile:
        """Flush, fsync and rename the file into place; it is now durable."""
        file = self._file
        if file is None:
            raise SpoolError("document writer is closed")
        self._file = None

        def settle() -> None:
            try:
                file.flush()
                os.fsync(file.fileno())
            finally:
                file.close()
            os.rename(self._part, self._final)
            _fsync_dir(self._folder.path)
            if not self._folder.dir_synced:
                _fsync_dir(self._folder.path.parent)
                self._folder.dir_synced = True

        try:
            await trio.to_thread.run_sync(settle)
        except OSError as exc:
            await self.discard()
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise NoSpace("no space left in the spool") from exc
            raise
        self._done = True
        rel = self._final.relative_to(self._spool.root).as_posix()
        return StagedFile(path=rel, size=self.size, sha256=self._hash.hexdigest())

    async def discard(self) -> None:
        """Forget this document: close and delete whatever was written."""
        file, self._file = self._file, None

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
        await self._open()
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
        self.dir_synced = False

    def document(self, number: int | None = None) -> DocumentWriter:
        """A writer for the next document (``async with folder.document() as w``)."""
        if number is None:
            number = self._next
        self._next = max(self._next, number + 1)
        return DocumentWriter(self._spool, self, number)

    async def discard(self) -> None:
        """Delete the folder and everything in it (a job that was never committed)."""
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
        self._jobs: dict[int, Job] = {}
        self._folders: dict[int, str] = {}
        self._lock = trio.Lock()
        self._db_limiter = trio.CapacityLimiter(1)
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
            self._jobs[job_id] = job
            self._folders[job_id] = folder

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
        async with self._lock:
            with trio.CancelScope(shield=True):
                await self._run(lambda db: db.close())

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        db = self._db
        return await trio.to_thread.run_sync(fn, db, limiter=self._db_limiter)

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
        job = self._jobs[job_id]
        if job.documents:
            folder._next = max(d.number for d in job.documents) + 1
        folder.dir_synced = True
        return folder

    def document_path(self, doc: Document) -> Path:
        """Where a document's bytes are (for backends to read)."""
        return self.root / doc.path

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
        async with self._lock:
            data = json.dumps(_job_to_json(job))

            def insert(db: sqlite3.Connection) -> int:
                cur = db.execute(
                    "INSERT INTO jobs (queue, state, folder, data) VALUES (?, ?, ?, ?)",
                    (queue, int(job.state), folder.key, data),
                )
                assert cur.lastrowid is not None
                return cur.lastrowid

            job_id = await self._run(insert)
            job = job.evolve(id=job_id)
            self._jobs[job_id] = job
            self._folders[job_id] = folder.key
        self._notify(job, None)
        return job

    async def add_document(self, job_id: int, document: NewDocument, *, last: bool) -> Job:
        """Add a document to an incoming job (Send-Document); ``last`` closes it."""
        async with self._lock:
            job = self._get(job_id)
            if not job.incoming:
                raise NotPossible(f"job {job_id} is not waiting for documents")
            number = max((d.number for d in job.documents), default=0) + 1
            new = job.evolve(
                documents=(*job.documents, _document(number, document)),
                incoming=not last,
                state_reasons=("job-incoming",) if not last else ("none",),
            )
            return await self._store(new, old=job)

    async def close_job(self, job_id: int) -> Job:
        """Close an incoming job without another document (Close-Job, last-document)."""
        async with self._lock:
            job = self._get(job_id)
            if not job.incoming:
                return job
            if not job.documents:
                new = job.evolve(
                    incoming=False,
                    state=JobState.ABORTED,
                    completed=time.time(),
                    state_reasons=("aborted-by-system",),
                    state_message="job was closed without any document",
                )
            else:
                new = job.evolve(incoming=False, state_reasons=("none",))
            return await self._store(new, old=job)

    # ------------------------------------------------------------------
    # Reading

    def _get(self, job_id: int) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(f"job {job_id} does not exist") from None

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self, queue: str | None = None) -> Iterator[Job]:
        """Every job, in id order, optionally of one queue."""
        for job_id in sorted(self._jobs):
            job = self._jobs[job_id]
            if queue is None or job.queue == queue:
                yield job

    def active_jobs(self, queue: str | None = None) -> list[Job]:
        """Jobs not yet ended, in the order they will be (or are being) forwarded."""
        return [j for j in self.jobs(queue) if not j.state.is_terminal]

    def next_pending(self, queue: str) -> Job | None:
        """The oldest job of ``queue`` that is waiting to be forwarded, if any."""
        for job in self.jobs(queue):
            if job.state == JobState.PENDING and not job.incoming:
                return job
        return None

    # ------------------------------------------------------------------
    # Changing jobs

    async def update(self, job_id: int, **changes: Any) -> Job:
        """Change a job's fields; a change of ``state`` must be in the transition table."""
        async with self._lock:
            job = self._get(job_id)
            new = job.evolve(**changes)
            if "state" in changes:
                new = _stamp(job, new)
            return await self._store(new, old=job)

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
        """Like `transition`, but only while the job is in one of ``only_from``,
        checked under the lock: None when something else (a cancel) moved it first."""
        if reasons is not None:
            changes["state_reasons"] = tuple(reasons) or ("none",)
        if message is not None:
            changes["state_message"] = message
        async with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state not in only_from:
                return None
            return await self._store(_stamp(job, job.evolve(state=state, **changes)), old=job)

    async def cancel(
        self, job_id: int, *, reason: str = "job-canceled-by-user", message: str = ""
    ) -> Job:
        """Cancel a job. One already forwarded is marked for the dispatcher to
        cancel at the backend too (``cancel_requested``)."""
        async with self._lock:
            job = self._get(job_id)
            if job.state.is_terminal:
                raise NotPossible(f"job {job_id} is already {job.state.keyword}")
            forwarded = job.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED)
            new = _stamp(
                job,
                job.evolve(
                    state=JobState.CANCELED,
                    state_reasons=(reason,),
                    state_message=message or "canceled",
                    cancel_requested=forwarded,
                    incoming=False,
                ),
            )
            return await self._store(new, old=job)

    async def _store(self, job: Job, *, old: Job | None = None, check: bool = True) -> Job:
        """Write one job row; the caller holds the lock (or is recovering)."""
        if check and old is not None and job.state != old.state:
            old.state.check_transition(job.state)
        job = job.evolve(updated=time.time())
        data = json.dumps(_job_to_json(job))

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE jobs SET state = ?, data = ? WHERE id = ?",
                (int(job.state), data, job.id),
            )

        await self._run(write)
        self._jobs[job.id] = job
        self._notify(job, old)
        return job

    # ------------------------------------------------------------------
    # History retention

    async def purge(self, now: float | None = None) -> list[int]:
        """Forget ended jobs past the history limits (count and age), and their files."""
        now = time.time() if now is None else now
        ended = [j for j in self.jobs() if j.state.is_terminal]
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
        async with self._lock:

            def delete(db: sqlite3.Connection) -> None:
                db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in ids])

            await self._run(delete)
            folders = [self._folders.pop(i) for i in ids]
            for i in ids:
                del self._jobs[i]

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
