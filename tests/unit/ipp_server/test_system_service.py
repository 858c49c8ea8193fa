"""The System Service (PWG 5100.22) in memory: the handlers of system.py and the
printer administration of printer.py over a real spool, real queues restored by
the core's administration and a running dispatcher, answered as the IPP
front-end answers them (an `OperationError` becomes its status).

The real gateway, ipptool and LPRng are in tests/integration/test_system_service.py.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import trio

from gateway import backends
from gateway.backends.file import FileBackend
from gateway.core.admin import PRINTER_SETTABLE, QUEUE_KEY, SYSTEM_SETTABLE, Administration
from gateway.core.context import GatewayContext
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import JobState
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.ipp import decode
from gateway.ipp.attributes import Attribute, Collection, Group
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.parser import ParserLimits
from gateway.ipp.server import system
from gateway.ipp.server.handlers import HANDLERS
from gateway.ipp.server.printer import SETTABLE
from gateway.ipp.server.printer_attributes import Listener
from gateway.ipp.server.request import (
    SYSTEM_OPERATIONS,
    IppRequest,
    IppService,
    OperationError,
    respond,
)
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import OutOfBand
from tests.helpers import spool_job, wait_for_state
from tests.ipp_harness import gateway_config

SYSTEM_URI = "ipp://testhost:631/ipp/system"


@dataclass
class Gateway:
    service: IppService
    spool: Spool

    @property
    def queues(self) -> Queues:
        return self.service.context.queues

    @property
    def admin(self) -> Administration:
        admin = self.queues.admin
        assert admin is not None
        return admin

    def queue(self, name: str) -> Queue:
        queue = self.queues.get(name)
        assert queue is not None, name
        return queue


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    out = (tmp_path / "out").as_uri()
    cfg = gateway_config(
        tmp_path,
        queues={
            "lp": {"backend": out, "info": "Main", "location": "Hall"},
            "office": {"backend": out},
            "lab": {"backend": out, "location": "Lab 2"},
        },
    )
    spool = await Spool.open(cfg.spool_dir)
    made = [Queue(qc, FileBackend(qc.backend)) for qc in cfg.queues]
    factory = functools.partial(
        backends.create, context=backends.BackendContext("testhost", cfg.spool_dir)
    )
    try:
        queues = await Queues.restore(spool, made, factory)
        dispatcher = Dispatcher(spool, queues, retry_initial=0.2, retry_max=1)
        async with trio.open_nursery() as nursery:
            await nursery.start(dispatcher.run)
            context = GatewayContext(cfg, spool, queues, dispatcher, "testhost")
            listeners = [Listener("ipp", 631), Listener("ipps", 443)]
            service = IppService(context, listeners, tuple(sorted(HANDLERS)))
            yield Gateway(service, spool)
            nursery.cancel_scope.cancel()
    finally:
        for queue in made:
            await queue.backend.aclose()
        await spool.aclose()


def message(
    operation: Operation,
    *,
    target: tuple[str, str] = ("system-uri", SYSTEM_URI),
    op: Iterable[Attribute] = (),
    printer: Iterable[Attribute] = (),
    groups: Iterable[Group] = (),
) -> Message:
    msg = Message.request(operation, 7)
    msg.operation.add_uri(*target)
    msg.operation.add_name("requesting-user-name", "alice")
    for attribute in op:
        msg.operation.append(attribute)
    attributes = list(printer)
    if attributes:
        msg.groups.append(Group(DelimiterTag.PRINTER_ATTRIBUTES, attributes))
    msg.groups.extend(groups)
    return msg


async def call(
    gw: Gateway,
    msg: Message,
    *,
    peer: str = "127.0.0.1",
    user: str | None = None,
    auth_on: bool = False,
    operators: frozenset[str] = frozenset(),
) -> Message:
    """Run the operation's handler as the front-end does and decode the answer."""
    request = IppRequest(
        msg,
        cast(Any, None),
        peer,
        "testhost",
        "ipp",
        631,
        user=user,
        auth_on=auth_on,
        operators=operators,
    )
    try:
        response = await HANDLERS[Operation(msg.operation_id_or_status)](gw.service, request)
    except OperationError as error:
        response = respond(request, error.status, error.message, error.unsupported)
    # A fleet's listing is bigger than what the parser takes from a client.
    decoded, _ = decode(response.encode(), ParserLimits(16 << 20, 100_000, 1_000_000))
    return decoded


