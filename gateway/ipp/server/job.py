"""Job operations: creating jobs, answering for them and changing them.

Why: RFC 8011 sections 4.2.1 Print-Job, 4.2.3 Validate-Job, 4.2.4 Create-Job,
4.2.6 Get-Jobs, 4.3.3 Cancel-Job, 4.3.4 Get-Job-Attributes, 4.3.5 Hold-Job,
4.3.6 Release-Job; RFC 3380 Set-Job-Attributes; PWG 5100.11 Close-Job,
Cancel-My-Jobs and Cancel-Jobs; RFC 3998 Cancel-Current-Job and the job
operations the gateway cannot perform.

Jobs enter the spool exactly like LPD jobs (`Spool.submit`), and a Print-Job is
answered only after the document file is fsync'ed and the job committed;
document data is streamed from the request body into the spool
(`intake.receive_document`), never held whole. Whether new jobs are held
(Hold-New-Jobs) is the queue's (`Queue.hold_new_jobs`); a cancel waits for a
hand-off to the backend in progress (`Dispatcher.cancel`).

Operations the gateway cannot perform on a spooled job (Restart-Job,
Reprocess-Job, Resubmit-Job, Promote-Job, Schedule-Job-After, Resume-Job,
Suspend-Current-Job) are recognised and checked, and answer
client-error-not-possible with a status-message saying why.

CUPS-Move-Job (CUPS's IPP extensions, 0x400D) moves one job to another queue:
the job by job-uri, or printer-uri and job-id; the target in job-printer-uri
(operation group). Only a job not yet handed to its backend (pending or
pending-held) moves, and it keeps its id.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from gateway.core.dispatcher import HANDOFF_WAIT
from gateway.core.infra import ProxyHold, is_fetchable, owner
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.policy import proxy_refusal
from gateway.core.spool import JobNotFound, NewDocument, NoSpace, NotPossible
from gateway.ipp.attributes import Attribute, Group, Value
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import RangeOfInteger
from gateway.log import job_event

from .intake import receive_document
from .job_attributes import JOB_TEMPLATE_SYNTAX, attribute_to_json, expand_requested, job_group
from .printer_attributes import (
    COMPRESSION_SUPPORTED,
    JOB_HOLD_UNTIL_SUPPORTED,
    JOB_SETTABLE_ATTRIBUTES,
    WHICH_JOBS_SUPPORTED,
)
from .request import (
    NAME_TAGS,
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    Target,
    attributes_in,
    bool_op,
    check_admin,
    check_owner,
    int_op,
    not_settable,
    one_value,
    requested_attributes,
    respond,
    string_op,
    text_of,
    unsupported_value,
)

MIME_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?\Z")
KEYWORD_TAGS = (ValueTag.KEYWORD, *NAME_TAGS)

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

#: The job attributes of a job-creating operation's answer (RFC 8011 section 4.2.1.2).
CREATED_JOB_ATTRIBUTES = frozenset(
    {
        "job-uri",
        "job-id",
        "job-state",
        "job-state-reasons",
        "job-state-message",
        "number-of-intervening-jobs",
    }
)


# --------------------------------------------------------------------------
# Rendering a job for this client


def render_job(
    service: IppService,
    request: IppRequest,
    job: Job,
    wanted: set[str] | None,
    pending: Sequence[int] | None = None,
) -> Group:
    """The job group of `job` with URIs for the listener the client used
    (job-printer-uri names the job's own queue, ``/printers/NAME``).

    `pending` (the queue's `Spool.pending_ids`) saves looking them up again when
    rendering many jobs.
    """
    queue = service.queue_named(job.queue)
    ahead = 0
    if wanted is None or "number-of-intervening-jobs" in wanted:
        ids = service.context.spool.pending_ids(job.queue) if pending is None else pending
        ahead = bisect.bisect_left(ids, job.id)
    return job_group(
        job,
        job_uri=service.job_uri(request, job.id),
        printer_uri=service.queue_uri(request, queue),
        wanted=wanted,
        intervening=ahead,
        up_time=int(time.time()),
    )


def job_answer(
    service: IppService,
    request: IppRequest,
    job: Job,
    unsupported: Sequence[Attribute] = (),
) -> IppResponse:
    """The answer of a job-creating operation (RFC 8011 section 4.2.1.2):
    successful-ok, or successful-ok-ignored-or-substituted-attributes with the
    `unsupported` ones."""
    status = (
        StatusCode.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES
        if unsupported
        else StatusCode.SUCCESSFUL_OK
    )
    response = respond(request, status, None, unsupported)
    wanted = set(CREATED_JOB_ATTRIBUTES)
    response.message.groups.append(render_job(service, request, job, wanted))
    return response


def visible(request: IppRequest, job: Job, wanted: set[str] | None) -> set[str] | None:
    """The attributes of `job` this requester may see (RFC 8011 section 9.3: with
    authentication on, others' jobs show only their id, URIs, state and times;
    `gateway.core.policy` says whose are others')."""
    if request.may_see(job):
        return wanted
    if wanted is None:
        return set(PUBLIC_JOB_ATTRIBUTES)
    return wanted & PUBLIC_JOB_ATTRIBUTES


# --------------------------------------------------------------------------
# Checking a job-creating request


class JobRequest:
    """The checked attributes of a job-creating request."""

    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}
        self.document_format = "application/octet-stream"
        self.document_name = ""
        self.compression = "none"
        self.unsupported: list[Attribute] = []
        self.held = False


def template_supported(service: IppService, target: Target, attribute: Attribute) -> bool:
    """Whether every value of a Job Template attribute is one the printer supports."""
    name = attribute.name
    syntax = JOB_TEMPLATE_SYNTAX[name]
    description = service.descriptions[target.queue.name]
    for value in attribute.values:
        tag, v = value.tag, value.value
        if syntax == ValueTag.KEYWORD:
            if tag not in KEYWORD_TAGS:
                return False
            v = text_of(v)
        elif tag != syntax:
            return False
        if name in ("media-col", "overrides"):
            continue
        if name == "page-ranges":
            if not isinstance(v, RangeOfInteger) or v.lower < 1 or v.lower > v.upper:
                return False
            continue
        if name == "job-priority":
            if not isinstance(v, int) or not 1 <= v <= 100:
                return False
            continue
        allowed = description.supported_values(name)
        if name == "media":
            allowed = allowed | description.supported_values("media-ready")
        if not allowed:
            continue
        ok = any(
            (isinstance(a, RangeOfInteger) and isinstance(v, int) and a.lower <= v <= a.upper)
            or a == v
            for a in allowed
        )
        if not ok:
            return False
    return True


def document_format(
    service: IppService, request: IppRequest, target: Target, *, check_syntax: bool
) -> str | None:
    """The document-format operation attribute, if sent, checked against
    document-format-supported (with `check_syntax`, a malformed value is
    client-error-bad-request)."""
    attribute = request.operation.get("document-format")
    if attribute is None:
        return None
    fmt = str(attribute.value)
    if check_syntax and (attribute.tag != ValueTag.MIME_MEDIA_TYPE or not MIME_TYPE.match(fmt)):
        raise OperationError(
            StatusCode.CLIENT_ERROR_BAD_REQUEST,
            "bad document-format",
            [unsupported_value(attribute)],
        )
    formats = {f.lower() for f in service.descriptions[target.queue.name].document_formats}
    if attribute.tag != ValueTag.MIME_MEDIA_TYPE or fmt.lower() not in formats:
        raise OperationError(
            StatusCode.CLIENT_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED,
            f"document-format {fmt} is not supported",
            [unsupported_value(attribute)],
        )
    return fmt


def supported_keyword(
    request: IppRequest, name: str, supported: Collection[str], status: StatusCode
) -> str | None:
    """A keyword operation attribute whose value must be one of `supported`
    (None if absent); `status` with the attribute echoed otherwise."""
    attribute = request.operation.get(name)
    if attribute is None:
        return None
    value = str(attribute.value)
    if attribute.tag != ValueTag.KEYWORD or value not in supported:
        raise OperationError(
            status, f"{name} {value} is not supported", [unsupported_value(attribute)]
        )
    return value


def check_job_request(
    service: IppService, request: IppRequest, target: Target, *, with_document: bool
) -> JobRequest:
    """RFC 8011 section 4.2.1.1 checks; raises `OperationError` for a refused request."""
    queue = target.queue
    if not queue.is_accepting:
        raise OperationError(
            StatusCode.SERVER_ERROR_NOT_ACCEPTING_JOBS, f"{queue.name} is not accepting jobs"
        )
    busy = queue.refuses_new_jobs
    if busy is not None:  # RFC 8011 section 4.1.6: temporarily busy, try again later
        raise OperationError(StatusCode.SERVER_ERROR_BUSY, busy)
    out = JobRequest()
    fidelity = bool(bool_op(request, "ipp-attribute-fidelity"))
    job_name = string_op(request, "job-name", NAME_TAGS)
    out.document_name = string_op(request, "document-name", NAME_TAGS) or ""
    string_op(request, "requesting-user-name", NAME_TAGS)
    host = string_op(request, "job-originating-host-name", NAME_TAGS)
    out.document_format = (
        document_format(service, request, target, check_syntax=True) or out.document_format
    )
    out.compression = (
        supported_keyword(
            request,
            "compression",
            COMPRESSION_SUPPORTED,
            StatusCode.CLIENT_ERROR_COMPRESSION_NOT_SUPPORTED,
        )
        or out.compression
    )

    template: dict[str, Any] = {}
    for attribute in attributes_in(request, DelimiterTag.JOB_ATTRIBUTES):
        if attribute.name not in JOB_TEMPLATE_SYNTAX:
            out.unsupported.append(Attribute.of(attribute.name, ValueTag.UNSUPPORTED))
        elif not template_supported(service, target, attribute):
            out.unsupported.append(unsupported_value(attribute))
        else:
            template[attribute.name] = json_values(attribute)
    if out.unsupported and fidelity:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "unsupported attributes or values",
            out.unsupported,
        )

    user = request.identity
    attrs: dict[str, Any] = {
        "job-name": job_name or out.document_name or "untitled",
        "job-originating-user-name": user,
        "job-originating-host-name": host or request.peer,
        "attributes-charset": str(request.op_value("attributes-charset") or "utf-8"),
        "attributes-natural-language": str(request.op_value("attributes-natural-language") or "en"),
        "copies": 1,
        "job-sheets": "none",
    }
    if request.requesting_user:
        attrs["requesting-user-name"] = request.requesting_user
    if with_document:
        attrs["document-format"] = out.document_format
        if out.document_name:
            attrs["document-name"] = out.document_name
    attrs.update(template)
    hold = str(attrs.get("job-hold-until", "no-hold"))
    out.held = hold != "no-hold" or queue.hold_new_jobs
    out.attributes = attrs
    return out


def json_values(attribute: Attribute) -> Any:
    """An attribute's values as stored in the spool (job-sheets keeps one value)."""
    data = attribute_to_json(attribute)
    if attribute.name == "job-sheets" and isinstance(data, list):
        return data[0]
    return data


def _origin(request: IppRequest, attrs: dict[str, Any]) -> Origin:
    return Origin(
        Frontend.IPP,
        peer=request.peer,
        host=str(attrs.get("job-originating-host-name", "")),
        user=str(attrs.get("job-originating-user-name", "")),
        authenticated=request.user is not None,
    )


def _log_received(job: Job, checked: JobRequest) -> None:
    job_event(
        "received",
        job,
        via="ipp",
        user=job.user,
        host=job.origin.host or None,
        name=job.name,
        format=checked.document_format if job.documents else None,
        size=job.size if job.documents else None,
        state=job.state.keyword,
    )


# --------------------------------------------------------------------------
# Print-Job, Validate-Job, Create-Job, Close-Job


async def print_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.1."""
    target = service.printer_target(request)
    checked = check_job_request(service, request, target, with_document=True)
    spool = service.context.spool
    folder = spool.new_folder()
    committed = False
    try:
        staged = await receive_document(spool, request.body, folder, checked.compression)
        try:
            job = await spool.submit(
                target.queue.name,
                checked.attributes,
                [NewDocument(staged, checked.document_format, checked.document_name)],
                _origin(request, checked.attributes),
                folder=folder,
                held=checked.held,
            )
        except NoSpace as exc:
            return respond(request, StatusCode.SERVER_ERROR_BUSY, str(exc))
        committed = True
    finally:
        if not committed:
            await folder.discard()
    _log_received(job, checked)
    service.context.dispatcher.wake(job.queue)
    return job_answer(service, request, job, checked.unsupported)


async def validate_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.3."""
    target = service.printer_target(request)
    checked = check_job_request(service, request, target, with_document=True)
    if checked.unsupported:
        return respond(
            request,
            StatusCode.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES,
            "some attributes are ignored",
            checked.unsupported,
        )
    return respond(request)


async def create_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.4: a job that waits for Send-Document / Close-Job."""
    target = service.printer_target(request)
    checked = check_job_request(service, request, target, with_document=False)
    spool = service.context.spool
    try:
        spool.check_room(0)
    except NoSpace as exc:
        return respond(request, StatusCode.SERVER_ERROR_BUSY, str(exc))
    folder = spool.new_folder()
    job = await spool.submit(
        target.queue.name,
        checked.attributes,
        [],
        _origin(request, checked.attributes),
        folder=folder,
        incoming=True,
        held=checked.held,
    )
    _log_received(job, checked)
    return job_answer(service, request, job, checked.unsupported)


async def close_job(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.11: close an incoming job without another document."""
    _, job = service.target_job(request)
    check_owner(request, job)
    if job.state.is_terminal:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} has ended")
    job = await service.context.spool.close_job(job.id)
    job_event("closed", job, via="ipp", state=job.state.keyword)
    service.context.dispatcher.wake(job.queue)
    return job_answer(service, request, job)


