"""Hand-made wire bytes for the IPP codec tests."""

from __future__ import annotations

import struct

HEADER = bytes.fromhex("0200000b00000001")
"""IPP/2.0 Get-Printer-Attributes, request-id 1."""

OP = b"\x01"
END = b"\x03"
CHARSET = (
    b"\x47\x00\x12attributes-charset\x00\x05utf-8\x48\x00\x1battributes-natural-language\x00\x02en"
)


def attr(tag: int, name: str | bytes, value: bytes) -> bytes:
    """One attribute item: tag, name-length, name, value-length, value."""
    raw = name.encode() if isinstance(name, str) else name
    return bytes((tag,)) + struct.pack(">H", len(raw)) + raw + struct.pack(">H", len(value)) + value


def request(*items: bytes) -> bytes:
    """Header, operation group with charset/language, the items, end tag."""
    return HEADER + OP + CHARSET + b"".join(items) + END


def int32(value: int) -> bytes:
    return struct.pack(">i", value)