def printers(answer: Message) -> list[Group]:
    return answer.groups_of(DelimiterTag.PRINTER_ATTRIBUTES)


def system_group(answer: Message) -> Group:
    group = answer.group(DelimiterTag.SYSTEM_ATTRIBUTES)
    assert group is not None
    return group


def create(name: str, uri: str, *extra: Attribute, options: Iterable[str] = ()) -> Message:
    op = [
        Attribute.of("printer-service-type", ValueTag.KEYWORD, "print"),
        Attribute.of(system.DEVICE_URI, ValueTag.URI, uri),
    ]
    if options:
        op.append(Attribute.of(system.BACKEND_OPTIONS, ValueTag.TEXT, *options))
    return message(
        Operation.CREATE_PRINTER,
        op=op,
        printer=[Attribute.of("printer-name", ValueTag.NAME, name), *extra],
    )


def by_id(operation: Operation, printer_id: int, *extra: Attribute) -> Message:
    return message(operation, op=[Attribute.of("printer-id", ValueTag.INTEGER, printer_id), *extra])


#: PWG 5100.22 REQUIRED System attributes this System has, with their syntax
#: (ippsample's pwg5100.22-base.test, without the Resource, power and counter
#: ones this gateway does not implement).
REQUIRED = {
    "charset-configured": ValueTag.CHARSET,
    "charset-supported": ValueTag.CHARSET,
    "document-format-supported": ValueTag.MIME_MEDIA_TYPE,
    "generated-natural-language-supported": ValueTag.NATURAL_LANGUAGE,
    "ippget-event-life": ValueTag.INTEGER,
    "ipp-features-supported": ValueTag.KEYWORD,
    "ipp-versions-supported": ValueTag.KEYWORD,
    "multiple-document-printers-supported": ValueTag.BOOLEAN,
    "natural-language-configured": ValueTag.NATURAL_LANGUAGE,
    "notify-attributes-supported": ValueTag.KEYWORD,
    "notify-events-default": ValueTag.KEYWORD,
    "notify-events-supported": ValueTag.KEYWORD,
    "notify-lease-duration-default": ValueTag.INTEGER,
    "notify-lease-duration-supported": ValueTag.RANGE_OF_INTEGER,
    "notify-max-events-supported": ValueTag.INTEGER,
    "notify-pull-method-supported": ValueTag.KEYWORD,
    "operations-supported": ValueTag.ENUM,
    "printer-creation-attributes-supported": ValueTag.KEYWORD,
    "printer-service-type-supported": ValueTag.KEYWORD,
    "system-config-change-date-time": ValueTag.DATE_TIME,
    "system-config-change-time": ValueTag.INTEGER,
    "system-config-changes": ValueTag.INTEGER,
    "system-configured-printers": ValueTag.BEG_COLLECTION,
    "system-configured-resources": ValueTag.NO_VALUE,
    "system-contact-col": ValueTag.BEG_COLLECTION,
    "system-current-time": ValueTag.DATE_TIME,
    "system-default-printer-id": ValueTag.INTEGER,
    "system-firmware-name": ValueTag.NAME,
    "system-firmware-patches": ValueTag.TEXT,
    "system-firmware-string-version": ValueTag.TEXT,
    "system-firmware-version": ValueTag.OCTET_STRING,
    "system-geo-location": ValueTag.UNKNOWN,
    "system-info": ValueTag.TEXT,
    "system-location": ValueTag.TEXT,
    "system-make-and-model": ValueTag.TEXT,
    "system-mandatory-printer-attributes": ValueTag.KEYWORD,
    "system-name": ValueTag.NAME,
    "system-owner-col": ValueTag.BEG_COLLECTION,
    "system-resident-application-name": ValueTag.NAME,
    "system-settable-attributes-supported": ValueTag.KEYWORD,
    "system-state": ValueTag.ENUM,
    "system-state-change-date-time": ValueTag.DATE_TIME,
    "system-state-change-time": ValueTag.INTEGER,
    "system-state-message": ValueTag.TEXT,
    "system-state-reasons": ValueTag.KEYWORD,
    "system-time-source-configured": ValueTag.KEYWORD,
    "system-up-time": ValueTag.INTEGER,
    "system-user-application-name": ValueTag.NAME,
    "system-uuid": ValueTag.URI,
    "system-xri-supported": ValueTag.BEG_COLLECTION,
    "xri-authentication-supported": ValueTag.KEYWORD,
    "xri-security-supported": ValueTag.KEYWORD,
    "xri-uri-scheme-supported": ValueTag.URI_SCHEME,
}