# --------------------------------------------------------------------------
# Cancel-Job, Cancel-My-Jobs, Cancel-Jobs, Cancel-Current-Job


async def cancel_one(service: IppService, request: IppRequest, job: Job) -> Job:
    """Cancel one job (after any hand-off to the backend settles); `OperationError`
    if that is not possible."""
    try:
        by_operator = request.is_operator and request.identity != job.user
        reason = "job-canceled-by-operator" if by_operator else "job-canceled-by-user"
        message = string_op(request, "message", (ValueTag.TEXT_WITHOUT_LANGUAGE,)) or ""
        canceled = await service.context.dispatcher.cancel(
            job, reason=reason, message=message or f"canceled by {request.identity}"
        )
    except NotPossible as exc:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_POSSIBLE, str(exc)) from None
    except JobNotFound as exc:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, str(exc)) from None
    job_event("canceled", canceled, via="ipp", user=request.identity)
    return canceled


async def cancel_each(service: IppService, request: IppRequest, jobs: Iterable[Job]) -> None:
    """Cancel every job of `jobs` that has not ended meanwhile."""
    for job in jobs:
        try:
            await cancel_one(service, request, job)
        except OperationError:
            continue  # ended meanwhile


async def cancel_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.3."""
    _, job = service.target_job(request)
    check_owner(request, job)
    await cancel_one(service, request, job)
    return respond(request)


async def cancel_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.11: Cancel-My-Jobs (the requesting user's) and Cancel-Jobs (operator)."""
    target = service.printer_target(request)
    mine = request.message.operation_id == Operation.CANCEL_MY_JOBS
    if mine and request.user is None and request.requesting_user is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing requesting-user-name")
    if not mine:
        check_admin(request)
    ids = request.operation.get("job-ids")
    spool = service.context.spool
    jobs: list[Job] = []
    if ids is not None:
        for value in ids.values:
            job = spool.get(value.value) if isinstance(value.value, int) else None
            if job is None or job.queue != target.queue.name:
                raise OperationError(
                    StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {value.value!r} not found", [ids]
                )
            if mine and not request.owns(job):
                raise OperationError(
                    StatusCode.CLIENT_ERROR_NOT_AUTHORIZED, f"job {job.id} is not yours", [ids]
                )
            if job.state.is_terminal:
                raise OperationError(
                    StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} has ended", [ids]
                )
            jobs.append(job)
    else:
        jobs = [j for j in spool.active_jobs(target.queue.name) if not mine or request.owns(j)]
    await cancel_each(service, request, jobs)
    return respond(request)


