"""Document staging: the ``jobs/`` folder, where documents stream in before they are jobs.

Why a module of its own: everything the spool does with files is here (folders
and file names, buffered and streamed writes, fsync, room left on the disk),
apart from the records, which are the store's. A store of any kind (SQLite
beside the folder, a PostgreSQL server elsewhere) commits a job's record only
after the files it names are made durable here.

Every job has a folder ``jobs/<job-uuid>/`` holding its document files. Folder
and file names are always made here (a uuid, then ``doc-<n>``); nothing a client
sends is ever used as a path. Small documents (up to `BUFFER_SIZE`) are held in
memory until `DocumentWriter.finish` and reach the disk in one step; large ones
stream through a worker thread and are fsync'ed by ``finish`` itself, so that a
big fsync never holds up other jobs' commits. The rest (`Staging.to_sync`: the
files not yet fsync'ed, the job's folder, ``jobs/``) is fsync'ed by the commit
that adds the documents to a job (`gateway.core.spool.groupcommit`).

Room: a file whose size is announced before it comes (LPD's ack 1 promises
room for it) takes a `Reservation` of that size (`Staging.reserve`). Until its
bytes are on the disk they count as used in every room check, so jobs that
arrive together cannot all be promised the same free space; the reservation
shrinks as the file is written and is gone when the file ends, fails or is
dropped (a context manager and the writer both release it, so it never
leaks). ``limits.max_job_size`` bounds a job's total: the writer counts the
documents already finished in its `JobFolder`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import trio

from gateway.core.job import Attributes, Document

from .errors import NoSpace, SpoolError

JOBS_DIR = "jobs"
CHUNK_SIZE = 256 * 1024
#: A document up to this size is held in memory until `DocumentWriter.finish`.
BUFFER_SIZE = 256 * 1024
#: A document over this size is fsync'ed by `DocumentWriter.finish`, not by the commit.
SYNC_ON_FINISH = 1024 * 1024


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

    def to_document(self, number: int) -> Document:
        """The job's document number ``number``, once committed."""
        return Document(
            number=number,
            path=self.staged.path,
            format=self.format,
            size=self.staged.size,
            sha256=self.staged.sha256,
            name=self.name,
            attributes=dict(self.attributes or {}),
        )


