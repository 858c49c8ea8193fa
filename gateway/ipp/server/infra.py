"""The proxy operations of an Infrastructure Printer (PWG 5100.18 section 7) and
Register-Output-Device on the System (PWG 5100.22 section 7.1.23).

Why: a proxy (another gateway, ippsample's ippproxy) connects out to us and asks
for the jobs of an infrastructure queue (``[queues.NAME] infrastructure = true``).
These handlers read the operation's attributes, check who asks (one rule in the
core: `gateway.core.policy.proxy_refusal`) and which output device
(output-device-uuid, REQUIRED in every one), and leave every decision about a
job to `gateway.core.infra.OutputDevices`. Status codes:

- client-error-bad-request: output-device-uuid, job-id or document-number missing;
- client-error-not-authenticated / client-error-forbidden: not a proxy;
- client-error-not-possible: the printer is not an Infrastructure Printer;
- client-error-not-found: no such job on this printer, no such document;
- client-error-not-fetchable: the job is not held for proxies, or another
  output device acknowledged it first;
- client-error-document-format-not-supported: document-format-accepted names
  none of the document's formats (as received, or as converted for a printer).

Fetch-Document streams the spooled file after the response message
(`IppResponse.data_file`), never whole in memory; it is sent as received
(compression none).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from gateway.core.infra import (
    NotFetchable,
    OutputDevice,
    OutputDevices,
    ProxyHold,
    TooManyDevices,
    UnknownDevice,
    is_fetchable,
    owner,
)
from gateway.core.job import Document, Job, JobState
from gateway.core.policy import proxy_refusal
from gateway.core.queues import Queue
from gateway.ipp.attributes import Attribute, Collection, Group, Value
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag

from .job import render_job
from .job_attributes import json_to_values, value_to_json
from .printer import announce
from .request import (
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    Target,
    attributes_in,
    int_op,
    respond,
    string_op,
)

log = logging.getLogger("gateway.ipp.infra")

#: The output devices of each open spool (one registry per spool, whatever
#: becomes of the IPP service on a reload), by the spool's id.
_devices: dict[int, OutputDevices] = {}


def devices(service: IppService) -> OutputDevices:
    """The output devices of this gateway; their reports go to the queues of the
    service now running."""
    spool = service.context.spool
    found = _devices.get(id(spool))
    if found is None or found.spool is not spool:
        found = _devices[id(spool)] = OutputDevices(spool)
    found.limit = service.context.config.infra.max_output_devices
    registry = found
    found.on_change = lambda name: _report(service, registry, name)
    return found


def _report(service: IppService, registry: OutputDevices, name: str) -> None:
    """Give an infrastructure queue the capabilities its devices report: for each
    attribute every device's values, without repeats (the syntax of the first)."""
    queue = service.context.queues.get(name)
    if queue is None or not isinstance(queue.backend, ProxyHold):
        return
    merged: dict[str, Attribute] = {}
    for device in registry.of_queue(name):
        for attribute in _attributes_of(device):
            known = merged.get(attribute.name)
            if known is None:
                merged[attribute.name] = attribute
            else:
                extra = [v for v in attribute.values if v not in known.values]
                merged[attribute.name] = Attribute(known.name, [*known.values, *extra])
    formats_attr = merged.get("document-format-supported")
    formats = (
        tuple(
            str(v.value) for v in formats_attr.values if str(v.value) != "application/octet-stream"
        )
        if formats_attr is not None
        else ()
    )
    queue.backend.report(formats or None, merged)


def _attributes_of(device: OutputDevice) -> list[Attribute]:
    out: list[Attribute] = []
    for name, stored in device.attributes.items():
        try:
            values = json_to_values(int(stored["tag"]), stored["values"])
        except (KeyError, TypeError, ValueError):
            continue
        out.append(Attribute(name, values))
    return out


def _to_stored(attribute: Attribute) -> dict[str, Any]:
    return {"tag": int(attribute.tag), "values": [value_to_json(v) for v in attribute.values]}


# --------------------------------------------------------------------------
# What every proxy operation checks


def _check_proxy(service: IppService, request: IppRequest) -> None:
    refusal = proxy_refusal(service.context.config, user=request.user, peer=request.peer)
    if refusal is not None:
        status = (
            StatusCode.CLIENT_ERROR_NOT_AUTHENTICATED
            if request.user is None
            else StatusCode.CLIENT_ERROR_FORBIDDEN
        )
        raise OperationError(status, refusal)


