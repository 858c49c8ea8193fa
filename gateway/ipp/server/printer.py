"""Printer operations: Get-Printer-Attributes, Identify-Printer and administration.

Why: RFC 8011 sections 4.2.5 Get-Printer-Attributes, 4.2.7-4.2.9 Pause-Printer,
Resume-Printer and Purge-Jobs; RFC 3380 Set-Printer-Attributes and
Get-Printer-Supported-Values; RFC 3998 and PWG 5100.11 printer administration;
PWG 5100.13 Identify-Printer; the CUPS-Get-Printers and CUPS-Get-Default
extensions. Printer administration is for operators only (`check_admin`): it
changes the queue's switches (`SWITCHING` says how each operation does) through
`Queues.set_switches`, and printer attributes (`SETTABLE`) through the queues'
`Administration`, both durable before they take effect, so a restart keeps
them (gateway/core/admin.py). The System Service (system.py) uses the same
table for its all-printers and one-printer operations.

A queue that has a printer-id (PWG 5100.22) also shows ``printer-id`` and
``printer-xri-supported`` (one collection per printer-uri-supported).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gateway.core.job import JobState
from gateway.core.polling import is_local
from gateway.core.queues import Queue, QueueState, Switches
from gateway.core.spool import SpoolError
from gateway.ipp.attributes import Attribute, Collection, Group
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import OutOfBand

from .job import cancel_each, release_held
from .job_attributes import date_time
from .printer_attributes import (
    LIVE_NAMES,
    WEB_NAMES,
    Listener,
    encode_attribute,
    encode_one,
    printer_alerts,
    uri_attributes,
    wanted_printer_attributes,
    web_attributes,
)
from .request import (
    NAME_TAGS,
    SYSTEM_SUBSCRIPTIONS,
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    attributes_in,
    check_admin,
    int_op,
    printer_path,
    refuse_changes,
    requested_attributes,
    respond,
    string_op,
    unsupported_value,
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
        if queue.printer_id:
            raw += _system_pieces(service, request, queue, path, asked)
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
            service.listeners,
            request.host,
            path,
            used,
            basic_auth=policy != "none",
            oauth=bool(service.context.config.oauth.issuer),
        ):
            live[attribute.name] = encode_attribute(attribute)
    if not WEB_NAMES_SET.isdisjoint(wanted):  # status page, supplies page, icons
        base = service.base(request)
        web = base.replace("ipps://", "https://").replace("ipp://", "http://")
        for attribute in web_attributes(web, queue.name):
            live[attribute.name] = encode_attribute(attribute)
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
WEB_NAMES_SET = frozenset(WEB_NAMES)
ALERT_NAMES = frozenset({"printer-alert", "printer-alert-description"})

#: PWG 5100.22 printer attributes, shown by queues that have a printer-id (after
#: the others): the queue's number on the System and one xri per printer URI.
SYSTEM_NAMES = ("printer-id", "printer-xri-supported")
_SYSTEM_SELECTIONS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _system_pieces(
    service: IppService, request: IppRequest, queue: Queue, path: str, asked: tuple[str, ...]
) -> bytes:
    """The encoded `SYSTEM_NAMES` that requested-attributes `asked` selects."""
    names = _SYSTEM_SELECTIONS.get(asked)
    if names is None:
        names = tuple(wanted_printer_attributes(asked, SYSTEM_NAMES))
        if len(_SYSTEM_SELECTIONS) >= ENCODED_KEPT:
            _SYSTEM_SELECTIONS.clear()
        _SYSTEM_SELECTIONS[asked] = names
    out = bytearray()
    if "printer-id" in names:
        out += encode_one(ValueTag.INTEGER, "printer-id", queue.printer_id)
    if "printer-xri-supported" in names:
        xri = Attribute.of(
            "printer-xri-supported",
            ValueTag.BEG_COLLECTION,
            *xri_supported(service, request, queue, path),
        )
        out += encode_attribute(xri)
    return bytes(out)


def xri_supported(
    service: IppService, request: IppRequest, queue: Queue, path: str
) -> list[Collection]:
    """printer-xri-supported (PWG 5100.22): xri-uri, xri-security and
    xri-authentication of each printer URI, as printer-uri-supported lists them."""
    used = Listener(request.scheme, request.port)
    uris, security, authentication = uri_attributes(
        service.listeners, request.host, path, used, basic_auth=service.policy(queue) != "none"
    )
    return [
        Collection()
        .add_uri("xri-uri", str(uri.value))
        .add_keyword("xri-security", str(sec.value))
        .add_keyword("xri-authentication", str(auth.value))
        for uri, sec, auth in zip(uris.values, security.values, authentication.values, strict=True)
    ]


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
    """RFC 3380 section 4.3: the printer attributes an operator may set
    (`SETTABLE`), each with the out-of-band 'admin-define' (any text, name or
    geo: URI the operator chooses)."""
    service.printer_target(request)
    asked = requested_attributes(request)
    names = [n for n in SETTABLE if not asked or "all" in asked or n in asked]
    response = respond(request)
    if names:
        group = response.message.add_group(DelimiterTag.PRINTER_ATTRIBUTES)
        for name in names:
            group.add_out_of_band(name, OutOfBand.ADMIN_DEFINE)
    return response


#: Printer attributes an operator may set (Set-Printer-Attributes; Create-Printer
#: takes them too): the syntaxes each one accepts and its longest text. Values are
#: kept by the queues' administration (gateway/core/admin.py, `PRINTER_SETTABLE`).
SETTABLE: Mapping[str, tuple[tuple[int, ...], int]] = {
    "printer-info": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 127),
    "printer-location": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 127),
    "printer-make-and-model": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 127),
    "printer-organization": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 1023),
    "printer-organizational-unit": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 1023),
    "printer-geo-location": ((ValueTag.URI, ValueTag.UNKNOWN), 1023),
}


def printer_changes(
    attributes: Iterable[Attribute],
) -> tuple[dict[str, str | None], list[Attribute], list[Attribute]]:
    """Read printer attributes to set: (changes by name, None meaning back to the
    configured value (delete-attribute); attributes that are not settable;
    settable ones whose value is not supported)."""
    changes: dict[str, str | None] = {}
    not_settable_: list[Attribute] = []
    bad: list[Attribute] = []
    for attribute in attributes:
        rule = SETTABLE.get(attribute.name)
        if rule is None:
            not_settable_.append(attribute)
            continue
        tags, longest = rule
        if len(attribute.values) != 1:
            bad.append(unsupported_value(attribute))
            continue
        tag = attribute.tag
        if tag == ValueTag.DELETE_ATTRIBUTE:
            changes[attribute.name] = None
            continue
        if tag not in tags:
            bad.append(unsupported_value(attribute))
            continue
        if tag == ValueTag.UNKNOWN:  # printer-geo-location 'unknown'
            changes[attribute.name] = ""
            continue
        text = str(getattr(attribute.value, "text", attribute.value))
        if len(text.encode()) > longest or (
            attribute.name == "printer-geo-location" and not text.lower().startswith("geo:")
        ):
            bad.append(unsupported_value(attribute))
            continue
        changes[attribute.name] = text
    return changes, not_settable_, bad


async def set_printer_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3380 section 4.1: set `SETTABLE` printer attributes, all or none
    (client-error-attributes-not-settable names the others). They last: the
    queues' administration stores them before they are shown."""
    target = service.printer_target(request)
    check_admin(request)
    attributes = attributes_in(request, DelimiterTag.PRINTER_ATTRIBUTES)
    if not attributes:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "no printer attributes to set")
    changes, refused, bad = printer_changes(attributes)
    admin = service.context.queues.admin
    if admin is None:
        refused, changes = list(attributes), {}
    refuse_changes(refused, bad)
    assert admin is not None
    queue = target.queue
    try:
        await admin.set_printer_attributes(queue, changes)
    except SpoolError as exc:
        raise OperationError(
            StatusCode.SERVER_ERROR_INTERNAL_ERROR, f"not recorded: {exc}"
        ) from None
    log.info(
        "printer %s: Set-Printer-Attributes %s by %s from %s",
        queue.name,
        ",".join(changes),
        request.identity,
        request.peer,
    )
    announce(service, queue, "printer-config-changed", f"Set-Printer-Attributes on {queue.name}")
    return respond(request)


