"""One IPP request as every handler sees it: what came in, what it addresses, the answer.

Why: the handlers (`printer`, `job`, `document`, `subscription`) should read like
their RFC 8011 sections: find the target, check the attributes, act on the spool,
answer. What they all need is here, once:

- `IppRequest` (the parsed message, the rest of the body, who sent it over which
  listener) and `IppResponse` (a `Message` plus, for Get-Printer-Attributes,
  pre-encoded printer attribute bytes);
- `OperationError`, the one exception a handler raises to answer with an IPP
  status (and unsupported attributes);
- `IppService`, the front-end's shared state (the gateway context, one
  `PrinterDescription` per queue, the subscriptions), with target resolution
  (route by the *path* of printer-uri / job-uri, whatever its scheme or host)
  and the URIs of the answer;
- `respond`, the operation-attribute readers (`string_op`, `bool_op`, `int_op`,
  `requested_attributes`) and the permission checks (`check_owner`, `check_admin`),
  which ask the core's one access policy (`gateway.core.policy`) about the
  request's `IppRequest.requester`.

Rule: a helper the handlers of more than one IPP object use lives here; one that a
single object's handlers use lives in that object's module (`job`, `printer`, ...).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from gateway.core.context import GatewayContext
from gateway.core.job import Job
from gateway.core.policy import AccessPolicy, Requester, owns
from gateway.core.queues import Queue
from gateway.ipp.attributes import Attribute, Group
from gateway.ipp.encoder import encode
from gateway.ipp.errors import IppError
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag

from .auth import needs_user
from .printer_attributes import Listener, PrinterDescription, printer_uuid
from .subscription_store import Subscriptions

if TYPE_CHECKING:
    from .intake import BodyReader

DEFAULT_PRINTER_PATHS = ("/ipp/print", "/")

NAME_TAGS = (ValueTag.NAME_WITHOUT_LANGUAGE, ValueTag.NAME_WITH_LANGUAGE)


class OperationError(IppError):
    """The operation cannot be done as asked: answer with `status`, `message` as
    status-message and `unsupported` in the unsupported-attributes group."""

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
    _requester: Requester | None = field(default=None, init=False, repr=False, compare=False)

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
        if attribute is None or attribute.tag not in NAME_TAGS:
            return None
        return text_of(attribute.value) or None

    @property
    def identity(self) -> str:
        """The most authenticated user name (RFC 8011 section 9.3)."""
        return self.user or self.requesting_user or "anonymous"

    @property
    def policy(self) -> AccessPolicy:
        """The access policy this request is judged by."""
        return AccessPolicy(authenticates=self.auth_on, operators=self.operators)

    @property
    def requester(self) -> Requester:
        """Who asks, for the core's access rules (made once: Get-Jobs asks per job)."""
        if self._requester is None:
            self._requester = self.policy.ipp_requester(
                user=self.user, claimed=self.requesting_user, peer=self.peer
            )
        return self._requester

    @property
    def is_operator(self) -> bool:
        """May change every job and administer queues (`gateway.core.policy`)."""
        return self.requester.operator

    def owns(self, job: Job) -> bool:
        """Whether `job` is the requester's own (Cancel-My-Jobs, my-jobs)."""
        return owns(self.requester, job)

    def may_see(self, job: Job) -> bool:
        """Whether the requester may see `job`'s details, not only its state."""
        return self.policy.may_see(self.requester, job)


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


@dataclass(slots=True)
class IppService:
    """State shared by every request of the IPP front-end."""

    context: GatewayContext
    listeners: list[Listener]
    operations: tuple[Operation, ...]
    started: float = field(default_factory=time.time)
    descriptions: dict[str, PrinterDescription] = field(default_factory=dict)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)

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

    def listed_queues(self, request: IppRequest, target: Target) -> list[Queue]:
        """The queues whose jobs Get-Jobs lists: the target's; for ``/``, where
        CUPS's ``lpstat -o`` asks for every printer's jobs, every queue whose
        policy lets this requester list jobs."""
        if target.path != "/":
            return [target.queue]
        return [
            q
            for q in self.context.queues
            if request.user is not None or not needs_user(self.policy(q), Operation.GET_JOBS)
        ]

    def queue_named(self, name: str) -> Queue:
        """The queue `name` of a job or subscription (the default queue if it is no
        longer configured)."""
        return self.context.queues.get(name) or self.context.queues.default

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

    def queue_uri(self, request: IppRequest, queue: Queue) -> str:
        """``ipp://HOST:PORT/printers/NAME``: the queue by its own name, also for the
        default queue (job-printer-uri, from which CUPS's lpstat shows NAME-ID)."""
        return f"{self.base(request)}/printers/{queue.name}"

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
            raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing printer-uri")
        # CUPS 2.4 clients (lp -h, cupsCreateDestJob) send back the whole
        # printer-uri-supported joined with commas when it has several values.
        uri = uri.split(",", 1)[0]
        path = urlsplit(uri).path or "/"
        queue = self.queue_for_path(path)
        if queue is None:
            raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no printer at {path}")
        return Target(queue, path.rstrip("/") or "/")

    def job_target(self, request: IppRequest) -> Target:
        """The job of a job operation: job-uri, or printer-uri and job-id (RFC 8011 4.1.5)."""
        job_uri = _uri_attribute(request, "job-uri")
        if job_uri is not None:
            path = unquote(urlsplit(job_uri).path).rstrip("/")
            head, _, tail = path.rpartition("/")
            if not tail.isdigit() or not (head.endswith("/jobs") or self.queue_for_path(head)):
                raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no job at {path}")
            job = self.context.spool.get(int(tail))
            if job is None:
                raise OperationError(
                    StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {tail} does not exist"
                )
            queue = self.queue_named(job.queue)
            return Target(queue, printer_path(queue, self.context.queues.default), job)
        target = self.printer_target(request)
        job_id = one_value(request, "job-id", ValueTag.INTEGER, "job-id must be one integer")
        if job_id is None:
            raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing job-id or job-uri")
        number = job_id.value
        if not isinstance(number, int):
            raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "job-id must be an integer")
        job = self.context.spool.get(number)
        if job is None:
            raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {number} does not exist")
        if job.queue != target.queue.name and target.path not in DEFAULT_PRINTER_PATHS:
            raise OperationError(
                StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {number} is not on {target.path}"
            )
        queue = self.context.queues.get(job.queue) or target.queue
        path = (
            target.path
            if queue is target.queue
            else printer_path(queue, self.context.queues.default)
        )
        return Target(queue, path, job)

    def target_job(self, request: IppRequest) -> tuple[Target, Job]:
        """`job_target` and its job (always there for a job target)."""
        target = self.job_target(request)
        assert target.job is not None
        return target, target.job