async def test_get_system_attributes_answers_the_required_attributes(gateway: Gateway) -> None:
    with trio.fail_after(10):
        answer = await call(gateway, message(Operation.GET_SYSTEM_ATTRIBUTES))
    assert answer.operation_id_or_status == StatusCode.SUCCESSFUL_OK
    group = system_group(answer)
    found = {a.name: a.tag for a in group}
    missing = {n: t for n, t in REQUIRED.items() if found.get(n) != t}
    assert missing == {}
    assert group.value("system-uuid") == gateway.admin.system.uuid
    assert group.value("system-default-printer-id") == 1
    assert set(group.values("operations-supported")) >= set(SYSTEM_OPERATIONS)
    configured = group.values("system-configured-printers")
    assert [(c.value("printer-id"), c.value("printer-name")) for c in configured] == [
        (1, "lp"),
        (2, "office"),
        (3, "lab"),
    ]
    xri = cast(Collection, group.value("system-xri-supported"))
    assert xri.value("xri-uri") == "ipp://testhost:631/ipp/system"
    # Each printer's entry is kept encoded until it changes.
    with trio.fail_after(10):
        await call(gateway, by_id(Operation.SHUTDOWN_ONE_PRINTER, 2))
        again = system_group(await call(gateway, message(Operation.GET_SYSTEM_ATTRIBUTES)))
    entries = again.values("system-configured-printers")
    assert [(c.value("printer-state"), c.values("printer-state-reasons")) for c in entries] == [
        (3, ["none"]),
        (5, ["printer-shutdown"]),
        (3, ["none"]),
    ]
    status = system_group(
        await call(
            gateway,
            message(
                Operation.GET_SYSTEM_ATTRIBUTES,
                op=[Attribute.of("requested-attributes", ValueTag.KEYWORD, "system-status")],
            ),
        )
    )
    assert "system-state" in status and "system-name" not in status
    assert "system-configured-printers" in status


async def test_system_operations_are_for_operators_only(gateway: Gateway) -> None:
    with trio.fail_after(10):
        for operation in SYSTEM_OPERATIONS:
            answer = await call(gateway, message(operation), peer="192.0.2.9")
            assert answer.operation_id_or_status == StatusCode.CLIENT_ERROR_FORBIDDEN, operation
            signed_in = await call(
                gateway,
                message(operation),
                peer="127.0.0.1",
                user="bob",
                auth_on=True,
                operators=frozenset({"admin"}),
            )
            assert signed_in.operation_id_or_status == StatusCode.CLIENT_ERROR_FORBIDDEN
        ok = await call(
            gateway,
            message(Operation.GET_PRINTERS),
            peer="192.0.2.9",
            user="admin",
            auth_on=True,
            operators=frozenset({"admin"}),
        )
        assert ok.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        nothing = Message.request(Operation.GET_SYSTEM_ATTRIBUTES, 1)
        assert (await call(gateway, nothing)).operation_id_or_status == (
            StatusCode.CLIENT_ERROR_BAD_REQUEST
        )
        elsewhere = message(
            Operation.GET_SYSTEM_ATTRIBUTES, target=("system-uri", "ipp://testhost:631/other")
        )
        assert (await call(gateway, elsewhere)).operation_id_or_status == (
            StatusCode.CLIENT_ERROR_NOT_FOUND
        )


