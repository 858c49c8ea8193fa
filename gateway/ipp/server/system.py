"""The IPP System Service (PWG 5100.22): the gateway as one System with many Printers.

Why: a team migrating hundreds of printers manages the gateway as a whole, at
``ipp://HOST:PORT/ipp/system``: what it is (Get-System-Attributes,
Set-System-Attributes, Get-System-Supported-Values), which printers it has
(Get-Printers, by printer-id), printers added and removed while it runs
(Create-Printer, Delete-Printer), and every printer at once
(Enable/Disable-All-Printers, Pause/Resume-All-Printers, Shutdown/Startup-All-
Printers) or one by printer-id (Shutdown/Startup/Restart-One-Printer), with
System events (Create-System-Subscriptions). Every operation here is for
operators only (`check_admin`, as printer administration).

What lasts is the core's: `gateway.core.admin.Administration` stores the
switches, the printer and System attributes and the queues created at run time
in the spool, so a restart keeps them. A printer is a queue; its printer-id is
kept in the store too.

Create-Printer: ``printer-service-type`` ``print`` (operation group),
``printer-name`` (printer group; a queue name: letters, digits, ``_ . -``)
and the backend URI in ``smi55357-device-uri`` (operation or printer group;
the attribute PAPPL uses for a printer's device), checked as the
configuration file's ``backend`` is. Backend options go in
``gateway-backend-options`` (1setOf text ``key=value``; a value is read as a
TOML value when it is one: ``true``, ``42``, ``"text"``; else it is the text)
and are checked by the backend itself. printer-info, printer-location,
printer-geo-location, printer-organization, printer-organizational-unit and
printer-make-and-model may be given too. The queue starts stopped ('paused')
and not accepting jobs (`CREATED_SWITCHES`, as PWG's ippserver does):
Startup-One-Printer, or Enable-Printer and Resume-Printer, start it.

Delete-Printer deletes a queue created at run time; a queue of
the configuration file is refused (client-error-not-possible: the file is not
changed at run time), and so is a queue with jobs not yet ended, unless the
request carries ``gateway-cancel-jobs`` (boolean, operation group) true: its
jobs are then canceled first, at their backend too.

System subscriptions are kept in the front-end's subscription store under a
queue name no queue can have (`SYSTEM_SUBSCRIPTIONS`); they see System events
and the printer events of every printer's administration, not job events.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.config import check_queue_name
from gateway.core.admin import CREATED_SWITCHES, SYSTEM_SETTABLE, Administration, QueueRefused
from gateway.core.queues import Queue
from gateway.core.spool import SpoolError
from gateway.ipp.attributes import Attribute, Collection, Group
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import OutOfBand

from . import subscription
from .printer import announce, printer_bytes, printer_changes, switch_queues
from .printer_attributes import NOTIFY_LEASE_DEFAULT, NOTIFY_LEASE_MAX
from .request import (
    NAME_TAGS,
    SYSTEM_OPERATIONS,
    SYSTEM_SUBSCRIPTIONS,
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    attributes_in,
    bool_op,
    check_admin,
    int_op,
    printer_path,
    refuse_changes,
    requested_attributes,
    respond,
    string_op,
    text_of,
    unsupported_value,
)
from .system_attributes import (
    BACKEND_OPTIONS,
    DEVICE_URI,
    SYSTEM_EVENTS,
    SYSTEM_EVENTS_DEFAULT,
    system_attributes,
)

log = logging.getLogger("gateway.ipp")

#: Delete-Printer: cancel the queue's jobs not yet ended instead of refusing (this gateway's).
CANCEL_JOBS = "gateway-cancel-jobs"

#: operations-supported of the System object.
OPERATIONS_SUPPORTED = tuple(
    sorted(
        {
            *SYSTEM_OPERATIONS,
            Operation.GET_PRINTER_ATTRIBUTES,
            Operation.GET_SUBSCRIPTION_ATTRIBUTES,
            Operation.GET_SUBSCRIPTIONS,
            Operation.RENEW_SUBSCRIPTION,
            Operation.CANCEL_SUBSCRIPTION,
            Operation.GET_NOTIFICATIONS,
        }
    )
)

#: Each all-printers operation is its printer operation on every queue.
ALL_PRINTERS: Mapping[int, Operation] = {
    Operation.DISABLE_ALL_PRINTERS: Operation.DISABLE_PRINTER,
    Operation.ENABLE_ALL_PRINTERS: Operation.ENABLE_PRINTER,
    Operation.PAUSE_ALL_PRINTERS: Operation.PAUSE_PRINTER,
    Operation.PAUSE_ALL_PRINTERS_AFTER_CURRENT_JOB: Operation.PAUSE_PRINTER_AFTER_CURRENT_JOB,
    Operation.RESUME_ALL_PRINTERS: Operation.RESUME_PRINTER,
    Operation.SHUTDOWN_ALL_PRINTERS: Operation.SHUTDOWN_PRINTER,
    Operation.STARTUP_ALL_PRINTERS: Operation.STARTUP_PRINTER,
}

#: which-printers values (Get-Printers).
WHICH_PRINTERS = (
    "accepting",
    "all",
    "idle",
    "not-accepting",
    "processing",
    "shutdown",
    "stopped",
    "testing",
)

#: What Create-Printer answers about the new printer (as ippserver and PAPPL do).
CREATED_ATTRIBUTES = (
    "printer-id",
    "printer-is-accepting-jobs",
    "printer-name",
    "printer-state",
    "printer-state-reasons",
    "printer-uri-supported",
    "printer-uuid",
    "printer-xri-supported",
)

#: Set-System-Attributes: the syntaxes each settable System attribute takes
#: (collections are checked member by member) and its longest text.
SYSTEM_SYNTAX: Mapping[str, tuple[tuple[int, ...], int]] = {
    "system-contact-col": ((ValueTag.BEG_COLLECTION,), 0),
    "system-geo-location": ((ValueTag.URI, ValueTag.UNKNOWN), 1023),
    "system-info": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 127),
    "system-location": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 127),
    "system-make-and-model": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 127),
    "system-name": ((ValueTag.NAME, ValueTag.NAME_WITH_LANGUAGE), 127),
    "system-organization": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 1023),
    "system-organizational-unit": ((ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE), 1023),
    "system-owner-col": ((ValueTag.BEG_COLLECTION,), 0),
}

# --------------------------------------------------------------------------
# Target and permission


def _system(service: IppService, request: IppRequest) -> Administration:
    """Check that the request is for the System (system-uri, REQUIRED) and comes
    from an operator; the queues' administration."""
    if request.operation.get("system-uri") is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing system-uri")
    if not service.is_system_request(request):
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, "no System at that system-uri")
    check_admin(request)
    admin = service.context.queues.admin
    if admin is None:
        raise OperationError(
            StatusCode.SERVER_ERROR_OPERATION_NOT_SUPPORTED, "this gateway has no System Service"
        )
    return admin


