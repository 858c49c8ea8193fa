"""Operations on existing jobs and their documents.

Why: RFC 8011 sections 4.2.6, 4.3.3-4.3.6, RFC 3380 Set-Job-Attributes,
PWG 5100.11 Cancel-My-Jobs / Cancel-Jobs, RFC 3998 job operations and PWG
5100.5 document operations, answered from the spool. Operations the gateway
cannot perform on a spooled job (Restart-Job, Reprocess-Job, Resubmit-Job,
Promote-Job, Schedule-Job-After, Suspend-Current-Job, Resume-Job,
Cancel-Document) are recognised and checked, and answer
client-error-not-possible with a status-message saying why.
"""

from __future__ import annotations

from gateway.core.job import Job, JobState
from gateway.core.spool import JobNotFound, NotPossible
from gateway.log import job_event

from .attributes import Attribute, Group, Value
from .handler_base import (
    KEYWORD_TAGS,
    NAME_TAGS,
    S,
    T,
    bool_op,
    check_admin,
    check_owner,
    handles,
    int_op,
    pending_ids,
    render_job,
    requested_attributes,
    respond,
    string_op,
    text_of,
    visible,
)
from .job_attributes import (
    expand_requested,
)
from .job_creation import json_values, template_supported
from .operations import Operation
from .printer_attributes import (
    JOB_HOLD_UNTIL_SUPPORTED,
    JOB_SETTABLE_ATTRIBUTES,
    WHICH_JOBS_SUPPORTED,
)
from .service import (
    IppFailure,
    IppRequest,
    IppResponse,
    IppService,
    unsupported_value,
)
from .tags import DelimiterTag

# --------------------------------------------------------------------------
# Job operations


HANDOFF_WAIT = 2.0
"""Seconds a cancel waits for a hand-off to the backend in progress (`IppService.settled`)."""


async def cancel_one(service: IppService, request: IppRequest, job: Job) -> Job:
    """Cancel one job (after any hand-off to the backend settles); IppFailure if not possible."""
    job = await service.settled(job, HANDOFF_WAIT) or job
    try:
        by_operator = request.is_operator and request.identity != job.user
        reason = "job-canceled-by-operator" if by_operator else "job-canceled-by-user"
        message = string_op(request, "message", (T.TEXT_WITHOUT_LANGUAGE,)) or ""
        canceled = await service.context.spool.cancel(
            job.id, reason=reason, message=message or f"canceled by {request.identity}"
        )
    except NotPossible as exc:
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, str(exc)) from None
    except JobNotFound as exc:
        raise IppFailure(S.CLIENT_ERROR_NOT_FOUND, str(exc)) from None
    job_event("canceled", canceled, via="ipp", user=request.identity)
    return canceled


@handles(Operation.CANCEL_JOB)
async def cancel_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.3."""
    target = service.job_target(request)
    assert target.job is not None
    check_owner(request, target.job)
    await cancel_one(service, request, target.job)
    return respond(request)


@handles(Operation.CANCEL_MY_JOBS, Operation.CANCEL_JOBS)
async def cancel_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.11: Cancel-My-Jobs (the requesting user's) and Cancel-Jobs (operator)."""
    target = service.printer_target(request)
    mine = request.message.operation_id == Operation.CANCEL_MY_JOBS
    if mine and request.user is None and request.requesting_user is None:
        raise IppFailure(S.CLIENT_ERROR_BAD_REQUEST, "missing requesting-user-name")
    if not mine:
        check_admin(request)
    ids = request.operation.get("job-ids")
    spool = service.context.spool
    jobs: list[Job] = []
    if ids is not None:
        for value in ids.values:
            job = spool.get(value.value) if isinstance(value.value, int) else None
            if job is None or job.queue != target.queue.name:
                raise IppFailure(S.CLIENT_ERROR_NOT_FOUND, f"job {value.value!r} not found", [ids])
            if mine and job.user != request.identity:
                raise IppFailure(S.CLIENT_ERROR_NOT_AUTHORIZED, f"job {job.id} is not yours", [ids])
            if job.state.is_terminal:
                raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} has ended", [ids])
            jobs.append(job)
    else:
        jobs = [
            j
            for j in spool.active_jobs(target.queue.name)
            if not mine or j.user == request.identity
        ]
    for job in jobs:
        try:
            await cancel_one(service, request, job)
        except IppFailure:
            continue  # ended meanwhile
    return respond(request)


@handles(Operation.CANCEL_CURRENT_JOB)
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
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, "no job is being processed")
    await cancel_one(service, request, current[0])
    return respond(request)