async def test_get_printers_filters_pages_and_renders_printer_ids(gateway: Gateway) -> None:
    with trio.fail_after(10):
        every = printers(await call(gateway, message(Operation.GET_PRINTERS)))
        assert [(g.value("printer-id"), g.value("printer-name")) for g in every] == [
            (1, "lp"),
            (2, "office"),
            (3, "lab"),
        ]
        assert every[0].value("printer-location") == "Hall"
        xri = [cast(Collection, v) for v in every[1].values("printer-xri-supported")]
        assert [c.value("xri-uri") for c in xri] == [
            "ipp://testhost:631/printers/office",
            "ipps://testhost:443/printers/office",
        ]
        assert every[1].values("printer-uri-supported") == [c.value("xri-uri") for c in xri]
        asked = [Attribute.of("requested-attributes", ValueTag.KEYWORD, "printer-id")]
        some = printers(
            await call(
                gateway,
                message(
                    Operation.GET_PRINTERS,
                    op=[Attribute.of("printer-ids", ValueTag.INTEGER, 3, 1), *asked],
                ),
            )
        )
        assert [[a.name for a in g] for g in some] == [["printer-id"], ["printer-id"]]
        assert [g.value("printer-id") for g in some] == [1, 3]
        page = printers(
            await call(
                gateway,
                message(
                    Operation.GET_PRINTERS,
                    op=[
                        Attribute.of("first-index", ValueTag.INTEGER, 2),
                        Attribute.of("limit", ValueTag.INTEGER, 1),
                        *asked,
                    ],
                ),
            )
        )
        assert [g.value("printer-id") for g in page] == [2]
        located = printers(
            await call(
                gateway,
                message(
                    Operation.GET_PRINTERS,
                    op=[Attribute.of("printer-location", ValueTag.TEXT, "Lab 2"), *asked],
                ),
            )
        )
        assert [g.value("printer-id") for g in located] == [3]
        await call(
            gateway,
            message(
                Operation.PAUSE_PRINTER,
                target=("printer-uri", "ipp://testhost:631/printers/office"),
            ),
        )
        stopped = printers(
            await call(
                gateway,
                message(
                    Operation.GET_PRINTERS,
                    op=[Attribute.of("which-printers", ValueTag.KEYWORD, "stopped"), *asked],
                ),
            )
        )
        assert [g.value("printer-id") for g in stopped] == [2]
        bad = await call(
            gateway,
            message(
                Operation.GET_PRINTERS,
                op=[Attribute.of("which-printers", ValueTag.KEYWORD, "sleepy")],
            ),
        )
        assert bad.operation_id_or_status == (
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
        )


async def test_create_printer_makes_a_stopped_queue_that_lasts(gateway: Gateway) -> None:
    with trio.fail_after(10):
        answer = await call(
            gateway,
            create(
                "floor3",
                "lpd://127.0.0.1:9/lp",
                Attribute.of("printer-location", ValueTag.TEXT, "Floor 3"),
                Attribute.of("printer-geo-location", ValueTag.URI, "geo:52.1,4.3"),
                options=["reserve=none", "order=control,data", "timeout=30"],
            ),
        )
        assert answer.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        (made,) = printers(answer)
        assert made.value("printer-id") == 4
        assert made.value("printer-state") == 5
        assert made.values("printer-state-reasons") == ["paused"]
        assert made.value("printer-is-accepting-jobs") is False
        assert str(made.value("printer-uuid")).startswith("urn:uuid:")
        queue = gateway.queue("floor3")
        assert queue.runtime and queue.config.location == "Floor 3"
        assert dict(queue.config.backend_options) == {
            "reserve": "none",
            "order": "control,data",
            "timeout": 30,
        }
        record = json.loads(await gateway.spool.get_meta(QUEUE_KEY + "floor3") or "")
        assert record["runtime"]["backend"] == "lpd://127.0.0.1:9/lp"
        assert record["attributes"]["printer-geo-location"] == "geo:52.1,4.3"
        listed = printers(await call(gateway, message(Operation.GET_PRINTERS)))
        assert [g.value("printer-name") for g in listed][-1] == "floor3"
        # Its own printer URI answers, with its printer-id.
        own = await call(
            gateway,
            message(
                Operation.GET_PRINTER_ATTRIBUTES,
                target=("printer-uri", "ipp://testhost:631/printers/floor3"),
            ),
        )
        (attrs,) = printers(own)
        assert attrs.value("printer-id") == 4
        assert attrs.value("printer-location") == "Floor 3"
        started = await call(gateway, by_id(Operation.STARTUP_ONE_PRINTER, 4))
        assert started.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        assert queue.state().state == "idle" and queue.is_accepting


