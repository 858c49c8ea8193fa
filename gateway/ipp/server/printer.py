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
from collections.abc import Callable, Sequence
from typing import Any

from gateway.core.job import JobState
from gateway.core.polling import is_local
from gateway.core.queues import Queue, QueueState
from gateway.ipp.attributes import Group
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag

from .job import cancel_each, release_held
from .job_attributes import date_time
from .printer_attributes import (
    LIVE_NAMES,
    Listener,
    encode_attribute,
    printer_alerts,
    uri_attributes,
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


#: A listing keeps an answer for the next one only up to this size, so that one
#: CUPS-Get-Printers with ``all`` over 2,000 queues does not leave megabytes behind.
LISTING_KEEP = 1024


def printer_bytes(
    service: IppService,
    request: IppRequest,
    queue: Queue,
    path: str,
    requested: Sequence[str],
    *,
    listing: bool = False,
    now: float | None = None,
) -> bytes:
    """The encoded printer attributes of `queue` that `requested` asks for: cached
    static ones plus the live ones asked for (state, URIs with the host the client
    used). `listing`: one of many queues in a CUPS-Get-Printers answer, at `now`."""
    description = service.descriptions[queue.name]
    shared = description.shared()
    if now is None:
        now = time.time()
    state = queue.state()
    accepting = queue.is_accepting
    description.note_state((state, accepting), now)
    asked = tuple(requested)
    wanted, timed = shared.select(asked)
    # Everything the answer depends on; times are whole seconds, so within one
    # second a poller (CUPS, a print dialog) gets the bytes encoded the first time,
    # and an answer without a clock in it until the state changes.
    key = (
        asked,
        path,
        request.host,
        request.scheme,
        request.port,
        service.policy(queue),
        state,
        accepting,
        description.state_changed,
        service.context.spool.active_count(queue.name),
        queue.status_checked,
    )
    second = int(now)
    cached = description.last_answer(key, second)
    if cached is not None:
        return cached
    kept_for = second if timed else None
    cached = description.answer(key, kept_for)
    keep = True
    if cached is None:
        live: dict[str, bytes] | None = None
        raw = bytearray()
        for name in wanted:
            piece = description.own(name) or shared.encoded.get(name)
            if piece is None:
                if live is None:
                    live = _live_attributes(service, request, queue, path, wanted, state, second)
                piece = live[name]
            raw += piece
        cached = bytes(raw)
        keep = not listing or len(cached) <= LISTING_KEEP
        if keep:
            description.keep_answer(key, kept_for, cached)
    if keep:
        description.keep_last(key, kept_for, cached)
    return cached


def state_message(queue: Queue, state: QueueState) -> str:
    """printer-state-message: the queue's message and, for a printer asked over the
    network, when it last answered (idle printers are asked every few minutes,
    see gateway/core/polling.py), so the state shown says how old it is."""
    checked = queue.status_checked
    if checked is None or is_local(queue):
        return state.message
    as_of = "state as of " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(checked))
    return f"{state.message} ({as_of})" if state.message else as_of


def _live_attributes(
    service: IppService,
    request: IppRequest,
    queue: Queue,
    path: str,
    wanted: tuple[str, ...],
    state: QueueState,
    second: int,
) -> dict[str, bytes]:
    """The encoded live attributes among `wanted` (`LIVE_NAMES`) at `second`."""
    live: dict[str, bytes] = {}
    if not URI_NAMES.isdisjoint(wanted):
        used = Listener(request.scheme, request.port)
        policy = service.policy(queue)
        for attribute in uri_attributes(
            service.listeners, request.host, path, used, basic_auth=policy != "none"
        ):
            live[attribute.name] = encode_attribute(attribute)
    if "printer-more-info" in wanted:
        base = service.base(request)
        more_info = base.replace("ipps://", "https://").replace("ipp://", "http://")
        live["printer-more-info"] = _encoded(
            "printer-more-info", Group.add_uri, f"{more_info}/printers/{queue.name}"
        )  # the status page
    for name in wanted:
        if name in live or name not in LIVE_VALUES:
            continue
        add, value = LIVE_VALUES[name]
        values = value(service, queue, state, second)
        live[name] = _encoded(name, add, *values)
    if not ALERT_NAMES.isdisjoint(wanted):
        for attribute in printer_alerts(state.reasons, state.message):
            live[attribute.name] = encode_attribute(attribute)
    return live


#: The live attributes made of a few values: how to add them and their values.
LIVE_VALUES: dict[
    str,
    tuple[Callable[..., Group], Callable[[IppService, Queue, QueueState, int], tuple[Any, ...]]],
] = {
    "printer-state": (Group.add_enum, lambda _s, _q, st, _t: (st.ipp_state,)),
    "printer-state-reasons": (Group.add_keyword, lambda _s, _q, st, _t: st.reasons),
    "printer-state-message": (
        Group.add_text,
        lambda _s, q, st, _t: (state_message(q, st)[:1023],),
    ),
    "printer-is-accepting-jobs": (Group.add_boolean, lambda _s, q, _st, _t: (q.is_accepting,)),
    "queued-job-count": (
        Group.add_integer,
        lambda s, q, _st, _t: (s.context.spool.active_count(q.name),),
    ),
    "printer-up-time": (Group.add_integer, lambda _s, _q, _st, t: (t,)),
    "printer-current-time": (Group.add_datetime, lambda _s, _q, _st, t: (date_time(t),)),
    "printer-state-change-time": (
        Group.add_integer,
        lambda s, q, _st, _t: (int(s.descriptions[q.name].state_changed),),
    ),
    "printer-state-change-date-time": (
        Group.add_datetime,
        lambda s, q, _st, _t: (date_time(s.descriptions[q.name].state_changed),),
    ),
}

#: Encoded live attributes by name and values: a fleet's listing encodes
#: ``printer-state 3`` once, not once per queue (cleared when full).
_ENCODED: dict[tuple[str, tuple[Any, ...]], bytes] = {}
ENCODED_KEPT = 4096


def _encoded(name: str, add: Callable[..., Group], *values: Any) -> bytes:
    key = (name, values)
    piece = _ENCODED.get(key)
    if piece is None:
        group = Group(DelimiterTag.PRINTER_ATTRIBUTES)
        add(group, name, *values)
        piece = encode_attribute(group.attributes[0])
        if len(_ENCODED) >= ENCODED_KEPT:
            _ENCODED.clear()
        _ENCODED[key] = piece
    return piece


URI_NAMES = frozenset(LIVE_NAMES[:3])
ALERT_NAMES = frozenset({"printer-alert", "printer-alert-description"})


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
    requested = tuple(requested_attributes(request))
    now = time.time()
    groups = response.printer_groups
    for queue in chosen:
        path = printer_path(queue, queues.default)
        groups.append(
            printer_bytes(service, request, queue, path, requested, listing=True, now=now)
        )
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