def _uri_attribute(request: IppRequest, name: str) -> str | None:
    attribute = one_value(request, name, ValueTag.URI, f"{name} must be one uri")
    return None if attribute is None else str(attribute.value)


# --------------------------------------------------------------------------
# The answer


def respond(
    request: IppRequest,
    status: StatusCode = StatusCode.SUCCESSFUL_OK,
    message: str | None = None,
    unsupported: Iterable[Attribute] = (),
) -> IppResponse:
    """A response echoing `request`, with status, status-message and unsupported attributes."""
    response = Message.response(request.message, status, status_message=message)
    bad = list(unsupported)
    if bad:
        group = response.add_group(DelimiterTag.UNSUPPORTED_ATTRIBUTES)
        for attribute in bad:
            group.append(attribute)
    return IppResponse(response)


def unsupported_value(attribute: Attribute) -> Attribute:
    """An unsupported attribute as echoed in the unsupported-attributes group."""
    return Attribute(attribute.name, list(attribute.values))


def not_settable(names: Iterable[str]) -> list[Attribute]:
    """The unsupported-attributes group of a Set-*-Attributes that may set none of `names`."""
    return [Attribute.of(name, ValueTag.NOT_SETTABLE) for name in names]


# --------------------------------------------------------------------------
# Reading operation attributes


def text_of(value: object) -> str:
    """The text of a name/text value, with or without language."""
    return str(getattr(value, "text", value))


def string_op(request: IppRequest, name: str, tags: Iterable[int]) -> str | None:
    """An operation attribute with one value of one of `tags`, as text; None if absent."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    if attribute.tag not in tuple(tags) or len(attribute.values) != 1:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"bad {name}",
            [unsupported_value(attribute)],
        )
    return text_of(attribute.value)


def one_value(request: IppRequest, name: str, tag: int, problem: str) -> Attribute | None:
    """An operation attribute that must have one value of syntax `tag` (None if
    absent); client-error-bad-request with `problem` otherwise."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    if attribute.tag != tag or len(attribute.values) != 1:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, problem, [attribute])
    return attribute


def bool_op(request: IppRequest, name: str) -> bool | None:
    """A boolean operation attribute; None if absent, bad-request if not boolean."""
    attribute = one_value(request, name, ValueTag.BOOLEAN, f"{name} must be a boolean")
    return None if attribute is None else bool(attribute.value)


def int_op(request: IppRequest, name: str, low: int = 0) -> int | None:
    """An integer operation attribute >= `low`; None if absent."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    value = attribute.value
    if attribute.tag != ValueTag.INTEGER or not isinstance(value, int) or value < low:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"bad {name}",
            [unsupported_value(attribute)],
        )
    return value


def requested_attributes(request: IppRequest) -> list[str]:
    """The keywords of requested-attributes (empty if absent)."""
    attribute = request.operation.get("requested-attributes")
    if attribute is None:
        return []
    return [str(v.value) for v in attribute.values if v.tag == ValueTag.KEYWORD]


def attributes_in(request: IppRequest, tag: DelimiterTag) -> list[Attribute]:
    """Every attribute of the request's groups with `tag` (e.g. the job group)."""
    return [attribute for group in request.message.groups_of(tag) for attribute in group]


# --------------------------------------------------------------------------
# Who may do what


def check_owner(request: IppRequest, job: Job) -> None:
    """Only the job's owner or an operator may change a job (`AccessPolicy.refusal`)."""
    refusal = request.policy.refusal(request.requester, job)
    if refusal is not None:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_AUTHORIZED, refusal)


def check_admin(request: IppRequest) -> None:
    """Operator operations: listed operators when authentication is on, else
    loopback clients only."""
    if not request.is_operator:
        raise OperationError(
            StatusCode.CLIENT_ERROR_FORBIDDEN,
            "printer administration is for operators only"
            if request.auth_on
            else "printer administration is allowed from this host only",
        )
