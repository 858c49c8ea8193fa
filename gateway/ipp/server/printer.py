"""Printer operations: Get-Printer-Attributes, Identify-Printer and administration.

Why: RFC 8011 sections 4.2.5 Get-Printer-Attributes, 4.2.7-4.2.9 Pause-Printer,
Resume-Printer and Purge-Jobs; RFC 3380 Set-Printer-Attributes and
Get-Printer-Supported-Values; RFC 3998 and PWG 5100.11 printer administration;
PWG 5100.13 Identify-Printer; the CUPS-Get-Printers and CUPS-Get-Default
extensions. Printer administration changes the queue's in-memory switches
(`Queue.enabled`, `Queue.accepting`, `Queue.hold_new_jobs`) and is for
operators only (`check_admin`).
"""

from __future__ import annotations

import logging
import time

from gateway.core.job import JobState
from gateway.core.queues import Queue
from gateway.ipp.attributes import Group
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag

from .job import cancel_each, release_held
from .job_attributes import date_time
from .printer_attributes import (
    Listener,
    encode_attribute,
    printer_alerts,
    uri_attributes,
    wanted_printer_attributes,
)
from .request import (
    NAME_TAGS,
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    attributes_in,
    check_admin,
    int_op,
    not_settable,
    printer_path,
    requested_attributes,
    respond,
    string_op,
)

log = logging.getLogger("gateway.ipp")


def printer_bytes(
    service: IppService, request: IppRequest, queue: Queue, path: str, requested: list[str]
) -> bytes:
    """The encoded printer attributes of `queue` that `requested` asks for: cached
    static ones plus the live ones (state, URIs with the host the client used)."""
    description = service.descriptions[queue.name]
    static = description.static()
    now = time.time()
    state = queue.state()
    state_key = (state.ipp_state, state.reasons, state.message, queue.is_accepting)
    description.note_state(state_key, now)
    policy = service.policy(queue)
    queued = service.context.spool.active_count(queue.name)
    # Everything the answer depends on; times are whole seconds, so within one
    # second a poller (CUPS, a print dialog) gets the bytes encoded the first time.
    key: tuple[object, ...] = (tuple(requested), path, request.host, request.scheme)
    key += (request.port, policy, state_key, queued, id(static))
    second = int(now)
    cached = description.answer(key, second)
    if cached is not None:
        return cached
    live = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    used = Listener(request.scheme, request.port)
    for attribute in uri_attributes(
        service.listeners, request.host, path, used, basic_auth=policy != "none"
    ):
        live.append(attribute)
    more_info = service.base(request).replace("ipps://", "https://").replace("ipp://", "http://")
    live.add_uri("printer-more-info", f"{more_info}/printers/{queue.name}")  # status page
    live.add_enum("printer-state", state.ipp_state)
    live.add_keyword("printer-state-reasons", *state.reasons)
    live.add_text("printer-state-message", state.message[:1023])
    live.add_boolean("printer-is-accepting-jobs", queue.is_accepting)
    live.add_integer("queued-job-count", queued)
    live.add_integer("printer-up-time", second)
    live.add_datetime("printer-current-time", date_time(second))
    live.add_integer("printer-state-change-time", int(description.state_changed))
    live.add_datetime("printer-state-change-date-time", date_time(description.state_changed))
    for attribute in printer_alerts(state.reasons, state.message):
        live.append(attribute)
    live_by_name = {a.name: a for a in live}
    names = [*static, *live_by_name]
    raw = bytearray()
    for name in wanted_printer_attributes(requested, names):
        if name in live_by_name:
            raw += encode_attribute(live_by_name[name])
        else:
            raw += static[name]
    answer = bytes(raw)
    description.keep_answer(key, second, answer)
    return answer


