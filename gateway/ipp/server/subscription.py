"""Subscription operations and ippget notifications (RFC 3995, RFC 3996).

Why: IPP/2.1 requires them (PWG 5100.12 section 6.3), and the INFRA roles (PWG
5100.18) wait for job-fetchable events. Create-Printer-Subscriptions,
Create-Job-Subscriptions, Get-Subscription-Attributes, Get-Subscriptions,
Renew-Subscription and Cancel-Subscription (RFC 3995 section 11) work on the
store `subscription_store.Subscriptions`, fed by the spool's change listener,
and write it to the spool before answering (subscriptions outlive a restart).
Get-Notifications (RFC 3996 section 5) answers from each subscription's event
log; with ``notify-wait`` true and nothing to answer yet it is held
(`notify_wait`) until an event comes or ``ipp.notify_wait_max`` passes.
``notify-get-interval`` is 0 after a held wait (ask again at once, waiting
again) and `NOTIFY_GET_INTERVAL` otherwise (also when the caps on held waits
refused to hold it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from gateway.core.queues import Queue
from gateway.core.spool import SpoolError
from gateway.ipp.attributes import Attribute, Group
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.netlimits import source_of

from .notify_wait import NotifyWaits, wait_seconds
from .printer_attributes import (
    NOTIFY_EVENTS_SUPPORTED,
    NOTIFY_GET_INTERVAL,
    NOTIFY_LEASE_DEFAULT,
    NOTIFY_LEASE_MAX,
)
from .request import (
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    Target,
    bool_op,
    check_owner,
    int_op,
    requested_attributes,
    respond,
)
from .subscription_store import Event, Subscription

log = logging.getLogger("gateway.ipp")


def subscription_group(
    service: IppService, request: IppRequest, sub: Subscription, wanted: set[str] | None = None
) -> Group:
    queue = service.queue_named(sub.queue)
    group = Group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)

    def put(name: str, tag: int, *values: Any) -> None:
        if wanted is None or name in wanted:
            group.add(name, tag, *values)

    put("notify-subscription-id", ValueTag.INTEGER, sub.id)
    put("notify-printer-uri", ValueTag.URI, service.printer_uri(request, queue))
    if sub.job_id is not None:
        put("notify-job-id", ValueTag.INTEGER, sub.job_id)
    put("notify-subscriber-user-name", ValueTag.NAME, sub.user)
    put("notify-events", ValueTag.KEYWORD, *sorted(sub.events))
    put("notify-pull-method", ValueTag.KEYWORD, "ippget")
    if sub.job_id is None:
        put("notify-lease-duration", ValueTag.INTEGER, sub.lease)
    put("notify-time-interval", ValueTag.INTEGER, 0)
    if sub.user_data is not None:
        put("notify-user-data", ValueTag.OCTET_STRING, sub.user_data)
    put("notify-charset", ValueTag.CHARSET, sub.charset)
    put("notify-natural-language", ValueTag.NATURAL_LANGUAGE, sub.language)
    return group


async def create_subscriptions(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3995 sections 11.1.1-11.1.2, ippget only (RFC 3996)."""
    for_job = request.message.operation_id == Operation.CREATE_JOB_SUBSCRIPTIONS
    target = _job_of(service, request) if for_job else service.printer_target(request)
    if target.job is not None:
        check_owner(request, target.job)
    templates = request.message.groups_of(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
    if not templates:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "no subscription template")
    response = respond(request)
    made = 0
    for template in templates:
        group = Group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        status = _subscription_status(template)
        if status is None:
            events = frozenset(str(v) for v in template.values("notify-events")) or frozenset(
                {"job-completed"}
            )
            lease_value = template.value("notify-lease-duration", NOTIFY_LEASE_DEFAULT)
            lease = lease_value if isinstance(lease_value, int) and lease_value >= 0 else 0
            data = template.value("notify-user-data")
            sub = service.subscriptions.create(
                target.queue.name,
                events,
                request.identity,
                min(lease, NOTIFY_LEASE_MAX),
                job_id=target.job.id if target.job is not None else None,
                user_data=data if isinstance(data, bytes) else None,
                charset=str(template.value("notify-charset") or "utf-8"),
                language=str(template.value("notify-natural-language") or "en"),
            )
            if sub is None:
                status = StatusCode.CLIENT_ERROR_TOO_MANY_SUBSCRIPTIONS
            else:
                made += 1
                group.add_integer("notify-subscription-id", sub.id)
                if sub.job_id is None:
                    group.add_integer("notify-lease-duration", sub.lease)
        if status is not None:
            group.add("notify-status-code", ValueTag.ENUM, int(status))
        response.message.groups.append(group)
    if made:
        await save(service)
    if made == 0:
        response.message.operation_id_or_status = StatusCode.CLIENT_ERROR_IGNORED_ALL_SUBSCRIPTIONS
    elif made < len(templates):
        response.message.operation_id_or_status = StatusCode.SUCCESSFUL_OK_IGNORED_SUBSCRIPTIONS
    return response


