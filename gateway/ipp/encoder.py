"""Message -> bytes (RFC 8010 section 3).

Why: the encoder writes exactly what the model holds, in order: additional
values of an attribute use the zero-length-name form (1setOf), collections use
begCollection / memberAttrName / endCollection (RFC 8010 section 3.1.6), and
everything is checked (lengths <= 32767, value types, header ranges) so a bad
message fails here with `IppEncodeError` instead of on a peer.
"""

from __future__ import annotations

import re
import struct

from .attributes import Attribute, Collection, Group
from .errors import IppEncodeError
from .message import Message
from .syntax import MAX_VALUE_LENGTH, encode_value
from .tags import DelimiterTag, ValueTag

_NAME = re.compile(r"[\x21-\x7e]+\Z")
_LENGTH = struct.Struct(">H")
_HEADER = struct.Struct(">BBHi")

MAX_COLLECTION_DEPTH = 64
"""Nesting depth the encoder refuses beyond (a cycle guard more than a limit)."""


def _check_name(name: str) -> bytes:
    if not _NAME.match(name) or len(name) > MAX_VALUE_LENGTH:
        raise IppEncodeError(f"attribute name {name!r} must be 1..32767 printable US-ASCII")
    return name.encode("ascii")


def _write_value(out: bytearray, tag: int, name: bytes, value: object, depth: int) -> None:
    if isinstance(value, Collection):
        if depth >= MAX_COLLECTION_DEPTH:
            raise IppEncodeError("collections nested too deeply (or a cycle)")
        out += bytes((ValueTag.BEG_COLLECTION,)) + _LENGTH.pack(len(name)) + name + b"\x00\x00"
        for member in value:
            member_name = _check_name(member.name)
            out += bytes((ValueTag.MEMBER_ATTR_NAME,)) + b"\x00\x00"
            out += _LENGTH.pack(len(member_name)) + member_name
            _write_values(out, member, b"", depth + 1)
        out += bytes((ValueTag.END_COLLECTION,)) + b"\x00\x00\x00\x00"
        return
    data = encode_value(tag, value)
    out += bytes((tag,)) + _LENGTH.pack(len(name)) + name + _LENGTH.pack(len(data)) + data


def _write_values(out: bytearray, attribute: Attribute, name: bytes, depth: int) -> None:
    if not attribute.values:
        raise IppEncodeError(f"attribute {attribute.name!r} has no values")
    for i, value in enumerate(attribute.values):
        _write_value(out, value.tag, name if i == 0 else b"", value.value, depth)


def encode_group(out: bytearray, group: Group) -> None:
    """Append one group (delimiter and attributes) to `out`."""
    if not 0x01 <= group.tag <= 0x0F or group.tag == DelimiterTag.END_OF_ATTRIBUTES:
        raise IppEncodeError(f"0x{group.tag:02x} is not a begin-attribute-group tag")
    out.append(group.tag)
    for attribute in group:
        _write_values(out, attribute, _check_name(attribute.name), 0)


def encode(message: Message) -> bytes:
    """The bytes of `message` up to and including end-of-attributes-tag.

    Document data, if any, is sent by the caller right after these bytes.
    Raises `IppEncodeError` for anything that cannot go on the wire.
    """
    major, minor = message.version
    if not (0 <= major <= 255 and 0 <= minor <= 255):
        raise IppEncodeError(f"version {message.version} does not fit in two bytes")
    if not 0 <= message.operation_id_or_status <= 0xFFFF:
        raise IppEncodeError("operation-id / status-code must fit in 16 bits")
    if not -(2**31) <= message.request_id <= 2**31 - 1:
        raise IppEncodeError("request-id must fit in a signed 32-bit integer")
    out = bytearray(_HEADER.pack(major, minor, message.operation_id_or_status, message.request_id))
    for group in message.groups:
        encode_group(out, group)
    out.append(DelimiterTag.END_OF_ATTRIBUTES)
    return bytes(out)
