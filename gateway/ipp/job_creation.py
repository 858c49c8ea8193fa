"""Job creation: Print-Job, Validate-Job, Create-Job, Send-Document, Close-Job.

Why: RFC 8011 sections 4.2.1, 4.2.3, 4.2.4, 4.3.1 and PWG 5100.11 Close-Job.
Jobs enter the spool exactly like LPD jobs (`Spool.submit`), and a Print-Job /
Send-Document is answered only after the document file is fsync'ed and the
job committed. Document data is streamed from the request body into the
spool (`document.spool_document`), never held whole.

Choice for a full spool (`NoSpace`): server-error-busy (RFC 8011 section
4.1.6: "temporarily busy ... try again later"); a document over the
configured job size limit gets client-error-request-entity-too-large, since
retrying cannot help.
"""

from __future__ import annotations

from typing import Any

import trio

from gateway.core.job import Frontend, Job, Origin
from gateway.core.spool import (
    JobFolder,
    JobNotFound,
    NewDocument,
    NoSpace,
    NotPossible,
    StagedFile,
)
from gateway.log import job_event

from .attributes import Attribute
from .document import (
    BodyReader,
    CompressionError,
    Decompressor,
    DocumentTooLarge,
    spool_document,
)
from .handler_base import (
    KEYWORD_TAGS,
    MIME_TYPE,
    NAME_TAGS,
    S,
    T,
    bool_op,
    check_owner,
    handles,
    job_answer,
    respond,
    string_op,
    text_of,
)
from .job_attributes import (
    JOB_TEMPLATE_SYNTAX,
    attribute_to_json,
)
from .operations import Operation
from .printer_attributes import (
    COMPRESSION_SUPPORTED,
)
from .service import (
    IppFailure,
    IppRequest,
    IppResponse,
    IppService,
    Target,
    unknown_attribute,
    unsupported_value,
)
from .status import StatusCode
from .tags import DelimiterTag
from .values import RangeOfInteger

# --------------------------------------------------------------------------
# Job creation: Print-Job, Validate-Job, Create-Job


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
        if syntax == T.KEYWORD:
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


def check_job_request(
    service: IppService, request: IppRequest, target: Target, *, with_document: bool
) -> JobRequest:
    """RFC 8011 section 4.2.1.1 checks; raises `IppFailure` for a refused request."""
    queue = target.queue
    if not queue.is_accepting:
        raise IppFailure(S.SERVER_ERROR_NOT_ACCEPTING_JOBS, f"{queue.name} is not accepting jobs")
    out = JobRequest()
    fidelity = bool(bool_op(request, "ipp-attribute-fidelity"))
    job_name = string_op(request, "job-name", NAME_TAGS)
    out.document_name = string_op(request, "document-name", NAME_TAGS) or ""
    string_op(request, "requesting-user-name", NAME_TAGS)
    host = string_op(request, "job-originating-host-name", NAME_TAGS)

    fmt_attribute = request.operation.get("document-format")
    if fmt_attribute is not None:
        fmt = str(fmt_attribute.value)
        if fmt_attribute.tag != T.MIME_MEDIA_TYPE or not MIME_TYPE.match(fmt):
            raise IppFailure(
                S.CLIENT_ERROR_BAD_REQUEST,
                "bad document-format",
                [unsupported_value(fmt_attribute)],
            )
        formats = {f.lower() for f in service.descriptions[queue.name].document_formats}
        if fmt.lower() not in formats:
            raise IppFailure(
                S.CLIENT_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED,
                f"document-format {fmt} is not supported",
                [unsupported_value(fmt_attribute)],
            )
        out.document_format = fmt
    comp_attribute = request.operation.get("compression")
    if comp_attribute is not None:
        comp = str(comp_attribute.value)
        if comp_attribute.tag != T.KEYWORD or comp not in COMPRESSION_SUPPORTED:
            raise IppFailure(
                S.CLIENT_ERROR_COMPRESSION_NOT_SUPPORTED,
                f"compression {comp} is not supported",
                [unsupported_value(comp_attribute)],
            )
        out.compression = comp

    template: dict[str, Any] = {}
    for group in request.message.groups_of(DelimiterTag.JOB_ATTRIBUTES):
        for attribute in group:
            if attribute.name not in JOB_TEMPLATE_SYNTAX:
                out.unsupported.append(unknown_attribute(attribute.name))
            elif not template_supported(service, target, attribute):
                out.unsupported.append(unsupported_value(attribute))
            else:
                template[attribute.name] = json_values(attribute)
    if out.unsupported and fidelity:
        raise IppFailure(
            S.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
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
    out.held = hold != "no-hold" or queue.name in service.hold_new_jobs
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
    )