def _device_uuid(request: IppRequest) -> str:
    attribute = request.operation.get("output-device-uuid")
    if attribute is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing output-device-uuid")
    value = str(attribute.value)
    if (
        attribute.tag != ValueTag.URI
        or len(attribute.values) != 1
        or not value.startswith("urn:uuid:")
    ):
        raise OperationError(
            StatusCode.CLIENT_ERROR_BAD_REQUEST,
            "output-device-uuid must be one urn:uuid: URI",
            [attribute],
        )
    return value.lower()


def _infra_target(service: IppService, request: IppRequest) -> tuple[Target, str]:
    """The infrastructure printer addressed and the asking device's uuid."""
    target = service.printer_target(request)
    _check_proxy(service, request)
    uuid = _device_uuid(request)
    if not isinstance(target.queue.backend, ProxyHold):
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            f"{target.queue.name} is not an Infrastructure Printer",
        )
    return target, uuid


async def _device(service: IppService, request: IppRequest, target: Target, uuid: str) -> None:
    """The asking device, registered on first use; too many: server-error-busy."""
    try:
        await devices(service).device_for(uuid, target.queue.name, request.identity)
    except TooManyDevices as exc:
        raise OperationError(StatusCode.SERVER_ERROR_BUSY, str(exc)) from None


def _job(service: IppService, request: IppRequest, queue: Queue) -> Job:
    job_id = int_op(request, "job-id", 1)
    if job_id is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing job-id")
    job = service.context.spool.get(job_id)
    if job is None or job.queue != queue.name:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no job {job_id} on {queue.name}")
    return job


def _document(request: IppRequest, job: Job) -> Document:
    number = int_op(request, "document-number", 1)
    if number is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing document-number")
    doc = next((d for d in job.documents if d.number == number), None)
    if doc is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {job.id} has no document {number}"
        )
    return doc


def _owned(job: Job, uuid: str) -> None:
    if owner(job) != uuid:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FETCHABLE,
            f"job {job.id} is not fetched by output device {uuid}",
        )


# --------------------------------------------------------------------------
# Jobs


async def fetch_job(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.5: the job's attributes, while it is fetchable (or is this
    device's)."""
    target, uuid = _infra_target(service, request)
    job = _job(service, request, target.queue)
    await _device(service, request, target, uuid)
    if not is_fetchable(job) and owner(job) != uuid:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FETCHABLE, f"job {job.id} is not fetchable"
        )
    response = respond(request)
    group = render_job(service, request, job, None)
    assigned = owner(job)
    if assigned is not None:  # PWG 5100.18: the device that acknowledged it
        group.append(Attribute("output-device-uuid-assigned", [Value(ValueTag.URI, assigned)]))
    response.message.groups.append(group)
    return response


async def acknowledge_job(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.3: the first device to acknowledge a job owns it."""
    target, uuid = _infra_target(service, request)
    job = _job(service, request, target.queue)
    await _device(service, request, target, uuid)
    try:
        await devices(service).acknowledge(job.id, uuid)
    except NotFetchable as exc:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FETCHABLE, str(exc)) from None
    return respond(request)


async def update_job_status(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.10: the job's state as its device sees it."""
    target, uuid = _infra_target(service, request)
    job = _job(service, request, target.queue)
    _owned(job, uuid)
    # PWG 5100.18 names them output-device-job-state(-reasons, -message) in the
    # job group; job-state and friends (also in the operation group) are taken too.
    given: dict[str, Attribute] = {}
    for attribute in [
        *attributes_in(request, DelimiterTag.JOB_ATTRIBUTES),
        *request.operation,
    ]:
        name = attribute.name.removeprefix("output-device-")
        if name.startswith("job-") and (
            name not in given or attribute.name.startswith("output-device-")
        ):
            given[name] = attribute
    state = _job_state(given.get("job-state"))
    reasons = (
        tuple(str(v.value) for v in given["job-state-reasons"].values)
        if "job-state-reasons" in given
        else None
    )
    message = (
        str(getattr(given["job-state-message"].value, "text", given["job-state-message"].value))
        if "job-state-message" in given
        else None
    )
    impressions = None
    if "job-impressions-completed" in given:
        value = given["job-impressions-completed"].value
        impressions = value if isinstance(value, int) and value >= 0 else None
    try:
        await devices(service).job_status(
            job.id, uuid, state=state, reasons=reasons, message=message, impressions=impressions
        )
    except NotFetchable as exc:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FETCHABLE, str(exc)) from None
    return respond(request)