async def get_printer_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.5."""
    target = service.printer_target(request)
    raw = printer_bytes(service, request, target.queue, target.path, requested_attributes(request))
    response = respond(request)
    if raw:
        response.printer_groups.append(raw)
    return response


async def cups_get_printers(service: IppService, request: IppRequest) -> IppResponse:
    """CUPS-Get-Printers / CUPS-Get-Default (CUPS extensions): every queue, or the
    default one, so that ``lpstat -p``, ``lpstat -d`` and CUPS print dialogs
    pointed at the gateway list its printers."""
    queues = service.context.queues
    if request.message.operation_id == Operation.CUPS_GET_DEFAULT:
        chosen = [queues.default]
    else:
        chosen = list(queues)
        first = string_op(request, "first-printer-name", NAME_TAGS)
        if first is not None:
            names = [q.name for q in chosen]
            chosen = chosen[names.index(first) :] if first in names else []
        limit = int_op(request, "limit", 1)
        if limit is not None:
            chosen = chosen[:limit]
    response = respond(request)
    requested = requested_attributes(request)
    for queue in chosen:
        path = printer_path(queue, queues.default)
        response.printer_groups.append(printer_bytes(service, request, queue, path, requested))
    return response


async def identify_printer(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.13 section 7.3: logged (a gateway has no panel or speaker)."""
    target = service.printer_target(request)
    actions = request.operation.values("identify-actions") or ["display"]
    text_tags = (ValueTag.TEXT_WITHOUT_LANGUAGE, ValueTag.TEXT_WITH_LANGUAGE)
    message = string_op(request, "message", text_tags)
    log.info(
        "identify-printer queue=%s peer=%s actions=%s message=%r",
        target.queue.name,
        request.peer,
        ",".join(str(a) for a in actions),
        message or "",
    )
    return respond(request)


async def get_printer_supported_values(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3380 section 4.3: no printer attribute is settable, so nothing to list."""
    service.printer_target(request)
    return respond(request)


async def set_printer_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3380 section 4.1: printer attributes come from the configuration file."""
    service.printer_target(request)
    check_admin(request)
    names = [a.name for a in attributes_in(request, DelimiterTag.PRINTER_ATTRIBUTES)]
    raise OperationError(
        StatusCode.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE,
        "printer attributes are set in the configuration file",
        not_settable(names),
    )


async def printer_admin(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 4.2.7-8, RFC 3998: the queue's operator switches (in memory).

    Pause stops forwarding after the job in progress (the dispatcher takes no
    new job), Disable stops accepting, Shutdown does both, Startup/Restart
    undo both. Hold-New-Jobs holds jobs that arrive from now on.
    """
    target = service.printer_target(request)
    check_admin(request)
    queue = target.queue
    op = request.message.operation_id
    if op in (Operation.PAUSE_PRINTER, Operation.PAUSE_PRINTER_AFTER_CURRENT_JOB):
        queue.enabled = False
    elif op == Operation.RESUME_PRINTER:
        queue.enabled = True
    elif op == Operation.ENABLE_PRINTER:
        queue.accepting = True
    elif op == Operation.DISABLE_PRINTER:
        queue.accepting = False
    elif op == Operation.SHUTDOWN_PRINTER:
        queue.enabled = queue.accepting = False
    elif op in (Operation.STARTUP_PRINTER, Operation.RESTART_PRINTER):
        queue.enabled = queue.accepting = True
    elif op == Operation.HOLD_NEW_JOBS:
        queue.hold_new_jobs = True
    elif op == Operation.RELEASE_HELD_NEW_JOBS:
        queue.hold_new_jobs = False
        for job in service.context.spool.active_jobs(queue.name):
            if job.state == JobState.PENDING_HELD:
                try:
                    await release_held(service, job)
                except OperationError:
                    continue
    name = Operation(op).ipp_name
    log.info("printer %s: %s by %s from %s", queue.name, name, request.identity, request.peer)
    event = "printer-stopped" if not queue.enabled else "printer-state-changed"
    service.subscriptions.printer_changed(queue.name, event, f"{name} on {queue.name}")
    service.subscriptions.printer_changed(
        queue.name, "printer-config-changed", f"{name} on {queue.name}"
    )
    service.context.dispatcher.wake(queue.name)
    return respond(request)


async def purge_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.9: cancel every job not yet ended (history is kept)."""
    target = service.printer_target(request)
    check_admin(request)
    await cancel_each(service, request, service.context.spool.active_jobs(target.queue.name))
    return respond(request)
