"""Every rejection condition of the parser and the answer it carries."""

from __future__ import annotations

import pytest

from gateway.ipp import (
    IppDecodeError,
    IppUsageError,
    MessageParser,
    ParserLimits,
    StatusCode,
    ValueTag,
    decode,
)

from .wire import CHARSET, END, HEADER, OP, attr, int32, request

HTTP_400 = "http400"
BAD = StatusCode.CLIENT_ERROR_BAD_REQUEST
TOO_LARGE = StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE


def member(name: str, *values: bytes) -> bytes:
    return attr(ValueTag.MEMBER_ATTR_NAME, "", name.encode()) + b"".join(values)


BEG = attr(ValueTag.BEG_COLLECTION, "", b"")
ENDC = attr(ValueTag.END_COLLECTION, "", b"")
COLL = attr(ValueTag.BEG_COLLECTION, "media-col", b"")

CASES: dict[str, tuple[bytes, object]] = {
    # framing -> HTTP 400
    "attribute before any group": (HEADER + attr(ValueTag.KEYWORD, "a", b"b") + END, HTTP_400),
    "additional value before any attribute": (
        HEADER + OP + attr(ValueTag.KEYWORD, "", b"b") + END,
        HTTP_400,
    ),
    "additional value first in a new group": (
        HEADER + OP + CHARSET + b"\x02" + attr(ValueTag.KEYWORD, "", b"b") + END,
        HTTP_400,
    ),
    "delimiter 0x00": (HEADER + b"\x00" + END, HTTP_400),
    "integer of 2 bytes": (request(attr(ValueTag.INTEGER, "copies", b"\x00\x01")), HTTP_400),
    "enum of 5 bytes": (request(attr(ValueTag.ENUM, "s", b"\x00" * 5)), HTTP_400),
    "boolean of 2 bytes": (request(attr(ValueTag.BOOLEAN, "b", b"\x00\x01")), HTTP_400),
    "dateTime of 10 bytes": (
        request(attr(ValueTag.DATE_TIME, "t", b"\x07\xe8" + b"\x01" * 8)),
        HTTP_400,
    ),
    "resolution of 8 bytes": (request(attr(ValueTag.RESOLUTION, "r", b"\x00" * 8)), HTTP_400),
    "rangeOfInteger of 7 bytes": (
        request(attr(ValueTag.RANGE_OF_INTEGER, "r", b"\x00" * 7)),
        HTTP_400,
    ),
    "textWithLanguage under 4 bytes": (
        request(attr(ValueTag.TEXT_WITH_LANGUAGE, "t", b"\x00\x00\x00")),
        HTTP_400,
    ),
    "textWithLanguage language overflows": (
        request(attr(ValueTag.TEXT_WITH_LANGUAGE, "t", b"\x00\x09en\x00\x00")),
        HTTP_400,
    ),
    "nameWithLanguage text length mismatch": (
        request(attr(ValueTag.NAME_WITH_LANGUAGE, "n", b"\x00\x02en\x00\x05abc")),
        HTTP_400,
    ),
    "extension shorter than 4 bytes": (request(attr(0x7F, "x", b"\x00\x01")), HTTP_400),
    "memberAttrName outside a collection": (request(member("x")), HTTP_400),
    "endCollection outside a collection": (request(ENDC), HTTP_400),
    "begCollection with a value": (request(attr(ValueTag.BEG_COLLECTION, "c", b"x")), HTTP_400),
    "endCollection with a value": (
        request(COLL, attr(ValueTag.END_COLLECTION, "", b"x")),
        HTTP_400,
    ),
    "endCollection with a name": (request(COLL, attr(ValueTag.END_COLLECTION, "n", b"")), HTTP_400),
    "memberAttrName with a name": (
        request(COLL, attr(ValueTag.MEMBER_ATTR_NAME, "n", b"m")),
        HTTP_400,
    ),
    "empty memberAttrName": (
        request(COLL, attr(ValueTag.MEMBER_ATTR_NAME, "", b""), ENDC),
        HTTP_400,
    ),
    "two memberAttrNames in a row": (request(COLL, member("a"), member("b"), ENDC), HTTP_400),
    "memberAttrName without value at end": (request(COLL, member("a"), ENDC), HTTP_400),
    "member value without memberAttrName": (
        request(COLL, attr(ValueTag.INTEGER, "", int32(1)), ENDC),
        HTTP_400,
    ),
    "named attribute inside a collection": (
        request(COLL, attr(ValueTag.INTEGER, "x", int32(1)), ENDC),
        HTTP_400,
    ),
    "group tag inside a collection": (
        HEADER + OP + CHARSET + COLL + b"\x02" + ENDC + END,
        HTTP_400,
    ),
    "end tag inside a collection": (HEADER + OP + CHARSET + COLL + END, HTTP_400),
    "nesting deeper than 16": (
        request(COLL, *(member("m", BEG) for _ in range(16)), *(ENDC for _ in range(17))),
        HTTP_400,
    ),
    # value content -> client-error-bad-request
    "boolean 2": (request(attr(ValueTag.BOOLEAN, "b", b"\x02")), BAD),
    "text not UTF-8": (request(attr(ValueTag.TEXT, "job-message", b"\xff\xfe")), BAD),
    "name not UTF-8": (request(attr(ValueTag.NAME, "job-name", b"caf\xe9")), BAD),
    "nameWithLanguage text not UTF-8": (
        request(attr(ValueTag.NAME_WITH_LANGUAGE, "n", b"\x00\x02en\x00\x01\xff")),
        BAD,
    ),
    "keyword not ASCII": (request(attr(ValueTag.KEYWORD, "sides", "één".encode())), BAD),
    "keyword with a space": (request(attr(ValueTag.KEYWORD, "sides", b"one sided")), BAD),
    "empty keyword": (request(attr(ValueTag.KEYWORD, "sides", b"")), BAD),
    "uri not ASCII": (request(attr(ValueTag.URI, "printer-uri", "ipp://é/".encode())), BAD),
    "mimeMediaType with control char": (
        request(attr(ValueTag.MIME_MEDIA_TYPE, "f", b"text\n")),
        BAD,
    ),
    "attribute name not ASCII": (
        request(attr(ValueTag.KEYWORD, "n\xc3\xa9".encode("latin-1"), b"a")),
        BAD,
    ),
    "dateTime month 13": (
        request(attr(ValueTag.DATE_TIME, "t", bytes.fromhex("07e80d06070809002b0000"))),
        BAD,
    ),
    "dateTime direction byte": (
        request(attr(ValueTag.DATE_TIME, "t", bytes.fromhex("07e8050607080900200000"))),
        BAD,
    ),
    "dateTime year 0": (
        request(attr(ValueTag.DATE_TIME, "t", bytes.fromhex("00000506070809002b0000"))),
        BAD,
    ),
    "rangeOfInteger lower > upper": (
        request(attr(ValueTag.RANGE_OF_INTEGER, "r", int32(5) + int32(1))),
        BAD,
    ),
    # charset
    "charset iso-8859-1": (
        HEADER + OP + attr(ValueTag.CHARSET, "attributes-charset", b"iso-8859-1") + END,
        StatusCode.CLIENT_ERROR_CHARSET_NOT_SUPPORTED,
    ),
}