def _job_of(service: IppService, request: IppRequest) -> Target:
    """The job of Create-Job-Subscriptions: notify-job-id (RFC 3995 section
    11.1.2) with the printer-uri, or job-id / job-uri as other job operations."""
    number = int_op(request, "notify-job-id", 1)
    if number is None:
        return service.job_target(request)
    target = service.printer_target(request)
    job = service.context.spool.get(number)
    if job is None:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_FOUND, f"job {number} does not exist")
    return Target(service.queue_named(job.queue), target.path, job)


def _subscription_status(template: Group) -> StatusCode | None:
    if template.get("notify-recipient-uri") is not None:
        return StatusCode.CLIENT_ERROR_URI_SCHEME_NOT_SUPPORTED
    method = template.value("notify-pull-method")
    if method is None or str(method) != "ippget":
        return StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
    events = [str(v) for v in template.values("notify-events")]
    if any(e not in NOTIFY_EVENTS_SUPPORTED for e in events):
        return StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
    return None


def _subscription(service: IppService, request: IppRequest) -> Subscription:
    service.printer_target(request)
    number = int_op(request, "notify-subscription-id", 1)
    if number is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing notify-subscription-id")
    sub = service.subscriptions.get(number)
    if sub is None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND, f"subscription {number} does not exist"
        )
    return sub


def _check_subscriber(request: IppRequest, sub: Subscription) -> None:
    if not request.is_operator and request.identity != sub.user:
        raise OperationError(StatusCode.CLIENT_ERROR_NOT_AUTHORIZED, "not your subscription")