class Staging:
    """The ``jobs/`` folder of a spool at ``root`` and the limits on what goes in."""

    def __init__(
        self,
        root: Path,
        *,
        max_job_size: int = 0,
        min_free_space: int = 0,
        documents: Path | None = None,
    ) -> None:
        self.root = root
        #: Where job folders are: ``root/jobs`` or a folder shared by several
        #: gateways (``[spool] documents``). Records name documents
        #: ``jobs/<key>/doc-N`` either way (`path_of` resolves them).
        self.jobs_dir = documents if documents is not None else root / JOBS_DIR
        self.max_job_size = max_job_size
        self.min_free_space = min_free_space
        #: Bytes promised to files being received and not yet on the disk.
        self.reserved = 0

    def prepare(self) -> None:
        """Make the spool folder and ``jobs/`` if needed (blocking)."""
        self.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.jobs_dir.mkdir(mode=0o750, parents=True, exist_ok=True)

    def new_folder(self) -> JobFolder:
        """A folder for a job being received (not yet a job)."""
        return JobFolder(self, uuid.uuid4().hex)

    def folder(self, key: str, next_number: int = 1) -> JobFolder:
        """The folder ``key`` of an existing job, whose next document is ``next_number``."""
        return JobFolder(self, key, next_number)

    def document_path(self, doc: Document) -> Path:
        """Where a document's bytes are."""
        return self.path_of(doc.path)

    def path_of(self, rel: str) -> Path:
        """The file a record's document path (``jobs/<key>/doc-N``) names."""
        return self.jobs_dir / Path(rel).relative_to(JOBS_DIR)

    def to_sync(self, documents: Iterable[NewDocument], folder: JobFolder) -> list[str]:
        """What must be fsync'ed before a commit adds ``documents`` in ``folder``:
        the files not yet fsync'ed, then the folder and ``jobs/``."""
        documents = list(documents)
        paths = [str(self.path_of(d.staged.path)) for d in documents if not d.staged.synced]
        if folder.created or documents:
            paths += [str(folder.path), str(self.jobs_dir)]
        return paths

    def remove_folders(self, keys: Iterable[str]) -> None:
        """Delete job folders and what they hold (blocking)."""
        for key in keys:
            shutil.rmtree(self.jobs_dir / key, ignore_errors=True)

    # ------------------------------------------------------------------
    # Room

    def free_space(self) -> int:
        return shutil.disk_usage(self.jobs_dir).free

    def has_room(self, size: int) -> bool:
        """Whether a document of ``size`` bytes fits (size limit and free space)."""
        try:
            self.check_room(size)
        except NoSpace:
            return False
        return True

    def check_room(self, size: int, *, job_size: int | None = None) -> None:
        """Raise `NoSpace` with a reason unless ``size`` more bytes fit: the
        free space less what is reserved, and the job (``job_size`` bytes with
        these, else ``size``) within ``max_job_size``."""
        total = size if job_size is None else job_size
        if self.max_job_size and total > self.max_job_size:
            raise NoSpace(
                f"job of {total} bytes is larger than the limit of {self.max_job_size} bytes"
            )
        if self.free_space() - self.reserved - size < self.min_free_space:
            raise NoSpace("not enough free space in the spool")

    def reserve(self, size: int, *, job_size: int | None = None) -> Reservation:
        """Room for ``size`` bytes that are about to come (`check_room`, then
        held until released; use as ``with staging.reserve(n) as room:``)."""
        self.check_room(size, job_size=job_size)
        return Reservation(self, size)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def fsync_path(path: str) -> OSError | None:
    """fsync a file or folder by name (blocking); the error, if it failed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return exc
    try:
        os.fsync(fd)
    except OSError as exc:
        return exc
    finally:
        os.close(fd)
    return None


class Reservation:
    """Room promised to a file that is coming (see the module doc): counted in
    `Staging.reserved` until the file's bytes are on the disk or it is released."""

    def __init__(self, staging: Staging, size: int) -> None:
        self._staging = staging
        self.size = size
        self.left = size
        staging.reserved += size

    def written(self, on_disk: int) -> None:
        """``on_disk`` bytes of the file are on the disk: that much less is reserved."""
        self._set(max(0, min(self.left, self.size - on_disk)))

    def release(self) -> None:
        """The file ended (or failed): nothing more is reserved. Idempotent."""
        self._set(0)

    def _set(self, left: int) -> None:
        self._staging.reserved -= self.left - left
        self.left = left

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


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

    def __init__(
        self,
        staging: Staging,
        folder: JobFolder,
        number: int,
        reservation: Reservation | None = None,
    ) -> None:
        self._staging = staging
        self._folder = folder
        self._reservation = reservation
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
        limit = self._staging.max_job_size
        if limit and self._folder.size + self.size + len(data) > limit:
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
            if is_disk_full(exc):
                raise NoSpace("no space left in the spool") from exc
            raise
        self.size += len(data)
        if self._reservation is not None:
            self._reservation.written(self.size)

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
            if is_disk_full(exc):
                raise NoSpace("no space left in the spool") from exc
            raise
        finally:
            if self._reservation is not None:
                self._reservation.release()
        self._done = True
        self._folder.size += self.size
        rel = (Path(JOBS_DIR) / self._final.relative_to(self._staging.jobs_dir)).as_posix()
        return StagedFile(path=rel, size=self.size, sha256=digest, synced=sync)

    async def discard(self) -> None:
        """Forget this document: close and delete whatever was written."""
        if self._reservation is not None:
            self._reservation.release()
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

    def __init__(self, staging: Staging, key: str, next_number: int = 1) -> None:
        self._staging = staging
        self.key = key
        self.path = staging.jobs_dir / key
        self._next = next_number
        self.created = False  # made on the first write that reaches the disk
        #: Bytes of the documents finished through this object (the job's total
        #: so far, for ``max_job_size``).
        self.size = 0

    def document(
        self, number: int | None = None, *, reservation: Reservation | None = None
    ) -> DocumentWriter:
        """A writer for the next document (``async with folder.document() as w``);
        it uses up ``reservation`` as it writes and releases it when it ends."""
        if number is None:
            number = self._next
        self._next = max(self._next, number + 1)
        return DocumentWriter(self._staging, self, number, reservation)

    async def discard(self) -> None:
        """Delete the folder and everything in it (a job that was never committed)."""
        if not self.created:
            return
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(shutil.rmtree, self.path, True)


__all__ = [
    "BUFFER_SIZE",
    "CHUNK_SIZE",
    "JOBS_DIR",
    "SYNC_ON_FINISH",
    "DocumentWriter",
    "JobFolder",
    "NewDocument",
    "Reservation",
    "StagedFile",
    "Staging",
    "fsync_path",
    "is_disk_full",
]