def _set(**changes: bool) -> Callable[[Switches], Switches]:
    return lambda switches: dataclasses.replace(switches, **changes)


def _unless_shutdown(**changes: bool) -> Callable[[Switches], Switches]:
    """A change a shut-down queue does not take (Startup-Printer undoes a shutdown)."""
    return lambda s: s if s.shutdown else dataclasses.replace(s, **changes)


#: What each printer administration operation does to a queue's switches
#: (RFC 8011 4.2.7-8, RFC 3998, PWG 5100.22 for the one-printer forms). Pause
#: stops forwarding after the job in progress (the dispatcher takes no new job),
#: Disable stops accepting, Shutdown does both until Startup; Startup and Restart
#: forward and accept again. Hold-New-Jobs holds the jobs that arrive from now on.
SWITCHING: Mapping[int, Callable[[Switches], Switches]] = {
    Operation.PAUSE_PRINTER: _set(enabled=False),
    Operation.PAUSE_PRINTER_AFTER_CURRENT_JOB: _set(enabled=False),
    Operation.RESUME_PRINTER: _unless_shutdown(enabled=True),
    Operation.ENABLE_PRINTER: _unless_shutdown(accepting=True),
    Operation.DISABLE_PRINTER: _set(accepting=False),
    Operation.HOLD_NEW_JOBS: _set(hold_new_jobs=True),
    Operation.RELEASE_HELD_NEW_JOBS: _set(hold_new_jobs=False),
    Operation.SHUTDOWN_PRINTER: _set(enabled=False, accepting=False, shutdown=True),
    Operation.SHUTDOWN_ONE_PRINTER: _set(enabled=False, accepting=False, shutdown=True),
    Operation.STARTUP_PRINTER: _set(enabled=True, accepting=True, shutdown=False),
    Operation.STARTUP_ONE_PRINTER: _set(enabled=True, accepting=True, shutdown=False),
    Operation.RESTART_PRINTER: _set(enabled=True, accepting=True, shutdown=False),
    Operation.RESTART_ONE_PRINTER: _set(enabled=True, accepting=True, shutdown=False),
}


