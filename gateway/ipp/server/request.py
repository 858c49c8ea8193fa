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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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

#: Paths of the System object: ``ipp://HOST:PORT/ipp/system`` (PWG 5100.22, as
#: PAPPL and ippsample have it) and the server's root.
SYSTEM_PATHS = ("/ipp/system", "/")

#: The operations whose target is the System object (PWG 5100.22), answered by
#: system.py; a printer's operations-supported does not list them.
SYSTEM_OPERATIONS = (
    Operation.CREATE_PRINTER,
    Operation.DELETE_PRINTER,
    Operation.GET_PRINTERS,
    Operation.SHUTDOWN_ONE_PRINTER,
    Operation.STARTUP_ONE_PRINTER,
    Operation.CREATE_SYSTEM_SUBSCRIPTIONS,
    Operation.DISABLE_ALL_PRINTERS,
    Operation.ENABLE_ALL_PRINTERS,
    Operation.GET_SYSTEM_ATTRIBUTES,
    Operation.GET_SYSTEM_SUPPORTED_VALUES,
    Operation.PAUSE_ALL_PRINTERS,
    Operation.PAUSE_ALL_PRINTERS_AFTER_CURRENT_JOB,
    Operation.RESUME_ALL_PRINTERS,
    Operation.SET_SYSTEM_ATTRIBUTES,
    Operation.SHUTDOWN_ALL_PRINTERS,
    Operation.STARTUP_ALL_PRINTERS,
    Operation.RESTART_ONE_PRINTER,
)

#: Printer operations a client may send to the System's URI instead of a printer
#: URI (PWG 5100.22): Get-Printer-Attributes (about the default printer, as PAPPL
#: and ippsample answer) and the operations on a System subscription.
AT_THE_SYSTEM = frozenset(
    {
        Operation.GET_PRINTER_ATTRIBUTES,
        Operation.GET_SUBSCRIPTION_ATTRIBUTES,
        Operation.RENEW_SUBSCRIPTION,
        Operation.CANCEL_SUBSCRIPTION,
        Operation.GET_NOTIFICATIONS,
    }
)

#: The queue name under which System subscriptions (Create-System-Subscriptions) are
#: kept in the subscription store: no queue can have it.
SYSTEM_SUBSCRIPTIONS = ""

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
    """A response message and, optionally, pre-encoded attributes: `last_group_tail`
    ends the message's last group (the System's configured printers), and
    printer groups follow (the attribute bytes of each printer-attributes group,
    without its tag)."""

    message: Message
    printer_groups: list[bytes] = field(default_factory=list)
    last_group_tail: bytes = b""
    #: A spooled file sent after the message, streamed (Fetch-Document, infra.py).
    data_file: Path | None = None

    def encode(self) -> bytes:
        """The whole response body."""
        data = encode(self.message)
        if not self.printer_groups and not self.last_group_tail:
            return data
        tag = bytes([DelimiterTag.PRINTER_ATTRIBUTES])
        groups = b"".join(tag + raw for raw in self.printer_groups)
        end = bytes([DelimiterTag.END_OF_ATTRIBUTES])
        return data[:-1] + self.last_group_tail + groups + end


@dataclass(slots=True)
class Target:
    """What a request addresses: a queue (and the path used for it), maybe a job."""

    queue: Queue
    path: str
    job: Job | None = None


def printer_path(queue: Queue, default: Queue) -> str:
    """The canonical path of a queue's printer URI."""
    return "/ipp/print" if queue is default else f"/printers/{queue.name}"


class Descriptions(dict[str, PrinterDescription]):
    """One `PrinterDescription` per queue name. ``descriptions[name]`` makes it
    again when the queue is not the one it was made for, or the queue's
    configuration changed (Set-Printer-Attributes): queues are created, deleted
    and reloaded at run time. Costs a look-up and two identity checks."""

    def __init__(self, service: IppService) -> None:
        super().__init__()
        self._service = service
        self._made_for: dict[str, object] = {}

    def __getitem__(self, name: str) -> PrinterDescription:
        queue = self._service.context.queues.get(name)
        description = self.get(name)
        if description is not None and (
            queue is None
            or (description.queue is queue and self._made_for.get(name) is queue.config)
        ):
            return description
        if queue is None:
            raise KeyError(name)
        return self.describe(queue)

    def describe(self, queue: Queue) -> PrinterDescription:
        """A new description of `queue`, kept under its name."""
        service = self._service
        description = PrinterDescription(
            queue,
            printer_uuid=printer_uuid(service.context.config.spool_dir, queue.name),
            started=service.started,
            multiple_operation_timeout=service.context.config.ipp.multiple_operation_timeout,
            default_media=service.context.config.convert.default_media,
            oauth_issuer=service.context.config.oauth.issuer,
            operations=[op for op in service.operations if op not in SYSTEM_OPERATIONS],
        )
        self[queue.name] = description
        self._made_for[queue.name] = queue.config
        return description

    def forget(self, name: str) -> None:
        """Drop the description of a queue that was deleted."""
        self.pop(name, None)
        self._made_for.pop(name, None)


@dataclass(slots=True)
class IppService:
    """State shared by every request of the IPP front-end."""

    context: GatewayContext
    listeners: list[Listener]
    operations: tuple[Operation, ...]
    started: float = field(default_factory=time.time)
    descriptions: Descriptions = field(init=False)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)

    def __post_init__(self) -> None:
        self.descriptions = Descriptions(self)
        for queue in self.context.queues:
            self.descriptions.describe(queue)
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
        """The printer of a printer operation (printer-uri is REQUIRED). An
        operation of `AT_THE_SYSTEM` sent to the System (system-uri, PWG 5100.22)
        is about the default printer."""
        uri = _uri_attribute(request, "printer-uri")
        if uri is None:
            if request.message.operation_id in AT_THE_SYSTEM and self.is_system_request(request):
                default = self.context.queues.default
                return Target(default, printer_path(default, default))
            raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing printer-uri")
        # CUPS 2.4 clients (lp -h, cupsCreateDestJob) send back the whole
        # printer-uri-supported joined with commas when it has several values.
        uri = uri.split(",", 1)[0]
        path = urlsplit(uri).path or "/"
        queue = self.queue_for_path(path)
        if queue is None:
            raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no printer at {path}")
        return Target(queue, path.rstrip("/") or "/")

    def is_system_request(self, request: IppRequest) -> bool:
        """Whether the request's target is the System object (a system-uri with a
        System path, and no printer-uri)."""
        if request.operation.get("printer-uri") is not None:
            return False
        uri = _uri_attribute(request, "system-uri")
        return uri is not None and (unquote(urlsplit(uri).path).rstrip("/") or "/") in SYSTEM_PATHS

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


def refuse_changes(refused: Sequence[Attribute], bad: Sequence[Attribute]) -> None:
    """Set-Printer-Attributes and Set-System-Attributes: all or nothing, so any
    attribute that may not be set (``refused``) or a value not supported (``bad``,
    as `unsupported_value` made them) refuses the whole request."""
    if refused:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE,
            "not settable: " + ", ".join(a.name for a in refused),
            not_settable(a.name for a in refused),
        )
    if bad:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "values not supported: " + ", ".join(a.name for a in bad),
            list(bad),
        )


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