def _printer(service: IppService, request: IppRequest) -> Queue:
    """The queue a System operation names by printer-id (REQUIRED)."""
    number = int_op(request, "printer-id", 1)
    if number is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing printer-id")
    queue = service.context.queues.by_printer_id(number)
    if queue is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND,
            f"no printer with printer-id {number}",
            [Attribute.of("printer-id", ValueTag.INTEGER, number)],
        )
    return queue


def _not_recorded(exc: SpoolError) -> OperationError:
    return OperationError(StatusCode.SERVER_ERROR_INTERNAL_ERROR, f"not recorded: {exc}")


# --------------------------------------------------------------------------
# The System object


async def get_system_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Get-System-Attributes (system_attributes.py renders them)."""
    admin = _system(service, request)
    response = respond(request)
    asked = requested_attributes(request)
    group, printers = system_attributes(service, request, admin, asked, OPERATIONS_SUPPORTED)
    response.message.groups.append(group)
    response.last_group_tail = printers
    return response


async def get_system_supported_values(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Get-System-Supported-Values: the settable System attributes,
    each with 'admin-define' (any value the operator chooses)."""
    _system(service, request)
    asked = requested_attributes(request)
    response = respond(request)
    names = [n for n in SYSTEM_SETTABLE if not asked or "all" in asked or n in asked]
    if names:
        group = response.message.add_group(DelimiterTag.SYSTEM_ATTRIBUTES)
        for name in names:
            group.add_out_of_band(name, OutOfBand.ADMIN_DEFINE)
    return response


