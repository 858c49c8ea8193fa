"""Subscription operations and ippget notifications (RFC 3995, RFC 3996).

Why: IPP/2.1 requires them (PWG 5100.12 section 6.3). Create-Printer-Subscriptions,
Create-Job-Subscriptions, Get-Subscription-Attributes, Get-Subscriptions,
Renew-Subscription and Cancel-Subscription (RFC 3995 section 11) work on the
store `subscription_store.Subscriptions`, fed by the spool's change listener;
Get-Notifications (RFC 3996 section 5) answers from each subscription's event
log, without long polling.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.ipp.attributes import Attribute, Group
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag

from .printer_attributes import NOTIFY_EVENTS_SUPPORTED, NOTIFY_LEASE_DEFAULT, NOTIFY_LEASE_MAX
from .request import (
    IppRequest,
    IppResponse,
    IppService,
    OperationError,
    bool_op,
    check_owner,
    int_op,
    requested_attributes,
    respond,
)
from .subscription_store import Subscription


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
    target = service.job_target(request) if for_job else service.printer_target(request)
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
    if made == 0:
        response.message.operation_id_or_status = StatusCode.CLIENT_ERROR_IGNORED_ALL_SUBSCRIPTIONS
    elif made < len(templates):
        response.message.operation_id_or_status = StatusCode.SUCCESSFUL_OK_IGNORED_SUBSCRIPTIONS
    return response


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
    response = respond(request)
    response.message.operation.add_integer("notify-lease-duration", sub.lease)
    return response


async def cancel_subscription(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3995 section 11.2.7."""
    sub = _subscription(service, request)
    _check_subscriber(request, sub)
    service.subscriptions.cancel(sub)
    return respond(request)


async def get_notifications(service: IppService, request: IppRequest) -> IppResponse:
    """RFC 3996 section 5: the events after the given sequence numbers (no long poll)."""
    target = service.printer_target(request)
    ids_attribute = request.operation.get("notify-subscription-ids")
    if ids_attribute is None:
        raise OperationError(StatusCode.CLIENT_ERROR_BAD_REQUEST, "missing notify-subscription-ids")
    ids = [v.value for v in ids_attribute.values if isinstance(v.value, int)]
    sequences = [
        v if isinstance(v, int) else 1 for v in request.operation.values("notify-sequence-numbers")
    ]
    subs: list[tuple[Subscription, int]] = []
    for index, number in enumerate(ids):
        sub = service.subscriptions.get(number)
        if sub is None:
            raise OperationError(
                StatusCode.CLIENT_ERROR_NOT_FOUND,
                f"subscription {number} does not exist",
                [Attribute.of("notify-subscription-ids", ValueTag.INTEGER, number)],
            )
        _check_subscriber(request, sub)
        subs.append((sub, sequences[index] if index < len(sequences) else 1))
    response = respond(request)
    op = response.message.operation
    op.add_integer("notify-get-interval", 30)
    op.add_integer("printer-up-time", int(time.time()))
    done = bool(subs) and all(s.job_done for s, _ in subs)
    for sub, first in subs:
        queue = service.context.queues.get(sub.queue) or target.queue
        for event in sub.log:
            if event.sequence < first:
                continue
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
            if event.job_id is not None:
                g.add_integer("notify-job-id", event.job_id)
                g.add_enum("job-state", event.job_state or 3)
                g.add_keyword("job-state-reasons", *(event.job_state_reasons or ("none",)))
                g.add_name("job-name", event.job_name or "untitled")
            else:
                state = queue.state()
                g.add_name("printer-name", queue.name)
                g.add_enum("printer-state", state.ipp_state)
                g.add_keyword("printer-state-reasons", *state.reasons)
                g.add_boolean("printer-is-accepting-jobs", queue.is_accepting)
            response.message.groups.append(g)
    if done:
        response.message.operation_id_or_status = StatusCode.SUCCESSFUL_OK_EVENTS_COMPLETE
    return response
