"""The builder and lookup API, and validation on encode."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone

import pytest

from gateway.ipp import (
    Attribute,
    Collection,
    DelimiterTag,
    IppEncodeError,
    Message,
    NameWithLanguage,
    Operation,
    OutOfBand,
    RangeOfInteger,
    Resolution,
    StatusCode,
    TextWithLanguage,
    Value,
    ValueTag,
    decode,
    encode,
)


class JobState(enum.IntEnum):
    PENDING = 3


def test_build_printer_attributes_response() -> None:
    request, _ = decode(
        encode(Message.request(Operation.GET_PRINTER_ATTRIBUTES, 42, version=(1, 1)))
    )
    response = Message.response(request, StatusCode.SUCCESSFUL_OK, status_message="ok")
    assert response.version == (1, 1)
    assert response.request_id == 42
    assert response.operation.names() == [
        "attributes-charset",
        "attributes-natural-language",
        "status-message",
    ]
    printer = response.add_group(DelimiterTag.PRINTER_ATTRIBUTES)
    (
        printer.add("printer-name", ValueTag.NAME_WITHOUT_LANGUAGE, "lp")
        .add_enum("printer-state", JobState.PENDING)
        .add_keyword("printer-state-reasons", "none")
        .add_boolean("printer-is-accepting-jobs", True)
        .add_enum("operations-supported", *Operation.__members__.values())
        .add_range("copies-supported", (1, 999))
        .add_resolution("printer-resolution-default", Resolution(600, 600))
        .add_text("printer-info", "Gateway", TextWithLanguage("Passerelle", "fr"))
        .add_name("printer-location", NameWithLanguage("Büro", "de"))
        .add_uri("printer-uri-supported", "ipp://h/ipp/print")
        .add_uri_scheme("reference-uri-schemes-supported", "http")
        .add_charset("charset-supported", "utf-8")
        .add_natural_language("generated-natural-language-supported", "en")
        .add_mime_media_type("document-format-supported", "text/plain", "application/pdf")
        .add_octet_string("printer-alert", b"code=other")
        .add_datetime("printer-current-time", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        .add_out_of_band("media-default", OutOfBand.NO_VALUE)
        .add("printer-geo-location", ValueTag.UNKNOWN)
        .add_collection("media-col-default", Collection().add_keyword("media-source", "main"))
    )
    decoded, _ = decode(encode(response))
    assert decoded == response
    assert decoded.status_code is StatusCode.SUCCESSFUL_OK
    assert decoded.value(DelimiterTag.PRINTER_ATTRIBUTES, "printer-state") == 3
    info = decoded.get(DelimiterTag.PRINTER_ATTRIBUTES, "printer-info")
    assert info is not None
    assert [v.tag for v in info.values] == [
        ValueTag.TEXT_WITHOUT_LANGUAGE,
        ValueTag.TEXT_WITH_LANGUAGE,
    ]
    assert (
        decoded.value(DelimiterTag.PRINTER_ATTRIBUTES, "printer-geo-location") is OutOfBand.UNKNOWN
    )
    assert decoded.value(DelimiterTag.PRINTER_ATTRIBUTES, "nope", "x") == "x"


def test_response_without_request() -> None:
    response = Message.response(
        None, StatusCode.SERVER_ERROR_VERSION_NOT_SUPPORTED, version=(3, 0), request_id=7
    )
    assert response.version == (3, 0)
    assert response.request_id == 7
    assert response.status_code is StatusCode.SERVER_ERROR_VERSION_NOT_SUPPORTED


def test_response_copies_request_language() -> None:
    request = Message.request(Operation.GET_JOBS, natural_language="fr-CA")
    assert Message.response(request).operation.value("attributes-natural-language") == "fr-CA"


def test_lookup_helpers() -> None:
    message = Message(operation_id_or_status=0x0A, request_id=1)
    assert message.group(DelimiterTag.JOB_ATTRIBUTES) is None
    op = message.operation  # created on demand
    assert message.groups == [op]
    op.add_keyword("requested-attributes", "job-id", "job-uri")
    assert "requested-attributes" in op
    assert "missing" not in op
    assert op.values("requested-attributes") == ["job-id", "job-uri"]
    assert op.values("missing") == []
    with pytest.raises(KeyError):
        op["missing"]
    op.set("requested-attributes", ValueTag.KEYWORD, "all")
    assert op.values("requested-attributes") == ["all"]
    op.set("limit", ValueTag.INTEGER, 5)
    assert op.names() == ["requested-attributes", "limit"]
    assert op.remove("limit")
    assert not op.remove("limit")
    assert len(op) == 1
    assert [a.name for a in op] == ["requested-attributes"]
    assert message.operation_id is Operation.GET_JOBS
    assert Message(operation_id_or_status=0x7777, request_id=1).operation_id == 0x7777


def test_operation_and_status_names() -> None:
    assert Operation.GET_PRINTER_ATTRIBUTES.ipp_name == "Get-Printer-Attributes"
    assert Operation.CUPS_GET_PRINTERS.ipp_name == "CUPS-Get-Printers"
    assert StatusCode.CLIENT_ERROR_NOT_FOUND.keyword == "client-error-not-found"
    assert StatusCode.SUCCESSFUL_OK_IGNORED_OR_SUBSTITUTED_ATTRIBUTES.is_successful
    assert not StatusCode.CLIENT_ERROR_BAD_REQUEST.is_successful
    assert OutOfBand.NO_VALUE.keyword == "no-value"


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (ValueTag.INTEGER, True),
        (ValueTag.INTEGER, "1"),
        (ValueTag.BOOLEAN, 1),
        (ValueTag.KEYWORD, b"x"),
        (ValueTag.TEXT, 5),
        (ValueTag.DATE_TIME, datetime(2020, 1, 1)),  # naive
        (ValueTag.BEG_COLLECTION, {}),
        (ValueTag.NO_VALUE, OutOfBand.UNKNOWN),
        (ValueTag.END_COLLECTION, b""),
        (ValueTag.MEMBER_ATTR_NAME, "x"),
        (0x5F, "not bytes"),
        (0x05, b""),
    ],
)
def test_value_type_checked_on_construction(tag: int, value: object) -> None:
    with pytest.raises(IppEncodeError):
        Value(tag, value)  # type: ignore[arg-type]


def _encode_one(attribute: Attribute) -> bytes:
    message = Message(operation_id_or_status=2, request_id=1)
    message.operation.append(attribute)
    return encode(message)


@pytest.mark.parametrize(
    "attribute",
    [
        Attribute("empty", []),
        Attribute("", [Value(ValueTag.INTEGER, 1)]),
        Attribute("bad name", [Value(ValueTag.INTEGER, 1)]),
        Attribute.of("i", ValueTag.INTEGER, 2**31),
        Attribute.of("t", ValueTag.TEXT, "x" * 32768),
        Attribute.of("o", ValueTag.OCTET_STRING, b"x" * 32768),
        Attribute.of("k", ValueTag.KEYWORD, "two words"),
        Attribute.of("k", ValueTag.KEYWORD, ""),
        Attribute.of("u", ValueTag.URI, "ipp://é"),
        Attribute.of("r", ValueTag.RANGE_OF_INTEGER, RangeOfInteger(5, 1)),
        Attribute.of("r", ValueTag.RESOLUTION, Resolution(1, 1, 256)),
        Attribute.of("x", ValueTag.EXTENSION, b"\x00"),
        Attribute.of("t", ValueTag.TEXT_WITH_LANGUAGE, TextWithLanguage("x", "é")),
        Attribute.of(
            "d", ValueTag.DATE_TIME, datetime(2020, 1, 1, tzinfo=timezone(timedelta(seconds=30)))
        ),
        Attribute.of(
            "d", ValueTag.DATE_TIME, datetime(2020, 1, 1, tzinfo=timezone(timedelta(hours=15)))
        ),
        Attribute.of("c", ValueTag.BEG_COLLECTION, Collection([Attribute("m", [])])),
    ],
)
def test_encode_validates(attribute: Attribute) -> None:
    with pytest.raises(IppEncodeError):
        _encode_one(attribute)


def test_attribute_of_needs_values() -> None:
    with pytest.raises(IppEncodeError):
        Attribute.of("x", ValueTag.KEYWORD)


def test_encode_validates_header_and_groups() -> None:
    for message in [
        Message(version=(256, 0), operation_id_or_status=2, request_id=1),
        Message(operation_id_or_status=0x10000, request_id=1),
        Message(operation_id_or_status=2, request_id=2**31),
    ]:
        with pytest.raises(IppEncodeError):
            encode(message)
    for tag in (0x00, 0x03, 0x10):
        bad = Message(operation_id_or_status=2, request_id=1)
        bad.add_group(tag)
        with pytest.raises(IppEncodeError):
            encode(bad)


def test_one_set_of_uses_zero_length_names() -> None:
    message = Message(operation_id_or_status=2, request_id=1)
    message.operation.add_keyword("k", "a", "b")
    assert encode(message).endswith(b"\x44\x00\x01k\x00\x01a\x44\x00\x00\x00\x01b\x03")


def test_max_length_value_encodes() -> None:
    data = _encode_one(Attribute.of("o", ValueTag.OCTET_STRING, b"x" * 32767))
    assert decode(data)[0].operation.value("o") == b"x" * 32767