async def cancel_current_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3998 section 4.2: cancel the job being forwarded."""
    target = service.printer_target(request)
    check_admin(request)
    current = [
        j
        for j in service.context.spool.active_jobs(target.queue.name)
        if j.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED)
    ]
    job_id = int_op(request, "job-id", 1)
    if job_id is not None:
        current = [j for j in current if j.id == job_id]
    if not current:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_POSSIBLE, "no job is being processed")
    await cancel_one(service, request, current[0])
    return respond(request)


# --------------------------------------------------------------------------
# Get-Job-Attributes, Get-Jobs


async def get_job_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.4."""
    target, job = service.target_job(request)
    asked = expand_requested(requested_attributes(request), ["all"])
    wanted = visible(request, job, asked)
    response = respond(request)
    group = render_job(service, request, job, wanted)
    # PWG 5100.18: the output device that fetched a job of an Infrastructure Printer,
    # for those who may see the job's details and for proxies.
    assigned = owner(job) if isinstance(target.queue.backend, ProxyHold) else None
    if (
        assigned
        and (asked is None or "output-device-uuid-assigned" in asked)
        and (
            request.may_see(job)
            or proxy_refusal(service.context.config, user=request.user, peer=request.peer) is None
        )
    ):
        group.append(Attribute("output-device-uuid-assigned", [Value(ValueTag.URI, assigned)]))
    response.message.groups.append(group)
    return response