async def get_subscription_attributes(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3995 section 11.2.4."""
    sub = _subscription(service, request)
    names = requested_attributes(request)
    wanted = (
        None if not names or "all" in names or "subscription-description" in names else set(names)
    )
    response = respond(request)
    response.message.groups.append(subscription_group(service, request, sub, wanted))
    return response


async def get_subscriptions(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3995 section 11.2.5."""
    target = service.printer_target(request)
    job_id = int_op(request, "notify-job-id", 1)
    limit = int_op(request, "limit", 1)
    mine = bool(bool_op(request, "my-subscriptions"))
    subs = [
        s
        for s in service.subscriptions.of(target.queue.name, job_id)
        if not mine or s.user == request.identity
    ]
    if limit is not None:
        subs = subs[:limit]
    names = requested_attributes(request)
    wanted = None if not names or "all" in names else set(names)
    response = respond(request)
    for sub in subs:
        response.message.groups.append(subscription_group(service, request, sub, wanted))
    return response


async def renew_subscription(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3995 section 11.2.6."""
    sub = _subscription(service, request)
    _check_subscriber(request, sub)
    if sub.job_id is not None:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_POSSIBLE, "job subscriptions have no lease"
        )
    lease = int_op(request, "notify-lease-duration", 0)
    service.subscriptions.renew(
        sub, min(NOTIFY_LEASE_DEFAULT if lease is None else lease, NOTIFY_LEASE_MAX)
    )
    await save(service)
    response = respond(request)
    response.message.operation.add_integer("notify-lease-duration", sub.lease)
    return response


async def cancel_subscription(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3995 section 11.2.7."""
    sub = _subscription(service, request)
    _check_subscriber(request, sub)
    service.subscriptions.cancel(sub)
    await save(service)
    return respond(request)


async def save(service: IppService) -> None:
    """Write the subscriptions to the spool before the answer says they changed."""
    try:
        await service.subscriptions.save()
    except SpoolError as exc:
        raise OperationError(
            StatusCode.SERVER_ERROR_INTERNAL_ERROR, f"subscriptions not recorded: {exc}"
        ) from None


async def get_notifications(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3996 section 5: the events after the given sequence numbers, held
    with ``notify-wait`` until there are some (see the module doc)."""
    target = service.printer_target(request)
    ids_attribute = request.operation.get("notify-subscription-ids")
    if ids_attribute is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing notify-subscription-ids")
    ids = [v.value for v in ids_attribute.values if isinstance(v.value, int)]
    sequences = [
        v if isinstance(v, int) else 1 for v in request.operation.values("notify-sequence-numbers")
    ]
    wait = bool(bool_op(request, "notify-wait"))
    # The request is small and complete: read it to its end now, so that the
    # request deadline and body rate (intake.BodyPace) never count the wait.
    body = request.body
    if body is not None and not body.finished:  # (None: handlers called directly, in tests)
        await body.drain()
    asked: list[tuple[int, int]] = []
    missing: list[int] = []
    for index, number in enumerate(ids):
        sub = service.subscriptions.get(number)
        if sub is None:
            missing.append(number)
            continue
        _check_subscriber(request, sub)
        asked.append((number, sequences[index] if index < len(sequences) else 1))
    if missing and not asked:
        raise OperationError(
            StatusCode.CLIENT_ERROR_NOT_FOUND,
            f"subscription {missing[0]} does not exist",
            [Attribute.of("notify-subscription-ids", ValueTag.INTEGER, *missing)],
        )
    store = service.subscriptions

    def pending() -> bool:
        for number, first in asked:
            sub = store.get(number)
            if sub is None or sub.job_done or sub.events_from(first):
                return True
        return False

    ipp = service.context.config.ipp
    seconds = wait_seconds(ipp.notify_wait_max, ipp.idle_timeout)
    if wait and seconds > 0:
        waits = store.waits
        total, per_source = NotifyWaits.caps(ipp.max_connections, ipp.max_connections_per_source)
        with waits.slot(source_of(request.peer), total, per_source) as granted:
            if granted:
                log.debug(
                    "ipp: %s: Get-Notifications held for subscriptions %s (up to %gs)",
                    request.peer,
                    ",".join(f"{n} (from {first})" for n, first in asked),
                    seconds,
                )
                await waits.wait(pending, seconds)
                # Answered while the place is still held, so that a stopping
                # gateway waits for this answer too (NotifyWaits.stop).
                return await _answer(service, request, target.queue, asked, missing, held=True)
    return await _answer(service, request, target.queue, asked, missing, held=False)


async def _answer(
    service: IppService,
    request: IppRequest,
    printer: Queue,
    asked: list[tuple[int, int]],
    missing: list[int],
    *,
    held: bool,
) -> IppResponse:
    """The Get-Notifications answer: the events of the `asked` subscriptions
    (id, first sequence number) as they are now."""
    store = service.subscriptions
    found: list[tuple[Subscription, int]] = []
    for number, first in asked:
        sub = store.get(number)
        if sub is None:
            missing.append(number)
        else:
            found.append((sub, first))
    shown = {
        sub.id: max((e.sequence for e in sub.events_from(first)), default=0) for sub, first in found
    }
    try:
        await store.reserve(shown)
    except SpoolError as exc:
        raise OperationError(
            StatusCode.SERVER_ERROR_INTERNAL_ERROR, f"sequence numbers not recorded: {exc}"
        ) from None
    response = respond(request)
    op = response.message.operation
    op.add_integer("notify-get-interval", 0 if held else NOTIFY_GET_INTERVAL)
    op.add_integer("printer-up-time", int(time.time()))
    for number in missing:
        g = Group(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)
        g.add_integer("notify-subscription-id", number)
        g.add_enum("notify-status-code", int(StatusCode.CLIENT_ERROR_NOT_FOUND))
        response.message.groups.append(g)
    for sub, first in found:
        queue = service.context.queues.get(sub.queue) or printer
        for event in sub.events_from(first):
            response.message.groups.append(_event_group(service, request, sub, event, queue))
    done = bool(found) and not missing and all(s.job_done for s, _ in found)
    if done:
        response.message.operation_id_or_status = StatusCode.SUCCESSFUL_OK_EVENTS_COMPLETE
    return response


def _event_group(
    service: IppService, request: IppRequest, sub: Subscription, event: Event, queue: Queue
) -> Group:
    """One event-notification group (RFC 3995 section 9, RFC 3996 section 5.2)."""
    g = Group(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)
    g.add_integer("notify-subscription-id", sub.id)
    g.add_integer("notify-sequence-number", event.sequence)
    g.add_keyword("notify-subscribed-event", event.event)
    g.add_text("notify-text", event.text)
    g.add_uri("notify-printer-uri", service.printer_uri(request, queue))
    g.add_charset("notify-charset", sub.charset)
    g.add_natural_language("notify-natural-language", sub.language)
    if sub.user_data is not None:
        g.add_octet_string("notify-user-data", sub.user_data)
    g.add_integer("printer-up-time", int(event.time))
    g.add_integer("notify-printer-up-time", int(event.time))
    if event.job_id is not None:
        g.add_integer("notify-job-id", event.job_id)
        g.add_enum("job-state", event.job_state or 3)
        g.add_keyword("job-state-reasons", *(event.job_state_reasons or ("none",)))
        g.add_name("job-name", event.job_name or "untitled")
        if event.event == "job-progress" and event.impressions_completed is not None:
            g.add_integer("job-impressions-completed", event.impressions_completed)
        if event.document_number is not None:
            g.add_integer("document-number", event.document_number)
    else:
        state = queue.state()
        g.add_name("printer-name", queue.name)
        g.add_enum("printer-state", state.ipp_state)
        g.add_keyword("printer-state-reasons", *state.reasons)
        g.add_boolean("printer-is-accepting-jobs", queue.is_accepting)
    return g
