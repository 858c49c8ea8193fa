"""The ``lpd://host[:port]/queue`` backend: forward jobs to LPD printers and servers.

Modelled on CUPS's ``lpd`` backend (reference/lpd.md section 4), with the
two things it declined to do (apple/cups#3576, landscape item 18): it follows
the remote job by polling the remote queue, and it propagates cancels.

- Submit: choose the LPD job number (1-999: the gateway job id mod 1000,
  skipping numbers the remote queue shows now and numbers this backend is
  still following), build the control file with `ipp_to_controlfile`, and
  send ``\\2 queue`` + control file + data files (streamed from the spool,
  in ``order``). The number is the ``remote_job_id``.
- Errors: refused/unreachable/timeouts/resets are transient
  (``connecting-to-device``); a NAK is transient with the server's text
  (``\\2`` = no space -> ``spool-area-full``), except a NAK of the ``\\2``
  receive-job command whose text says the queue does not exist (LPRng:
  ``spool queue for 'x' does not exist on server h``): that is permanent.
  Without such text a refused ``\\2`` is retried (BSD answers a bare
  ``\\1`` both for an unknown queue and for ``lpc disable``/``down``, and
  LPRng refuses it while spooling is disabled: states an operator undoes).
  A server that wants a reserved source port says so in text; the message
  then names ``reserve=any``. When connecting has failed for longer than
  ``contimeout`` since the job was created, the job is aborted (CUPS).
- Status: ``\\4`` (long form by default; LPRng's short form lists no jobs),
  parsed by `parse_status`. The job is processing while the remote lists
  its number (processing-stopped while the remote printer is stopped and
  the job is not active), completed once it has left the listing. The
  printer's state, reasons and accepting flag come from the status lines.
- Cancel: ``\\5 queue agent number``. The agent is, by default, first the
  job's user exactly as sent in ``P`` (RFC 2569 5.7: the requesting user),
  which BSD and LPRng accept from the host that submitted the job when the
  ``H`` name resolves to the connecting address (LPRng ``SAMEHOST
  SAMEUSER``); if the job is still listed afterwards, ``root`` (BSD: root may
  remove jobs from its own host; LPRng's default lpd.perms: root from the
  server host). The gateway has already decided the cancel is allowed.
  ``agent=NAME`` sends only that name.

Options, from the URI query (``?reserve=rfc1179&order=data,control``, ``&``
or ``+`` between them) and/or the queue's ``backend_options`` (which win):
the table `LPD_OPTIONS`, read into `LpdSettings`. The control-file options
among them are the translation's `LpdOutputOptions`, which `LpdSettings`
extends.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
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
    option_table,
    parse_options,
)
from gateway.config import parse_bool
from gateway.convert.formats import KNOWN, POSTSCRIPT, TEXT, base
from gateway.core.job import Job, JobState
from gateway.core.translate import (
    LpdOutputOptions,
    ipp_to_controlfile,
    lpd_charset,
    lpd_format_letter,
    lpd_postscript_letter,
)
from gateway.lpd.client import (
    LPD_PORT,
    RESERVED_PORTS,
    DataFile,
    LpdClient,
    LpdClientError,
    LpdConnectError,
    LpdConnectionLost,
    LpdNak,
    LpdTimeout,
    Reserve,
    ReservedPortError,
    can_bind_reserved_ports,
)
from gateway.lpd.controlfile import lpd_user_name, serialise
from gateway.lpd.status import ParsedJob, QueueStatus, parse_status

log = logging.getLogger("gateway.backends.lpd")

CHUNK: Final = 256 * 1024
#: A queue listing younger than this is reused (many jobs, one poll).
LISTING_MAX_AGE: Final = 1.0
#: A job never yet seen in the remote listing counts as gone (completed)
#: only this long after it was sent: a server may list a job a moment after
#: its last ack (LPRng after a streamed file).
APPEAR_GRACE: Final = 2.0

#: Words in a NAK's text meaning the queue does not exist (LPRng "unknown
#: printer", BSD "unknown printer"/"printer not found", cups-lpd "does not
#: exist"/"unknown destination").
_NO_QUEUE_WORDS: Final = (
    "unknown printer",
    "unknown queue",
    "unknown destination",
    "no such printer",
    "no such queue",
    "does not exist",
    "doesn't exist",
    "not found",
    "nonexistent",
    "non-existent",
    "bad printer name",
)
#: Words meaning the server wants a reserved source port (BSD lpd).
_PORT_WORDS: Final = ("invalid port", "malicious", "reserved port", "privileged port")


def _switch(value: Any) -> bool:
    return parse_bool(value, words=True)


def _seconds(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r}: not a number of seconds") from None
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(f"{value!r}: must be a positive number of seconds")
    return seconds


def _choice(
    meaning: Mapping[str, Any], expected: str, *, squeeze: bool = False
) -> Callable[[Any], Any]:
    """A parser of one of the words of ``meaning``, in any case, blanks around
    it ignored (with ``squeeze``, every space)."""

    def parse(value: Any) -> Any:
        text = str(value).lower()
        text = text.replace(" ", "") if squeeze else text.strip()
        if text not in meaning:
            raise ValueError(f"{value!r}: not {expected}")
        return meaning[text]

    return parse


def _formats(value: Any) -> tuple[str, ...]:
    """A comma-separated list of MIME media types the gateway knows (or a TOML list)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    formats = tuple(dict.fromkeys(base(str(item)) for item in items if str(item).strip()))
    unknown = [f for f in formats if f not in KNOWN]
    if not formats or unknown:
        shown = ", ".join(unknown) if unknown else repr(value)
        raise ValueError(f"{shown}: not a list of {', '.join(KNOWN)}")
    return formats


