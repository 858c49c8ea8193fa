"""What every IPP operation handler shares: the request, its target and the answer.

Why: the operation handlers (`operations_handler`) should read like RFC 8011
section 4: find the target, check the attributes, act on the spool, answer.
This module holds the plumbing they share: `IppRequest` (the parsed message,
the rest of the body, who sent it and over which listener), `IppService`
(the gateway context, one `PrinterDescription` per queue, the subscriptions,
the start time) with target resolution (route by the *path* of printer-uri /
job-uri, whatever its scheme or host), and `IppResponse` (a `Message` plus,
for Get-Printer-Attributes, pre-encoded printer attribute bytes).
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import trio

from gateway.core.context import GatewayContext
from gateway.core.job import Job, JobState
from gateway.core.queues import Queue

from .attributes import Attribute, Group
from .document import BodyReader
from .encoder import encode
from .message import Message
from .operations import Operation
from .printer_attributes import Listener, PrinterDescription
from .status import StatusCode
from .subscriptions import Subscriptions
from .tags import DelimiterTag, ValueTag

SPOOL_ID_FILE = "ipp-printer-uuid-seed"

DEFAULT_PRINTER_PATHS = ("/ipp/print", "/")


class IppFailure(Exception):
    """Answer the request with this status (and unsupported attributes, if any)."""

    def __init__(
        self, status: StatusCode, message: str, unsupported: Iterable[Attribute] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.unsupported = list(unsupported)


@dataclass(slots=True)
class IppRequest:
    """One IPP request as the handlers see it."""

    message: Message
    body: BodyReader
    peer: str  # client address (never client-supplied text)
    host: str  # host part of the Host header, for the URIs in the answer
    scheme: str  # ipp or ipps: the listener the request came in on
    port: int  # that listener's port
    user: str | None = None  # the HTTP-authenticated user, if any
    auth_on: bool = False  # the gateway authenticates IPP users (ipp.auth)
    operators: frozenset[str] = frozenset()

    @property
    def operation(self) -> Group:
        """The operation-attributes group."""
        return self.message.operation

    def op_value(self, name: str) -> object:
        """The first value of an operation attribute, or None."""
        return self.operation.value(name)

    @property
    def requesting_user(self) -> str | None:
        """requesting-user-name if sent with a name syntax."""
        attribute = self.operation.get("requesting-user-name")
        if attribute is None or attribute.tag not in (
            ValueTag.NAME_WITHOUT_LANGUAGE,
            ValueTag.NAME_WITH_LANGUAGE,
        ):
            return None
        value = attribute.value
        text = getattr(value, "text", value)
        return str(text) or None

    @property
    def identity(self) -> str:
        """The most authenticated user name (RFC 8011 section 9.3)."""
        return self.user or self.requesting_user or "anonymous"

    @property
    def is_operator(self) -> bool:
        """May see and change every job and administer queues: a listed operator
        when authentication is on, else any loopback client."""
        if self.auth_on:
            return self.user is not None and self.user in self.operators
        return self.is_local

    @property
    def is_local(self) -> bool:
        """True for a loopback peer: the operator (admin operations are allowed)."""
        try:
            return ipaddress.ip_address(self.peer.split("%", 1)[0]).is_loopback
        except ValueError:
            return False


@dataclass(slots=True)
class IppResponse:
    """A response message and, optionally, pre-encoded printer groups after it
    (the attribute bytes of each printer-attributes group, without its tag)."""

    message: Message
    printer_groups: list[bytes] = field(default_factory=list)

    def encode(self) -> bytes:
        """The whole response body."""
        data = encode(self.message)
        if not self.printer_groups:
            return data
        tag = bytes([DelimiterTag.PRINTER_ATTRIBUTES])
        groups = b"".join(tag + raw for raw in self.printer_groups)
        return data[:-1] + groups + bytes([DelimiterTag.END_OF_ATTRIBUTES])


@dataclass(slots=True)
class Target:
    """What a request addresses: a queue (and the path used for it), maybe a job."""

    queue: Queue
    path: str
    job: Job | None = None


def printer_path(queue: Queue, default: Queue) -> str:
    """The canonical path of a queue's printer URI."""
    return "/ipp/print" if queue is default else f"/printers/{queue.name}"