@pytest.mark.parametrize(
    ("uri", "options", "status", "why"),
    [
        ("smb://h/q", [], StatusCode.CLIENT_ERROR_URI_SCHEME_NOT_SUPPORTED, "unknown backend"),
        ("lpd://h", [], StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED, "queue"),
        (
            "lpd://h/q",
            ["no-such=1"],
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "unknown option",
        ),
        (
            "lpd://h/q",
            ["reserve"],
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED,
            "key=value",
        ),
    ],
)
async def test_create_printer_refuses_bad_backends(
    gateway: Gateway, uri: str, options: list[str], status: StatusCode, why: str
) -> None:
    with trio.fail_after(10):
        answer = await call(gateway, create("newq", uri, options=options))
    assert answer.operation_id_or_status == status
    assert why in str(answer.operation.value("status-message"))
    unsupported = answer.group(DelimiterTag.UNSUPPORTED_ATTRIBUTES)
    assert unsupported is not None and len(unsupported) == 1
    assert "newq" not in gateway.queues


async def test_create_printer_checks_its_required_attributes(gateway: Gateway) -> None:
    with trio.fail_after(10):
        taken = await call(gateway, create("office", "lpd://h/q"))
        assert taken.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_POSSIBLE
        bad_name = await call(gateway, create("no spaces", "lpd://h/q"))
        assert bad_name.operation_id_or_status == (
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
        )
        no_type = message(
            Operation.CREATE_PRINTER,
            op=[Attribute.of(system.DEVICE_URI, ValueTag.URI, "lpd://h/q")],
            printer=[Attribute.of("printer-name", ValueTag.NAME, "x")],
        )
        assert (await call(gateway, no_type)).operation_id_or_status == (
            StatusCode.CLIENT_ERROR_BAD_REQUEST
        )
        no_uri = message(
            Operation.CREATE_PRINTER,
            op=[Attribute.of("printer-service-type", ValueTag.KEYWORD, "print")],
            printer=[Attribute.of("printer-name", ValueTag.NAME, "x")],
        )
        assert (await call(gateway, no_uri)).operation_id_or_status == (
            StatusCode.CLIENT_ERROR_BAD_REQUEST
        )
        extra = await call(
            gateway,
            create("x", "lpd://h/q", Attribute.of("printer-kind", ValueTag.KEYWORD, "document")),
        )
        assert extra.operation_id_or_status == (
            StatusCode.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES
        )
        ignored = extra.group(DelimiterTag.UNSUPPORTED_ATTRIBUTES)
        assert ignored is not None and ignored.names() == ["printer-kind"]