def _agent(value: Any) -> str:
    agent = str(value).strip()
    if not agent or any(c.isspace() for c in agent):
        raise ValueError(f"{value!r}: one word, like root")
    return agent


@dataclass(frozen=True, slots=True)
class LpdSettings(LpdOutputOptions):
    """The backend options, validated (`LPD_OPTIONS` says what each one does).

    The control-file options are the inherited `LpdOutputOptions` fields, so
    the settings are what `ipp_to_controlfile` takes; ``host`` is the
    gateway's host name, given by the backend (`parse`'s ``host``).
    """

    host: str = ""
    reserve: Reserve = Reserve.NONE
    data_first: bool = False
    timeout: float = 300.0
    contimeout: float = 604800.0
    stream: bool = False
    agent: str | None = None
    long_status: bool = True
    waitjob: bool = False
    formats: tuple[str, ...] = (POSTSCRIPT, TEXT)

    @classmethod
    def parse(cls, options: Mapping[str, Any], *, host: str = "") -> LpdSettings:
        """Validate options (strings from a URI, or typed TOML values);
        `ValueError` names the option and what is wrong."""
        return cls(host=host, **parse_options(LPD_OPTIONS, options, kind="lpd"))


#: The options of an lpd:// queue: name -> field of `LpdSettings`, the TOML types
#: ``backend_options`` may give, parser and help (the default is the field's).
LPD_OPTIONS: Final[Mapping[str, BackendOption]] = option_table(
    LpdSettings,
    BackendOption(
        "reserve",
        str,
        _choice(
            {
                **dict.fromkeys(("rfc1179", "on", "yes", "true"), Reserve.RFC1179),
                "any": Reserve.ANY,
                **dict.fromkeys(("none", "off", "no", "false"), Reserve.NONE),
            },
            "none, rfc1179 or any",
        ),
        "none|rfc1179|any: source ports 721-731 (rfc1179) or 512-1023 (any)",
    ),
    BackendOption(
        "order",
        str,
        _choice(
            {"control,data": False, "data,control": True},
            "control,data or data,control",
            squeeze=True,
        ),
        "control,data|data,control: which file goes first",
        field="data_first",
    ),
    BackendOption(
        "format",
        str,
        lpd_format_letter,
        "a print letter forced for every document (unset: by document-format)",
        field="format_letter",
    ),
    BackendOption(
        "postscript",
        str,
        lpd_postscript_letter,
        "l|o|f: the letter for application/postscript",
        field="postscript_letter",
    ),
    BackendOption("banner", bool, _switch, "on|off: the L line (unset: follows job-sheets)"),
    BackendOption(
        "manual_copies",
        bool,
        _switch,
        "on|off: on sends the data copies times in one data file instead of "
        "repeating the print line",
    ),
    BackendOption(
        "sanitize_title",
        bool,
        _switch,
        "on|off: J/N characters other than letters, digits and space become _ (CUPS)",
    ),
    BackendOption("charset", str, lpd_charset, "utf-8|latin-1|ascii: text in the control file"),
    BackendOption("timeout", (int, float), _seconds, "seconds: each ack, write and reply (CUPS)"),
    BackendOption(
        "contimeout",
        (int, float),
        _seconds,
        "seconds: give up (abort the job) when the server has not been reachable "
        "for this long since the job came (CUPS)",
    ),
    BackendOption(
        "mode",
        str,
        _choice({"standard": False, "stream": True}, "standard or stream"),
        "standard|stream: stream sends the last data file with size 0 and closes "
        "(control file first)",
        field="stream",
    ),
    BackendOption(
        "agent", str, _agent, "name: the agent of \\5 remove (unset: the job's user, then root)"
    ),
    BackendOption(
        "status",
        str,
        _choice({"long": True, "short": False}, "long or short"),
        "long|short: the queue listing read for status",
        field="long_status",
    ),
    BackendOption(
        "waitjob",
        bool,
        _switch,
        "on|off: send the next job only when this one left the remote queue (the dispatcher waits)",
    ),
    BackendOption(
        "formats",
        (str, list),
        _formats,
        "MIME types the LPD printer prints, comma-separated (application/postscript,"
        "text/plain): the gateway converts every other document to the first of them "
        "it can make, and the queue offers what it can convert",
    ),
)