async def set_system_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Set-System-Attributes: all or none (RFC 3380 rules), kept
    across restarts."""
    admin = _system(service, request)
    attributes = attributes_in(request, DelimiterTag.SYSTEM_ATTRIBUTES)
    if not attributes:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "no system attributes to set")
    changes: dict[str, Any] = {}
    refused: list[Attribute] = []
    bad: list[Attribute] = []
    for attribute in attributes:
        rule = SYSTEM_SYNTAX.get(attribute.name)
        if rule is None:
            refused.append(attribute)
            continue
        try:
            changes[attribute.name] = _system_value(attribute, *rule)
        except ValueError:
            bad.append(unsupported_value(attribute))
    refuse_changes(refused, bad)
    try:
        await admin.set_system_attributes(changes)
    except SpoolError as exc:
        raise _not_recorded(exc) from None
    log.info(
        "system: Set-System-Attributes %s by %s from %s",
        ",".join(changes),
        request.identity,
        request.peer,
    )
    service.subscriptions.printer_changed(
        SYSTEM_SUBSCRIPTIONS, "system-config-changed", "Set-System-Attributes"
    )
    return respond(request)


def _system_value(attribute: Attribute, tags: tuple[int, ...], longest: int) -> Any:
    """The stored form of one settable System attribute (None: back to the default);
    ValueError when the value is not one this attribute takes."""
    if len(attribute.values) != 1:
        raise ValueError(attribute.name)
    tag = attribute.tag
    if tag == ValueTag.DELETE_ATTRIBUTE:
        return None
    if tag not in tags:
        raise ValueError(attribute.name)
    if tag == ValueTag.UNKNOWN:
        return None
    value = attribute.value
    if tag == ValueTag.BEG_COLLECTION:
        assert isinstance(value, Collection)
        return _contact_members(value)
    text = text_of(value)
    if len(text.encode()) > longest:
        raise ValueError(attribute.name)
    if attribute.name == "system-geo-location" and not text.lower().startswith("geo:"):
        raise ValueError(attribute.name)
    return text


def _contact_members(col: Collection) -> dict[str, Any]:
    """The members of a contact collection (PWG 5100.22: contact-name, contact-uri,
    contact-vcard); ValueError for others or wrong syntaxes."""
    members: dict[str, Any] = {}
    for member in col:
        if member.name == "contact-name" and member.tag in NAME_TAGS and len(member.values) == 1:
            members["contact-name"] = text_of(member.value)[:1023]
        elif (
            member.name == "contact-uri" and member.tag == ValueTag.URI and len(member.values) == 1
        ):
            members["contact-uri"] = str(member.value)
        elif member.name == "contact-vcard" and member.tag in (
            ValueTag.TEXT,
            ValueTag.TEXT_WITH_LANGUAGE,
        ):
            members["contact-vcard"] = [text_of(v.value)[:1023] for v in member.values]
        else:
            raise ValueError(member.name)
    return members


# --------------------------------------------------------------------------
# Printers


def _which(queue: Queue, which: str) -> bool:
    """Whether `queue` is one of which-printers `which`."""
    if which == "all":
        return True
    if which == "accepting":
        return queue.is_accepting
    if which == "not-accepting":
        return not queue.is_accepting
    if which == "shutdown":
        return queue.shutdown
    if which == "testing":
        return False
    return queue.state().state == which  # idle, processing, stopped


async def get_printers(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Get-Printers: the printers the filters select
    (printer-ids, which-printers, printer-location, printer-service-type,
    document-format), from first-index, at most limit, each with the attributes
    requested-attributes asks for (rendered from the same cached parts as
    CUPS-Get-Printers, so a listing of 2,000 queues stays cheap)."""
    _system(service, request)
    first = int_op(request, "first-index", 1) or 1
    limit = int_op(request, "limit", 1)
    which = string_op(request, "which-printers", (ValueTag.KEYWORD,)) or "all"
    if which not in WHICH_PRINTERS:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"which-printers {which!r} is not supported",
            [Attribute.of("which-printers", ValueTag.KEYWORD, which)],
        )
    ids_attribute = request.operation.get("printer-ids")
    ids = (
        {v.value for v in ids_attribute.values if isinstance(v.value, int)}
        if ids_attribute is not None
        else None
    )
    text_tags = (ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE)
    location = string_op(request, "printer-location", text_tags)
    service_type = string_op(request, "printer-service-type", (ValueTag.KEYWORD,))
    document_format = string_op(request, "document-format", (ValueTag.MIME_MEDIA_TYPE,))
    queues = service.context.queues
    chosen: list[Queue] = []
    if service_type in (None, "print"):
        for queue in queues:
            if ids is not None and queue.printer_id not in ids:
                continue
            if location is not None and queue.config.location != location:
                continue
            if not _which(queue, which):
                continue
            if document_format is not None and document_format.lower() not in {
                f.lower() for f in service.descriptions[queue.name].document_formats
            }:
                continue
            chosen.append(queue)
    chosen = chosen[first - 1 :]
    if limit is not None:
        chosen = chosen[:limit]
    response = respond(request)
    requested = tuple(requested_attributes(request))
    now = time.time()
    for queue in chosen:
        path = printer_path(queue, queues.default)
        response.printer_groups.append(
            printer_bytes(service, request, queue, path, requested, listing=True, now=now)
        )
    return response