def _error(data: bytes, limits: ParserLimits | None = None) -> IppDecodeError:
    with pytest.raises(IppDecodeError) as info:
        decode(data, limits)
    return info.value


@pytest.mark.parametrize("case", list(CASES))
def test_rejection(case: str) -> None:
    data, expected = CASES[case]
    error = _error(data)
    if expected == HTTP_400:
        assert error.http_status == 400
        assert error.status is None
    else:
        assert error.status == expected
        assert error.http_status is None
    assert error.version == (2, 0)
    assert error.request_id == 1
    assert 0 <= error.offset <= len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        HEADER[:5],
        HEADER,
        HEADER + OP + CHARSET,
        HEADER + OP + CHARSET[:10],
        request(attr(ValueTag.KEYWORD, "x", b"abc"))[:-3],
    ],
)
def test_truncated_is_http_400(data: bytes) -> None:
    error = _error(data)
    assert error.http_status == 400
    if len(data) < 8:
        assert error.request_id is None


def test_nesting_at_the_limit_is_fine() -> None:
    data = request(COLL, *(member("m", BEG) for _ in range(15)), *(ENDC for _ in range(16)))
    decode(data)


def test_max_header_bytes() -> None:
    data = request(attr(ValueTag.TEXT, "t", b"x" * 200))
    error = _error(data, ParserLimits(max_header_bytes=100))
    assert error.status == TOO_LARGE
    decode(data, ParserLimits(max_header_bytes=len(data)))