def _job_state(attribute: Attribute | None) -> JobState | None:
    if attribute is None:
        return None
    raw = attribute.value
    if isinstance(raw, int) and raw in JobState._value2member_map_:
        return JobState(raw)
    raise OperationError(
        StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED, "bad job-state", [attribute]
    )


async def update_active_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.9: the device lists the jobs it has and their states; the
    answer lists those whose state here differs (ended here: cancel them), and
    those it should have but did not list."""
    target, uuid = _infra_target(service, request)
    await _device(service, request, target, uuid)
    ids_attr = request.operation.get("job-ids")
    states_attr = request.operation.get("output-device-job-states")
    ids = [v.value for v in ids_attr.values] if ids_attr is not None else []
    states = [v.value for v in states_attr.values] if states_attr is not None else []
    if len(ids) != len(states):
        raise OperationError(
            StatusCode.CLIENT_ERROR_BAD_REQUEST,
            "job-ids and output-device-job-states must have as many values",
        )
    spool = service.context.spool
    differ: list[tuple[int, int]] = []
    listed = set()
    for job_id, state in zip(ids, states, strict=True):
        if not isinstance(job_id, int):
            continue
        listed.add(job_id)
        job = spool.get(job_id)
        if job is None or owner(job) != uuid:
            differ.append((job_id, int(JobState.CANCELED)))
        elif job.state.is_terminal and job.state != state:
            differ.append((job_id, int(job.state)))
    for job in devices(service).active_jobs(uuid):
        if job.id not in listed:
            differ.append((job.id, int(job.state)))
    response = respond(request)
    if differ:
        group = response.message.operation
        group.append(Attribute("job-ids", [Value(ValueTag.INTEGER, i) for i, _ in differ]))
        group.append(
            Attribute("output-device-job-states", [Value(ValueTag.ENUM, s) for _, s in differ])
        )
    return response


# --------------------------------------------------------------------------
# Documents


async def fetch_document(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.4: the document's attributes, then its data, streamed."""
    target, uuid = _infra_target(service, request)
    job = _job(service, request, target.queue)
    if not is_fetchable(job) and owner(job) != uuid:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FETCHABLE, f"job {job.id} is not fetchable"
        )
    doc = _document(request, job)
    accepted_attr = request.operation.get("document-format-accepted")
    accepted = [str(v.value).lower() for v in accepted_attr.values] if accepted_attr else []
    # No document-format-accepted: the device takes what the queue's devices
    # reported; a document converted for those formats (the dispatcher did it
    # before holding the job) goes as converted.
    chosen = doc.for_printer if doc.print_path and not accepted else doc
    if accepted and "application/octet-stream" not in accepted:
        candidates = [doc, doc.for_printer] if doc.print_path else [doc]
        match = next((d for d in candidates if d.format.lower() in accepted), None)
        if match is None:
            raise OperationError(
                StatusCode.CLIENT_ERROR_DOCUMENT_FORMAT_NOT_SUPPORTED,
                f"document {doc.number} is {doc.format}, none of document-format-accepted",
                [accepted_attr] if accepted_attr is not None else [],
            )
        chosen = match
    compression = request.operation.get("compression-accepted")
    if compression is not None and "none" not in [str(v.value) for v in compression.values]:
        raise OperationError(
            StatusCode.CLIENT_ERROR_COMPRESSION_NOT_SUPPORTED,
            "the document is sent uncompressed (compression none)",
            [compression],
        )
    response = respond(request)
    # PWG 5100.18 7.4.2: compression, document-format and document-name answer in
    # the operation group; the document's attributes follow in their own group.
    name = doc.name or f"document {doc.number}"
    operation = response.message.operation
    operation.append(Attribute("compression", [Value(ValueTag.KEYWORD, "none")]))
    operation.append(Attribute("document-format", [Value(ValueTag.MIME_MEDIA_TYPE, chosen.format)]))
    operation.append(Attribute("document-name", [Value(ValueTag.NAME, name)]))
    group = Group(DelimiterTag.DOCUMENT_ATTRIBUTES)
    group.append(Attribute("document-number", [Value(ValueTag.INTEGER, doc.number)]))
    group.append(Attribute("document-format", [Value(ValueTag.MIME_MEDIA_TYPE, chosen.format)]))
    group.append(Attribute("document-name", [Value(ValueTag.NAME, name)]))
    group.append(Attribute("compression", [Value(ValueTag.KEYWORD, "none")]))
    group.append(Attribute("last-document", [Value(ValueTag.BOOLEAN, doc is job.documents[-1])]))
    response.message.groups.append(group)
    path = service.context.spool.document_path(chosen)
    if not await trio.Path(path).is_file():  # purged meanwhile
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND, f"document {doc.number} of job {job.id} is gone"
        )
    response.data_file = path
    log.info(
        "queue %s: job %d: document %d fetched by %s (%s)",
        job.queue,
        job.id,
        doc.number,
        uuid,
        request.peer,
    )
    return response


