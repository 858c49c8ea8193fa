"""The ``file://`` backend: each finished job becomes files in a folder.

For job 12 with two documents the folder gets ``job-12-1.pdf``,
``job-12-2.txt`` and the sidecar ``job-12.json`` (the job's IPP attributes and
a ``documents`` list), per DESIGN.md. Every file is written under a
temporary name (``.job-12-1.pdf.tmp``), fsync'ed and renamed, and the
sidecar comes last: a sidecar present means the job is complete.

Delivering the same job twice (after a crash between writing and recording
completion) writes the same names again, so the folder holds one copy.
Documents are hard-linked from the spool when the folder is on the same
file system, else copied in chunks.

Messages clients see (job-state-message, printer-state-message) never name the
folder, a path on this server: a job says ``delivered as job-12-1.pdf``, a
problem says "the output folder"; the folder is in the log (the job event
lines carry the backend URI, and a folder that cannot be written is logged
when that starts).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import trio

from gateway.backends.base import (
    BackendOption,
    Capabilities,
    DocumentSource,
    PermanentBackendError,
    PrinterStatus,
    RemoteJobStatus,
    Submission,
    TransientBackendError,
)
from gateway.core.job import Job, JobState

log = logging.getLogger("gateway.backends.file")

#: document-format -> file name extension.
EXTENSIONS: dict[str, str] = {
    "application/pdf": "pdf",
    "application/postscript": "ps",
    "application/vnd.hp-pcl": "pcl",
    "application/vnd.hp-pclxl": "pxl",
    "application/x-dvi": "dvi",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tiff",
    "image/pwg-raster": "pwg",
    "image/urf": "urf",
    "text/plain": "txt",
    "application/octet-stream": "bin",
}

COPY_CHUNK = 1024 * 1024


#: A folder takes any format and reports no printer attributes.
FILE_CAPABILITIES = Capabilities(document_formats=None)

#: A file:// queue has no options.
FILE_OPTIONS: Final[Mapping[str, BackendOption]] = {}


def extension(document_format: str) -> str:
    """The extension for a MIME type (parameters such as charset are ignored)."""
    base = document_format.split(";", 1)[0].strip().lower()
    return EXTENSIONS.get(base, "bin")


def folder_from_uri(uri: str) -> Path:
    parts = urlsplit(uri)
    return Path(unquote(parts.path))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _place(source: Path, target: Path) -> None:
    """Put ``source``'s bytes at ``target`` atomically (temp name, fsync, rename)."""
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, COPY_CHUNK)
            dst.flush()
            os.fsync(dst.fileno())
    os.rename(tmp, target)
    # rename() of two links to one file (a second delivery) does nothing: drop the temp.
    tmp.unlink(missing_ok=True)


def _write_json(target: Path, data: dict[str, Any]) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.rename(tmp, target)


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks (a document the spool did not hash)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def delivered_message(files: list[str]) -> str:
    """The job-state-message of a delivered job: its file names, never the folder."""
    if not files:
        return "delivered"
    more = len(files) - 1
    return f"delivered as {files[0]}" + (f" and {more} more" if more else "")


def sidecar(job: Job, files: list[str], digests: list[str] | None = None) -> dict[str, Any]:
    """The sidecar's content: job attributes, origin and the documents list
    (``digests``: each document's SHA-256, else the spool's)."""
    data: dict[str, Any] = dict(job.attributes)
    data.update(
        {
            "job-id": job.id,
            "queue": job.queue,
            "job-name": job.name,
            "job-originating-user-name": job.user,
            "time-at-creation": int(job.created),
            "origin": job.origin.to_json(),
        }
    )
    if job.origin.host:
        data.setdefault("job-originating-host-name", job.origin.host)
    data.setdefault("copies", 1)
    data.setdefault("job-sheets", "none")
    data["documents"] = [
        {
            "file": name,
            "document-number": doc.number,
            "document-name": doc.name,
            "document-format": doc.format,
            "size": doc.size,
            "sha256": digest,
            **({"attributes": doc.attributes} if doc.attributes else {}),
        }
        for name, doc, digest in zip(
            files, job.documents, digests or [d.sha256 for d in job.documents], strict=True
        )
    ]
    return data


class FileBackend:
    """Writes jobs into a local folder."""

    one_job_at_a_time = False

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.folder = folder_from_uri(uri)
        self._unwritable = False  # logged once until the folder is writable again

    def _deliver(self, job: Job, source: DocumentSource) -> list[str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        files = []
        digests = []
        for doc in job.documents:
            name = f"job-{job.id}-{doc.number}.{extension(doc.format)}"
            path = source.document_path(doc)
            _place(path, self.folder / name)
            files.append(name)
            # Large documents are not hashed on the way in (spool.DocumentWriter).
            digests.append(doc.sha256 or sha256_of(path))
        _write_json(self.folder / f"job-{job.id}.json", sidecar(job, files, digests))
        _fsync_dir(self.folder)
        return files

    async def submit(self, job: Job, source: DocumentSource) -> Submission:
        try:
            files = await trio.to_thread.run_sync(self._deliver, job, source)
        except FileNotFoundError as exc:
            log.warning("job %d: a document is missing from the spool: %s", job.id, exc.filename)
            raise PermanentBackendError(
                f"a document of job {job.id} is missing from the spool"
            ) from exc
        except PermissionError as exc:
            raise TransientBackendError(
                "cannot write to the output folder: permission denied", reason="other"
            ) from exc
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise TransientBackendError(
                    "no space left in the output folder", reason="spool-area-full"
                ) from exc
            raise TransientBackendError(
                f"cannot write to the output folder: {exc.strerror}", reason="other"
            ) from exc
        return Submission(state=JobState.COMPLETED, message=delivered_message(files))

    async def job_status(self, job: Job) -> RemoteJobStatus:
        return RemoteJobStatus(state=JobState.COMPLETED)

    async def cancel(self, job: Job) -> None:
        return None

    async def printer_status(self) -> PrinterStatus:
        ok = await trio.to_thread.run_sync(self._writable)
        if ok:
            self._unwritable = False
            return PrinterStatus()
        if not self._unwritable:
            log.warning("file backend: cannot write to %s", self.folder)
            self._unwritable = True
        return PrinterStatus(
            state="stopped", reasons=("other",), message="cannot write to the output folder"
        )

    def _writable(self) -> bool:
        probe = self.folder if self.folder.exists() else self.folder.parent
        return os.access(probe, os.W_OK)

    def capabilities(self) -> Capabilities:
        return FILE_CAPABILITIES

    async def aclose(self) -> None:
        return None