async def test_delete_printer_refuses_file_queues_and_jobs_unless_asked_to_cancel(
    gateway: Gateway,
) -> None:
    with trio.fail_after(15):
        file_queue = await call(gateway, by_id(Operation.DELETE_PRINTER, 2))
        assert file_queue.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_POSSIBLE
        assert "configuration file" in str(file_queue.operation.value("status-message"))
        missing = await call(gateway, by_id(Operation.DELETE_PRINTER, 99))
        assert missing.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_FOUND
        await call(gateway, create("tmp", "lpd://127.0.0.1:9/lp"))
        tmp_id = gateway.queue("tmp").printer_id
        job = await spool_job(gateway.spool, queue="tmp")
        refused = await call(gateway, by_id(Operation.DELETE_PRINTER, tmp_id))
        assert refused.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_POSSIBLE
        assert "1 job(s) not yet ended" in str(refused.operation.value("status-message"))
        deleted = await call(
            gateway,
            by_id(
                Operation.DELETE_PRINTER,
                tmp_id,
                Attribute.of(system.CANCEL_JOBS, ValueTag.BOOLEAN, True),
            ),
        )
        assert deleted.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        assert (await wait_for_state(gateway.spool, job.id, JobState.CANCELED)).state_reasons == (
            "job-canceled-by-operator",
        )
        assert "tmp" not in gateway.queues and "tmp" not in gateway.service.descriptions
        listed = printers(await call(gateway, message(Operation.GET_PRINTERS)))
        assert tmp_id not in [g.value("printer-id") for g in listed]


async def test_all_printers_operations_change_every_queue_durably(gateway: Gateway) -> None:
    names = ["lp", "office", "lab"]
    with trio.fail_after(10):
        assert (
            await call(gateway, message(Operation.PAUSE_ALL_PRINTERS))
        ).operation_id_or_status == 0
        assert [gateway.queue(n).enabled for n in names] == [False] * 3
        records = [json.loads(await gateway.spool.get_meta(QUEUE_KEY + n) or "") for n in names]
        assert [r["switches"]["enabled"] for r in records] == [False] * 3
        state = system_group(
            await call(
                gateway,
                message(
                    Operation.GET_SYSTEM_ATTRIBUTES,
                    op=[Attribute.of("requested-attributes", ValueTag.KEYWORD, "system-state")],
                ),
            )
        )
        assert state.value("system-state") == 5
        await call(gateway, message(Operation.RESUME_ALL_PRINTERS))
        await call(gateway, message(Operation.DISABLE_ALL_PRINTERS))
        assert [gateway.queue(n).switches.accepting for n in names] == [False] * 3
        await call(gateway, message(Operation.ENABLE_ALL_PRINTERS))
        await call(gateway, message(Operation.SHUTDOWN_ALL_PRINTERS))
        assert all(gateway.queue(n).shutdown for n in names)
        resumed = await call(gateway, message(Operation.RESUME_ALL_PRINTERS))
        assert resumed.operation_id_or_status == 0
        assert not any(gateway.queue(n).enabled for n in names)  # shut down stays down
        await call(gateway, message(Operation.STARTUP_ALL_PRINTERS))
        assert all(gateway.queue(n).state().state == "idle" for n in names)


async def test_one_printer_operations_by_printer_id(gateway: Gateway) -> None:
    office = gateway.queue("office")
    with trio.fail_after(10):
        await call(gateway, by_id(Operation.SHUTDOWN_ONE_PRINTER, 2))
        assert office.shutdown and not office.is_accepting
        assert office.state().reasons == ("printer-shutdown",)
        printer_uri = ("printer-uri", "ipp://testhost:631/printers/office")
        resume = await call(gateway, message(Operation.RESUME_PRINTER, target=printer_uri))
        assert resume.operation_id_or_status == StatusCode.CLIENT_ERROR_NOT_POSSIBLE
        await call(gateway, by_id(Operation.RESTART_ONE_PRINTER, 2))
        assert not office.shutdown and office.enabled and office.is_accepting
        missing = await call(gateway, message(Operation.SHUTDOWN_ONE_PRINTER))
        assert missing.operation_id_or_status == StatusCode.CLIENT_ERROR_BAD_REQUEST