def _which(job: Job, which: str) -> bool:
    if which == "not-completed":
        return not job.state.is_terminal
    if which == "completed":
        return job.state.is_terminal
    if which == "all":
        return True
    if which == "proof-print":
        return False
    if which == "fetchable":  # PWG 5100.18
        return is_fetchable(job)
    return job.state.keyword == which


async def get_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.6 (and PWG 5100.11 first-index, job-ids)."""
    target = service.printer_target(request)
    asked = supported_keyword(
        request,
        "which-jobs",
        WHICH_JOBS_SUPPORTED,
        StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
    )
    which = asked or "not-completed"
    my_jobs = bool(bool_op(request, "my-jobs"))
    if my_jobs and request.user is None and request.requesting_user is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_BAD_REQUEST, "my-jobs needs requesting-user-name"
        )
    limit = int_op(request, "limit", 1)
    first_index = int_op(request, "first-index", 1) or 1
    ids_attribute = request.operation.get("job-ids")
    ids = None
    if ids_attribute is not None:
        ids = {v.value for v in ids_attribute.values if v.tag == ValueTag.INTEGER}
        if asked is None:
            which = "all"
    spool = service.context.spool
    queues = service.listed_queues(request, target)
    # Each queue's jobs come in id order; only a listing of several needs a sort.
    listed = (
        spool.jobs(queues[0].name)
        if len(queues) == 1
        else sorted((j for q in queues for j in spool.jobs(q.name)), key=lambda j: j.id)
    )
    jobs = [
        j
        for j in listed
        if _which(j, which) and (not my_jobs or request.owns(j)) and (ids is None or j.id in ids)
    ]
    active = [j for j in jobs if not j.state.is_terminal]
    ended = sorted(
        (j for j in jobs if j.state.is_terminal),
        key=lambda j: (j.completed or j.created, j.id),
        reverse=True,
    )
    selected = (active + ended)[first_index - 1 :]
    if limit is not None:
        selected = selected[:limit]
    wanted = expand_requested(requested_attributes(request), ["job-id", "job-uri"])
    response = respond(request)
    pending = {q.name: spool.pending_ids(q.name) for q in queues}
    for job in selected:
        shown = visible(request, job, wanted)
        response.message.groups.append(render_job(service, request, job, shown, pending[job.queue]))
    return response


# --------------------------------------------------------------------------
# Hold-Job, Release-Job, Set-Job-Attributes


async def hold_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.5."""
    _, job = service.target_job(request)
    check_owner(request, job)
    until = string_op(request, "job-hold-until", KEYWORD_TAGS) or "indefinite"
    if until not in JOB_HOLD_UNTIL_SUPPORTED or until == "no-hold":
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"job-hold-until {until} is not supported",
            [Attribute.of("job-hold-until", ValueTag.KEYWORD, until)],
        )
    await hold_pending(service, job, until)
    return respond(request)