class _DocumentProblem(Exception):
    def __init__(self, status: StatusCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _receive_document(
    service: IppService,
    request: IppRequest,
    folder: JobFolder,
    compression: str,
) -> tuple[StagedFile, bool]:
    """Stream the document into a new spool file: (StagedFile, had_data)."""
    spool = service.context.spool
    body: BodyReader = request.body
    try:
        spool.check_room(0)
    except NoSpace as exc:
        raise _DocumentProblem(S.SERVER_ERROR_BUSY, str(exc)) from None
    async with folder.document() as writer:
        try:
            staged = await spool_document(
                body, writer, Decompressor(compression), max_size=spool.max_job_size
            )
        except CompressionError as exc:
            raise _DocumentProblem(S.CLIENT_ERROR_COMPRESSION_ERROR, str(exc)) from None
        except DocumentTooLarge as exc:
            raise _DocumentProblem(S.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE, str(exc)) from None
        except NoSpace as exc:
            raise _DocumentProblem(S.SERVER_ERROR_BUSY, str(exc)) from None
    return staged, staged.size > 0


@handles(Operation.PRINT_JOB)
async def print_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.1."""
    target = service.printer_target(request)
    checked = check_job_request(service, request, target, with_document=True)
    spool = service.context.spool
    folder = spool.new_folder()
    committed = False
    try:
        try:
            staged, _ = await _receive_document(service, request, folder, checked.compression)
        except _DocumentProblem as problem:
            await request.body.drain()
            return respond(request, problem.status, problem.message)
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
            return respond(request, S.SERVER_ERROR_BUSY, str(exc))
        committed = True
    finally:
        if not committed:
            await folder.discard()
    _log_received(job, checked)
    service.context.dispatcher.wake(job.queue)
    status = S.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES if checked.unsupported else None
    return job_answer(
        service, request, job, status or S.SUCCESSFUL_OK, checked.unsupported, target.path
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


@handles(Operation.VALIDATE_JOB)
async def validate_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.3."""
    target = service.printer_target(request)
    checked = check_job_request(service, request, target, with_document=True)
    if checked.unsupported:
        return respond(
            request,
            S.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES,
            "some attributes are ignored",
            checked.unsupported,
        )
    return respond(request)


@handles(Operation.CREATE_JOB)
async def create_job(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.4: a job that waits for Send-Document / Close-Job."""
    target = service.printer_target(request)
    checked = check_job_request(service, request, target, with_document=False)
    spool = service.context.spool
    try:
        spool.check_room(0)
    except NoSpace as exc:
        return respond(request, S.SERVER_ERROR_BUSY, str(exc))
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
    status = S.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES if checked.unsupported else None
    return job_answer(
        service, request, job, status or S.SUCCESSFUL_OK, checked.unsupported, target.path
    )


@handles(Operation.SEND_DOCUMENT)
async def send_document(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.3.1."""
    target = service.job_target(request)
    job = target.job
    assert job is not None
    check_owner(request, job)
    last = bool_op(request, "last-document")
    if last is None:
        raise IppFailure(S.CLIENT_ERROR_BAD_REQUEST, "missing last-document")
    if not job.incoming:
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, f"job {job.id} is not waiting for documents")
    document_format = "application/octet-stream"
    fmt_attribute = request.operation.get("document-format")
    formats = {f.lower() for f in service.descriptions[target.queue.name].document_formats}
    if fmt_attribute is not None:
        fmt = str(fmt_attribute.value)
        if fmt_attribute.tag != T.MIME_MEDIA_TYPE or fmt.lower() not in formats:
            raise IppFailure(
                S.CLIENT_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED,
                f"document-format {fmt} is not supported",
                [unsupported_value(fmt_attribute)],
            )
        document_format = fmt
    compression = string_op(request, "compression", (T.KEYWORD,)) or "none"
    if compression not in COMPRESSION_SUPPORTED:
        raise IppFailure(
            S.CLIENT_ERROR_COMPRESSION_NOT_SUPPORTED,
            f"compression {compression} is not supported",
            [Attribute.of("compression", T.KEYWORD, compression)],
        )
    name = string_op(request, "document-name", NAME_TAGS) or ""
    spool = service.context.spool
    try:
        folder = spool.folder_of(job.id)
    except JobNotFound:
        raise IppFailure(S.CLIENT_ERROR_NOT_FOUND, f"job {job.id} does not exist") from None
    staged: StagedFile | None = None
    try:
        staged, had_data = await _receive_document(service, request, folder, compression)
    except _DocumentProblem as problem:
        await request.body.drain()
        return respond(request, problem.status, problem.message)
    try:
        if not had_data:  # an empty Send-Document only closes (or does nothing)
            await _discard_file(service, staged)
            if last:
                job = await spool.close_job(job.id)
        else:
            job = await spool.add_document(
                job.id, NewDocument(staged, document_format, name), last=last
            )
            staged = None
    except NotPossible as exc:
        await _discard_file(service, staged)
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, str(exc)) from None
    except JobNotFound as exc:
        await _discard_file(service, staged)
        raise IppFailure(S.CLIENT_ERROR_NOT_FOUND, str(exc)) from None
    job_event(
        "document-received",
        job,
        via="ipp",
        documents=len(job.documents),
        last=str(bool(last)).lower(),
        size=job.size,
    )
    service.context.dispatcher.wake(job.queue)
    return job_answer(service, request, job, path=target.path)


async def _discard_file(service: IppService, staged: StagedFile | None) -> None:
    if staged is None:
        return
    path = service.context.spool.root / staged.path
    await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


@handles(Operation.CLOSE_JOB)
async def close_job(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.11: close an incoming job without another document."""
    target = service.job_target(request)
    assert target.job is not None
    check_owner(request, target.job)
    if target.job.state.is_terminal:
        raise IppFailure(S.CLIENT_ERROR_NOT_POSSIBLE, f"job {target.job.id} has ended")
    job = await service.context.spool.close_job(target.job.id)
    job_event("closed", job, via="ipp", state=job.state.keyword)
    service.context.dispatcher.wake(job.queue)
    return job_answer(service, request, job, path=target.path)