async def test_set_system_attributes_all_or_nothing_and_supported_values(gateway: Gateway) -> None:
    def setting(*attributes: Attribute) -> Message:
        return message(
            Operation.SET_SYSTEM_ATTRIBUTES,
            groups=[Group(DelimiterTag.SYSTEM_ATTRIBUTES, list(attributes))],
        )

    with trio.fail_after(10):
        owner = (
            Collection()
            .add_name("contact-name", "Print team")
            .add_uri("contact-uri", "mailto:print@example.com")
        )
        ok = await call(
            gateway,
            setting(
                Attribute.of("system-location", ValueTag.TEXT, "DC 1"),
                Attribute.of("system-geo-location", ValueTag.URI, "geo:52.0,4.0"),
                Attribute.of("system-owner-col", ValueTag.BEG_COLLECTION, owner),
            ),
        )
        assert ok.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        group = system_group(await call(gateway, message(Operation.GET_SYSTEM_ATTRIBUTES)))
        assert group.value("system-location") == "DC 1"
        assert group.value("system-geo-location") == "geo:52.0,4.0"
        assert cast(Collection, group.value("system-owner-col")).value("contact-uri") == (
            "mailto:print@example.com"
        )
        assert group.value("system-config-changes") == 1
        refused = await call(
            gateway,
            setting(
                Attribute.of("system-location", ValueTag.TEXT, "DC 2"),
                Attribute.of("system-uuid", ValueTag.URI, "urn:uuid:0"),
            ),
        )
        assert refused.operation_id_or_status == StatusCode.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE
        bad = await call(gateway, setting(Attribute.of("system-geo-location", ValueTag.URI, "x:y")))
        assert bad.operation_id_or_status == (
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
        )
        assert gateway.admin.system.attributes["system-location"] == "DC 1"
        values = system_group(await call(gateway, message(Operation.GET_SYSTEM_SUPPORTED_VALUES)))
        assert "system-name" in values
        assert values.value("system-name") == OutOfBand.ADMIN_DEFINE


async def test_set_printer_attributes_is_kept_and_shown(gateway: Gateway) -> None:
    target = ("printer-uri", "ipp://testhost:631/printers/office")

    def setting(*attributes: Attribute) -> Message:
        return message(Operation.SET_PRINTER_ATTRIBUTES, target=target, printer=attributes)

    with trio.fail_after(10):
        ok = await call(
            gateway,
            setting(
                Attribute.of("printer-location", ValueTag.TEXT, "Room 12"),
                Attribute.of("printer-info", ValueTag.TEXT, "Office laser"),
            ),
        )
        assert ok.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        (attrs,) = printers(
            await call(gateway, message(Operation.GET_PRINTER_ATTRIBUTES, target=target))
        )
        assert (attrs.value("printer-location"), attrs.value("printer-info")) == (
            "Room 12",
            "Office laser",
        )
        record = json.loads(await gateway.spool.get_meta(QUEUE_KEY + "office") or "")
        assert record["attributes"] == {
            "printer-info": "Office laser",
            "printer-location": "Room 12",
        }
        refused = await call(gateway, setting(Attribute.of("printer-name", ValueTag.NAME, "x")))
        assert refused.operation_id_or_status == StatusCode.CLIENT_ERROR_ATTRIBUTES_NOT_SETTABLE
        too_long = await call(
            gateway, setting(Attribute.of("printer-info", ValueTag.TEXT, "x" * 200))
        )
        assert too_long.operation_id_or_status == (
            StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
        )
        forbidden = await call(
            gateway, setting(Attribute.of("printer-info", ValueTag.TEXT, "y")), peer="192.0.2.9"
        )
        assert forbidden.operation_id_or_status == StatusCode.CLIENT_ERROR_FORBIDDEN
        supported = printers(
            await call(gateway, message(Operation.GET_PRINTER_SUPPORTED_VALUES, target=target))
        )
        assert "printer-location" in supported[0]