def _backend_options(attribute: Attribute | None) -> dict[str, Any]:
    """`BACKEND_OPTIONS` as a table of TOML-typed values (what backend_options
    holds in the configuration file); ValueError for a value without ``=``."""
    if attribute is None:
        return {}
    options: dict[str, Any] = {}
    for value in attribute.values:
        if value.tag not in (ValueTag.TEXT, ValueTag.TEXT_WITH_LANGUAGE):
            raise ValueError("gateway-backend-options takes text values")
        key, sep, raw = text_of(value.value).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{text_of(value.value)!r} is not key=value")
        options[key] = _toml_value(raw.strip())
    return options


def _toml_value(text: str) -> Any:
    """``true`` -> True, ``42`` -> 42, ``"a b"`` -> "a b"; anything else is the text."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def _one(attributes: Iterable[Attribute], name: str) -> Attribute | None:
    return next((a for a in attributes if a.name == name), None)


async def create_printer(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Create-Printer: a queue created at run time; see the module doc."""
    admin = _system(service, request)
    service_type = request.operation.get("printer-service-type")
    if service_type is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing printer-service-type")
    if (
        service_type.tag != ValueTag.KEYWORD
        or len(service_type.values) != 1
        or service_type.value != "print"
    ):
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "printer-service-type must be print",
            [unsupported_value(service_type)],
        )
    printer_group = attributes_in(request, DelimiterTag.PRINTER_ATTRIBUTES)
    name_attribute = _one(printer_group, "printer-name")
    if name_attribute is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing printer-name")
    if name_attribute.tag not in NAME_TAGS or len(name_attribute.values) != 1:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "bad printer-name",
            [unsupported_value(name_attribute)],
        )
    name = text_of(name_attribute.value)
    try:
        check_queue_name(name)
    except ValueError as exc:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            str(exc),
            [unsupported_value(name_attribute)],
        ) from None
    if name in service.context.queues:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            f"a printer named {name} exists already",
            [unsupported_value(name_attribute)],
        )
    device = request.operation.get(DEVICE_URI) or _one(printer_group, DEVICE_URI)
    if device is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_BAD_REQUEST, f"missing {DEVICE_URI} (the backend URI)"
        )
    if device.tag != ValueTag.URI or len(device.values) != 1:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            f"{DEVICE_URI} must be one uri",
            [unsupported_value(device)],
        )
    backend = str(device.value)
    options_attribute = request.operation.get(BACKEND_OPTIONS) or _one(
        printer_group, BACKEND_OPTIONS
    )
    try:
        options = _backend_options(options_attribute)
    except ValueError as exc:
        assert options_attribute is not None
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            str(exc),
            [unsupported_value(options_attribute)],
        ) from None
    described = [
        a for a in printer_group if a.name not in ("printer-name", DEVICE_URI, BACKEND_OPTIONS)
    ]
    changes, ignored, bad = printer_changes(described)
    if bad:
        raise OperationError(
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "values not supported: " + ", ".join(a.name for a in bad),
            bad,
        )
    attributes = {k: v for k, v in changes.items() if v is not None}
    try:
        queue = await admin.create_queue(
            name,
            backend,
            service.context.dispatcher,
            backend_options=options,
            attributes=attributes,
            switches=CREATED_SWITCHES,
        )
    except QueueRefused as exc:
        if name in service.context.queues:  # made meanwhile by another request
            raise OperationError(
                StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
                exc.reason,
                [unsupported_value(name_attribute)],
            ) from None
        raise OperationError(
            _refusal_status(exc.reason), exc.reason, [unsupported_value(device)]
        ) from None
    except SpoolError as exc:
        raise _not_recorded(exc) from None
    service.descriptions.describe(queue)
    log.info(
        "system: Create-Printer %s (printer-id %d) by %s from %s",
        queue.name,
        queue.printer_id,
        request.identity,
        request.peer,
    )
    announce(service, queue, "printer-created", f"printer {queue.name} created")
    service.subscriptions.printer_changed(
        SYSTEM_SUBSCRIPTIONS, "system-config-changed", f"printer {queue.name} created"
    )
    status = (
        StatusCode.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES
        if ignored
        else StatusCode.SUCCESSFUL_OK
    )
    response = respond(request, status, unsupported=[unsupported_value(a) for a in ignored])
    path = printer_path(queue, service.context.queues.default)
    response.printer_groups.append(printer_bytes(service, request, queue, path, CREATED_ATTRIBUTES))
    return response