async def hold_pending(service: IppService, job: Job, until: str) -> Job:
    """Hold-Job: pending -> pending-held with job-hold-until `until`."""
    if job.state not in (JobState.PENDING, JobState.PENDING_HELD):
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is {job.state.keyword}"
        )
    attrs = dict(job.attributes, **{"job-hold-until": until})
    held = await service.context.spool.transition(
        job.id,
        JobState.PENDING_HELD,
        reasons=("job-hold-until-specified",),
        message="held",
        attributes=attrs,
    )
    job_event("held", held, via="ipp")
    return held


async def release_held(service: IppService, job: Job) -> Job:
    """Release-Job: pending-held -> pending, and wake the dispatcher."""
    if job.state != JobState.PENDING_HELD:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is not held")
    attrs = dict(job.attributes, **{"job-hold-until": "no-hold"})
    released = await service.context.spool.transition(
        job.id,
        JobState.PENDING,
        reasons=("job-incoming",) if job.incoming else ("none",),
        message="released",
        attributes=attrs,
    )
    job_event("released", released, via="ipp")
    service.context.dispatcher.wake(job.queue)
    return released


async def release_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.6."""
    _, job = service.target_job(request)
    check_owner(request, job)
    await release_held(service, job)
    return respond(request)


async def set_job_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3380 section 4.2: job-hold-until, job-name and job-priority."""
    target, job = service.target_job(request)
    check_owner(request, job)
    changes = attributes_in(request, DelimiterTag.JOB_ATTRIBUTES)
    if not changes:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "no job attributes to set")
    if job.state.is_terminal or job.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED):
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is {job.state.keyword}"
        )
    refused = not_settable(a.name for a in changes if a.name not in JOB_SETTABLE_ATTRIBUTES)
    if refused:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE, "not settable", refused
        )
    bad = [
        a for a in changes if a.name != "job-name" and not template_supported(service, target, a)
    ]
    bad += [a for a in changes if a.name == "job-name" and a.tag not in NAME_TAGS]
    if bad:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "unsupported values",
            [unsupported_value(a) for a in bad],
        )
    attrs = dict(job.attributes)
    hold: str | None = None
    for attribute in changes:
        attrs[attribute.name] = json_values(attribute)
        if attribute.name == "job-hold-until":
            hold = text_of(attribute.value)
    spool = service.context.spool
    job = await spool.update(job.id, attributes=attrs)
    if hold == "no-hold" and job.state == JobState.PENDING_HELD:
        await release_held(service, job)
    elif hold is not None and hold != "no-hold" and job.state == JobState.PENDING:
        await hold_pending(service, job, hold)
    job_event("attributes-set", job, via="ipp", names=",".join(a.name for a in changes))
    return respond(request)