async def test_system_subscriptions_hear_printers_come_and_go(gateway: Gateway) -> None:
    template = Group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
    template.add_keyword("notify-pull-method", "ippget")
    template.add_keyword(
        "notify-events", "printer-created", "printer-deleted", "system-state-changed"
    )
    with trio.fail_after(10):
        made = await call(
            gateway, message(Operation.CREATE_SYSTEM_SUBSCRIPTIONS, groups=[template])
        )
        assert made.operation_id_or_status == StatusCode.SUCCESSFUL_OK
        sub = made.group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        assert sub is not None
        number = sub.value("notify-subscription-id")
        await call(gateway, create("temp", "lpd://127.0.0.1:9/lp"))
        await call(gateway, message(Operation.PAUSE_ALL_PRINTERS))
        await call(gateway, by_id(Operation.DELETE_PRINTER, gateway.queue("temp").printer_id))
        notes = await call(
            gateway,
            message(
                Operation.GET_NOTIFICATIONS,
                op=[Attribute.of("notify-subscription-ids", ValueTag.INTEGER, number)],
            ),
        )
        events = [
            g.value("notify-subscribed-event")
            for g in notes.groups_of(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)
        ]
        assert events == ["printer-created", "system-state-changed", "printer-deleted"]
        listed = await call(gateway, message(Operation.GET_SUBSCRIPTIONS))
        (entry,) = listed.groups_of(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        assert entry.value("notify-subscription-id") == number
        assert entry.value("notify-system-uri") == SYSTEM_URI
        assert "notify-printer-uri" not in entry
        printers_subs = await call(
            gateway,
            message(
                Operation.GET_SUBSCRIPTIONS,
                target=("printer-uri", "ipp://testhost:631/printers/lp"),
            ),
        )
        assert printers_subs.groups_of(DelimiterTag.SUBSCRIPTION_ATTRIBUTES) == []
        cancel = message(
            Operation.CANCEL_SUBSCRIPTION,
            op=[Attribute.of("notify-subscription-id", ValueTag.INTEGER, number)],
        )
        assert (await call(gateway, cancel)).operation_id_or_status == StatusCode.SUCCESSFUL_OK
        # A job is never sent to the System itself.
        printing = await call(gateway, message(Operation.VALIDATE_JOB))
        assert printing.operation_id_or_status == StatusCode.CLIENT_ERROR_BAD_REQUEST
        wrong = Group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        wrong.add_keyword("notify-pull-method", "ippget")
        wrong.add_keyword("notify-events", "job-completed")
        refused = await call(
            gateway, message(Operation.CREATE_SYSTEM_SUBSCRIPTIONS, groups=[wrong])
        )
        assert refused.operation_id_or_status == StatusCode.CLIENT_ERROR_IGNORED_ALL_SUBSCRIPTIONS


async def test_get_printers_over_a_fleet_is_cheap(tmp_path: Path) -> None:
    """Get-Printers of 2,000 queues: printer-id and printer-xri-supported come
    with the cached listing parts, so a second listing costs little."""
    out = (tmp_path / "out").as_uri()
    names = {f"q{i:04d}": {"backend": out} for i in range(2000)}
    cfg = gateway_config(tmp_path, queues=names)
    spool = await Spool.open(cfg.spool_dir)
    made = [Queue(qc, FileBackend(qc.backend)) for qc in cfg.queues]
    try:
        with trio.fail_after(120):
            queues = await Queues.restore(spool, made, lambda c: FileBackend(c.backend))
            context = GatewayContext(cfg, spool, queues, Dispatcher(spool, queues), "testhost")
            service = IppService(context, [Listener("ipp", 631)], tuple(sorted(HANDLERS)))
            gw = Gateway(service, spool)
            asked = Attribute.of(
                "requested-attributes",
                ValueTag.KEYWORD,
                "printer-id",
                "printer-name",
                "printer-state",
                "printer-xri-supported",
            )
            timings = []
            for _ in range(2):
                began = trio.current_time()
                answer = await call(gw, message(Operation.GET_PRINTERS, op=[asked]))
                timings.append(trio.current_time() - began)
            listed = printers(answer)
            assert len(listed) == 2000 and listed[-1].value("printer-id") == 2000
    finally:
        await spool.aclose()
    print(
        f"\nGet-Printers of 2,000 queues: first {timings[0] * 1000:.0f} ms, "
        f"then {timings[1] * 1000:.0f} ms"
    )
    assert timings[1] < 5


def test_the_front_end_checks_every_attribute_the_core_keeps() -> None:
    """Each settable printer and System attribute has a syntax rule here, and
    only those (the core's tables and the IPP front-end's agree)."""
    assert set(SETTABLE) == set(PRINTER_SETTABLE)
    assert set(system.SYSTEM_SYNTAX) == set(SYSTEM_SETTABLE)