@handles(Operation.GET_JOB_ATTRIBUTES)
async def get_job_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.4."""
    target = service.job_target(request)
    assert target.job is not None
    wanted = visible(request, target.job, expand_requested(requested_attributes(request), ["all"]))
    response = respond(request)
    response.message.groups.append(render_job(service, request, target.job, wanted, target.path))
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
    return job.state.keyword == which


@handles(Operation.GET_JOBS)
async def get_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.6 (and PWG 5100.11 first-index, job-ids)."""
    target = service.printer_target(request)
    which_attribute = request.operation.get("which-jobs")
    which = "not-completed"
    if which_attribute is not None:
        which = str(which_attribute.value)
        if which_attribute.tag != T.KEYWORD or which not in WHICH_JOBS_SUPPORTED:
            raise IppFailure(
                S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
                f"which-jobs {which} is not supported",
                [unsupported_value(which_attribute)],
            )
    my_jobs = bool(bool_op(request, "my-jobs"))
    if my_jobs and request.user is None and request.requesting_user is None:
        raise IppFailure(S.CLIENT_ERROR_BAD_REQUEST, "my-jobs needs requesting-user-name")
    limit = int_op(request, "limit", 1)
    first_index = int_op(request, "first-index", 1) or 1
    ids_attribute = request.operation.get("job-ids")
    ids = None
    if ids_attribute is not None:
        ids = {v.value for v in ids_attribute.values if v.tag == T.INTEGER}
        if which_attribute is None:
            which = "all"
    jobs = [
        j
        for j in service.context.spool.jobs(target.queue.name)
        if _which(j, which)
        and (not my_jobs or j.user == request.identity)
        and (ids is None or j.id in ids)
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
    pending = pending_ids(service, target.queue.name)
    for job in selected:
        shown = visible(request, job, wanted)
        response.message.groups.append(render_job(service, request, job, shown, None, pending))
    return response


@handles(Operation.HOLD_JOB)
async def hold_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.5."""
    target = service.job_target(request)
    job = target.job
    assert job is not None
    check_owner(request, job)
    until = string_op(request, "job-hold-until", KEYWORD_TAGS) or "indefinite"
    if until not in JOB_HOLD_UNTIL_SUPPORTED or until == "no-hold":
        raise IppFailure(
            S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"job-hold-until {until} is not supported",
            [Attribute.of("job-hold-until", T.KEYWORD, until)],
        )
    await hold_pending(service, job, until)
    return respond(request)


async def hold_pending(service: IppService, job: Job, until: str) -> Job:
    """Hold-Job: pending -> pending-held with job-hold-until `until`."""
    if job.state not in (JobState.PENDING, JobState.PENDING_HELD):
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is {job.state.keyword}")
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
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is not held")
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


@handles(Operation.RELEASE_JOB)
async def release_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.6."""
    target = service.job_target(request)
    assert target.job is not None
    check_owner(request, target.job)
    await release_held(service, target.job)
    return respond(request)


@handles(Operation.SET_JOB_ATTRIBUTES)
async def set_job_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3380 section 4.2: job-hold-until, job-name and job-priority."""
    target = service.job_target(request)
    job = target.job
    assert job is not None
    check_owner(request, job)
    changes = [a for g in request.message.groups_of(DelimiterTag.JOB_ATTRIBUTES) for a in g]
    if not changes:
        raise IppFailure(S.CLIENT_ERROR_BAD_REQUEST, "no job attributes to set")
    if job.state.is_terminal or job.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED):
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is {job.state.keyword}")
    not_settable = [
        Attribute.of(a.name, T.NOT_SETTABLE)
        for a in changes
        if a.name not in JOB_SETTABLE_ATTRIBUTES
    ]
    if not_settable:
        raise IppFailure(S.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE, "not settable", not_settable)
    bad = [
        a for a in changes if a.name != "job-name" and not template_supported(service, target, a)
    ]
    bad += [a for a in changes if a.name == "job-name" and a.tag not in NAME_TAGS]
    if bad:
        raise IppFailure(
            S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
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


@handles(
    Operation.RESTART_JOB,
    Operation.REPROCESS_JOB,
    Operation.RESUBMIT_JOB,
    Operation.PROMOTE_JOB,
    Operation.SCHEDULE_JOB_AFTER,
    Operation.RESUME_JOB,
)
async def job_not_possible(service: IppService, request: IppRequest) -> IppResponse:
    """Recognised job operations the spool cannot perform (see the module doc)."""
    target = service.job_target(request)
    assert target.job is not None
    check_owner(request, target.job)
    op = Operation(request.message.operation_id_or_status)
    raise IppFailure(
        S.CLIENT_ERROR_NOT_POSSIBLE,
        f"{op.ipp_name} is not possible: the gateway forwards jobs in arrival order "
        "and keeps ended jobs as history only",
    )


@handles(Operation.SUSPEND_CURRENT_JOB)
async def suspend_current_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3998 section 4.3: not possible, a forwarded job cannot be suspended here."""
    service.printer_target(request)
    check_admin(request)
    raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, "a job being forwarded cannot be suspended")


