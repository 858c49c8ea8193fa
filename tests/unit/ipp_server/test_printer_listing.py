"""Printer listings render only what is asked, from shared and cached parts, and
answer exactly what rendering the whole description answers (issue 17)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from gateway.backends.base import Capabilities
from gateway.backends.file import FileBackend
from gateway.core.context import GatewayContext
from gateway.core.dispatcher import Dispatcher
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.ipp import decode
from gateway.ipp.attributes import Attribute, Group
from gateway.ipp.encoder import encode
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.server import serving
from gateway.ipp.server.handlers import HANDLERS
from gateway.ipp.server.job_attributes import date_time
from gateway.ipp.server.printer import cups_get_printers, printer_bytes
from gateway.ipp.server.printer_attributes import (
    Listener,
    encode_attribute,
    encode_one,
    printer_alerts,
    uri_attributes,
    wanted_printer_attributes,
    web_attributes,
)
from gateway.ipp.server.request import IppRequest, IppService, printer_path
from gateway.ipp.tags import DelimiterTag, ValueTag
from tests.ipp_harness import gateway_config

REQUESTS = [
    [],
    ["all"],
    ["printer-name", "printer-state"],
    ["printer-state", "printer-name"],
    ["printer-description"],
    ["job-template"],
    ["printer-uri-supported", "printer-type", "device-uri", "printer-is-accepting-jobs"],
    ["media-col-database"],
    ["printer-state-change-time", "printer-up-time", "queued-job-count"],
    ["printer-make-and-model", "sides-supported", "printer-alert", "printer-more-info"],
]


class ReportingBackend(FileBackend):
    """A backend that reports its own make and model and sides (as an IPP printer may)."""

    def capabilities(self) -> Capabilities:
        return REPORTED


REPORTED = Capabilities(
    document_formats=("application/pdf",),
    printer_attributes={
        "sides-supported": ["one-sided"],
        "printer-make-and-model": "Reported Model 9",
        "color-supported": True,
    },
)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[IppService]:
    names = {f"q{i}": {"backend": (tmp_path / "out").as_uri()} for i in range(20)}
    names["reporting"] = {"backend": (tmp_path / "out").as_uri(), "info": "Reports"}
    cfg = gateway_config(tmp_path, queues=names)
    spool = await Spool.open(cfg.spool_dir)
    try:
        made = []
        for qc in cfg.queues:
            backend_type = ReportingBackend if qc.name == "reporting" else FileBackend
            made.append(Queue(qc, backend_type(qc.backend)))
        queues = Queues(made)
        context = GatewayContext(cfg, spool, queues, Dispatcher(spool, queues), "testhost")
        listeners = [Listener("ipp", 631), Listener("ipps", 443)]
        yield IppService(context, listeners, tuple(sorted(HANDLERS)))
    finally:
        await spool.aclose()


def request_for(service: IppService, message: Message | None = None) -> IppRequest:
    message = message or Message.request(Operation.GET_PRINTER_ATTRIBUTES, 1)
    return IppRequest(message, cast(Any, None), "127.0.0.1", "printhost", "ipp", 631)


def whole_description(
    service: IppService, request: IppRequest, queue: Queue, path: str, requested: list[str]
) -> bytes:
    """The answer as rendered before issue 17: every attribute built, then chosen."""
    description = service.descriptions[queue.name]
    static = description.static()
    state = queue.state()
    second = int(description.state_changed) + 10**6  # any clock; compared with the same
    live = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    used = Listener(request.scheme, request.port)
    policy = service.policy(queue)
    for attribute in uri_attributes(
        service.listeners, request.host, path, used, basic_auth=policy != "none"
    ):
        live.append(attribute)
    web = service.base(request).replace("ipp://", "http://")
    for attribute in web_attributes(web, queue.name):
        live.append(attribute)
    live.add_enum("printer-state", state.ipp_state)
    live.add_keyword("printer-state-reasons", *state.reasons)
    live.add_text("printer-state-message", state.message[:1023])
    live.add_boolean("printer-is-accepting-jobs", queue.is_accepting)
    live.add_integer("queued-job-count", service.context.spool.active_count(queue.name))
    live.add_integer("printer-up-time", second)
    live.add_datetime("printer-current-time", date_time(second))
    live.add_integer("printer-state-change-time", int(description.state_changed))
    live.add_datetime("printer-state-change-date-time", date_time(description.state_changed))
    for attribute in printer_alerts(state.reasons, state.message):
        live.append(attribute)
    by_name = {a.name: a for a in live}
    raw = b""
    for name in wanted_printer_attributes(requested, [*static, *by_name]):
        raw += encode_attribute(by_name[name]) if name in by_name else static[name]
    return raw


def without_clocks(raw: bytes) -> dict[str, Any]:
    """The attributes of an encoded printer group, minus the two that tick."""
    message = Message.request(Operation.GET_PRINTER_ATTRIBUTES, 1)
    body = bytearray()
    body += encode(message)[:-1] + bytes([DelimiterTag.PRINTER_ATTRIBUTES]) + raw + b"\x03"
    decoded, _ = decode(bytes(body))
    group = decoded.group(DelimiterTag.PRINTER_ATTRIBUTES)
    assert group is not None
    names = [a.name for a in group]
    values = {a.name: a.python_values for a in group}
    for ticking in ("printer-up-time", "printer-current-time"):
        values.pop(ticking, None)
    return {"order": names, "values": values}


@pytest.mark.parametrize("requested", REQUESTS)
async def test_the_answer_is_what_the_whole_description_gives(
    service: IppService, requested: list[str]
) -> None:
    request = request_for(service)
    queues = service.context.queues
    for name in ("q0", "reporting"):
        queue = queues.get(name)
        assert queue is not None
        path = printer_path(queue, queues.default)
        fast = printer_bytes(service, request, queue, path, requested)
        again = printer_bytes(service, request, queue, path, requested, listing=True)
        assert again == fast
        assert without_clocks(fast) == without_clocks(
            whole_description(service, request, queue, path, requested)
        )


async def test_reported_make_and_model_replaces_the_configured_one_in_place(
    service: IppService,
) -> None:
    queue = service.context.queues.get("reporting")
    assert queue is not None
    raw = printer_bytes(service, request_for(service), queue, "/printers/reporting", ["all"])
    answer = without_clocks(raw)
    assert answer["values"]["printer-make-and-model"] == ["Reported Model 9"]
    assert answer["order"][:6] == [
        "printer-name",
        "printer-info",
        "printer-location",
        "printer-make-and-model",
        "printer-device-id",
        "printer-uuid",
    ]
    assert answer["values"]["document-format-supported"][0] == "application/pdf"


async def test_descriptions_are_built_on_first_use_and_shared(service: IppService) -> None:
    descriptions = service.descriptions
    assert not any(d.built for d in descriptions.values())  # nothing built at start
    queue = service.context.queues.get("q3")
    assert queue is not None
    printer_bytes(service, request_for(service), queue, "/printers/q3", ["printer-name"])
    assert descriptions["q3"].built
    assert not descriptions["q4"].built
    assert descriptions["q4"].shared() is descriptions["q3"].shared()
    assert descriptions["reporting"].shared() is not descriptions["q3"].shared()


async def test_warming_builds_every_description_and_changes_no_answer(
    service: IppService, monkeypatch: pytest.MonkeyPatch
) -> None:
    queues = service.context.queues
    monkeypatch.setattr(serving, "WARM_SLICE", 4)  # several slices of the 21 queues
    await serving.warm(service)  # what the IPP listener starts once it listens
    assert all(d.built for d in service.descriptions.values())
    request = request_for(service)
    for name in ("q7", "reporting"):
        queue = queues.get(name)
        assert queue is not None
        path = printer_path(queue, queues.default)
        for requested in REQUESTS:
            assert without_clocks(
                printer_bytes(service, request, queue, path, requested, listing=True)
            ) == without_clocks(whole_description(service, request, queue, path, requested))


async def test_a_kept_answer_follows_the_state(service: IppService) -> None:
    queue = service.context.queues.get("q1")
    assert queue is not None
    asked = ["printer-name", "printer-state", "printer-is-accepting-jobs"]
    request = request_for(service)
    first = printer_bytes(service, request, queue, "/printers/q1", asked)
    assert without_clocks(first)["values"]["printer-state"] == [3]
    queue.enabled = False
    queue.accepting = False
    stopped = without_clocks(printer_bytes(service, request, queue, "/printers/q1", asked))
    assert stopped["values"]["printer-state"] == [5]
    assert stopped["values"]["printer-is-accepting-jobs"] == [False]
    queue.enabled = queue.accepting = True
    assert without_clocks(printer_bytes(service, request, queue, "/printers/q1", asked)) == (
        without_clocks(first)
    )


async def test_cups_get_printers_lists_every_queue_with_what_was_asked(
    service: IppService,
) -> None:
    message = Message.request(Operation.CUPS_GET_PRINTERS, 7)
    message.operation.add("requested-attributes", ValueTag.KEYWORD, "printer-name", "printer-state")
    response = await cups_get_printers(service, request_for(service, message))
    decoded, _ = decode(response.encode())
    groups = decoded.groups_of(DelimiterTag.PRINTER_ATTRIBUTES)
    assert [g.value("printer-name") for g in groups] == [q.name for q in service.context.queues]
    assert all([a.name for a in g] == ["printer-name", "printer-state"] for g in groups)


def test_one_valued_attributes_encode_as_the_codec_does() -> None:
    cases: list[tuple[ValueTag, str, str | int | bool]] = [
        (ValueTag.NAME, "printer-name", "Büro-3"),
        (ValueTag.TEXT, "printer-info", "Office printer, 2nd floor"),
        (ValueTag.TEXT, "printer-location", ""),
        (ValueTag.ENUM, "printer-state", 5),
        (ValueTag.BOOLEAN, "printer-is-accepting-jobs", False),
        (ValueTag.INTEGER, "queued-job-count", 2**31 - 1),
        (ValueTag.KEYWORD, "printer-state-reasons", "media-empty-error"),
    ]
    for tag, name, value in cases:
        assert encode_one(tag, name, value) == encode_attribute(Attribute.of(name, tag, value))


async def test_configured_attributes_are_the_configured_values(service: IppService) -> None:
    description = service.descriptions["q5"]
    static = description.static()
    assert static["printer-name"] == encode_attribute(
        Attribute.of("printer-name", ValueTag.NAME, "q5")
    )
    assert static["printer-info"] == encode_attribute(
        Attribute.of("printer-info", ValueTag.TEXT, "q5 (lpd-ipp-gateway)")
    )
    assert static["printer-make-and-model"] == encode_attribute(
        Attribute.of("printer-make-and-model", ValueTag.TEXT, "lpd-ipp-gateway file")
    )
