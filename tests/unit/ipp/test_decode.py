"""Byte-exact decoding of the examples in reference/ipp.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.ipp import (
    Collection,
    DelimiterTag,
    Message,
    NameWithLanguage,
    Operation,
    OutOfBand,
    RangeOfInteger,
    Resolution,
    TextWithLanguage,
    ValueTag,
    decode,
    encode,
)

from .wire import CHARSET, END, HEADER, OP, attr, int32, request

# reference/ipp.md section 1.8: ipptool -C Get-Printer-Attributes (attributes part).
WORKED_EXAMPLE = (
    bytes.fromhex("0101000b000179d3")
    + b"\x01"
    + b"\x47\x00\x12attributes-charset\x00\x05utf-8"
    + b"\x48\x00\x1battributes-natural-language\x00\x02en"
    + b"\x45\x00\x0bprinter-uri\x00\x1fipp://127.0.0.1:18700/ipp/print"
    + b"\x44\x00\x14requested-attributes\x00\x0dprinter-state"
    + b"\x44\x00\x00\x00\x0cprinter-name"
    + b"\x03"
)

# reference/ipp.md section 1.6: media-col collection.
MEDIA_COL = (
    b"\x34\x00\x09media-col\x00\x00"
    b"\x4a\x00\x00\x00\x0amedia-size"
    b"\x34\x00\x00\x00\x00"
    b"\x4a\x00\x00\x00\x0bx-dimension"
    b"\x21\x00\x00\x00\x04\x00\x00\x52\x08"
    b"\x4a\x00\x00\x00\x0by-dimension"
    b"\x21\x00\x00\x00\x04\x00\x00\x74\x04"
    b"\x37\x00\x00\x00\x00"
    b"\x4a\x00\x00\x00\x0cmedia-source"
    b"\x44\x00\x00\x00\x04main"
    b"\x37\x00\x00\x00\x00"
)


def test_worked_example_section_1_8() -> None:
    message, tail = decode(WORKED_EXAMPLE)
    assert tail == b""
    assert message.version == (1, 1)
    assert message.operation_id is Operation.GET_PRINTER_ATTRIBUTES
    assert message.request_id == 0x179D3
    assert len(message.groups) == 1
    op = message.operation
    assert op.tag is DelimiterTag.OPERATION_ATTRIBUTES
    assert op.names() == [
        "attributes-charset",
        "attributes-natural-language",
        "printer-uri",
        "requested-attributes",
    ]
    assert op["attributes-charset"].tag == ValueTag.CHARSET
    assert op.value("attributes-natural-language") == "en"
    assert op.value("printer-uri") == "ipp://127.0.0.1:18700/ipp/print"
    requested = message.get(DelimiterTag.OPERATION_ATTRIBUTES, "requested-attributes")
    assert requested is not None
    assert requested.python_values == ["printer-state", "printer-name"]
    assert [v.tag for v in requested.values] == [ValueTag.KEYWORD, ValueTag.KEYWORD]
    assert encode(message) == WORKED_EXAMPLE


def test_worked_example_built_by_hand_encodes_byte_exact() -> None:
    message = Message.request(
        Operation.GET_PRINTER_ATTRIBUTES,
        0x179D3,
        version=(1, 1),
        printer_uri="ipp://127.0.0.1:18700/ipp/print",
    )
    message.operation.add_keyword("requested-attributes", "printer-state", "printer-name")
    assert encode(message) == WORKED_EXAMPLE


def test_collection_example_section_1_6() -> None:
    message, _ = decode(HEADER + b"\x02" + MEDIA_COL + END)
    media_col = message.value(DelimiterTag.JOB_ATTRIBUTES, "media-col")
    assert isinstance(media_col, Collection)
    size = media_col.value("media-size")
    assert isinstance(size, Collection)
    assert size.value("x-dimension") == 21000
    assert size.value("y-dimension") == 29700
    assert media_col.value("media-source") == "main"
    expected = Collection().add_collection(
        "media-size",
        Collection().add_integer("x-dimension", 21000).add_integer("y-dimension", 29700),
    )
    expected.add_keyword("media-source", "main")
    assert media_col == expected
    built = Message(operation_id_or_status=0x0B, request_id=1)
    built.add_group(DelimiterTag.JOB_ATTRIBUTES).add_collection("media-col", expected)
    assert encode(built) == HEADER + b"\x02" + MEDIA_COL + END


def test_one_set_of_collections() -> None:
    one = Collection().add_keyword("media-source", "main")
    two = Collection().add_keyword("media-source", "manual")
    message = Message(operation_id_or_status=0, request_id=1)
    message.add_group(DelimiterTag.PRINTER_ATTRIBUTES).add_collection("media-col-ready", one, two)
    data = encode(message)
    assert b"\x34\x00\x00\x00\x00\x4a" in data  # second collection: name-length 0
    decoded, _ = decode(data)
    ready = decoded.get(DelimiterTag.PRINTER_ATTRIBUTES, "media-col-ready")
    assert ready is not None
    assert ready.python_values == [one, two]


def test_fixed_size_examples_section_1_5() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    items = [
        attr(ValueTag.DATE_TIME, "printer-current-time", bytes.fromhex("07e80506070809002b0000")),
        attr(
            ValueTag.RESOLUTION, "printer-resolution-default", bytes.fromhex("000002580000025803")
        ),
        attr(ValueTag.NAME_WITH_LANGUAGE, "job-name", b"\x00\x02fr\x00\x07Bonjour"),
        attr(ValueTag.TEXT_WITH_LANGUAGE, "job-message", b"\x00\x05de-CH\x00\x03\xc3\xa4h"),
        attr(ValueTag.RANGE_OF_INTEGER, "copies-supported", int32(1) + int32(999)),
        attr(ValueTag.NO_VALUE, "media-default", b""),
        attr(ValueTag.BOOLEAN, "color-supported", b"\x01"),
        attr(ValueTag.ENUM, "printer-state", int32(3)),
        attr(ValueTag.INTEGER, "neg", int32(-5)),
        attr(ValueTag.OCTET_STRING, "printer-alert", b"code=other"),
    ]
    data = request(*items)
    message, _ = decode(data)
    op = message.operation
    assert op.value("printer-current-time") == when
    assert op.value("printer-resolution-default") == Resolution(600, 600, 3)
    assert op.value("job-name") == NameWithLanguage("Bonjour", "fr")
    assert op.value("job-message") == TextWithLanguage("äh", "de-CH")
    assert op.value("copies-supported") == RangeOfInteger(1, 999)
    assert op.value("media-default") is OutOfBand.NO_VALUE
    assert op.value("color-supported") is True
    assert op.value("printer-state") == 3
    assert op.value("neg") == -5
    assert op.value("printer-alert") == b"code=other"
    assert encode(message) == data


def test_datetime_offsets_and_deciseconds() -> None:
    data = request(attr(ValueTag.DATE_TIME, "t", bytes.fromhex("07e80506070809052d0530")))
    value = decode(data)[0].operation.value("t")
    assert isinstance(value, datetime)
    assert value.utcoffset() == -timedelta(hours=5, minutes=48)
    assert value.microsecond == 500_000
    assert encode(decode(data)[0]) == data


def test_leap_second_reads_as_59() -> None:
    data = request(attr(ValueTag.DATE_TIME, "t", bytes.fromhex("07e805060708" + "3c" + "002b0000")))
    value = decode(data)[0].operation.value("t")
    assert isinstance(value, datetime)
    assert value.second == 59


def test_unknown_tags_round_trip_raw() -> None:
    data = request(
        attr(0x5F, "vendor", b"\x01\x02"),
        attr(0x7F, "extended", b"\x40\x00\x00\x01xyz"),
        attr(0x14, "reserved-oob", b""),
    )
    message, _ = decode(data)
    op = message.operation
    assert op["vendor"].tag == 0x5F
    assert op.value("vendor") == b"\x01\x02"
    assert op["extended"].tag == ValueTag.EXTENSION
    assert op.value("extended") == b"\x40\x00\x00\x01xyz"
    assert op.value("reserved-oob") == b""
    assert encode(message) == data


def test_out_of_band_with_data_is_tolerated() -> None:
    """Some printers send bytes with out-of-band tags; CUPS copes, so do we."""
    message, _ = decode(request(attr(ValueTag.UNKNOWN, "printer-geo-location", b"junk")))
    assert message.operation.value("printer-geo-location") is OutOfBand.UNKNOWN


def test_mixed_tags_in_one_set_of() -> None:
    data = request(
        attr(ValueTag.KEYWORD, "job-sheets", b"none"),
        attr(ValueTag.NAME_WITHOUT_LANGUAGE, "", b"My Banner"),
    )
    message, _ = decode(data)
    sheets = message.operation["job-sheets"]
    assert [v.tag for v in sheets.values] == [ValueTag.KEYWORD, ValueTag.NAME_WITHOUT_LANGUAGE]
    assert encode(message) == data


def test_repeated_groups_and_empty_message() -> None:
    data = HEADER + OP + CHARSET + b"\x02" + attr(ValueTag.INTEGER, "job-id", int32(1))
    data += b"\x02" + attr(ValueTag.INTEGER, "job-id", int32(2)) + END
    message, _ = decode(data)
    jobs = message.groups_of(DelimiterTag.JOB_ATTRIBUTES)
    assert [g.value("job-id") for g in jobs] == [1, 2]
    assert encode(message) == data
    empty, tail = decode(HEADER + END + b"doc")
    assert empty.groups == []
    assert tail == b"doc"