async def switch_queues(service: IppService, queues: Sequence[Queue], operation: int) -> None:
    """Apply `operation` (a `SWITCHING` key) to `queues` durably, then release
    held jobs (Release-Held-New-Jobs), tell subscribers and wake the dispatcher."""
    change = SWITCHING[operation]
    try:
        await service.context.queues.set_switches([(q, change(q.switches)) for q in queues])
    except SpoolError as exc:
        raise OperationError(
            StatusCode.SERVER_ERROR_INTERNAL_ERROR, f"not recorded: {exc}"
        ) from None
    name = Operation(operation).ipp_name
    for queue in queues:
        if operation == Operation.RELEASE_HELD_NEW_JOBS:
            for job in service.context.spool.active_jobs(queue.name):
                if job.state == JobState.PENDING_HELD:
                    try:
                        await release_held(service, job)
                    except OperationError:
                        continue
        event = "printer-stopped" if not queue.enabled else "printer-state-changed"
        announce(service, queue, event, f"{name} on {queue.name}")
        announce(service, queue, "printer-config-changed", f"{name} on {queue.name}")
        service.context.dispatcher.wake(queue.name)


def announce(service: IppService, queue: Queue, event: str, text: str) -> None:
    """A printer event for the queue's subscribers and the System's."""
    service.subscriptions.printer_changed(queue.name, event, text)
    service.subscriptions.printer_changed(SYSTEM_SUBSCRIPTIONS, event, text)


async def printer_admin(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 4.2.7-8, RFC 3998: the queue's operator switches (`SWITCHING`),
    kept across restarts. Resume-Printer and Enable-Printer of a shut-down queue
    are refused: Startup-Printer first."""
    target = service.printer_target(request)
    check_admin(request)
    queue = target.queue
    op = request.message.operation_id
    name = Operation(op).ipp_name
    if queue.shutdown and op in (Operation.RESUME_PRINTER, Operation.ENABLE_PRINTER):
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            f"queue {queue.name} is shut down: Startup-Printer first",
        )
    await switch_queues(service, [queue], op)
    log.info("printer %s: %s by %s from %s", queue.name, name, request.identity, request.peer)
    return respond(request)


async def purge_jobs(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 8011 section 4.2.9: cancel every job not yet ended (history is kept)."""
    target = service.printer_target(request)
    check_admin(request)
    await cancel_each(service, request, service.context.spool.active_jobs(target.queue.name))
    return respond(request)
