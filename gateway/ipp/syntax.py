"""Value bytes <-> Python values, one place for every value syntax.

Why: the encoder and the parser must agree byte for byte on each syntax
(RFC 8010 section 3.9); keeping both directions side by side makes that easy
to check. Collections are structure, not a syntax, and live in the encoder and
parser. Decoding raises `SyntaxProblem`, which the parser turns into an
`IppDecodeError` with the right answer (framing -> HTTP 400, else bad-request).
"""

from __future__ import annotations

import re
import struct
from datetime import datetime, timedelta, timezone
from typing import TypeAlias

from .errors import IppEncodeError
from .tags import ASCII_STRING_TAGS, OUT_OF_BAND_TAGS, UTF8_STRING_TAGS, ValueTag
from .values import NameWithLanguage, OutOfBand, RangeOfInteger, Resolution, TextWithLanguage

ScalarValue: TypeAlias = (
    int
    | bool
    | str
    | bytes
    | datetime
    | Resolution
    | RangeOfInteger
    | TextWithLanguage
    | NameWithLanguage
    | OutOfBand
)
"""What one non-collection value decodes to."""

MAX_VALUE_LENGTH = 32767
"""Largest value (and name) this codec reads or writes (CUPS ``IPP_MAX_LENGTH``)."""

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

_INT = struct.Struct(">i")
_RESOLUTION = struct.Struct(">iiB")
_RANGE = struct.Struct(">ii")
_DATETIME = struct.Struct(">HBBBBBBcBB")
_KEYWORD = re.compile(rb"[A-Za-z0-9._-]+\Z")
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]*\Z")

_FIXED_SIZES = {
    ValueTag.INTEGER: 4,
    ValueTag.ENUM: 4,
    ValueTag.BOOLEAN: 1,
    ValueTag.DATE_TIME: 11,
    ValueTag.RESOLUTION: 9,
    ValueTag.RANGE_OF_INTEGER: 8,
}


class SyntaxProblem(Exception):
    """A value that cannot be decoded; `framing` says the bytes themselves are wrong."""

    def __init__(self, message: str, *, framing: bool) -> None:
        super().__init__(message)
        self.framing = framing


# -- encoding --------------------------------------------------------------


def _int32(value: int, what: str) -> bytes:
    if not INT32_MIN <= value <= INT32_MAX:
        raise IppEncodeError(f"{what} {value} does not fit in a signed 32-bit integer")
    return _INT.pack(value)


def _with_language(text: str, language: str) -> bytes:
    lang = _ascii(language, "language")
    data = text.encode("utf-8")
    if len(lang) > MAX_VALUE_LENGTH or len(data) > MAX_VALUE_LENGTH:
        raise IppEncodeError("textWithLanguage part too long")
    return struct.pack(">H", len(lang)) + lang + struct.pack(">H", len(data)) + data


def _ascii(text: str, what: str) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise IppEncodeError(f"{what} {text!r} must be US-ASCII") from None