# --------------------------------------------------------------------------
# Documents (PWG 5100.5)


def _document_group(
    service: IppService, request: IppRequest, job: Job, number: int, wanted: set[str] | None
) -> Group:
    doc = next(d for d in job.documents if d.number == number)
    queue = service.context.queues.get(job.queue) or service.context.queues.default
    group = Group(DelimiterTag.DOCUMENT_ATTRIBUTES)
    state = job.state if job.state.is_terminal else JobState.PENDING
    if job.state == JobState.PROCESSING:
        state = JobState.PROCESSING
    values: list[tuple[str, int, object]] = [
        ("document-number", T.INTEGER, doc.number),
        ("document-job-id", T.INTEGER, job.id),
        ("document-job-uri", T.URI, service.job_uri(request, job.id)),
        ("document-printer-uri", T.URI, service.printer_uri(request, queue)),
        ("document-format", T.MIME_MEDIA_TYPE, doc.format),
        ("document-name", T.NAME, doc.name or f"document {doc.number}"),
        ("document-state", T.ENUM, int(state)),
        ("document-state-reasons", T.KEYWORD, "none"),
        ("k-octets", T.INTEGER, (doc.size + 1023) // 1024),
        ("last-document", T.BOOLEAN, number == job.documents[-1].number and not job.incoming),
        ("attributes-charset", T.CHARSET, "utf-8"),
        ("attributes-natural-language", T.NATURAL_LANGUAGE, "en"),
        ("time-at-creation", T.INTEGER, int(job.created)),
    ]
    for name, tag, value in values:
        if wanted is None or name in wanted:
            group.append(Attribute(name, [Value(tag, value)]))  # type: ignore[arg-type]
    return group


def _document_number(request: IppRequest, job: Job) -> int:
    number = int_op(request, "document-number", 1)
    if number is None:
        raise IppFailure(S.CLIENT_ERROR_BAD_REQUEST, "missing document-number")
    if all(d.number != number for d in job.documents):
        raise IppFailure(S.CLIENT_ERROR_NOT_FOUND, f"job {job.id} has no document {number}")
    return number


def _wanted_document(request: IppRequest, default: list[str]) -> set[str] | None:
    names = requested_attributes(request) or default
    if "all" in names or "document-description" in names:
        return None
    return set(names)


@handles(Operation.GET_DOCUMENTS)
async def get_documents(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.5."""
    target = service.job_target(request)
    job = target.job
    assert job is not None
    wanted = _wanted_document(request, ["document-number"])
    response = respond(request)
    for doc in job.documents:
        response.message.groups.append(_document_group(service, request, job, doc.number, wanted))
    return response


@handles(Operation.GET_DOCUMENT_ATTRIBUTES)
async def get_document_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.4."""
    target = service.job_target(request)
    job = target.job
    assert job is not None
    number = _document_number(request, job)
    response = respond(request)
    wanted = _wanted_document(request, ["all"])
    response.message.groups.append(_document_group(service, request, job, number, wanted))
    return response


@handles(Operation.CANCEL_DOCUMENT)
async def cancel_document(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.1: documents are forwarded together with their job."""
    target = service.job_target(request)
    assert target.job is not None
    check_owner(request, target.job)
    _document_number(request, target.job)
    raise IppFailure(
        S.CLIENT_ERROR_NOT_POSSIBLE, "a single document cannot be canceled; cancel the job"
    )


@handles(Operation.SET_DOCUMENT_ATTRIBUTES)
async def set_document_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.6: no document attribute is settable."""
    target = service.job_target(request)
    assert target.job is not None
    _document_number(request, target.job)
    names = [a.name for g in request.message.groups_of(DelimiterTag.DOCUMENT_ATTRIBUTES) for a in g]
    raise IppFailure(
        S.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE,
        "document attributes are not settable",
        [Attribute.of(n, T.NOT_SETTABLE) for n in names],
    )
