"""Real requests captured from ipptool and CUPS lp (tests/fixtures/ipp/README.md)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pytest

from gateway.ipp import (
    Attribute,
    Collection,
    DelimiterTag,
    MessageParser,
    Operation,
    Resolution,
    StatusCode,
    ValueTag,
    check_request,
    decode,
    encode,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ipp"
TESTFILE = (FIXTURES / "testfile.txt").read_bytes()

# file -> (operation, version, document tail expected, operation attribute names)
EXPECTED: dict[str, tuple[Operation, tuple[int, int], bytes, list[str]]] = {
    "ipptool-get-printer-attributes.bin": (
        Operation.GET_PRINTER_ATTRIBUTES,
        (2, 0),
        b"",
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "requested-attributes",
        ],
    ),
    "ipptool-print-job.bin": (
        Operation.PRINT_JOB,
        (1, 1),
        TESTFILE,
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "requesting-user-name",
            "document-format",
        ],
    ),
    "ipptool-print-job-media-col.bin": (
        Operation.PRINT_JOB,
        (1, 1),
        TESTFILE,
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "requesting-user-name",
            "document-format",
        ],
    ),
    "ipptool-create-job.bin": (
        Operation.CREATE_JOB,
        (1, 1),
        b"",
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "requesting-user-name",
        ],
    ),
    "ipptool-send-document.bin": (
        Operation.SEND_DOCUMENT,
        (1, 1),
        TESTFILE,
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "job-id",
            "requesting-user-name",
            "document-format",
            "last-document",
        ],
    ),
    "cups-lp-get-printer-attributes.bin": (
        Operation.GET_PRINTER_ATTRIBUTES,
        (2, 0),
        b"",
        [
            "attributes-charset",
            "attributes-natural-language",
            "requested-attributes",
            "requesting-user-name",
            "printer-uri",
        ],
    ),
    "cups-lp-get-printer-attributes-2.bin": (
        Operation.GET_PRINTER_ATTRIBUTES,
        (2, 0),
        b"",
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "requesting-user-name",
            "requested-attributes",
        ],
    ),
    "cups-lp-create-job.bin": (
        Operation.CREATE_JOB,
        (2, 0),
        b"",
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "requesting-user-name",
            "job-name",
        ],
    ),
    "cups-lp-send-document.bin": (
        Operation.SEND_DOCUMENT,
        (2, 0),
        TESTFILE,
        [
            "attributes-charset",
            "attributes-natural-language",
            "printer-uri",
            "job-id",
            "requesting-user-name",
            "document-name",
            "document-format",
            "last-document",
        ],
    ),
}


# Responses of a real printer (CUPS 2.4.2 ippeveprinter): file -> (status, group tags)
RESPONSES: dict[str, tuple[StatusCode, list[int]]] = {
    "ippeveprinter-get-printer-attributes-response.bin": (
        StatusCode.SUCCESSFUL_OK,
        [DelimiterTag.OPERATION_ATTRIBUTES, DelimiterTag.PRINTER_ATTRIBUTES],
    ),
    "ippeveprinter-print-job-response.bin": (
        StatusCode.SUCCESSFUL_OK,
        [DelimiterTag.OPERATION_ATTRIBUTES, DelimiterTag.JOB_ATTRIBUTES],
    ),
    "ippeveprinter-get-jobs-response.bin": (
        StatusCode.SUCCESSFUL_OK,
        [DelimiterTag.OPERATION_ATTRIBUTES, DelimiterTag.JOB_ATTRIBUTES],
    ),
    "ippeveprinter-bad-request-id-response.bin": (
        StatusCode.CLIENT_ERROR_BAD_REQUEST,
        [DelimiterTag.OPERATION_ATTRIBUTES],
    ),
}


def test_every_fixture_is_listed() -> None:
    assert {p.name for p in FIXTURES.glob("*.bin")} == set(EXPECTED) | set(RESPONSES)


@pytest.mark.parametrize("name", sorted(RESPONSES))
def test_response_fixture_decodes_and_reencodes_byte_identical(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    status, group_tags = RESPONSES[name]
    message, tail = decode(data)
    assert tail == b""
    assert message.status_code is status
    assert message.version == (2, 0)
    assert [g.tag for g in message.groups] == group_tags
    assert message.operation.names()[:2] == ["attributes-charset", "attributes-natural-language"]
    assert encode(message) == data


def _tags(attributes: Iterable[Attribute], found: set[int]) -> set[int]:
    for attribute in attributes:
        for value in attribute.values:
            found.add(value.tag)
            if isinstance(value.value, Collection):
                _tags(value.value, found)
    return found


def test_ippeveprinter_printer_attributes() -> None:
    data = (FIXTURES / "ippeveprinter-get-printer-attributes-response.bin").read_bytes()
    message, _ = decode(data)
    printer = message.group(DelimiterTag.PRINTER_ATTRIBUTES)
    assert printer is not None
    assert printer.value("printer-name") == "TestPrinter"
    assert printer["printer-state"].tag == ValueTag.ENUM
    assert "1.1" in printer.values("ipp-versions-supported")
    assert Operation.PRINT_JOB in printer.values("operations-supported")
    assert isinstance(printer.value("printer-current-time"), datetime)
    assert isinstance(printer.value("printer-resolution-default"), Resolution)
    assert all(isinstance(c, Collection) for c in printer.values("media-col-database"))
    assert _tags(printer, set()) >= {
        ValueTag.UNKNOWN,
        ValueTag.INTEGER,
        ValueTag.BOOLEAN,
        ValueTag.ENUM,
        ValueTag.OCTET_STRING,
        ValueTag.DATE_TIME,
        ValueTag.RESOLUTION,
        ValueTag.RANGE_OF_INTEGER,
        ValueTag.BEG_COLLECTION,
        ValueTag.TEXT,
        ValueTag.NAME,
        ValueTag.KEYWORD,
        ValueTag.URI,
        ValueTag.URI_SCHEME,
        ValueTag.CHARSET,
        ValueTag.NATURAL_LANGUAGE,
        ValueTag.MIME_MEDIA_TYPE,
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_decodes_and_reencodes_byte_identical(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    operation, version, document, names = EXPECTED[name]
    message, tail = decode(data)
    assert message.operation_id is operation
    assert message.version == version
    assert message.request_id >= 1
    assert message.operation.names() == names
    assert tail == document
    assert check_request(message) is None
    assert encode(message) + tail == data


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_in_small_chunks(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    parser = MessageParser()
    for i in range(0, len(data), 7):
        if parser.feed(data[i : i + 7]) is not None:
            rest = data[i + 7 :]
            break
    else:
        pytest.fail("message never completed")
    assert parser.tail + rest == EXPECTED[name][2]


def test_ipptool_print_job_media_col_details() -> None:
    message, _ = decode((FIXTURES / "ipptool-print-job-media-col.bin").read_bytes())
    job = message.group(DelimiterTag.JOB_ATTRIBUTES)
    assert job is not None
    assert job.names() == ["media-col", "print-quality"]
    media_col = job.value("media-col")
    assert isinstance(media_col, Collection)
    assert media_col.names() == [
        "media-size",
        "media-left-margin",
        "media-right-margin",
        "media-top-margin",
        "media-bottom-margin",
    ]
    size = media_col.value("media-size")
    assert isinstance(size, Collection)
    assert (size.value("x-dimension"), size.value("y-dimension")) == (10160, 15240)
    assert job["print-quality"].tag == ValueTag.ENUM
    assert job.value("print-quality") == 5


def test_lp_requests() -> None:
    gpa, _ = decode((FIXTURES / "cups-lp-get-printer-attributes.bin").read_bytes())
    requested = gpa.operation.values("requested-attributes")
    assert len(requested) == 26
    assert requested[0] == "auth-info-required"
    assert gpa.operation.value("printer-uri") == "ipp://localhost:18746/printers/lp"
    send, _ = decode((FIXTURES / "cups-lp-send-document.bin").read_bytes())
    op = send.operation
    assert op.value("job-id") == 1
    assert op.value("document-name") == "testfile.txt"
    assert op.value("document-format") == "application/octet-stream"
    assert op["requesting-user-name"].tag == ValueTag.NAME_WITHOUT_LANGUAGE
    assert op.value("last-document") is True
