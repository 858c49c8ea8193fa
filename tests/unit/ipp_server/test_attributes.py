"""Job and printer attribute tables (job_attributes.py, printer_attributes.py)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from gateway.backends.base import Capabilities
from gateway.backends.file import FileBackend
from gateway.config import QueueConfig
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.queues import Queue
from gateway.ipp import Attribute, Collection, RangeOfInteger, Resolution, ValueTag
from gateway.ipp.operations import Operation
from gateway.ipp.server.job_attributes import (
    JOB_SYNTAX,
    attribute_to_json,
    expand_requested,
    job_group,
    stored_attribute,
)
from gateway.ipp.server.printer_attributes import (
    Listener,
    PrinterDescription,
    is_job_template,
    printer_alerts,
    uri_attributes,
    wanted_printer_attributes,
)


@pytest.mark.parametrize(
    "attribute",
    [
        Attribute.of("copies", ValueTag.INTEGER, 3),
        Attribute.of("finishings", ValueTag.ENUM, 3, 4),
        Attribute.of("media", ValueTag.KEYWORD, "iso_a4_210x297mm"),
        Attribute.of("page-ranges", ValueTag.RANGE_OF_INTEGER, RangeOfInteger(1, 2)),
        Attribute.of(
            "page-ranges", ValueTag.RANGE_OF_INTEGER, RangeOfInteger(1, 2), RangeOfInteger(5, 9)
        ),
        Attribute.of("printer-resolution", ValueTag.RESOLUTION, Resolution(600, 600)),
        Attribute.of("job-name", ValueTag.NAME, "report"),
        Attribute.of(
            "media-col",
            ValueTag.BEG_COLLECTION,
            Collection()
            .add_collection(
                "media-size",
                Collection().add_integer("x-dimension", 21000).add_integer("y-dimension", 29700),
            )
            .add_keyword("media-type", "stationery"),
        ),
    ],
)
def test_json_round_trip_keeps_the_syntax(attribute: Attribute) -> None:
    assert attribute.name in JOB_SYNTAX
    assert stored_attribute(attribute.name, attribute_to_json(attribute)) == attribute


def test_unknown_names_are_not_served() -> None:
    assert stored_attribute("x-vendor-thing", "value") is None


def test_requested_attribute_groups() -> None:
    assert expand_requested([], ["job-id", "job-uri"]) == {"job-id", "job-uri"}
    assert expand_requested(["all"], []) is None
    template = expand_requested(["job-template"], [])
    assert template is not None and "media" in template and "job-state" not in template
    description = expand_requested(["job-description"], [])
    assert description is not None and "job-state" in description and "media" not in description


def test_job_group_has_the_required_attributes() -> None:
    job = Job(
        id=7,
        queue="lp",
        state=JobState.COMPLETED,
        attributes={"job-name": "x", "job-originating-user-name": "bob", "copies": 2},
        documents=(),
        origin=Origin(Frontend.IPP, peer="10.0.0.1"),
        created=time.time(),
        completed=time.time(),
    )
    group = job_group(
        job, job_uri="ipp://h:1/jobs/7", printer_uri="ipp://h:1/ipp/print", wanted=None, up_time=5
    )
    for name in (
        "job-uri", "job-id", "job-printer-uri", "job-name", "job-originating-user-name",
        "job-state", "job-state-reasons", "time-at-creation", "time-at-processing",
        "time-at-completed", "job-printer-up-time", "copies", "job-originating-host-name",
    ):  # fmt: skip
        assert name in group, name
    assert group["time-at-processing"].tag == ValueTag.NO_VALUE
    only = job_group(job, job_uri="u", printer_uri="p", wanted={"job-id", "job-uri"}, up_time=5)
    assert only.names() == ["job-id", "job-uri"]


def test_printer_attribute_groups() -> None:
    assert is_job_template("media-supported") and is_job_template("copies-default")
    assert not is_job_template("document-format-supported")
    names = ["printer-name", "media-supported", "media-col-database"]
    assert wanted_printer_attributes([], names) == ["printer-name", "media-supported"]
    assert wanted_printer_attributes(["job-template"], names) == ["media-supported"]
    assert wanted_printer_attributes(["printer-description"], names) == ["printer-name"]
    assert wanted_printer_attributes(["all", "media-col-database"], names) == names


def test_uri_attributes_list_every_listener_used_one_first() -> None:
    listeners = [Listener("ipp", 631), Listener("ipps", 8443)]
    uris, security, auth = uri_attributes(listeners, "::1", "/ipp/print", Listener("ipps", 8443))
    assert uris.python_values == ["ipps://[::1]:8443/ipp/print", "ipp://[::1]:631/ipp/print"]
    assert security.python_values == ["tls", "none"]
    assert len(auth.values) == 2


def test_printer_alerts_have_the_same_count_as_descriptions() -> None:
    alerts, descriptions = printer_alerts(("none",), "")
    assert alerts.python_values == [b"code=other"] and len(descriptions.values) == 1
    alerts, descriptions = printer_alerts(("media-empty-error", "toner-low"), "out of paper")
    assert alerts.python_values == [
        b"code=media-empty;severity=error",
        b"code=toner-low;severity=report",
    ]
    assert len(descriptions.values) == 2


class ReportingBackend(FileBackend):
    caps = Capabilities()

    def capabilities(self) -> Capabilities:
        return self.caps


def test_static_part_is_cached_and_follows_the_backend(tmp_path: Path) -> None:
    backend = ReportingBackend(tmp_path.as_uri())
    queue = Queue(QueueConfig("lp", tmp_path.as_uri()), backend)
    description = PrinterDescription(
        queue,
        printer_uuid=uuid.uuid4(),
        started=time.time(),
        multiple_operation_timeout=300,
        operations=[Operation.PRINT_JOB, Operation.GET_PRINTER_ATTRIBUTES],
    )
    first = description.static()
    assert description.static() is first
    assert "image/urf" in description.document_formats
    backend.caps = Capabilities(
        document_formats=("application/pdf",),
        printer_attributes={"sides-supported": ["one-sided"], "color-supported": True},
    )
    second = description.static()
    assert second is not first
    # The printer's formats first, then what the gateway converts to them.
    assert description.document_formats[0] == "application/pdf"
    assert "image/pwg-raster" in description.document_formats
    assert description.supported_values("sides") == {"one-sided"}
    assert b"DM1" in first["urf-supported"] and b"DM1" not in second["urf-supported"]
