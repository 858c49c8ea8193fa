"""Document operations: Send-Document and the Document object (PWG 5100.5).

Why: RFC 8011 section 4.3.1 Send-Document adds a document to a job made by
Create-Job; it is answered only after the document file is fsync'ed and the
job committed. ``limits.max_job_size`` bounds the job's documents together: a
Send-Document that would pass it is refused
(client-error-request-entity-too-large) and its document discarded, and one
job takes one Send-Document at a time (another at once is
client-error-not-possible), so two cannot pass the limit together.
PWG 5100.5 Get-Documents, Get-Document-Attributes,
Cancel-Document and Set-Document-Attributes answer from the spool: documents
are forwarded together with their job, so one cannot be canceled alone, and
no document attribute is settable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.core.job import Job, JobState
from gateway.core.spool import JobNotFound, NewDocument, NotPossible
from gateway.ipp.attributes import Attribute, Group, Value
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.log import job_event

from .intake import discard_staged, receive_document
from .job import document_format, job_answer
from .printer_attributes import COMPRESSION_SUPPORTED
from .request import (
    NAME_TAGS,
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    Target,
    attributes_in,
    bool_op,
    check_owner,
    int_op,
    not_settable,
    requested_attributes,
    respond,
    string_op,
)

_receiving: set[tuple[int, int]] = set()
"""(id of the spool, job id) of each Send-Document being received."""


@contextmanager
def _one_at_a_time(service: IppService, job: Job) -> Iterator[None]:
    key = (id(service.context.spool), job.id)
    if key in _receiving:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            f"job {job.id} is receiving another document; send them one after another",
        )
    _receiving.add(key)
    try:
        yield
    finally:
        _receiving.discard(key)


async def send_document(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.1."""
    target, job = service.target_job(request)
    with _one_at_a_time(service, job):
        return await _send_document(service, request, target, job)


async def _send_document(
    service: IppService, request: IppRequest, target: Target, job: Job
) -> IppResponse:
    check_owner(request, job)
    last = bool_op(request, "last-document")
    if last is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing last-document")
    if not job.incoming:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is not waiting for documents"
        )
    fmt = document_format(service, request, target, check_syntax=False)
    compression = string_op(request, "compression", (ValueTag.KEYWORD,)) or "none"
    if compression not in COMPRESSION_SUPPORTED:
        raise OperationError(
            StatusCode.CLIENT_ERROR_COMPRESSION_NOT_SUPPORTED,
            f"compression {compression} is not supported",
            [Attribute.of("compression", ValueTag.KEYWORD, compression)],
        )
    name = string_op(request, "document-name", NAME_TAGS) or ""
    spool = service.context.spool
    try:
        folder = spool.folder_of(job.id)
    except JobNotFound:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {job.id} does not exist"
        ) from None
    staged = await receive_document(spool, request.body, folder, compression, job_size=job.size)
    try:
        if staged.size == 0:  # an empty Send-Document only closes (or does nothing)
            await discard_staged(spool, staged)
            if last:
                job = await spool.close_job(job.id)
        else:
            document = NewDocument(staged, fmt or "application/octet-stream", name)
            job = await spool.add_document(job.id, document, last=last)
    except (NotPossible, JobNotFound) as exc:
        await discard_staged(spool, staged)
        status = (
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE
            if isinstance(exc, NotPossible)
            else StatusCode.CLIENT_ERROR_NOT_FOUND
        )
        raise OperationError(status, str(exc)) from None
    job_event(
        "document-received",
        job,
        via="ipp",
        documents=len(job.documents),
        last=str(bool(last)).lower(),
        size=job.size,
    )
    service.context.dispatcher.wake(job.queue)
    return job_answer(service, request, job)


def _document_group(
    service: IppService, request: IppRequest, job: Job, number: int, wanted: set[str] | None
) -> Group:
    doc = next(d for d in job.documents if d.number == number)
    queue = service.queue_named(job.queue)
    group = Group(DelimiterTag.DOCUMENT_ATTRIBUTES)
    state = job.state if job.state.is_terminal else JobState.PENDING
    if job.state == JobState.PROCESSING:
        state = JobState.PROCESSING
    last = number == job.documents[-1].number and not job.incoming
    values: list[tuple[str, int, object]] = [
        ("document-number", ValueTag.INTEGER, doc.number),
        ("document-job-id", ValueTag.INTEGER, job.id),
        ("document-job-uri", ValueTag.URI, service.job_uri(request, job.id)),
        ("document-printer-uri", ValueTag.URI, service.printer_uri(request, queue)),
        ("document-format", ValueTag.MIME_MEDIA_TYPE, doc.format),
        ("document-name", ValueTag.NAME, doc.name or f"document {doc.number}"),
        ("document-state", ValueTag.ENUM, int(state)),
        ("document-state-reasons", ValueTag.KEYWORD, "none"),
        ("k-octets", ValueTag.INTEGER, (doc.size + 1023) // 1024),
        ("last-document", ValueTag.BOOLEAN, last),
        ("attributes-charset", ValueTag.CHARSET, "utf-8"),
        ("attributes-natural-language", ValueTag.NATURAL_LANGUAGE, "en"),
        ("time-at-creation", ValueTag.INTEGER, int(job.created)),
    ]
    for name, tag, value in values:
        if wanted is None or name in wanted:
            group.append(Attribute(name, [Value(tag, value)]))  # type: ignore[arg-type]
    return group


def _document_number(request: IppRequest, job: Job) -> int:
    number = int_op(request, "document-number", 1)
    if number is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing document-number")
    if all(d.number != number for d in job.documents):
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {job.id} has no document {number}"
        )
    return number


def _wanted_document(request: IppRequest, default: list[str]) -> set[str] | None:
    names = requested_attributes(request) or default
    if "all" in names or "document-description" in names:
        return None
    return set(names)


async def get_documents(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.5."""
    _, job = service.target_job(request)
    wanted = _wanted_document(request, ["document-number"])
    response = respond(request)
    for doc in job.documents:
        response.message.groups.append(_document_group(service, request, job, doc.number, wanted))
    return response


async def get_document_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.4."""
    _, job = service.target_job(request)
    number = _document_number(request, job)
    response = respond(request)
    wanted = _wanted_document(request, ["all"])
    response.message.groups.append(_document_group(service, request, job, number, wanted))
    return response


async def cancel_document(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.1: documents are forwarded together with their job."""
    _, job = service.target_job(request)
    check_owner(request, job)
    _document_number(request, job)
    raise OperationError(
        StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
        "a single document cannot be canceled; cancel the job",
    )


async def set_document_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.5 section 7.6: no document attribute is settable."""
    _, job = service.target_job(request)
    _document_number(request, job)
    names = [a.name for a in attributes_in(request, DelimiterTag.DOCUMENT_ATTRIBUTES)]
    raise OperationError(
        StatusCode.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE,
        "document attributes are not settable",
        not_settable(names),
    )
