"""RFC 1179 "receive a printer job" (``\\2``): files in, durable jobs out.

Why it looks like this
----------------------
LPD acknowledgements are promises. Ack 1 promises room: it is sent only if
the spool has room for the announced size, and that room is reserved
(`Spool.reserve`) until the file ends or fails, so jobs arriving together are
never promised the same space; the job's announced total must be within
``limits.max_job_size``, and the bytes written are counted against it too
(a streamed file has no size to check in advance). Ack 2 of
the file that completes a job promises the job is safe: it is sent only after
`Spool.submit` fsync'ed its files and committed it. Ack 2 of an earlier file
says it was received and written; until the job is complete it is not a job,
and a client that loses the connection sends the whole job again. A data file
is streamed to the job's folder; a control file is bounded (64 KiB) and kept
in memory, since what it says is committed in the job's row.

One `JobAssembly` collects the files of one job, in whatever order they
come (control first: LPRng, CUPS, Windows; data first: BSD lpd, PLP). A job
is complete once its control file and every data file it names are present
(PPR/LPRng style, reference/lpd.md 7.2), and is submitted at that moment, so
several jobs per connection work and the client still hears of a failure.
An abort (``\\1``), a connection lost mid-job, a deadline or a refused file
discards that job's folder and nothing else.

File names from the client are match keys only; the spool names files
itself (``jobs/<uuid>/doc-<n>``).

Files that end with the connection instead of a NUL (reference/lpd.md 3.1
item 3) are accepted: a size-0 data file streamed until close (LPRng
``lpr -k``); a data file announced with an impossible size
(`DataFileHeader.open_ended`: Windows' Standard TCP/IP port without "LPR byte
counting" announces 125899906843000, the CUPS backend in ``mode=stream``
reading stdin 999999999999) that ends with the connection; and a file whose
announced bytes all came, then the connection closed without the NUL (CUPS
``mode=stream`` with a file). For an open-ended size nothing is reserved at ack 1 (the real
size is unknown): the limits hold while writing. A file with a real size that
ends early is a lost connection: it is discarded. With
``lpd.strict_byte_count`` only size-0 streams may end with the connection.
What such a client loses if the connection drops mid-file: the job. A reset or
a timeout discards it (the client, which reads no ack at the end, does not
know); a clean close cannot be told from the end, and what came is printed.

Deadlines (`Session`): the whole command within ``lpd.job_timeout``; each
wait for a subcommand (after the ``\\2`` ack, between files, after the last
job) within ``lpd.command_timeout``, which NULs and aborts do not extend.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import trio

from gateway.core.context import GatewayContext
from gateway.core.job import Frontend, Job, Origin
from gateway.core.queues import Queue
from gateway.core.spool import (
    BUFFER_SIZE,
    JobFolder,
    NewDocument,
    NoSpace,
    Reservation,
    SpoolError,
    StagedFile,
)
from gateway.core.streaming import body_writer
from gateway.core.translate import UNPRINTABLE_LETTERS, controlfile_to_ipp
from gateway.log import job_event
from gateway.lpd import controlfile
from gateway.lpd.controlfile import ControlFile, ControlLine
from gateway.lpd.errors import NAK_FAIL, NAK_NO_SPACE
from gateway.lpd.events import (
    AbortJob,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    EndOfJob,
    FileAborted,
    FileData,
    FileEnd,
    FileEndKind,
)
from gateway.lpd.server.session import Session, SessionEnded, TimedOut, shown

log = logging.getLogger("gateway.lpd")

#: Bytes kept from the start of each data file for content sniffing.
HEAD_SIZE: Final = 1024
#: Data files one job may have (cups-lpd stops at 100; BSD lpr goes past 52).
MAX_DATA_FILES: Final = 1000


class FileRefused(SessionEnded):
    """A file could not be stored mid-transfer (no space, limit): the client
    gets a NAK at once and the connection ends (``nak`` is the byte)."""

    level = logging.WARNING

    def __init__(self, reason: str, nak: int) -> None:
        super().__init__(reason)
        self.nak = nak


@dataclass(slots=True)
class DataFile:
    """A data file on disk: the client's name (a match key), its staged file
    and its first bytes (for sniffing)."""

    name: str
    staged: StagedFile
    head: bytes


@dataclass(slots=True)
class JobAssembly:
    """The files of one job as they arrive."""

    folder: JobFolder
    control_name: str | None = None
    control: ControlFile | None = None
    data_files: tuple[str, ...] = ()  # named by the control file's print lines
    data: dict[str, DataFile] = field(default_factory=dict)
    size: int = 0

    def needed(self) -> tuple[str, ...]:
        """Data files the control file names (print requests, in order)."""
        return self.data_files

    def missing(self) -> list[str]:
        return [name for name in self.needed() if name not in self.data]

    @property
    def complete(self) -> bool:
        return self.control is not None and not self.missing()

    def describe(self) -> str:
        files = len(self.data) + (self.control is not None)
        cf = shown(self.control_name) if self.control_name else "no control file"
        return f"{cf}, {files} file(s), {self.size} bytes"


def with_synthesised_requests(cf: ControlFile) -> ControlFile:
    """FreeBSD's fix for "another kind of broken lpr": a control file with
    ``U`` lines but no print line prints each ``df`` file it unlinks as ``f``
    (reference/lpd.md 3.1 item 12)."""
    if any(line.is_print_request for line in cf.lines):
        return cf
    extra = tuple(
        ControlLine("f", value)
        for value in dict.fromkeys(cf.get_all("U"))
        if value.startswith(b"df") and b"/" not in value
    )
    return ControlFile(cf.lines + extra) if extra else cf


class JobReceiver:
    """Runs the subcommand loop of one ``\\2 queue`` connection."""

    def __init__(self, session: Session, queue: Queue) -> None:
        self.session = session
        self.queue = queue
        self.context: GatewayContext = session.context
        self.strict = self.context.config.lpd.strict_byte_count
        self.legacy_encoding = self.context.config.lpd.legacy_encoding
        self.job_timeout = self.context.config.lpd.job_timeout
        self.assembly: JobAssembly | None = None
        self.jobs: list[Job] = []

    # ------------------------------------------------------------------
    # The loop

    async def run(self) -> None:
        """Handle subcommands until the client closes. Whatever happens, a
        job that is not complete is discarded."""
        session = self.session
        session.limit(self.job_timeout, "receive-job deadline passed (lpd.job_timeout)")
        session.expect("subcommand")
        try:
            while True:
                event = await session.next_event()
                if isinstance(event, ControlFileHeader | DataFileHeader):
                    session.expect(None)
                    await self._file(event)
                    session.expect("subcommand")
                elif isinstance(event, AbortJob):
                    await self._discard("aborted by the client (subcommand 1)", level=logging.INFO)
                elif isinstance(event, EndOfJob):
                    continue  # PLP's lone NUL after the last file
                elif isinstance(event, ConnectionClosed):
                    return
                else:  # pragma: no cover - the codec emits nothing else here
                    raise SessionEnded(f"unexpected event {event!r}")
        except TimedOut as exc:
            if exc.waiting and self.assembly is None and self.jobs:
                raise SessionEnded(f"closed after its last job: {exc}") from None
            raise
        finally:
            if self.assembly is not None:
                missing = self.assembly.missing()
                why = (
                    f"data file(s) never sent: {shown(', '.join(missing))}"
                    if self.assembly.control is not None
                    else "no control file"
                )
                with trio.CancelScope(shield=True):
                    await self._discard(f"incomplete job at end of connection ({why})")

    def _begin(self) -> JobAssembly:
        if self.assembly is None:
            self.assembly = JobAssembly(self.context.spool.new_folder())
        return self.assembly

    async def _discard(self, reason: str, *, level: int = logging.WARNING) -> None:
        assembly, self.assembly = self.assembly, None
        if assembly is None:
            return
        await assembly.folder.discard()
        log.log(
            level,
            "lpd %s: job discarded: queue=%s %s: %s",
            self.session.label,
            self.queue.name,
            assembly.describe(),
            reason,
        )

    # ------------------------------------------------------------------
    # One file

    async def _file(self, header: ControlFileHeader | DataFileHeader) -> None:
        session = self.session
        assembly = self._begin()
        is_control = isinstance(header, ControlFileHeader)
        if is_control and assembly.control is not None:
            await self._discard(
                f"a new control file {shown(header.name)} came before its data file(s) "
                f"{shown(', '.join(assembly.missing()))}"
            )
            assembly = self._begin()
        too_many = len(assembly.data) >= MAX_DATA_FILES
        if not is_control and too_many and header.name not in assembly.data:
            await session.send(
                session.conn.refuse(NAK_FAIL, f"more than {MAX_DATA_FILES} data files")
            )
            return
        # Ack 1 only if the spool has room for the announced size, which is
        # then reserved until the file ends; an open-ended size reserves nothing.
        open_ended = isinstance(header, DataFileHeader) and header.open_ended and not self.strict
        size = 0 if open_ended else header.size
        try:
            room = self.context.spool.reserve(size, job_size=assembly.size + size)
        except NoSpace as exc:
            log.warning("lpd %s: %s refused (no space): %s", session.label, shown(header.name), exc)
            await session.send(session.conn.refuse(NAK_NO_SPACE, str(exc)))
            return
        with room:
            if open_ended:
                log.info(
                    "lpd %s: %s announces %d bytes: read until the client closes",
                    session.label,
                    shown(header.name),
                    header.size,
                )
            await session.send(session.conn.accept())
            if isinstance(header, ControlFileHeader):
                await self._control_file(header, assembly)
            else:
                await self._data_file(header, assembly, room)

    async def _control_file(self, header: ControlFileHeader, assembly: JobAssembly) -> None:
        """Read a control file into memory (it is bounded by the codec, and what it
        says is committed with the job's row, so it never needs a file of its own)."""
        body = bytearray()

        async def keep(data: bytes) -> None:
            body.extend(data)

        end = await self._read_file(header, keep, bytearray())
        if end is None or await self._incomplete(header, end):
            return
        assembly.size += len(body)
        refusal = self._take_control(assembly, header.name, bytes(body))
        if refusal:
            await self._discard(f"control file {shown(header.name)} refused: {refusal}")
            await self.session.send(self.session.conn.refuse(NAK_FAIL, refusal))
            return
        await self._after_file(end.kind)

    async def _data_file(
        self, header: DataFileHeader, assembly: JobAssembly, room: Reservation
    ) -> None:
        """Stream a data file into the job's folder (using up ``room`` as it goes)."""
        async with assembly.folder.document(reservation=room) as writer:
            head = bytearray()
            try:
                if 0 < header.size <= BUFFER_SIZE:  # held in memory: nothing to overlap
                    end = await self._read_file(header, writer.write, head)
                    if end is None:
                        return  # no ack 2; the writer discards the file
                else:
                    async with body_writer(writer) as pipe:
                        end = await self._read_file(header, pipe.write, head)
                        if end is None:
                            return
                        await pipe.close()
            except NoSpace as exc:
                raise FileRefused(f"{shown(header.name)}: {exc}", NAK_NO_SPACE) from None
            except OSError as exc:
                raise FileRefused(f"{shown(header.name)}: {exc.strerror}", NAK_FAIL) from None
            if await self._incomplete(header, end):
                return
            try:
                staged = await writer.finish()  # the commit fsyncs it before the last ack
            except NoSpace as exc:
                raise FileRefused(f"{shown(header.name)}: {exc}", NAK_NO_SPACE) from None
            except OSError as exc:
                raise FileRefused(f"{shown(header.name)}: {exc.strerror}", NAK_FAIL) from None
        assembly.size += staged.size
        if header.name in assembly.data:
            log.info(
                "lpd %s: data file %s sent again; the last copy wins",
                self.session.label,
                shown(header.name),
            )
        assembly.data[header.name] = DataFile(header.name, staged, bytes(head))
        await self._after_file(end.kind)

    async def _read_file(
        self,
        header: ControlFileHeader | DataFileHeader,
        sink: Callable[[bytes], Awaitable[None]],
        head: bytearray,
    ) -> FileEnd | None:
        """Pass a file's bytes to ``sink`` (its first `HEAD_SIZE` bytes also to
        ``head``); its end, or None when the client aborted it."""
        session = self.session
        while True:
            event = await session.next_event()
            if isinstance(event, FileData):
                if len(head) < HEAD_SIZE:
                    head += event.data[: HEAD_SIZE - len(head)]
                await sink(event.data)
            elif isinstance(event, FileAborted):
                log.warning(
                    "lpd %s: %s discarded: the client ended it with byte %d instead of NUL",
                    session.label,
                    shown(header.name),
                    event.trailer,
                )
                return None
            elif isinstance(event, FileEnd):
                return event
            else:  # pragma: no cover - the codec emits nothing else here
                raise SessionEnded(f"unexpected event {event!r} inside a file")

    async def _incomplete(self, header: ControlFileHeader | DataFileHeader, end: FileEnd) -> bool:
        """Refuse a file that ended with the connection where that is not
        accepted (see the module doc); whether it was refused."""
        if self._acceptable(header, end):
            return False
        why = "lpd.strict_byte_count is on" if self.strict else "the connection was lost mid-file"
        await self._discard(
            f"{shown(header.name)} ended after {end.received} of {header.size} bytes "
            f"({end.kind.value}): {why}"
        )
        await self.session.try_send(self.session.conn.refuse(NAK_FAIL, "incomplete file"))
        return True

    def _acceptable(self, header: ControlFileHeader | DataFileHeader, end: FileEnd) -> bool:
        if end.kind is FileEndKind.NORMAL:
            return True
        if end.kind is FileEndKind.STREAMED:
            return isinstance(header, DataFileHeader)  # LPRng lpr -k
        if self.strict:
            return False
        if end.kind is FileEndKind.UNTERMINATED:
            return True  # every announced byte came (CUPS mode=stream with a file)
        return isinstance(header, DataFileHeader) and header.open_ended  # Windows, CUPS stdin

    def _take_control(self, assembly: JobAssembly, name: str, data: bytes) -> str | None:
        """Parse the control file into the assembly; a reason to refuse it, or None."""
        cf = with_synthesised_requests(controlfile.parse(data))
        requests = cf.requests(self.legacy_encoding)
        rejected = sorted({r.letter for r in requests if r.letter in UNPRINTABLE_LETTERS})
        if rejected:
            return f"unsupported print format(s) {', '.join(rejected)} (RFC 2569 4.3)"
        if not requests:
            return "the control file names no data file to print"
        if any("\0" in r.data_file for r in requests):
            return "NUL byte in a control-file line"
        assembly.control_name = name
        assembly.control = cf
        assembly.data_files = tuple(dict.fromkeys(r.data_file for r in requests))
        return None

    async def _after_file(self, kind: FileEndKind) -> None:
        """Ack 2, after submitting the job if this file completed it."""
        session = self.session
        assembly = self.assembly
        assert assembly is not None
        if assembly.complete:
            try:
                job = await self._submit(assembly)
            except SpoolError as exc:
                nak = NAK_NO_SPACE if isinstance(exc, NoSpace) else NAK_FAIL
                await self._discard(f"spool refused the job: {exc}")
                await session.try_send(session.conn.refuse(nak, str(exc)))
                return
            self.assembly = None
            self.jobs.append(job)
        ack = session.conn.accept()
        if kind is FileEndKind.NORMAL:
            await session.send(ack)
        else:
            await session.try_send(ack)  # the client closed; it may still read

    async def _submit(self, assembly: JobAssembly) -> Job:
        cf = assembly.control
        name = assembly.control_name
        assert cf is not None and name is not None
        heads = {n: f.head for n, f in assembly.data.items()}
        ticket = controlfile_to_ipp(
            cf, heads, legacy_encoding=self.legacy_encoding, peer_host=self.session.peer
        )
        documents = [
            NewDocument(
                assembly.data[doc.data_file].staged,
                doc.document_format,
                doc.document_name or "",
                dict(doc.attributes) or None,
            )
            for doc in ticket.documents
        ]
        origin = Origin(
            Frontend.LPD,
            peer=self.session.peer,
            host=_one_line(cf.text("H", self.legacy_encoding)),
            user=_one_line(cf.text("P", self.legacy_encoding)),
            lpd_control_file=name,
            lpd_job_number=controlfile.parse_file_name(name).job_number,
        )
        unused = sorted(set(assembly.data) - set(assembly.needed()))
        job = await self.context.spool.submit(
            self.queue.name,
            ticket.attributes,
            documents,
            origin,
            folder=assembly.folder,
            held=self.queue.hold_new_jobs,
        )
        job_event(
            "received",
            job,
            via="lpd",
            user=job.user,
            host=origin.host or None,
            name=job.name,
            cf=shown(name),
            documents=len(job.documents),
            size=job.size,
            ignored=shown(",".join(unused)) or None,
        )
        return job


def _one_line(text: str | None) -> str:
    """Control-file text for the origin record: printable characters only."""
    if not text:
        return ""
    return "".join(c for c in text if c.isprintable()).strip()