async def acknowledge_document(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.1: the device has the document."""
    target, uuid = _infra_target(service, request)
    job = _job(service, request, target.queue)
    _owned(job, uuid)
    _document(request, job)
    return respond(request)


async def update_document_status(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.8: a document's progress at the device (the job's state says it
    for the gateway's clients; nothing is kept per document)."""
    target, uuid = _infra_target(service, request)
    job = _job(service, request, target.queue)
    _owned(job, uuid)
    _document(request, job)
    return respond(request)


# --------------------------------------------------------------------------
# Output devices


async def update_output_device_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.11: what the device can do; it becomes the queue's capabilities."""
    target, uuid = _infra_target(service, request)
    given = attributes_in(request, DelimiterTag.PRINTER_ATTRIBUTES)
    stored = {a.name: _to_stored(a) for a in given}
    try:
        await devices(service).set_attributes(uuid, target.queue.name, request.identity, stored)
    except TooManyDevices as exc:
        raise OperationError(StatusCode.SERVER_ERROR_BUSY, str(exc)) from None
    announce(service, target.queue, "printer-config-changed", f"output device {uuid} updated")
    return respond(request)


async def get_output_device_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.6: what the device reported."""
    target, uuid = _infra_target(service, request)
    registry = devices(service)
    await registry.load()
    device = registry.get(uuid)
    if device is None or device.queue != target.queue.name:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"no output device {uuid}")
    response = respond(request)
    group = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    group.append(Attribute("output-device-uuid", [Value(ValueTag.URI, uuid)]))
    for attribute in _attributes_of(device):
        group.append(attribute)
    response.message.groups.append(group)
    return response


async def deregister_output_device(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.2: forget the device (the jobs it owns stay its)."""
    target, uuid = _infra_target(service, request)
    try:
        await devices(service).deregister(uuid, target.queue.name)
    except UnknownDevice as exc:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, str(exc)) from None
    return respond(request)


async def acknowledge_identify_printer(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.18 7.2: the gateway never asks a device to identify itself."""
    _, _uuid = _infra_target(service, request)
    raise OperationError(StatusCode.CLIENT_ERROR_NOT_POSSIBLE, "no Identify-Printer is pending")


async def register_output_device(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 7.1.23, on the System: the device fetches from an
    infrastructure queue (the one named by printer-name, else the first); the
    answer's printer-xri-supported says where."""
    if not service.is_system_request(request):
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing system-uri")
    _check_proxy(service, request)
    uuid = _device_uuid(request)
    wanted = string_op(request, "printer-name", (ValueTag.NAME_WITHOUT_LANGUAGE,))
    queues = [q for q in service.context.queues if isinstance(q.backend, ProxyHold)]
    if wanted:
        queues = [q for q in queues if q.name == wanted]
    if not queues:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, "no Infrastructure Printer here")
    queue = queues[0]
    try:
        await devices(service).register(uuid, queue.name, request.identity)
    except TooManyDevices as exc:
        raise OperationError(StatusCode.SERVER_ERROR_BUSY, str(exc)) from None
    uri = service.queue_uri(request, queue)
    response = respond(request)
    group = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    xri = Collection()
    xri.add_uri("xri-uri", uri)
    xri.add_keyword("xri-authentication", "basic" if request.user else "none")
    xri.add_keyword("xri-security", "tls" if request.scheme == "ipps" else "none")
    group.append(Attribute("printer-xri-supported", [Value(ValueTag.BEG_COLLECTION, xri)]))
    group.append(Attribute("printer-uri-supported", [Value(ValueTag.URI, uri)]))
    group.append(Attribute("printer-name", [Value(ValueTag.NAME, queue.name)]))
    response.message.groups.append(group)
    return response


__all__ = [
    "acknowledge_document",
    "acknowledge_identify_printer",
    "acknowledge_job",
    "deregister_output_device",
    "devices",
    "fetch_document",
    "fetch_job",
    "get_output_device_attributes",
    "register_output_device",
    "update_active_jobs",
    "update_document_status",
    "update_job_status",
    "update_output_device_attributes",
]
