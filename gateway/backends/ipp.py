"""The ``ipp://`` and ``ipps://`` backend: forward jobs to real IPP printers.

Modelled on what CUPS's backend/ipp.c does with printers (reference/ipp.md
section 6), as a set of small decisions:

- Probe: Get-Printer-Attributes (operations, formats, copies, multi-document
  support, state and reasons, media/sides/...), refreshed before a job when
  older than `PROBE_MAX_AGE`, and whenever the dispatcher's status poller asks
  for the printer's state (gateway/core/polling.py: often while the queue has
  work, every few minutes while it is idle). The IPP front-end shows these
  capabilities.
- Submit: Print-Job for one document; Create-Job + Send-Document when the job
  has several documents and the printer does both; otherwise one remote job
  per document. Copies the printer cannot make (copies-supported 1..1) are
  made by sending the documents again. A format the printer does not take
  aborts the job with a message naming the format and the formats it takes.
- Errors: busy, service-unavailable, not-accepting, not-possible, temporary,
  timeouts and refused/reset connections are transient (retried by the
  dispatcher, the queue shows why); not-found, attributes-or-values,
  document-format and other client errors are permanent (the job aborts
  with the printer's status-message).
- Status and cancel: Get-Job-Attributes and Cancel-Job by printer-uri and
  job-id. The remote job ids of one gateway job are kept as ``"12,13"``.

Backend options (``[queues.NAME.backend_options]``): the table
`IPP_OPTIONS`, read into `IppSettings`.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import trio

from gateway.backends.base import (
    BackendBusy,
    BackendError,
    BackendOption,
    Capabilities,
    DocumentSource,
    OptionError,
    PermanentBackendError,
    PrinterStatus,
    RemoteJobStatus,
    Submission,
    TransientBackendError,
    option_table,
    parse_options,
)
from gateway.config import parse_bool
from gateway.core.job import Document, Job, JobState
from gateway.ipp.attributes import Attribute
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import RangeOfInteger

if TYPE_CHECKING:  # imported when first used: httpx costs ~0.2 s at every start
    from gateway.ipp.client import IppClient, Response

log = logging.getLogger("gateway.backends.ipp")

PROBE_MAX_AGE = 30.0
CHUNK = 256 * 1024

#: Capabilities the IPP front-end may show for an IPP-backed queue: the printer's
#: own values of what it decides (media, sides, colour, quality, trays,
#: supplies), set over the queue's IPP Everywhere defaults
#: (gateway/ipp/server/everywhere.py).
SHOWN_CAPABILITIES = (
    "media-supported",
    "media-default",
    "media-ready",
    "media-col-supported",
    "media-col-database",
    "media-col-default",
    "media-col-ready",
    "media-size-supported",
    "media-source-supported",
    "media-type-supported",
    "media-bottom-margin-supported",
    "media-left-margin-supported",
    "media-right-margin-supported",
    "media-top-margin-supported",
    "sides-supported",
    "sides-default",
    "finishings-supported",
    "finishings-default",
    "color-supported",
    "print-color-mode-supported",
    "print-color-mode-default",
    "print-quality-supported",
    "print-quality-default",
    "print-rendering-intent-supported",
    "print-rendering-intent-default",
    "print-scaling-supported",
    "print-scaling-default",
    "print-content-optimize-supported",
    "print-content-optimize-default",
    "orientation-requested-supported",
    "orientation-requested-default",
    "number-up-supported",
    "page-ranges-supported",
    "output-bin-supported",
    "output-bin-default",
    "printer-resolution-supported",
    "printer-resolution-default",
    "pwg-raster-document-resolution-supported",
    "pwg-raster-document-type-supported",
    "pwg-raster-document-sheet-back",
    "urf-supported",
    "pdf-versions-supported",
    "document-format-preferred",
    "printer-input-tray",
    "printer-output-tray",
    "printer-supply",
    "printer-supply-description",
    "copies-supported",
)

PROBE_ATTRIBUTES = (
    "operations-supported",
    "document-format-supported",
    "multiple-document-jobs-supported",
    "compression-supported",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-is-accepting-jobs",
    "job-sheets-supported",
    "printer-make-and-model",
    "ipp-versions-supported",
    *SHOWN_CAPABILITIES,
)

#: Job template attributes forwarded when the printer supports them: name -> tag.
JOB_TEMPLATE: dict[str, int] = {
    "copies": ValueTag.INTEGER,
    "sides": ValueTag.KEYWORD,
    "media": ValueTag.KEYWORD,
    "orientation-requested": ValueTag.ENUM,
    "print-quality": ValueTag.ENUM,
    "print-color-mode": ValueTag.KEYWORD,
    "number-up": ValueTag.INTEGER,
    "output-bin": ValueTag.KEYWORD,
    "finishings": ValueTag.ENUM,
    "page-ranges": ValueTag.RANGE_OF_INTEGER,
    "job-sheets": ValueTag.KEYWORD,
    "print-scaling": ValueTag.KEYWORD,
    "print-rendering-intent": ValueTag.KEYWORD,
    "print-content-optimize": ValueTag.KEYWORD,
}

TRANSIENT_STATUS = {
    StatusCode.SERVER_ERROR_BUSY: "the printer is busy",
    StatusCode.SERVER_ERROR_SERVICE_UNAVAILABLE: "the printer is unavailable",
    StatusCode.SERVER_ERROR_NOT_ACCEPTING_JOBS: "the printer is not accepting jobs",
    StatusCode.SERVER_ERROR_TEMPORARY_ERROR: "the printer reported a temporary error",
    StatusCode.CLIENT_ERROR_NOT_POSSIBLE: "the printer cannot take the job now",
    StatusCode.CLIENT_ERROR_TIMEOUT: "the printer timed out",
}

REMOTE_STATE = {int(s): s for s in JobState}

#: A busy answer to these means nothing was made at the printer: ask again soon.
JOB_CREATING = ("Print-Job", "Create-Job")


def _status_name(status: int) -> str:
    try:
        return StatusCode(status).name.lower().replace("_", "-")
    except ValueError:
        return f"status 0x{status:04x}"


def _status_message(response: Response) -> str:
    value = response.message.value(DelimiterTag.OPERATION_ATTRIBUTES, "status-message")
    return str(value) if value else ""


def _tls_verify(value: Any) -> str:
    mode = str(value)
    if mode not in ("system", "pin", "tofu"):
        raise ValueError(f"{mode!r} is not system, pin or tofu")
    return mode


@dataclass(frozen=True, slots=True)
class IppSettings:
    """The backend options, validated (`IPP_OPTIONS` says what each one does)."""

    username: str | None = None
    password: str = ""
    tls_verify: str = "system"
    tls_fingerprint: str = ""
    timeout: float = 60.0
    http2: bool = True
    waitjob: bool = True

    def __post_init__(self) -> None:
        if self.tls_verify == "pin" and not self.tls_fingerprint:
            raise OptionError("tls_fingerprint", "needed with tls_verify = 'pin'")

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> IppSettings:
        """Validate ``backend_options``; `OptionError` names the option and what is wrong."""
        return cls(**parse_options(IPP_OPTIONS, options, kind="ipp"))


#: The options of an ipp:// or ipps:// queue (``backend_options`` only: the
#: URI's query belongs to the printer): name -> field of `IppSettings`, the
#: TOML types it may have, parser and help (the default is the field's).
IPP_OPTIONS: Final[Mapping[str, BackendOption]] = option_table(
    IppSettings,
    BackendOption(
        "username",
        str,
        str,
        "HTTP Basic user, sent only over ipps:// and only after the printer asked (HTTP 401)",
    ),
    BackendOption("password", str, str, "the HTTP Basic password"),
    BackendOption(
        "tls_verify",
        str,
        _tls_verify,
        "system (the system trust store and the host name), pin (trust exactly the "
        "certificate whose SHA-256 fingerprint is tls_fingerprint) or tofu (trust the "
        "certificate seen on first use, kept in the spool folder; a later change is "
        "refused, not ignored)",
    ),
    BackendOption("tls_fingerprint", str, str, "sha256:AB:CD:... for tls_verify = pin"),
    BackendOption("timeout", (int, float), float, "seconds for one request"),
    BackendOption("http2", bool, parse_bool, "offer HTTP/2 by ALPN"),
    BackendOption(
        "waitjob",
        bool,
        parse_bool,
        "like CUPS, send the next job only after the printer finished the previous one "
        "(many printers answer server-error-busy while printing); false pipelines jobs "
        "to printers that queue them",
    ),
)


class IppBackend:
    """Forwards one queue's jobs to one IPP printer URI."""

    def __init__(
        self,
        uri: str,
        options: Mapping[str, Any],
        *,
        hostname: str,
        state_dir: Path,
    ) -> None:
        self.uri = uri
        self.hostname = hostname
        self.settings = IppSettings.parse(options)
        self._state_dir = state_dir
        parts = urlsplit(uri)
        self._tls = parts.scheme == "ipps"
        self._auth: tuple[str, str] | None = None
        if self.settings.username is not None:
            self._auth = (self.settings.username, self.settings.password)
        self.one_job_at_a_time = self.settings.waitjob
        self._client: IppClient | None = None
        self._attributes: dict[str, Attribute] = {}
        self._probed_at = -1e9
        self._probe_lock = trio.Lock()
        self._capabilities: tuple[dict[str, Attribute], Capabilities] | None = None

    # ------------------------------------------------------------------
    # Connection and TLS

    async def _get_client(self) -> IppClient:
        if self._client is None:
            from gateway.ipp.client import IppClient  # noqa: PLC0415 (lazy: see TYPE_CHECKING)

            verify = await self._ssl_context() if self._tls else True
            self._client = IppClient(
                self.uri,
                verify=verify,
                auth=self._auth,
                timeout=self.settings.timeout,
                http2=self.settings.http2,
            )
        return self._client

    async def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.settings.tls_verify == "system":
            return context
        # pin / tofu: trust exactly one certificate, whatever its issuer and names.
        pem = await self._pinned_certificate()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = False
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.load_verify_locations(cadata=pem)
        return context

    async def _pinned_certificate(self) -> str:
        parts = urlsplit(self.uri)
        host, port = parts.hostname or "", parts.port or 631
        store = self._state_dir / "tls-trust" / f"{host}_{port}.pem"
        if self.settings.tls_verify == "tofu" and store.exists():
            return store.read_text()
        try:
            pem = await trio.to_thread.run_sync(_fetch_certificate, host, port)
        except OSError as exc:
            raise TransientBackendError(
                f"cannot fetch the TLS certificate of {self.uri}: {exc}",
                reason="connecting-to-device",
            ) from exc
        fingerprint = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        if self.settings.tls_verify == "pin":
            wanted = self.settings.tls_fingerprint.lower()
            wanted = wanted.removeprefix("sha256:").replace(":", "")
            if fingerprint != wanted:
                raise TransientBackendError(
                    f"the TLS certificate of {self.uri} has fingerprint sha256:{fingerprint}, "
                    f"not the pinned one; refusing to send",
                    reason="other",
                )
            return pem
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(pem)
        log.info(
            "ipps: trusting %s on first use, sha256:%s (kept in %s)", self.uri, fingerprint, store
        )
        return pem

    async def _send(
        self,
        operation: Operation,
        operation_attrs: list[Attribute],
        job_attrs: list[Attribute] | None = None,
        document: Document | None = None,
        source: DocumentSource | None = None,
    ) -> Response:
        from gateway.ipp.client import (  # noqa: PLC0415 (lazy: see TYPE_CHECKING)
            IppAuthRequired,
            IppClientError,
            IppConnectError,
        )

        client = await self._get_client()

        def build(version: tuple[int, int], request_id: int) -> Message:
            message = Message.request(operation, request_id, version=version, printer_uri=self.uri)
            for attr in operation_attrs:
                message.operation.append(attr)
            if job_attrs:
                group = message.add_group(DelimiterTag.JOB_ATTRIBUTES)
                for attr in job_attrs:
                    group.append(attr)
            return message

        factory = None
        size = 0
        if document is not None and source is not None:
            path = source.document_path(document)
            size = document.size

            def factory() -> AsyncIterator[bytes]:
                return _read_chunks(path)

        use_auth = False
        while True:
            try:
                return await client.send(build, factory, size, use_auth=use_auth)
            except IppAuthRequired as exc:
                if use_auth or self._auth is None:
                    raise PermanentBackendError(
                        f"{self.uri} asks for a user name and password; set username and "
                        "password in the queue's backend_options (sent over ipps:// only)",
                        reason="other",
                    ) from exc
                if not self._tls:
                    raise PermanentBackendError(
                        f"{self.uri} asks for a password, which is only sent over TLS; "
                        "use an ipps:// URI",
                        reason="other",
                    ) from exc
                use_auth = True
            except IppConnectError as exc:
                raise TransientBackendError(exc.message, reason="connecting-to-device") from exc
            except IppClientError as exc:
                raise TransientBackendError(exc.message, reason="other") from exc

    # ------------------------------------------------------------------
    # Probe

    async def probe(self, *, force: bool = False) -> dict[str, Attribute]:
        """The printer's attributes, asked again when older than PROBE_MAX_AGE."""
        async with self._probe_lock:
            if not force and time.monotonic() - self._probed_at < PROBE_MAX_AGE:
                return self._attributes
            response = await self._send(
                Operation.GET_PRINTER_ATTRIBUTES,
                [
                    Attribute.of("requesting-user-name", ValueTag.NAME, "lpd-ipp-gateway"),
                    Attribute.of("requested-attributes", ValueTag.KEYWORD, *PROBE_ATTRIBUTES),
                ],
            )
            if not response.ok:
                raise TransientBackendError(
                    f"{self.uri} refused Get-Printer-Attributes: {_status_name(response.status)}",
                    reason="other",
                )
            group = response.message.group(DelimiterTag.PRINTER_ATTRIBUTES)
            self._attributes = {a.name: a for a in group} if group is not None else {}
            self._probed_at = time.monotonic()
            return self._attributes

    def _values(self, name: str) -> list[Any]:
        attr = self._attributes.get(name)
        return attr.python_values if attr is not None else []

    def _supports(self, operation: Operation) -> bool:
        return int(operation) in self._values("operations-supported")

    def _max_copies(self) -> int:
        for value in self._values("copies-supported"):
            if isinstance(value, RangeOfInteger):
                return value.upper
            if isinstance(value, int):
                return value
        return 1

    # ------------------------------------------------------------------
    # Submit

    async def submit(self, job: Job, source: DocumentSource) -> Submission:
        await self.probe()
        if (
            self._attributes.get("printer-is-accepting-jobs") is not None
            and not self._values("printer-is-accepting-jobs")[0]
        ):
            raise TransientBackendError(f"{self.uri} is not accepting jobs", reason="other")
        self._check_formats(job)
        copies = int(job.attributes.get("copies", 1) or 1)
        manual_copies = copies if copies > 1 and self._max_copies() < copies else 1
        template = self._job_template(job, drop_copies=manual_copies > 1)
        documents = list(job.documents) * manual_copies
        if not documents:
            raise PermanentBackendError(f"job {job.id} has no documents")

        multi = (
            len(documents) > 1
            and self._supports(Operation.CREATE_JOB)
            and self._supports(Operation.SEND_DOCUMENT)
            and True in self._values("multiple-document-jobs-supported")
        )
        if multi:
            remote = await self._create_and_send(job, documents, template, source)
            ids = [remote]
        else:
            ids = []
            for doc in documents:
                ids.append(await self._print_job(job, doc, template, source))
        return Submission(
            JobState.PROCESSING,
            remote_job_id=",".join(str(i) for i in ids),
            message=f"sent to {self.uri} as job {', '.join(map(str, ids))}",
        )

    def _check_formats(self, job: Job) -> None:
        supported = [str(v).lower() for v in self._values("document-format-supported")]
        if not supported:
            return
        for doc in job.documents:
            fmt = doc.format.split(";", 1)[0].strip().lower()
            if fmt not in supported:
                raise PermanentBackendError(
                    f"the printer does not take {fmt} (document {doc.number}"
                    f"{' ' + repr(doc.name) if doc.name else ''}); it takes "
                    f"{', '.join(supported)}",
                    reason="other",
                )

    def _job_template(self, job: Job, *, drop_copies: bool) -> list[Attribute]:
        attrs: list[Attribute] = []
        for name, tag in JOB_TEMPLATE.items():
            value = job.attributes.get(name)
            if value is None or (name == "copies" and (drop_copies or value == 1)):
                continue
            if name == "job-sheets" and value == "none":
                continue
            if name != "copies" and f"{name}-supported" not in self._attributes:
                continue
            values = value if isinstance(value, list) else [value]
            if tag in (ValueTag.KEYWORD, ValueTag.ENUM):
                # Like CUPS: a value the printer does not list (a banner page it
                # cannot make) is left out rather than failing the whole job.
                supported = set(self._values(f"{name}-supported"))
                values = [v for v in values if v in supported]
                if not values:
                    continue
            if tag == ValueTag.RANGE_OF_INTEGER:
                values = [RangeOfInteger(int(a), int(b)) for a, b in values]
            attrs.append(Attribute.of(name, tag, *values))
        return attrs

    def _operation_attrs(self, job: Job) -> list[Attribute]:
        attrs = [
            Attribute.of("requesting-user-name", ValueTag.NAME, job.user),
            Attribute.of("job-name", ValueTag.NAME, job.name[:255]),
        ]
        host = job.attributes.get("job-originating-host-name") or job.origin.host
        if host:
            attrs.append(Attribute.of("job-originating-host-name", ValueTag.NAME, str(host)[:255]))
        return attrs

    def _document_attrs(self, doc: Document) -> list[Attribute]:
        attrs = [Attribute.of("document-format", ValueTag.MIME_MEDIA_TYPE, doc.format)]
        if doc.name:
            attrs.append(Attribute.of("document-name", ValueTag.NAME, doc.name[:255]))
        return attrs

    def _check(self, response: Response, what: str) -> None:
        if response.ok:
            return
        detail = _status_message(response)
        message = f"{self.uri} refused {what}: {_status_name(response.status)}" + (
            f" ({detail})" if detail else ""
        )
        if response.status == StatusCode.SERVER_ERROR_BUSY and what in JOB_CREATING:
            raise BackendBusy(message, reason="other")
        reason = TRANSIENT_STATUS.get(response.status)  # type: ignore[call-overload]
        if reason is not None or response.status >= 0x0500:
            raise TransientBackendError(message, reason="other")
        raise PermanentBackendError(message, reason="other")

    @staticmethod
    def _job_id(response: Response) -> int:
        value = response.message.value(DelimiterTag.JOB_ATTRIBUTES, "job-id")
        if not isinstance(value, int):
            raise TransientBackendError("the printer accepted the job but sent no job-id")
        return value

    async def _print_job(
        self, job: Job, doc: Document, template: list[Attribute], source: DocumentSource
    ) -> int:
        response = await self._send(
            Operation.PRINT_JOB,
            self._operation_attrs(job) + self._document_attrs(doc),
            template,
            doc,
            source,
        )
        self._check(response, "Print-Job")
        return self._job_id(response)

    async def _create_and_send(
        self,
        job: Job,
        documents: list[Document],
        template: list[Attribute],
        source: DocumentSource,
    ) -> int:
        response = await self._send(Operation.CREATE_JOB, self._operation_attrs(job), template)
        self._check(response, "Create-Job")
        remote = self._job_id(response)
        try:
            for index, doc in enumerate(documents):
                last = index == len(documents) - 1
                response = await self._send(
                    Operation.SEND_DOCUMENT,
                    [
                        Attribute.of("job-id", ValueTag.INTEGER, remote),
                        Attribute.of("requesting-user-name", ValueTag.NAME, job.user),
                        Attribute.of("last-document", ValueTag.BOOLEAN, last),
                        *self._document_attrs(doc),
                    ],
                    None,
                    doc,
                    source,
                )
                self._check(response, "Send-Document")
        except BaseException:
            with trio.CancelScope(shield=True), trio.move_on_after(10):
                await self._cancel_remote(remote, job.user)
            raise
        return remote

    # ------------------------------------------------------------------
    # Status and cancel

    @staticmethod
    def _remote_ids(job: Job) -> list[int]:
        if not job.backend_job_id:
            return []
        return [int(x) for x in job.backend_job_id.split(",") if x.strip()]

    async def job_status(self, job: Job) -> RemoteJobStatus:
        statuses: list[RemoteJobStatus] = []
        for remote in self._remote_ids(job):
            response = await self._send(
                Operation.GET_JOB_ATTRIBUTES,
                [
                    Attribute.of("job-id", ValueTag.INTEGER, remote),
                    Attribute.of("requesting-user-name", ValueTag.NAME, job.user),
                    Attribute.of(
                        "requested-attributes",
                        ValueTag.KEYWORD,
                        "job-state",
                        "job-state-reasons",
                        "job-state-message",
                        "job-impressions-completed",
                    ),
                ],
            )
            if response.status in (StatusCode.CLIENT_ERROR_NOT_FOUND, StatusCode.CLIENT_ERROR_GONE):
                statuses.append(
                    RemoteJobStatus(
                        JobState.COMPLETED,
                        ("job-completed-successfully",),
                        f"job {remote} is no longer listed by the printer",
                    )
                )
                continue
            self._check(response, "Get-Job-Attributes")
            msg = response.message
            state = REMOTE_STATE.get(int(msg.value(DelimiterTag.JOB_ATTRIBUTES, "job-state", 5)))  # type: ignore[arg-type]
            reasons_attr = msg.get(DelimiterTag.JOB_ATTRIBUTES, "job-state-reasons")
            reasons = tuple(str(v) for v in reasons_attr.python_values) if reasons_attr else ()
            message = msg.value(DelimiterTag.JOB_ATTRIBUTES, "job-state-message")
            impressions = msg.value(DelimiterTag.JOB_ATTRIBUTES, "job-impressions-completed")
            statuses.append(
                RemoteJobStatus(
                    state or JobState.PROCESSING,
                    reasons or ("none",),
                    str(message) if message else "",
                    impressions if isinstance(impressions, int) else None,
                )
            )
        return _combine(statuses)

    async def cancel(self, job: Job) -> None:
        for remote in self._remote_ids(job):
            await self._cancel_remote(remote, job.user)

    async def _cancel_remote(self, remote: int, user: str) -> None:
        response = await self._send(
            Operation.CANCEL_JOB,
            [
                Attribute.of("job-id", ValueTag.INTEGER, remote),
                Attribute.of("requesting-user-name", ValueTag.NAME, user),
            ],
        )
        # not-possible: the job already ended there; nothing left to cancel.
        if response.status not in (
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            StatusCode.CLIENT_ERROR_NOT_FOUND,
        ):
            self._check(response, "Cancel-Job")

    async def printer_status(self) -> PrinterStatus:
        """The printer's state, asked now (the dispatcher's `StatusPoller` decides
        how often: often while the queue has work, rarely while it is idle)."""
        try:
            await self.probe(force=True)
        except BackendError as exc:
            return PrinterStatus(
                state="stopped", reasons=(exc.reason,), message=exc.message, accepting=True
            )
        state = {3: "idle", 4: "processing", 5: "stopped"}.get(
            int(self._values("printer-state")[0]) if self._values("printer-state") else 3, "idle"
        )
        reasons = tuple(
            str(r) for r in self._values("printer-state-reasons") if str(r) != "none"
        ) or ("none",)
        message = self._values("printer-state-message")
        accepting = self._values("printer-is-accepting-jobs")
        return PrinterStatus(
            state=state,
            reasons=reasons,
            message=str(message[0]) if message else "",
            accepting=bool(accepting[0]) if accepting else True,
        )

    def capabilities(self) -> Capabilities:
        """The printer's formats and job-template capabilities (the same object
        until the next probe, so the IPP front-end can tell nothing changed).

        application/octet-stream is left out of the formats: it says the printer
        sniffs, not that it prints any format, so the gateway converts to a
        format the printer names. Attributes the printer answers with an
        out-of-band value (unknown, no-value) are left for the defaults."""
        made = self._capabilities
        if made is not None and made[0] is self._attributes:
            return made[1]
        named = (str(v) for v in self._values("document-format-supported"))
        formats = tuple(f for f in named if f.lower() != "application/octet-stream") or None
        shown = {
            n: a
            for n in SHOWN_CAPABILITIES
            if (a := self._attributes.get(n)) is not None
            and not all(0x10 <= v.tag <= 0x1F for v in a.values)  # out-of-band (RFC 8010 3.5.2)
        }
        caps = Capabilities(document_formats=formats, printer_attributes=shown)
        self._capabilities = (self._attributes, caps)
        return caps

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _combine(statuses: list[RemoteJobStatus]) -> RemoteJobStatus:
    """One status for a gateway job sent as several remote jobs."""
    if not statuses:
        return RemoteJobStatus(JobState.COMPLETED)
    if len(statuses) == 1:
        return statuses[0]
    for state in (
        JobState.PROCESSING_STOPPED,
        JobState.PROCESSING,
        JobState.PENDING,
        JobState.PENDING_HELD,
        JobState.ABORTED,
        JobState.CANCELED,
    ):
        for status in statuses:
            if status.state == state:
                return status
    impressions = sum(s.impressions_completed or 0 for s in statuses)
    return RemoteJobStatus(JobState.COMPLETED, ("job-completed-successfully",), "", impressions)


async def _read_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await trio.open_file(path, "rb") as fh:
        while True:
            chunk = await fh.read(CHUNK)
            if not chunk:
                return
            yield chunk


def _fetch_certificate(host: str, port: int) -> str:
    """The server's certificate (PEM), fetched without verifying it (pin/tofu check it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=15) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    if der is None:
        raise OSError("no certificate presented")
    return ssl.DER_cert_to_PEM_cert(der)
