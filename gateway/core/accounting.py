"""Job accounting: one record per ended job, exactly once, across crashes.

Why: teams must say who printed how much where. Every job that reaches a
terminal state (completed, canceled, aborted) gets one JSON line in the
accounting file (``[accounting] file``, by default ``<spool>/accounting.jsonl``)
and, when ``page_log`` is set, one line in CUPS's page_log format, so the
tools that read CUPS's page_log read it too.

Theory of operation
-------------------
The record is written first and the job marked second: the JSON line is
appended and fsync'ed (then the page_log line), and only then is the job
committed with ``accounted=True`` in the spool. A crash before the write loses
nothing (the job is still un-accounted, so it is written after the restart); a
crash between the write and the mark would double the record, so on start,
before writing anything, the `Accountant` reads the accounting file and its
newest rotated file (``file.1``) for the ids of the ended, un-accounted jobs:
those found are only marked. Records carry the spool's identity (``spool``, a
random id kept in the spool's key/value state), so two gateways writing one
file do not take each other's records for their own. The page_log line of a
job found this way is looked for too (it is a function of the job: printer,
user, job id and the time the job ended), so it is neither lost nor doubled.

Writing never holds up the event loop nor job submission: the spool's change
listener only puts the id of a job that ended into a bounded queue (a full
queue sets a flag, and a scan of the spool catches up); one task takes the
ids in batches and does the file I/O in a thread. A write that fails (a full
disk, an I/O error) is cut back to where it began, logged once, and tried again
later; the jobs stay un-accounted in the spool meanwhile, so nothing is lost.
Appends take an exclusive ``flock`` on the file, and a line left half-written
by a crash is cut off before the next append.

Rotation: a file that passes ``max_size`` bytes is renamed to ``file.1``
(``file.1`` to ``file.2`` ... up to ``keep``) and a new one started; `rotate`
(SIGUSR1) does the same at once, unless the file was already renamed by an
external logrotate, in which case the next append simply creates the new file
(the file is opened for each batch, never held open). While a record is written
but its job not yet marked, rotation waits, so the record stays within the
files the start-up check reads.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import trio

from gateway.config import AccountingConfig
from gateway.core.job import Job, JobState, JsonValue
from gateway.core.queues import Queues
from gateway.core.spool import JobNotFound, Spool, SpoolError

log = logging.getLogger("gateway.accounting")

#: The spool's key/value state entry holding its identity (written once).
SPOOL_ID_KEY: Final = "spool-id"
#: Version of the JSON record layout (bumped when a field changes meaning).
SCHEMA: Final = 1
DEFAULT_FILE: Final = "accounting.jsonl"
FILE_MODE: Final = 0o640  # records name users: not for everyone to read

QUEUE_MAX: Final = 4096  # ids waiting; beyond this a spool scan catches up
BATCH_MAX: Final = 256  # records per append (one fsync)
SCAN_INTERVAL: Final = 60.0  # a spool scan this often, as a safety net
RETRY_INITIAL: Final = 1.0
RETRY_MAX: Final = 30.0
FAILURE_REMINDER: Final = 600.0  # a failure that lasts is logged again this often
MARK_GRACE: Final = 10.0  # seconds a stop waits for the marks of written records

_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip
_BLANK: Final = re.compile(r"[\s\x00-\x1f\x7f]")
#: A record's job id as `record_line` writes it (a quote inside a JSON string is
#: escaped, so text a client chose never matches).
_JOB_ID: Final = re.compile(rb'"job_id":(\d+)[,}]')

FileId = tuple[int, int]  # (st_dev, st_ino)
_T = TypeVar("_T")


# ----------------------------------------------------------------------
# Records (pure)


def impressions(job: Job) -> int | None:
    """The job's impressions, all copies: job-impressions-completed when the
    backend reported it, else, for a completed job whose pages were counted,
    pages times copies; None when not known."""
    if job.impressions_completed > 0:
        return job.impressions_completed
    pages = job.pages
    if job.state == JobState.COMPLETED and pages is not None:
        return pages * copies(job)
    return None


def copies(job: Job) -> int:
    value = job.attributes.get("copies")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def media(job: Job) -> str | None:
    """``media``, else media-col's name (media-key, media-size-name), else its
    size as ``custom_<w>x<h>mm``; None when the job names none."""
    value = job.attributes.get("media")
    if isinstance(value, str) and value:
        return value
    col = job.attributes.get("media-col")
    if not isinstance(col, Mapping):
        return None
    for key in ("media-key", "media-size-name"):
        name = col.get(key)
        if isinstance(name, str) and name:
            return name
    size = col.get("media-size")
    if isinstance(size, Mapping):
        x, y = size.get("x-dimension"), size.get("y-dimension")
        if isinstance(x, int) and isinstance(y, int):
            return f"custom_{_mm(x)}x{_mm(y)}mm"
    return None


def _mm(hundredths: int) -> str:
    return f"{hundredths / 100:.2f}".rstrip("0").rstrip(".")


def _text(job: Job, name: str) -> str | None:
    value = job.attributes.get(name)
    return value if isinstance(value, str) and value else None


def host(job: Job) -> str:
    """job-originating-host-name, else the claimed host, else the peer address."""
    return _text(job, "job-originating-host-name") or job.origin.host or job.origin.peer


def billing(job: Job) -> str | None:
    """job-account-id (PWG 5100.7), or CUPS's older job-billing."""
    return _text(job, "job-account-id") or _text(job, "job-billing")