def encode_datetime(value: datetime) -> bytes:
    """RFC 2579 DateAndTime, 11 octets; sub-decisecond precision is dropped."""
    offset = value.utcoffset()
    if offset is None:
        raise IppEncodeError("dateTime needs a timezone-aware datetime")
    seconds = offset.total_seconds()
    if seconds % 60:
        raise IppEncodeError("dateTime UTC offset must be whole minutes")
    minutes = int(seconds // 60)
    direction = b"+" if minutes >= 0 else b"-"
    hours, mins = divmod(abs(minutes), 60)
    if hours > 14:
        raise IppEncodeError("dateTime UTC offset out of range")
    return _DATETIME.pack(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 100_000,
        direction,
        hours,
        mins,
    )


def encode_value(tag: int, value: object) -> bytes:
    """The value bytes (without tag or length) of a non-collection value."""
    if tag in (ValueTag.INTEGER, ValueTag.ENUM):
        assert isinstance(value, int)
        data = _int32(value, "integer")
    elif tag == ValueTag.BOOLEAN:
        data = b"\x01" if value else b"\x00"
    elif tag in OUT_OF_BAND_TAGS:
        data = b""
    elif isinstance(value, str):
        data = value.encode("utf-8") if tag in UTF8_STRING_TAGS else _ascii(value, "value")
        if tag == ValueTag.KEYWORD and not _KEYWORD.match(data):
            raise IppEncodeError(f"keyword {value!r} is not [A-Za-z0-9._-]+")
    elif isinstance(value, datetime):
        data = encode_datetime(value)
    elif isinstance(value, Resolution):
        _int32(value.x, "resolution")
        _int32(value.y, "resolution")
        if not 0 <= value.units <= 255:
            raise IppEncodeError("resolution units must fit in one byte")
        data = _RESOLUTION.pack(value.x, value.y, value.units)
    elif isinstance(value, RangeOfInteger):
        if value.lower > value.upper:
            raise IppEncodeError(f"rangeOfInteger lower > upper: {value}")
        data = _int32(value.lower, "range") + _int32(value.upper, "range")
    elif isinstance(value, TextWithLanguage | NameWithLanguage):
        data = _with_language(value.text, value.language)
    elif isinstance(value, bytes):
        if tag == ValueTag.EXTENSION and len(value) < 4:
            raise IppEncodeError("extension (0x7F) value needs its 4-octet type first")
        data = value
    else:  # pragma: no cover - Value validated the type
        raise IppEncodeError(f"cannot encode {value!r} with tag 0x{tag:02x}")
    if len(data) > MAX_VALUE_LENGTH:
        raise IppEncodeError(f"value of {len(data)} bytes is over {MAX_VALUE_LENGTH}")
    return data


# -- decoding --------------------------------------------------------------


def decode_ascii(data: bytes, what: str, *, keyword: bool) -> str:
    """A US-ASCII string; keywords must match CUPS's ``[A-Za-z0-9._-]+``."""
    pattern = _KEYWORD if keyword else _PRINTABLE_ASCII
    if not pattern.match(data):
        raise SyntaxProblem(
            f"{what} {data[:40]!r} has characters its syntax forbids", framing=False
        )
    return data.decode("ascii")


def decode_utf8(data: bytes, what: str) -> str:
    """A string in the attributes-charset (UTF-8)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SyntaxProblem(f"{what} is not valid UTF-8", framing=False) from None


def decode_datetime(data: bytes) -> datetime:
    """RFC 2579 DateAndTime; a leap second (60) is read as 59."""
    year, month, day, hour, minute, second, decis, direction, oh, om = _DATETIME.unpack(data)
    if direction not in (b"+", b"-") or second > 60 or decis > 9 or oh > 14 or om > 59:
        raise SyntaxProblem("dateTime field out of range", framing=False)
    offset = timedelta(hours=oh, minutes=om)
    try:
        return datetime(
            year,
            month,
            day,
            hour,
            minute,
            min(second, 59),
            decis * 100_000,
            tzinfo=timezone(-offset if direction == b"-" else offset),
        )
    except ValueError as exc:
        raise SyntaxProblem(f"dateTime invalid: {exc}", framing=False) from None


def _decode_with_language(tag: int, data: bytes) -> TextWithLanguage | NameWithLanguage:
    if len(data) < 4:
        raise SyntaxProblem("textWithLanguage/nameWithLanguage under 4 bytes", framing=True)
    (lang_len,) = struct.unpack_from(">H", data, 0)
    if 2 + lang_len + 2 > len(data):
        raise SyntaxProblem("language length overflows the value", framing=True)
    (text_len,) = struct.unpack_from(">H", data, 2 + lang_len)
    if 4 + lang_len + text_len != len(data):
        raise SyntaxProblem("text length does not match the value length", framing=True)
    language = decode_ascii(data[2 : 2 + lang_len], "language", keyword=False)
    text = decode_utf8(data[4 + lang_len :], "text")
    if tag == ValueTag.TEXT_WITH_LANGUAGE:
        return TextWithLanguage(text, language)
    return NameWithLanguage(text, language)


def decode_value(tag: int, data: bytes, *, strict_keywords: bool = True) -> ScalarValue:
    """The Python value of a non-collection value with `tag` and bytes `data`.

    Out-of-band values with data (seen from some printers) keep the tag and
    drop the bytes. Unknown tags come back as the raw bytes.
    """
    size = _FIXED_SIZES.get(tag)  # type: ignore[call-overload]
    if size is not None and len(data) != size:
        raise SyntaxProblem(
            f"{ValueTag(tag).name} value is {len(data)} bytes, not {size}", framing=True
        )
    if tag in (ValueTag.INTEGER, ValueTag.ENUM):
        return int(_INT.unpack(data)[0])
    if tag == ValueTag.BOOLEAN:
        if data not in (b"\x00", b"\x01"):
            raise SyntaxProblem(f"boolean value {data!r} is not 0 or 1", framing=False)
        return data == b"\x01"
    if tag in OUT_OF_BAND_TAGS:
        return OutOfBand(tag)
    if tag in UTF8_STRING_TAGS:
        return decode_utf8(data, ValueTag(tag).name)
    if tag in ASCII_STRING_TAGS:
        keyword = tag == ValueTag.KEYWORD and strict_keywords
        return decode_ascii(data, ValueTag(tag).name, keyword=keyword)
    if tag == ValueTag.DATE_TIME:
        return decode_datetime(data)
    if tag == ValueTag.RESOLUTION:
        x, y, units = _RESOLUTION.unpack(data)
        return Resolution(x, y, units)
    if tag == ValueTag.RANGE_OF_INTEGER:
        lower, upper = _RANGE.unpack(data)
        if lower > upper:
            raise SyntaxProblem(f"rangeOfInteger {lower} > {upper}", framing=False)
        return RangeOfInteger(lower, upper)
    if tag in (ValueTag.TEXT_WITH_LANGUAGE, ValueTag.NAME_WITH_LANGUAGE):
        return _decode_with_language(tag, data)
    if tag == ValueTag.EXTENSION and len(data) < 4:
        raise SyntaxProblem("extension (0x7F) value shorter than its 4-octet type", framing=True)
    return bytes(data)