def spool_seed(spool_dir: Path) -> uuid.UUID:
    """A random id kept in the spool folder, so printer-uuid survives restarts."""
    path = spool_dir / SPOOL_ID_FILE
    try:
        return uuid.UUID(path.read_text().strip())
    except (OSError, ValueError):
        seed = uuid.uuid4()
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(f"{seed}\n")
        tmp.replace(path)
        return seed


def printer_uuid(spool_dir: Path, queue: str) -> uuid.UUID:
    """printer-uuid of a queue: uuid5 of its name in a namespace kept in the spool
    (`spool_seed`), stable across restarts. DNS-SD's TXT ``UUID`` must be this."""
    return uuid.uuid5(spool_seed(spool_dir), queue)


@dataclass(slots=True)
class IppService:
    """State shared by every request of the IPP front-end."""

    context: GatewayContext
    listeners: list[Listener]
    operations: tuple[Operation, ...]
    started: float = field(default_factory=time.time)
    descriptions: dict[str, PrinterDescription] = field(default_factory=dict)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    hold_new_jobs: set[str] = field(default_factory=set)
    _watchers: dict[int, list[trio.Event]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for queue in self.context.queues:
            self.descriptions[queue.name] = PrinterDescription(
                queue,
                printer_uuid=printer_uuid(self.context.config.spool_dir, queue.name),
                started=self.started,
                multiple_operation_timeout=self.context.config.ipp.multiple_operation_timeout,
                operations=self.operations,
            )
        self.subscriptions.attach(self.context.spool)
        self.context.spool.add_listener(self._job_changed)

    def policy(self, queue: Queue | None) -> str:
        """The authentication policy of `queue` (its own, else ipp.auth)."""
        default = self.context.config.ipp.auth
        if queue is None:
            return default
        return queue.config.auth or default

    def request_queue(self, request: IppRequest) -> Queue | None:
        """The queue a request is about (printer-uri, or the job of a job-uri), if any."""
        uri = _uri_attribute(request, "printer-uri") or _uri_attribute(request, "job-uri")
        if uri is None:
            return None
        path = unquote(urlsplit(uri.split(",", 1)[0]).path).rstrip("/")
        head, _, tail = path.rpartition("/")
        if head.endswith("/jobs") and tail.isdigit():
            job = self.context.spool.get(int(tail))
            return self.context.queues.get(job.queue) if job is not None else None
        return self.queue_for_path(path or "/")

    def _job_changed(self, job: Job, old: Job | None) -> None:
        for event in self._watchers.pop(job.id, ()):
            event.set()

    def _in_handoff(self, job: Job) -> bool:
        """Whether the dispatcher is handing `job` to its backend now, or is about to
        (it is the next pending job of an idle, enabled queue)."""
        if job.state == JobState.PROCESSING:
            return job.backend_job_id is None
        if job.state != JobState.PENDING or job.incoming or job.not_before > time.time():
            return False
        queue = self.context.queues.get(job.queue)
        if queue is None or not queue.enabled or queue.busy:
            return False
        upcoming = self.context.spool.next_pending(job.queue)
        return upcoming is not None and upcoming.id == job.id

    async def settled(self, job: Job, wait: float) -> Job | None:
        """Wait (at most `wait` s) while the dispatcher hands `job` to its backend
        (see `_in_handoff`); return the job as it is then.

        Why: a Cancel-Job that lands in the middle of the hand-off would race the
        dispatcher recording the outcome; waiting for the outcome makes the answer
        deterministic (completed -> not-possible, forwarded -> canceled there too).
        """
        with trio.move_on_after(wait):
            while True:
                current = self.context.spool.get(job.id)
                if current is None or not self._in_handoff(current):
                    return current
                event = trio.Event()
                self._watchers.setdefault(job.id, []).append(event)
                await event.wait()
        self._watchers.pop(job.id, None)
        return self.context.spool.get(job.id)

    # -- URIs ------------------------------------------------------------

    def base(self, request: IppRequest) -> str:
        """``scheme://host:port`` of the listener the client used."""
        host = request.host
        shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{request.scheme}://{shown}:{request.port}"

    def job_uri(self, request: IppRequest, job_id: int) -> str:
        """The job-uri of job `job_id` on the listener the client used."""
        return f"{self.base(request)}/jobs/{job_id}"

    def printer_uri(self, request: IppRequest, queue: Queue, path: str | None = None) -> str:
        """A printer URI of `queue` on the listener the client used."""
        return self.base(request) + (path or printer_path(queue, self.context.queues.default))

    # -- routing ---------------------------------------------------------

    def queue_for_path(self, path: str) -> Queue | None:
        """The queue a printer-uri path names (``/printers/NAME``, ``/ipp/print``, ``/``)."""
        path = unquote(path).rstrip("/") or "/"
        if path in DEFAULT_PRINTER_PATHS:
            return self.context.queues.default
        for prefix in ("/printers/", "/ipp/print/"):
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                return self.context.queues.get(path[len(prefix) :])
        return None

    def printer_target(self, request: IppRequest) -> Target:
        """The printer of a printer operation (printer-uri is REQUIRED)."""
        uri = _uri_attribute(request, "printer-uri")
        if uri is None:
            raise IppFailure(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing printer-uri")
        # CUPS 2.4 clients (lp -h, cupsCreateDestJob) send back the whole
        # printer-uri-supported joined with commas when it has several values.
        uri = uri.split(",", 1)[0]
        path = urlsplit(uri).path or "/"
        queue = self.queue_for_path(path)
        if queue is None:
            raise IppFailure(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no printer at {path}")
        return Target(queue, path.rstrip("/") or "/")

    def job_target(self, request: IppRequest) -> Target:
        """The job of a job operation: job-uri, or printer-uri and job-id (RFC 8011 4.1.5)."""
        job_uri = _uri_attribute(request, "job-uri")
        if job_uri is not None:
            path = unquote(urlsplit(job_uri).path).rstrip("/")
            head, _, tail = path.rpartition("/")
            if not tail.isdigit() or not (head.endswith("/jobs") or self.queue_for_path(head)):
                raise IppFailure(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no job at {path}")
            job = self.context.spool.get(int(tail))
            if job is None:
                raise IppFailure(StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {tail} does not exist")
            queue = self.context.queues.get(job.queue) or self.context.queues.default
            return Target(queue, printer_path(queue, self.context.queues.default), job)
        target = self.printer_target(request)
        job_id = request.operation.get("job-id")
        if job_id is None:
            raise IppFailure(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing job-id or job-uri")
        if job_id.tag != ValueTag.INTEGER or len(job_id.values) != 1:
            raise IppFailure(
                StatusCode.CLIENT_ERROR_BAD_REQUEST, "job-id must be one integer", [job_id]
            )
        number = job_id.value
        if not isinstance(number, int):
            raise IppFailure(StatusCode.CLIENT_ERROR_BAD_REQUEST, "job-id must be an integer")
        job = self.context.spool.get(number)
        if job is None:
            raise IppFailure(StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {number} does not exist")
        if job.queue != target.queue.name and target.path not in DEFAULT_PRINTER_PATHS:
            raise IppFailure(
                StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {number} is not on {target.path}"
            )
        queue = self.context.queues.get(job.queue) or target.queue
        path = (
            target.path
            if queue is target.queue
            else printer_path(queue, self.context.queues.default)
        )
        return Target(queue, path, job)


def _uri_attribute(request: IppRequest, name: str) -> str | None:
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    if attribute.tag != ValueTag.URI or len(attribute.values) != 1:
        raise IppFailure(
            StatusCode.CLIENT_ERROR_BAD_REQUEST, f"{name} must be one uri", [attribute]
        )
    return str(attribute.value)


def unsupported_value(attribute: Attribute) -> Attribute:
    """An unsupported attribute as echoed in the unsupported-attributes group."""
    return Attribute(attribute.name, list(attribute.values))


def unknown_attribute(name: str) -> Attribute:
    """An attribute the printer does not know: the out-of-band ``unsupported`` value."""
    return Attribute.of(name, ValueTag.UNSUPPORTED)