def accounting_backend(uri: str) -> str:
    """The backend URI without credentials, query or fragment (which may carry
    passwords or options); the operator reading the file may see its folder."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def rfc3339(timestamp: float | None) -> str | None:
    """RFC 3339 date-time in UTC with milliseconds, e.g. 2026-12-02T04:29:35.120Z."""
    if timestamp is None:
        return None
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(job: Job, *, spool_id: str, backend: str | None) -> dict[str, JsonValue]:
    """The accounting record of an ended job (see the README's Accounting section)."""
    docs: list[dict[str, JsonValue]] = []
    for d in job.documents:
        doc: dict[str, JsonValue] = {
            "number": d.number,
            "name": d.name,
            "format": d.format,
            "size": d.size,
            "pages": d.pages,
        }
        if d.print_path:  # converted: what the printer got
            doc |= {"print_format": d.print_format, "print_size": d.print_size}
        docs.append(doc)
    return {
        "schema": SCHEMA,
        "time": rfc3339(job.ended_at),
        "spool": spool_id,
        "queue": job.queue,
        "job_id": job.id,
        "job_uuid": _text(job, "job-uuid"),
        "user": job.user,
        "host": host(job),
        "peer": job.origin.peer,
        "frontend": job.origin.frontend.value,
        "authenticated": job.origin.authenticated,
        "job_name": job.name,
        "document_count": len(job.documents),
        "documents": docs,
        "bytes": job.size,
        "pages": job.pages,
        "impressions_completed": job.impressions_completed or None,
        "impressions": impressions(job),
        "copies": copies(job),
        "media": media(job),
        "sides": _text(job, "sides"),
        "billing": billing(job),
        "result": job.state.keyword,
        "reasons": list(job.state_reasons),
        "message": job.state_message,
        "backend": backend,
        "backend_job_id": job.backend_job_id,
        "created": rfc3339(job.created),
        "processing": rfc3339(job.processing),
        "completed": rfc3339(job.completed),
    }


def record_line(data: Mapping[str, JsonValue]) -> bytes:
    """One JSON line, UTF-8; text that is not valid Unicode is \\u-escaped instead."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(data, separators=(",", ":")) + "\n").encode("ascii")


def clf_time(timestamp: float) -> str:
    """Common Log Format time in local time, as CUPS writes it:
    ``[02/Dec/2026:04:29:35 +0000]`` (English month names whatever the locale)."""
    t = time.localtime(timestamp)
    offset = t.tm_gmtoff or 0
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return (
        f"[{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{hours:02d}{minutes:02d}]"
    )


def _field(value: object) -> str:
    """A page_log field: '-' when empty; blanks and control characters become '_'
    so that the line always splits into the same columns."""
    text = "" if value is None else str(value)
    return _BLANK.sub("_", text) or "-"


def page_log_key(job: Job) -> str:
    """The start of the job's page_log line (printer user job-id date-time): what the
    start-up check looks for."""
    return f"{_field(job.queue)} {_field(job.user)} {job.id} {clf_time(job.ended_at)}"


def page_log_line(job: Job) -> str:
    """The job's line in CUPS's default PageLogFormat, ``%p %u %j %T %P %C
    %{job-billing} %{job-originating-host-name} %{job-name} %{media} %{sides}``,
    with the page number ``total`` and the job's impressions as CUPS writes it
    once a job ends (0 when not known)."""
    fields = (
        _field(impressions(job) or 0),
        _field(billing(job)),
        _field(host(job)),
        _field(job.name),
        _field(media(job)),
        _field(_text(job, "sides")),
    )
    return f"{page_log_key(job)} total {' '.join(fields)}\n"


# ----------------------------------------------------------------------
# Files (blocking; called in a thread)


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def append(path: Path, data: bytes) -> tuple[FileId, int]:
    """Append whole lines to ``path`` and fsync it, under an exclusive flock; a
    line a crash left half-written is cut off first. On an error the file is cut
    back to where the append began, and the error raised. Returns the file's
    identity and its size after the append."""
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = _cut_torn_tail(path, fd)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
        if created:
            _fsync_dir(path.parent)
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino), st.st_size
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path, fd: int) -> int:
    """Truncate after the last newline when the file does not end with one; the new size."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    os.ftruncate(fd, end)
    os.fsync(fd)
    log.warning("accounting: cut %d byte(s) of a line left half-written in %s", size - end, path)
    return end


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_id(path: Path) -> FileId | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def rotate(path: Path, keep: int, known: FileId | None) -> bool:
    """Rename ``path`` to ``path.1`` (``.1`` to ``.2`` ... the oldest beyond
    ``keep`` is overwritten); True when it did. Nothing is done to a file that
    is missing, empty, or not the one last written (``known``: an external
    logrotate already renamed it and perhaps made a new one)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size == 0 or (known is not None and (st.st_dev, st.st_ino) != known):
        return False
    for n in range(max(1, keep) - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            rotated(path, n).rename(rotated(path, n + 1))
    path.rename(rotated(path, 1))
    _fsync_dir(path.parent)
    return True


def _lines(paths: Iterable[Path]) -> Iterable[bytes]:
    for path in paths:
        try:
            with path.open("rb") as fh:
                yield from fh
        except FileNotFoundError:
            continue


def written_ids(paths: Iterable[Path], spool_id: str, wanted: set[int]) -> set[int]:
    """Of the job ids ``wanted``, those with a record of spool ``spool_id`` in ``paths``."""
    marker = spool_id.encode()
    found: set[int] = set()
    for line in _lines(paths):
        key = _JOB_ID.search(line)  # a quick look first: most lines are not wanted
        if key is None or int(key.group(1)) not in wanted or marker not in line:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("spool") == spool_id:
            job_id = data.get("job_id")
            if isinstance(job_id, int) and job_id in wanted:
                found.add(job_id)
    return found


def written_page_keys(paths: Iterable[Path], wanted: set[str]) -> set[str]:
    """Of the page_log keys ``wanted`` (`page_log_key`), those with a line in ``paths``."""
    found: set[str] = set()
    for raw in _lines(paths):
        key = " ".join(raw.decode("utf-8", "replace").split(" ", 5)[:5])
        if key in wanted:
            found.add(key)
    return found


# ----------------------------------------------------------------------
# The accountant


class Accountant:
    """Writes one record per ended job of ``spool``; start `run` in the nursery
    before the dispatcher. ``queues`` names each job's backend."""

    def __init__(
        self,
        spool: Spool,
        queues: Queues,
        settings: AccountingConfig,
        *,
        spool_dir: Path,
        clock: Callable[[], float] = time.monotonic,
        owns: Callable[[str], bool] = lambda queue: True,
    ) -> None:
        self.spool = spool
        #: Whether this gateway accounts a queue's jobs: with a store shared by
        #: several gateways, only the one holding the queue's forwarding lease
        #: (``Dispatcher.holds``), so each job is accounted once, in one file.
        #: A queue taken over is picked up by the next periodic scan.
        self._owns = owns
        self.queues = queues
        self.settings = settings
        self.file = settings.file or spool_dir / DEFAULT_FILE
        self.page_log = settings.page_log
        self._clock = clock
        self.spool_id = ""
        self._due: dict[int, None] = {}  # ids of ended jobs to account, in order
        self._behind = True  # scan the spool for ended, un-accounted jobs
        self._wake = trio.Event()
        self._json_done: set[int] = set()  # JSON line durable, job not yet marked
        self._page_done: set[int] = set()  # page_log line durable, job not yet marked
        self._known: dict[Path, FileId | None] = {}  # the file each path was last seen as
        self._sizes: dict[Path, int] = {}
        self._rotate_wanted = False
        self._failure: str | None = None
        self._last_failure_log = -FAILURE_REMINDER
        #: Jobs accounted (record written and job marked) since the start.
        self.accounted = 0
        spool.keep_unaccounted = True
        spool.add_listener(self._on_change)

    @property
    def paths(self) -> list[Path]:
        return [self.file] if self.page_log is None else [self.file, self.page_log]

    # ------------------------------------------------------------------
    # What the rest of the gateway calls

    def rotate(self) -> None:
        """Rotate the files now (SIGUSR1); a file an external logrotate has
        already renamed is only started afresh."""
        self._rotate_wanted = True
        self._wake.set()

    def catch_up(self) -> None:
        """Look for ended, un-accounted jobs again now (this gateway took a queue
        over from another one of the fleet)."""
        self._behind = True
        self._wake.set()

    def _on_change(self, job: Job, old: Job | None) -> None:
        if not job.state.is_terminal or job.accounted or not self._owns(job.queue):
            return
        if old is not None and old.state.is_terminal:
            return  # queued when it ended
        if len(self._due) >= QUEUE_MAX:
            self._behind = True
        else:
            self._due[job.id] = None
        self._wake.set()

    # ------------------------------------------------------------------
    # The task

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Account every ended job until cancelled: first those a stop left
        (the start-up check), then each as it ends."""
        task_status.started()
        self.spool_id = await self._retrying("read the spool's identity", self._identity)
        await self._retrying("check the accounting files", self._check_written)
        delay = RETRY_INITIAL
        while True:
            self._wake = trio.Event()
            if self._rotate_wanted and not self._json_done:
                self._rotate_wanted = False
                await self._rotate_all(forced=True)
            batch = self._take()
            if not batch:
                with trio.move_on_after(SCAN_INTERVAL) as idle:
                    await self._wake.wait()
                if idle.cancelled_caught:
                    self._behind = True
                continue
            if await self._account(batch):
                delay = RETRY_INITIAL
                if not self._json_done:
                    await self._rotate_all(forced=False)
            else:
                await trio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)

    async def _retrying(self, what: str, step: Callable[[], Awaitable[_T]]) -> _T:
        delay = RETRY_INITIAL
        while True:
            try:
                return await step()
            except (OSError, SpoolError) as exc:
                self._failed(f"cannot {what}: {exc}")
            await trio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    async def _identity(self) -> str:
        value = await self.spool.get_meta(SPOOL_ID_KEY)
        if value:
            return value
        value = str(uuid.uuid4())
        await self.spool.set_meta(SPOOL_ID_KEY, value)
        return value

    async def _check_written(self) -> None:
        """The start-up check: of the ended jobs not yet marked, those whose record
        (and page_log line) a stop left written are only to be marked."""
        # Every queue's, owned now or not: a job whose record a stop left written is
        # only to be marked once this gateway holds its queue, never written again.
        pending = {j.id: j for j in self.spool.jobs() if j.state.is_terminal and not j.accounted}
        for path in self.paths:
            self._known[path] = await trio.to_thread.run_sync(file_id, path)
        if not pending:
            return
        files = [self.file, rotated(self.file, 1)]
        found = await trio.to_thread.run_sync(written_ids, files, self.spool_id, set(pending))
        self._json_done |= found
        if self.page_log is not None and found:
            keys = {page_log_key(pending[i]): i for i in found}
            logs = [self.page_log, rotated(self.page_log, 1)]
            present = await trio.to_thread.run_sync(written_page_keys, logs, set(keys))
            self._page_done |= {keys[k] for k in present}
        for job_id in sorted(pending):
            self._due[job_id] = None
        log.info(
            "accounting: %d ended job(s) to account, %d already written before the stop",
            len(pending),
            len(found),
        )

    def _take(self) -> list[Job]:
        """The next batch of ended, un-accounted jobs, in the order they ended."""
        if self._behind:
            self._behind = False
            for ended in self.spool.jobs():
                if ended.state.is_terminal and not ended.accounted and self._owns(ended.queue):
                    self._due[ended.id] = None
        batch: list[Job] = []
        for job_id in list(self._due):
            job = self.spool.get(job_id)
            if job is None or job.accounted or not job.state.is_terminal:
                self._forget(job_id)
                continue
            if not self._owns(job.queue):  # another gateway's now: keep what is known of it
                del self._due[job_id]
                continue
            batch.append(job)
            if len(batch) >= BATCH_MAX:
                break
        return batch

    def _forget(self, job_id: int) -> None:
        self._due.pop(job_id, None)
        self._json_done.discard(job_id)
        self._page_done.discard(job_id)

    async def _account(self, batch: Sequence[Job]) -> bool:
        """Write what is not yet written of ``batch``, then mark its jobs; False
        when something failed (tried again later)."""
        json_todo = [j for j in batch if j.id not in self._json_done]
        if json_todo:
            data = b"".join(record_line(self._record(j)) for j in json_todo)
            if not await self._append(self.file, data):
                return False
            self._json_done.update(j.id for j in json_todo)
        if self.page_log is not None:
            page_todo = [j for j in batch if j.id not in self._page_done]
            if page_todo:
                text = "".join(page_log_line(j) for j in page_todo)
                if not await self._append(self.page_log, text.encode("utf-8", "replace")):
                    return False
                self._page_done.update(j.id for j in page_todo)
        return await self._mark(batch)

    def _record(self, job: Job) -> dict[str, JsonValue]:
        queue = self.queues.get(job.queue)
        backend = accounting_backend(queue.backend.uri) if queue is not None else None
        return record(job, spool_id=self.spool_id, backend=backend)

    async def _append(self, path: Path, data: bytes) -> bool:
        try:
            ident, size = await trio.to_thread.run_sync(append, path, data)
        except OSError as exc:
            self._failed(f"cannot write {path}: {_reason(exc)}")
            return False
        self._known[path] = ident
        self._sizes[path] = size
        return True

    async def _mark(self, batch: Sequence[Job]) -> bool:
        """Commit ``accounted`` for every job of ``batch`` (one group commit); a
        stop waits a little for it, so a restart seldom has to check the files."""
        failed: list[str] = []

        async def mark(job_id: int) -> None:
            try:
                await self.spool.update(job_id, accounted=True)
            except JobNotFound:  # forgotten meanwhile: nothing left to mark
                self._forget(job_id)
                return
            except SpoolError as exc:
                failed.append(str(exc))
                return
            self._forget(job_id)
            self.accounted += 1

        with trio.move_on_after(MARK_GRACE) as scope:
            scope.shield = True
            async with trio.open_nursery() as nursery:
                for job in batch:
                    nursery.start_soon(mark, job.id)
        if failed:
            self._failed(f"cannot mark {len(failed)} job(s) accounted in the spool: {failed[0]}")
            return False
        if self._failure is not None:
            log.info("accounting: writing again (%s)", self.file)
            self._failure = None
        return not scope.cancelled_caught

    def _failed(self, why: str) -> None:
        """Log a failure once (and, while it lasts, again every FAILURE_REMINDER seconds)."""
        now = self._clock()
        if why != self._failure or now - self._last_failure_log >= FAILURE_REMINDER:
            waiting = sum(1 for j in self.spool.jobs() if j.state.is_terminal and not j.accounted)
            log.error("accounting: %s; %d record(s) wait in the spool, retrying", why, waiting)
            self._last_failure_log = now
        self._failure = why

    async def _rotate_all(self, *, forced: bool) -> None:
        for path in self.paths:
            if not forced and not (
                self.settings.max_size and self._sizes.get(path, 0) > self.settings.max_size
            ):
                continue
            try:
                done = await trio.to_thread.run_sync(
                    rotate, path, self.settings.keep, self._known.get(path)
                )
            except OSError as exc:
                log.error("accounting: cannot rotate %s: %s", path, _reason(exc))  # noqa: TRY400
                continue
            self._known[path] = None
            self._sizes[path] = 0
            if done:
                log.info("accounting: rotated %s to %s", path, rotated(path, 1).name)
            elif forced:
                log.info("accounting: %s starts afresh (renamed elsewhere, or empty)", path)


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the disk"
    return exc.strerror or str(exc)


__all__ = [
    "SPOOL_ID_KEY",
    "Accountant",
    "accounting_backend",
    "append",
    "clf_time",
    "impressions",
    "page_log_key",
    "page_log_line",
    "record",
    "record_line",
    "rotate",
    "written_ids",
    "written_page_keys",
]