def split_uri(uri: str) -> tuple[str, int, str, dict[str, str]]:
    """``lpd://host[:port]/queue?opt=val&opt=val`` -> (host, port, queue, options).

    Options are separated by ``&`` or ``+`` (CUPS); a bare name means on.
    """
    parts = urlsplit(uri)
    if parts.scheme != "lpd" or not parts.hostname:
        raise ValueError(f"{uri!r} is not lpd://host[:port]/queue")
    queue = unquote(parts.path.strip("/"))
    if not queue or "/" in queue or any(c.isspace() for c in queue):
        raise ValueError(f"{uri!r}: the queue must be one word, lpd://host/queue")
    options: dict[str, str] = {}
    for item in parts.query.replace("+", "&").split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        options[unquote(key).strip().lower()] = unquote(value).strip()
    return parts.hostname, parts.port or LPD_PORT, queue, options


class LpdBackend:
    """Forwards one queue's jobs to one remote LPD queue."""

    def __init__(self, uri: str, options: Mapping[str, Any], *, hostname: str) -> None:
        self.uri = uri
        self.host, self.port, self.queue, uri_options = split_uri(uri)
        self.settings = LpdSettings.parse({**uri_options, **options}, host=hostname)
        if self.settings.reserve is not Reserve.NONE and not can_bind_reserved_ports(
            RESERVED_PORTS[self.settings.reserve]
        ):
            span = RESERVED_PORTS[self.settings.reserve]
            raise ValueError(
                f"reserve={self.settings.reserve.value} needs source ports "
                f"{span.start}-{span.stop - 1}: run the gateway as root or grant it "
                "CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep, or "
                "AmbientCapabilities= in its systemd unit), or use reserve=none"
            )
        self.hostname = hostname
        #: The control-file options: the settings themselves (they extend them).
        self.output: LpdOutputOptions = self.settings
        self.one_job_at_a_time = self.settings.waitjob
        self.client = LpdClient(
            self.host,
            self.port,
            reserve=self.settings.reserve,
            timeout=self.settings.timeout,
            connect_timeout=min(self.settings.timeout, 30.0),
        )
        #: The same object until the options change (the IPP front-end keys on it).
        self._capabilities = Capabilities(document_formats=self.settings.formats)
        self._following: dict[int, int] = {}  # LPD job number -> gateway job id
        self._sent_at: dict[int, float] = {}  # number -> when sent, until first listed
        self._listing: QueueStatus | None = None
        self._listed_at = -math.inf
        self._listing_lock = trio.Lock()

    # ------------------------------------------------------------------
    # Errors

    def _error(self, exc: LpdClientError, job: Job | None = None) -> Exception:
        """The backend error for a client error (see the module doc)."""
        if isinstance(exc, ReservedPortError):
            return TransientBackendError(exc.message, reason="other")
        if isinstance(exc, (LpdConnectError, LpdTimeout, LpdConnectionLost)):
            message = f"{self.uri}: {exc.message}"
            if (
                job is not None
                and isinstance(exc, LpdConnectError)
                and time.time() - job.created > self.settings.contimeout
            ):
                return PermanentBackendError(
                    f"{message}; unreachable for longer than contimeout="
                    f"{self.settings.contimeout:g}s",
                    reason="connecting-to-device",
                )
            return TransientBackendError(message, reason="connecting-to-device")
        if isinstance(exc, LpdNak):
            text = exc.reason.lower()
            message = f"{self.uri}: {exc.message}"
            if any(word in text for word in _PORT_WORDS):
                return TransientBackendError(
                    f"{message}; the server wants a reserved source port: set reserve=any "
                    "(needs root or CAP_NET_BIND_SERVICE)",
                    reason="other",
                )
            if exc.stage == "receive-job" and any(word in text for word in _NO_QUEUE_WORDS):
                return PermanentBackendError(
                    f"{message}; queue {self.queue!r} does not exist there", reason="other"
                )
            if exc.code == 2 and exc.stage != "receive-job":
                return TransientBackendError(message, reason="spool-area-full")
            return TransientBackendError(message, reason="other")
        return TransientBackendError(f"{self.uri}: {exc.message}", reason="other")

    # ------------------------------------------------------------------
    # The remote queue

    async def listing(self, *, max_age: float = LISTING_MAX_AGE) -> QueueStatus:
        """The remote queue, parsed; fetched again when older than ``max_age``."""
        async with self._listing_lock:
            if self._listing is not None and time.monotonic() - self._listed_at < max_age:
                return self._listing
            try:
                text = await self.client.queue_state(self.queue, long=self.settings.long_status)
            except LpdClientError as exc:
                raise self._error(exc) from exc
            self._listing = parse_status(text)
            self._listed_at = time.monotonic()
            return self._listing

    def _choose_number(self, job: Job, shown: set[int]) -> int:
        taken = shown | {n for n, owner in self._following.items() if owner != job.id}
        first = job.id % 1000 or 1  # 1..999: LPD job 0 has no IPP job-id
        for step in range(999):
            number = (first - 1 + step) % 999 + 1
            if number not in taken:
                return number
        raise TransientBackendError(
            f"{self.uri}: all LPD job numbers 1-999 are in use; waiting for jobs to leave",
            reason="other",
        )

    # ------------------------------------------------------------------
    # Submit

    async def submit(self, job: Job, source: DocumentSource) -> Submission:
        if not job.documents:
            raise PermanentBackendError(f"job {job.id} has no documents")
        try:
            # Numbers only clash within one host name (cfA<number><host>), that is
            # with our own jobs, which `_following` has: a listing up to a second
            # old is enough, and a queue of jobs costs one lpq, not one per job.
            listing = await self.listing()
        except TransientBackendError as exc:
            if (
                exc.reason == "connecting-to-device"
                and time.time() - job.created > self.settings.contimeout
            ):
                raise PermanentBackendError(
                    f"{exc.message}; unreachable for longer than contimeout="
                    f"{self.settings.contimeout:g}s",
                    reason="connecting-to-device",
                ) from exc
            raise
        number = self._choose_number(job, {j.job_number for j in listing.jobs})
        try:
            ticket = ipp_to_controlfile(job, number, self.output)
        except ValueError as exc:
            raise PermanentBackendError(str(exc)) from exc
        for note in ticket.notes:
            log.info("job %s to %s: %s", job.id, self.uri, note)
        data_files = []
        for spec in ticket.data_files:
            doc = job.documents[spec.document]
            path = source.document_path(doc)
            data_files.append(
                DataFile(spec.name, doc.size * spec.repeat, _chunk_source(path, spec.repeat))
            )
        self._following[number] = job.id
        try:
            await self.client.send_job(
                self.queue,
                ticket.control_file_name,
                serialise(ticket.control_file),
                data_files,
                data_first=self.settings.data_first,
                stream_last=self.settings.stream,
            )
        except LpdClientError as exc:
            self._following.pop(number, None)
            raise self._error(exc, job) from exc
        except BaseException:
            # Cancelled mid-send (a cancel, or shutdown): closing the
            # connection makes the server drop the unfinished job; remove it
            # too in case it had already been complete.
            self._following.pop(number, None)
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                try:
                    await self.client.remove_jobs(self.queue, self._agent(job), (str(number),))
                except LpdClientError:
                    pass
            raise
        self._sent_at[number] = time.monotonic()
        return Submission(
            JobState.PROCESSING,
            remote_job_id=str(number),
            message=f"sent to {self.uri} as LPD job {number:03d}",
        )

    # ------------------------------------------------------------------
    # Status and cancel

    def _agent(self, job: Job) -> str:
        return self.settings.agent or lpd_user_name(job.user)

    def _find(self, job: Job, listing: QueueStatus) -> ParsedJob | None:
        number = int(job.backend_job_id or "-1")
        user = lpd_user_name(job.user)
        candidates = [j for j in listing.jobs if j.job_number == number]
        for parsed in candidates:
            if not parsed.owner or parsed.owner == user:
                return parsed
        return candidates[0] if candidates else None

    async def job_status(self, job: Job) -> RemoteJobStatus:
        if not job.backend_job_id:
            return RemoteJobStatus(JobState.COMPLETED)
        number = int(job.backend_job_id)
        listing = await self.listing()
        parsed = self._find(job, listing)
        if parsed is None:
            sent = self._sent_at.get(number)
            if sent is not None and time.monotonic() - sent < APPEAR_GRACE:
                return RemoteJobStatus(
                    JobState.PROCESSING,
                    ("job-printing",),
                    f"LPD job {number:03d} sent to {self.uri}; not listed there yet",
                )
            self._sent_at.pop(number, None)
            self._following.pop(number, None)
            return RemoteJobStatus(
                JobState.COMPLETED,
                ("job-completed-successfully",),
                f"LPD job {number:03d} has left the queue of {self.uri}",
            )
        self._sent_at.pop(number, None)
        if parsed.job_state in ("completed", "canceled", "aborted"):
            self._following.pop(number, None)
            state = {
                "completed": JobState.COMPLETED,
                "canceled": JobState.CANCELED,
                "aborted": JobState.ABORTED,
            }[parsed.job_state]
            reasons = {
                "completed": "job-completed-successfully",
                "canceled": "job-canceled-at-device",
                "aborted": "aborted-by-system",
            }[parsed.job_state]
            return RemoteJobStatus(
                state, (reasons,), f"LPD job {number:03d} is '{parsed.rank}' at {self.uri}"
            )
        where = f"LPD job {number:03d} at {self.uri}"
        if parsed.job_state == "processing-stopped" or (
            listing.printer_state == "stopped" and parsed.job_state != "processing"
        ):
            message = listing.printer_state_message or "the remote printer is stopped"
            return RemoteJobStatus(
                JobState.PROCESSING_STOPPED, ("printer-stopped",), f"{where}: {message}"
            )
        if parsed.job_state == "processing":
            return RemoteJobStatus(JobState.PROCESSING, ("job-printing",), f"{where} is printing")
        return RemoteJobStatus(
            JobState.PROCESSING,
            ("job-queued",),
            f"{where} is queued ({parsed.rank}, {parsed.intervening} ahead)",
        )

    async def cancel(self, job: Job) -> None:
        """``\\5 queue agent number``; with the default agent, the job's user
        first and then ``root`` if the job is still listed (see the module doc)."""
        if not job.backend_job_id:
            return
        number = int(job.backend_job_id)
        agents = [self.settings.agent] if self.settings.agent else [lpd_user_name(job.user), "root"]
        for agent in agents:
            try:
                reply = await self.client.remove_jobs(self.queue, agent, (str(number),))
                self._listed_at = -math.inf
                text = reply.decode("utf-8", "replace").strip()
                log.info(
                    "job %s: remove LPD job %03d at %s as %s: %s",
                    job.id,
                    number,
                    self.uri,
                    agent,
                    text or "-",
                )
                if agent == agents[-1] or self._find(job, await self.listing()) is None:
                    break
            except LpdClientError as exc:
                raise self._error(exc) from exc
        self._following.pop(number, None)

    async def printer_status(self) -> PrinterStatus:
        try:
            listing = await self.listing()
        except (TransientBackendError, PermanentBackendError) as exc:
            return PrinterStatus(state="stopped", reasons=(exc.reason,), message=exc.message)
        reasons = tuple(r for r in listing.printer_state_reasons if r != "none") or ("none",)
        return PrinterStatus(
            state=listing.printer_state,
            reasons=reasons,
            message=listing.printer_state_message,
            accepting=listing.accepting_jobs,
        )

    def capabilities(self) -> Capabilities:
        """The formats the LPD printer prints (the ``formats`` option): LPD itself
        carries no capabilities, so documents are converted to one of them, and
        what the queue offers beyond (media, colour, two-sided printing) comes
        from the queue's configuration (gateway/ipp/server/everywhere.py)."""
        return self._capabilities

    async def aclose(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""


def _chunk_source(path: Path, repeat: int) -> Callable[[], AsyncIterator[bytes]]:
    """A factory of async iterators over the spool file, ``repeat`` times."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(repeat):
            async with await trio.open_file(path, "rb") as fh:
                while True:
                    chunk = await fh.read(CHUNK)
                    if not chunk:
                        break
                    yield chunk

    return chunks