def test_max_header_bytes_does_not_count_document() -> None:
    data = request()
    _, tail = decode(data + b"x" * 1000, ParserLimits(max_header_bytes=len(data)))
    assert len(tail) == 1000


def test_max_header_bytes_hit_while_waiting_for_data() -> None:
    parser = MessageParser(ParserLimits(max_header_bytes=64))
    with pytest.raises(IppDecodeError) as info:
        parser.feed(HEADER + OP + CHARSET[:40] + b"\x41\x00\x01t\x7f\xff")
    assert info.value.status == TOO_LARGE


def test_max_attributes_and_values() -> None:
    many = request(*(attr(ValueTag.INTEGER, f"a{i}", int32(i)) for i in range(10)))
    assert _error(many, ParserLimits(max_attributes=5)).status == TOO_LARGE
    values = request(
        attr(ValueTag.INTEGER, "a", int32(0)),
        *(attr(ValueTag.INTEGER, "", int32(i)) for i in range(10)),
    )
    assert _error(values, ParserLimits(max_values=5)).status == TOO_LARGE


def test_max_value_length() -> None:
    data = request(attr(ValueTag.OCTET_STRING, "o", b"x" * 40000))
    assert _error(data).http_status == 400
    decode(data, ParserLimits(max_value_length=65535, max_header_bytes=10**6))
    long_name = request(attr(ValueTag.OCTET_STRING, "n" * 300, b"x"))
    assert _error(long_name, ParserLimits(max_value_length=255)).http_status == 400


def test_lenient_keywords() -> None:
    data = request(attr(ValueTag.KEYWORD, "media", b"Custom Size"))
    assert _error(data).status == BAD
    message, _ = decode(data, ParserLimits(strict_keywords=False))
    assert message.operation.value("media") == "Custom Size"


def test_error_is_sticky_and_feeding_after_done_is_misuse() -> None:
    parser = MessageParser()
    with pytest.raises(IppDecodeError) as first:
        parser.feed(HEADER + b"\x00")
    with pytest.raises(IppDecodeError) as second:
        parser.feed(b"more")
    assert second.value is first.value
    with pytest.raises(IppDecodeError):
        parser.close()

    parser = MessageParser()
    assert parser.feed(request()) is not None
    assert parser.done
    with pytest.raises(IppUsageError):
        parser.feed(b"x")
    assert parser.close() is parser.message


def test_limits_validate_on_construction() -> None:
    with pytest.raises(ValueError):
        ParserLimits(max_depth=0)
    with pytest.raises(ValueError):
        ParserLimits(max_value_length=70000)


def test_error_str_names_the_answer() -> None:
    assert "HTTP 400" in str(_error(HEADER + b"\x00"))
    assert "client-error-bad-request" in str(_error(request(attr(ValueTag.BOOLEAN, "b", b"\x05"))))
