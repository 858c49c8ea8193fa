"""What every IPP operation handler shares: the registry and small helpers.

Why: the handlers (`job_creation`, `job_operations`, `printer_operations`,
`subscription_operations`) should read like their RFC sections; reading an
operation attribute with the right syntax check, building the answer and the
job group, and the owner / operator checks live here once.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from gateway.core.job import Job

from .attributes import Attribute, Group
from .job_attributes import (
    job_group,
)
from .message import Message
from .operations import Operation
from .service import (
    IppFailure,
    IppRequest,
    IppResponse,
    IppService,
    unsupported_value,
)
from .status import StatusCode
from .tags import DelimiterTag, ValueTag

log = logging.getLogger("gateway.ipp")

T = ValueTag
S = StatusCode

Handler = Callable[[IppService, IppRequest], Awaitable[IppResponse]]
HANDLERS: dict[Operation, Handler] = {}
MAX_LEASE = 67108863

MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?\Z")
NAME_TAGS = (T.NAME_WITHOUT_LANGUAGE, T.NAME_WITH_LANGUAGE)
KEYWORD_TAGS = (T.KEYWORD, T.NAME_WITHOUT_LANGUAGE, T.NAME_WITH_LANGUAGE)


def handles(*operations: Operation) -> Callable[[Handler], Handler]:
    """Register a handler for `operations` in `HANDLERS`."""

    def register(fn: Handler) -> Handler:
        for op in operations:
            HANDLERS[op] = fn
        return fn

    return register


# --------------------------------------------------------------------------
# Helpers


def respond(
    request: IppRequest,
    status: StatusCode = S.SUCCESSFUL_OK,
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


def text_of(value: object) -> str:
    """The text of a name/text value, with or without language."""
    return str(getattr(value, "text", value))


def string_op(request: IppRequest, name: str, tags: Iterable[int]) -> str | None:
    """An operation attribute with one value of one of `tags`, as text; None if absent."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    if attribute.tag not in tuple(tags) or len(attribute.values) != 1:
        raise IppFailure(
            S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"bad {name}",
            [unsupported_value(attribute)],
        )
    return text_of(attribute.value)


def bool_op(request: IppRequest, name: str) -> bool | None:
    """A boolean operation attribute; None if absent, bad-request if not boolean."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    if attribute.tag != T.BOOLEAN or len(attribute.values) != 1:
        raise IppFailure(S.CLIENT_ERROR_BAD_REQUEST, f"{name} must be a boolean", [attribute])
    return bool(attribute.value)


def int_op(request: IppRequest, name: str, low: int = 0) -> int | None:
    """An integer operation attribute >= `low`; None if absent."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    value = attribute.value
    if attribute.tag != T.INTEGER or not isinstance(value, int) or value < low:
        raise IppFailure(
            S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"bad {name}",
            [unsupported_value(attribute)],
        )
    return value


def requested_attributes(request: IppRequest) -> list[str]:
    """The keywords of requested-attributes (empty if absent)."""
    attribute = request.operation.get("requested-attributes")
    if attribute is None:
        return []
    return [str(v.value) for v in attribute.values if v.tag == T.KEYWORD]


def pending_ids(service: IppService, queue: str) -> Sequence[int]:
    """Ids of the queue's pending jobs, ascending (for number-of-intervening-jobs)."""
    return service.context.spool.pending_ids(queue)


def render_job(
    service: IppService,
    request: IppRequest,
    job: Job,
    wanted: set[str] | None,
    path: str | None = None,
    pending: Sequence[int] | None = None,
) -> Group:
    """The job group of `job` with URIs for the listener the client used.

    `pending` (from `pending_ids`) saves recounting when rendering many jobs.
    """
    queue = service.context.queues.get(job.queue) or service.context.queues.default
    ahead = 0
    if wanted is None or "number-of-intervening-jobs" in wanted:
        ids = pending_ids(service, job.queue) if pending is None else pending
        ahead = bisect.bisect_left(ids, job.id)
    return job_group(
        job,
        job_uri=service.job_uri(request, job.id),
        printer_uri=service.printer_uri(request, queue, path),
        wanted=wanted,
        intervening=ahead,
        up_time=int(time.time()),
    )


def job_answer(
    service: IppService,
    request: IppRequest,
    job: Job,
    status: StatusCode = S.SUCCESSFUL_OK,
    unsupported: Iterable[Attribute] = (),
    path: str | None = None,
) -> IppResponse:
    """The answer of a job-creating operation (RFC 8011 section 4.2.1.2)."""
    response = respond(request, status, None, unsupported)
    wanted = {
        "job-uri",
        "job-id",
        "job-state",
        "job-state-reasons",
        "job-state-message",
        "number-of-intervening-jobs",
    }
    response.message.groups.append(render_job(service, request, job, wanted, path))
    return response


def check_owner(request: IppRequest, job: Job) -> None:
    """Only the job's owner or an operator may change a job."""
    if request.is_operator:
        return
    user = request.user or request.requesting_user
    if user is not None and user != job.user:
        raise IppFailure(S.CLIENT_ERROR_NOT_AUTHORIZED, f"job {job.id} belongs to {job.user}")


def check_admin(request: IppRequest) -> None:
    """Operator operations: listed operators when authentication is on, else
    loopback clients only."""
    if not request.is_operator:
        raise IppFailure(
            S.CLIENT_ERROR_FORBIDDEN,
            "printer administration is for operators only"
            if request.auth_on
            else "printer administration is allowed from this host only",
        )


#: What anyone may see of somebody else's job when authentication is on.
PUBLIC_JOB_ATTRIBUTES = frozenset(
    {
        "job-id",
        "job-uri",
        "job-printer-uri",
        "job-state",
        "job-state-reasons",
        "job-printer-up-time",
        "time-at-creation",
        "time-at-processing",
        "time-at-completed",
        "number-of-intervening-jobs",
    }
)


def visible(request: IppRequest, job: Job, wanted: set[str] | None) -> set[str] | None:
    """The attributes of `job` this requester may see (RFC 8011 section 9.3: with
    authentication on, others' jobs show only their id, URIs, state and times)."""
    if not request.auth_on or request.is_operator or request.identity == job.user:
        return wanted
    if wanted is None:
        return set(PUBLIC_JOB_ATTRIBUTES)
    return wanted & PUBLIC_JOB_ATTRIBUTES