def _refusal_status(reason: str) -> StatusCode:
    """The status of a Create-Printer the core refused: an unknown backend scheme is
    client-error-uri-scheme-not-supported, anything else a value not supported."""
    if "unknown backend scheme" in reason or "is not available" in reason:
        return StatusCode.CLIENT_ERROR_URI_SCHEME_NOT_SUPPORTED
    return StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED


async def delete_printer(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Delete-Printer: see the module doc (`CANCEL_JOBS`)."""
    admin = _system(service, request)
    queue = _printer(service, request)
    cancel = bool(bool_op(request, CANCEL_JOBS))
    try:
        await admin.delete_queue(
            queue.name, service.context.dispatcher, cancel_jobs=cancel, by=request.identity
        )
    except QueueRefused as exc:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND
            if exc.not_found
            else StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
            exc.reason,
        ) from None
    except SpoolError as exc:
        raise _not_recorded(exc) from None
    service.descriptions.forget(queue.name)
    log.info(
        "system: Delete-Printer %s (printer-id %d) by %s from %s",
        queue.name,
        queue.printer_id,
        request.identity,
        request.peer,
    )
    announce(service, queue, "printer-deleted", f"printer {queue.name} deleted")
    service.subscriptions.printer_changed(
        SYSTEM_SUBSCRIPTIONS, "system-config-changed", f"printer {queue.name} deleted"
    )
    return respond(request)


async def all_printers(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Disable-, Enable-, Pause-, Resume-, Shutdown- and
    Startup-All-Printers: a printer operation (`ALL_PRINTERS`) on every queue,
    made durable for all of them together."""
    _system(service, request)
    op = request.message.operation_id
    queues = list(service.context.queues)
    await switch_queues(service, queues, ALL_PRINTERS[op])
    name = Operation(op).ipp_name
    log.info(
        "system: %s (%d queues) by %s from %s", name, len(queues), request.identity, request.peer
    )
    service.subscriptions.printer_changed(SYSTEM_SUBSCRIPTIONS, "system-state-changed", name)
    return respond(request)


async def one_printer(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Shutdown-, Startup- and Restart-One-Printer, by printer-id."""
    _system(service, request)
    queue = _printer(service, request)
    op = request.message.operation_id
    await switch_queues(service, [queue], op)
    log.info(
        "printer %s: %s by %s from %s",
        queue.name,
        Operation(op).ipp_name,
        request.identity,
        request.peer,
    )
    return respond(request)


async def get_subscriptions(service: IppService, request: IppRequest) -> IppResponse:
    """Get-Subscriptions (RFC 3995 section 11.2.5): at the system-uri, the
    System's subscriptions (PWG 5100.22, with notify-system-uri);
    at a printer URI, that printer's (subscription.py)."""
    if not service.is_system_request(request):
        return await subscription.get_subscriptions(service, request)
    _system(service, request)
    limit = int_op(request, "limit", 1)
    mine = bool(bool_op(request, "my-subscriptions"))
    subs = [
        s
        for s in service.subscriptions.of(SYSTEM_SUBSCRIPTIONS)
        if not mine or s.user == request.identity
    ]
    names = requested_attributes(request)
    wanted = None if not names or "all" in names else set(names)
    response = respond(request)
    system_uri = str(request.op_value("system-uri"))
    for sub in subs[:limit]:
        # The one rendering of a subscription (subscription.py), about the System.
        group = subscription.subscription_group(service, request, sub, wanted)
        if group.remove("notify-printer-uri") and (wanted is None or "notify-system-uri" in wanted):
            group.add_uri("notify-system-uri", system_uri)
        response.message.groups.append(group)
    return response


async def create_system_subscriptions(service: IppService, request: IppRequest) -> IppResponse:
    """PWG 5100.22 Create-System-Subscriptions (ippget only, RFC 3996): System
    events (`SYSTEM_EVENTS`); Get-Notifications, Renew-Subscription and
    Cancel-Subscription take the subscription id with the system-uri."""
    _system(service, request)
    templates = request.message.groups_of(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
    if not templates:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "no subscription template")
    response = respond(request)
    made = 0
    for template in templates:
        group = Group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        events = frozenset(str(v) for v in template.values("notify-events")) or frozenset(
            {SYSTEM_EVENTS_DEFAULT}
        )
        status: StatusCode | None = None
        if template.get("notify-recipient-uri") is not None:
            status = StatusCode.CLIENT_ERROR_URI_SCHEME_NOT_SUPPORTED
        elif str(template.value("notify-pull-method") or "") != "ippget" or not events.issubset(
            SYSTEM_EVENTS
        ):
            status = StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
        else:
            lease_value = template.value("notify-lease-duration", NOTIFY_LEASE_DEFAULT)
            lease = lease_value if isinstance(lease_value, int) and lease_value >= 0 else 0
            data = template.value("notify-user-data")
            sub = service.subscriptions.create(
                SYSTEM_SUBSCRIPTIONS,
                events,
                request.identity,
                min(lease, NOTIFY_LEASE_MAX),
                user_data=data if isinstance(data, bytes) else None,
                charset=str(template.value("notify-charset") or "utf-8"),
                language=str(template.value("notify-natural-language") or "en"),
            )
            if sub is None:
                status = StatusCode.CLIENT_ERROR_TOO_MANY_SUBSCRIPTIONS
            else:
                made += 1
                group.add_integer("notify-subscription-id", sub.id)
                group.add_integer("notify-lease-duration", sub.lease)
        if status is not None:
            group.add("notify-status-code", ValueTag.ENUM, int(status))
        response.message.groups.append(group)
    if made:
        await subscription.save(service)  # kept in the spool, as printer subscriptions
    if made == 0:
        response.message.operation_id_or_status = StatusCode.CLIENT_ERROR_IGNORED_ALL_SUBSCRIPTIONS
    elif made < len(templates):
        response.message.operation_id_or_status = StatusCode.SUCCESSFUL_OK_IGNORED_SUBSCRIPTIONS
    return response


__all__ = [
    "ALL_PRINTERS",
    "BACKEND_OPTIONS",
    "CANCEL_JOBS",
    "DEVICE_URI",
    "OPERATIONS_SUPPORTED",
    "all_printers",
    "create_printer",
    "create_system_subscriptions",
    "delete_printer",
    "get_printers",
    "get_subscriptions",
    "get_system_attributes",
    "get_system_supported_values",
    "one_printer",
    "set_system_attributes",
]