# --------------------------------------------------------------------------
# Recognised, not possible


async def job_not_possible(service: IppService, request: IppRequest) -> IppResponse:
    """Recognised job operations the spool cannot perform (see the module doc)."""
    _, job = service.target_job(request)
    check_owner(request, job)
    op = Operation(request.message.operation_id_or_status)
    raise OperationError(
        StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
        f"{op.ipp_name} is not possible: the gateway forwards jobs in arrival order "
        "and keeps ended jobs as history only",
    )


async def suspend_current_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3998 section 4.3: not possible, a forwarded job cannot be suspended here."""
    service.printer_target(request)
    check_admin(request)
    raise OperationError(
        StatusCode.CLIENT_ERROR_NOT_POSSIBLE, "a job being forwarded cannot be suspended"
    )


# --------------------------------------------------------------------------
# CUPS-Move-Job

#: The states a job may be moved in: not yet handed to its backend.
MOVABLE = (JobState.PENDING, JobState.PENDING_HELD)


async def move_job(service: IppService, request: IppRequest) -> IppResponse:
    """CUPS-Move-Job: the job goes to the queue job-printer-uri names (see the
    module doc). The owner or an operator may move it (`check_owner`, as for
    Cancel-Job); the target must exist and accept jobs. A job the dispatcher is
    about to hand to its backend is waited for first (`Dispatcher.settled`), as
    a cancel is, so the answer is the outcome, not a race; the queue is changed
    only while the job is still in the state it was checked in
    (`Spool.transition_if`)."""
    _, job = service.target_job(request)
    check_owner(request, job)
    attribute = one_value(
        request, "job-printer-uri", ValueTag.URI, "job-printer-uri must be one uri"
    )
    if attribute is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing job-printer-uri")
    path = urlsplit(str(attribute.value).split(",", 1)[0]).path or "/"
    target = service.queue_for_path(path)
    if target is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND,
            f"no printer at {path}",
            [unsupported_value(attribute)],
        )
    if not target.is_accepting:
        raise OperationError(
            StatusCode.SERVER_ERROR_NOT_ACCEPTING_JOBS, f"{target.name} is not accepting jobs"
        )
    dispatcher = service.context.dispatcher
    current = await dispatcher.settled(job, HANDOFF_WAIT)
    if current is None:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {job.id} does not exist")
    if current.state not in MOVABLE or dispatcher.in_handoff(current):
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            f"job {job.id} is {current.state.keyword}: only a pending or held job can be moved",
        )
    source = current.queue
    if source == target.name:
        return respond(request)
    moved = await service.context.spool.transition_if(
        current.id, (current.state,), current.state, queue=target.name
    )
    if moved is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} changed state meanwhile"
        )
    job_event("moved", moved, via="ipp", user=request.identity, source=source)
    dispatcher.wake(source)
    dispatcher.wake(target.name)
    return respond(request)
