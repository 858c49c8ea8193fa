"""Incremental, bounded, strict IPP message parser (RFC 8010 section 3).

Why: an IPP request body is the attributes followed by document data that may
be gigabytes long, arriving in pieces of any size. The parser is fed bytes as
they come (`MessageParser.feed`), returns the `Message` once it has read the
end-of-attributes-tag and keeps the bytes after that tag, untouched, in
`MessageParser.tail`; the caller then streams the rest of the body itself.
Nothing after the end tag is ever buffered by the parser.

Theory of operation: the body is a header (8 bytes) and then a run of
*items*: a delimiter tag (1 byte) or an attribute item (tag, name-length,
name, value-length, value). The parser cuts whole items off the front of its
buffer; an incomplete item stays in the buffer until more bytes arrive, and
retrying it costs O(1) because both length fields are read before the body,
so a slow client cannot make parsing quadratic. Each item goes to one small
structural machine:

* top level: delimiter -> new group (or the end); named attribute -> new
  attribute; name-length 0 -> another value of the current attribute;
* inside a collection (a stack of open collections): memberAttrName opens a
  member, values with name-length 0 belong to it, begCollection (name-length
  0) nests, endCollection closes; nothing else is allowed.

Limits (`ParserLimits`) bound memory: bytes up to the end tag, attributes,
values, collection depth and value length. See `errors` for which condition
gives which answer (HTTP 400 or an IPP status).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from .attributes import Attribute, Collection, Group, Value
from .errors import IppDecodeError, IppEncodeError, IppUsageError
from .message import Message
from .status import StatusCode
from .syntax import MAX_VALUE_LENGTH, SyntaxProblem, decode_value
from .tags import DelimiterTag, ValueTag, tag_name

SUPPORTED_CHARSETS = frozenset({"utf-8", "us-ascii"})
"""attributes-charset values the parser accepts (text is decoded as UTF-8)."""

_NAME = re.compile(rb"[\x21-\x7e]+\Z")
_HEADER = struct.Struct(">BBHi")
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class ParserLimits:
    """Bounds on what one message may make the parser hold; validated on construction.

    * `max_header_bytes`: bytes from the start of the body up to and including
      end-of-attributes-tag (1 MiB; raise it to parse big printer responses).
    * `max_attributes`: named top-level attributes over all groups (2000).
    * `max_values`: all values, including extra values and collection members (65536).
    * `max_depth`: collection nesting depth (16; CUPS allows 10).
    * `max_value_length`: bytes of one name or value (32767, as CUPS).
    * `strict_keywords`: keywords must be ``[A-Za-z0-9._-]+`` (CUPS's rule);
      when False any printable US-ASCII is accepted (lenient client side).
    """

    max_header_bytes: int = 1024 * 1024
    max_attributes: int = 2000
    max_values: int = 65536
    max_depth: int = 16
    max_value_length: int = MAX_VALUE_LENGTH
    strict_keywords: bool = True

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "max_attributes", "max_values", "max_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"ParserLimits.{name} must be >= 1")
        if not 1 <= self.max_value_length <= 0xFFFF:
            raise ValueError("ParserLimits.max_value_length must be in 1..65535")


@dataclass(slots=True)
class _Frame:
    """One open collection: its members so far and the member being read."""

    collection: Collection
    member: Attribute | None = None
    pending_name: str | None = None


@dataclass(slots=True)
class _State:
    groups: list[Group] = field(default_factory=list)
    group: Group | None = None
    attribute: Attribute | None = None
    stack: list[_Frame] = field(default_factory=list)
    attributes: int = 0
    values: int = 0


class MessageParser:
    """Feed the bytes of one IPP message body; get the `Message` and the tail.

    ::

        parser = MessageParser()
        for chunk in body_chunks:
            message = parser.feed(chunk)
            if message is not None:
                first_document_bytes = parser.tail
                break          # stream the rest of the body yourself
        else:
            parser.close()     # end of body before the end tag: raises

    `feed` returns None until the end-of-attributes-tag has been read, then the
    `Message` (exactly once). Errors raise `IppDecodeError`; after one, every
    call raises the same error again. Feeding after the message is complete
    raises `IppUsageError`.
    """

    def __init__(self, limits: ParserLimits | None = None) -> None:
        self.limits = limits or ParserLimits()
        self._buffer = bytearray()
        self._offset = 0  # absolute offset of _buffer[0]
        self._header: tuple[int, int, int, int] | None = None
        self._state = _State()
        self._message: Message | None = None
        self._tail = b""
        self._error: IppDecodeError | None = None

    # -- public --------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once the end-of-attributes-tag has been read."""
        return self._message is not None

    @property
    def message(self) -> Message | None:
        """The parsed message once `done`, else None."""
        return self._message

    @property
    def tail(self) -> bytes:
        """The bytes fed after the end-of-attributes-tag (start of document data)."""
        return self._tail

    @property
    def header_bytes(self) -> int:
        """Bytes consumed so far; once `done`, the size of the attribute part."""
        return self._offset

    def feed(self, data: bytes | bytearray | memoryview) -> Message | None:
        """Add bytes; return the `Message` when it completes with this call, else None."""
        if self._error is not None:
            raise self._error
        if self._message is not None:
            raise IppUsageError("message already complete; the rest of the body is the caller's")
        self._buffer += data
        try:
            self._parse()
        except IppDecodeError as exc:
            self._error = exc
            self._buffer = bytearray()
            raise
        return self._message

    def close(self) -> Message:
        """Declare the end of the body: return the message or raise (truncated)."""
        if self._error is not None:
            raise self._error
        if self._message is None:
            self._error = self._fail(
                "message truncated before end-of-attributes-tag", self._offset + len(self._buffer)
            )
            raise self._error
        return self._message

    # -- machinery -----------------------------------------------------------

    def _fail(self, message: str, offset: int, status: StatusCode | None = None) -> IppDecodeError:
        header = self._header
        return IppDecodeError(
            message,
            status=status,
            http_status=None if status is not None else 400,
            offset=offset,
            version=None if header is None else (header[0], header[1]),
            request_id=None if header is None else header[3],
        )

    def _check_size(self, end: int) -> None:
        if self._offset + end > self.limits.max_header_bytes:
            raise self._fail(
                f"attributes longer than {self.limits.max_header_bytes} bytes",
                self._offset + end,
                StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE,
            )

    def _parse(self) -> None:
        buf = self._buffer
        pos = 0
        if self._header is None:
            if len(buf) < _HEADER.size:
                self._check_size(len(buf))
                return
            self._check_size(_HEADER.size)
            self._header = _HEADER.unpack_from(buf, 0)
            pos = _HEADER.size
        limit = self.limits.max_value_length
        while pos < len(buf):
            start = pos
            tag = buf[pos]
            if tag < 0x10:
                self._check_size(pos + 1)
                pos += 1
                if self._delimiter(tag, self._offset + start):
                    self._tail = bytes(buf[pos:])
                    self._offset += pos
                    self._buffer = bytearray()
                    return
                continue
            if len(buf) - pos < 3:
                break
            (name_len,) = _U16.unpack_from(buf, pos + 1)
            if name_len > limit:
                raise self._fail(f"name of {name_len} bytes is over {limit}", self._offset + pos)
            # Checked before the value length, whether or not the item is all
            # here yet, so the answer does not depend on how the bytes arrived.
            self._check_size(pos + 5 + name_len)
            if len(buf) - pos < 5 + name_len:
                break
            (value_len,) = _U16.unpack_from(buf, pos + 3 + name_len)
            if value_len > limit:
                raise self._fail(f"value of {value_len} bytes is over {limit}", self._offset + pos)
            end = pos + 5 + name_len + value_len
            self._check_size(end)
            if end > len(buf):
                break
            name = bytes(buf[pos + 3 : pos + 3 + name_len])
            value = bytes(buf[pos + 5 + name_len : end])
            pos = end
            self._item(tag, name, value, self._offset + start)
        del buf[:pos]
        self._offset += pos

    def _delimiter(self, tag: int, offset: int) -> bool:
        state = self._state
        if state.stack:
            raise self._fail(f"delimiter {tag_name(tag)} inside a collection", offset)
        if tag == 0x00:
            raise self._fail("delimiter tag 0x00 is reserved", offset)
        if tag == DelimiterTag.END_OF_ATTRIBUTES:
            assert self._header is not None
            major, minor, op, request_id = self._header
            self._message = Message(
                version=(major, minor),
                operation_id_or_status=op,
                request_id=request_id,
                groups=state.groups,
            )
            return True
        state.group = Group(tag)
        state.groups.append(state.group)
        state.attribute = None
        return False

    def _item(self, tag: int, name: bytes, data: bytes, offset: int) -> None:
        state = self._state
        if state.group is None:
            raise self._fail(f"attribute {name[:40]!r} before any attribute group", offset)
        if state.stack:
            target = self._member_item(tag, name, data, offset)
            if target is None:
                return
        else:
            if tag in (ValueTag.MEMBER_ATTR_NAME, ValueTag.END_COLLECTION):
                raise self._fail(f"{tag_name(tag)} outside a collection", offset)
            if name:
                state.attributes += 1
                if state.attributes > self.limits.max_attributes:
                    raise self._fail(
                        f"more than {self.limits.max_attributes} attributes",
                        offset,
                        StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE,
                    )
                state.attribute = Attribute(self._name(name, offset), [])
                state.group.append(state.attribute)
            elif state.attribute is None:
                raise self._fail("additional value (name-length 0) before any attribute", offset)
            target = state.attribute
        self._value(target, tag, data, offset)

    def _member_item(self, tag: int, name: bytes, data: bytes, offset: int) -> Attribute | None:
        frame = self._state.stack[-1]
        if name:
            raise self._fail(f"named attribute {name[:40]!r} inside a collection", offset)
        if tag == ValueTag.MEMBER_ATTR_NAME:
            if frame.pending_name is not None:
                raise self._fail("memberAttrName without a value", offset)
            if not data:
                raise self._fail("empty memberAttrName", offset)
            frame.pending_name = self._name(data, offset)
            frame.member = None
            return None
        if tag == ValueTag.END_COLLECTION:
            if data:
                raise self._fail("endCollection with a value", offset)
            if frame.pending_name is not None:
                raise self._fail("memberAttrName without a value before endCollection", offset)
            self._state.stack.pop()
            return None
        if frame.pending_name is not None:
            frame.member = Attribute(frame.pending_name, [])
            frame.collection.append(frame.member)
            frame.pending_name = None
        elif frame.member is None:
            raise self._fail("collection value without a memberAttrName", offset)
        return frame.member

    def _name(self, name: bytes, offset: int) -> str:
        if not _NAME.match(name):
            raise self._fail(
                f"name {name[:40]!r} is not printable US-ASCII",
                offset,
                StatusCode.CLIENT_ERROR_BAD_REQUEST,
            )
        return name.decode("ascii")

    def _value(self, target: Attribute, tag: int, data: bytes, offset: int) -> None:
        state = self._state
        state.values += 1
        if state.values > self.limits.max_values:
            raise self._fail(
                f"more than {self.limits.max_values} values",
                offset,
                StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE,
            )
        if tag == ValueTag.BEG_COLLECTION:
            if data:
                raise self._fail("begCollection with a value", offset)
            if len(state.stack) >= self.limits.max_depth:
                raise self._fail(f"collections nested deeper than {self.limits.max_depth}", offset)
            collection = Collection()
            target.values.append(Value(ValueTag.BEG_COLLECTION, collection))
            state.stack.append(_Frame(collection))
            return
        try:
            value = decode_value(tag, data, strict_keywords=self.limits.strict_keywords)
            target.values.append(Value(tag, value))
        except SyntaxProblem as exc:
            status = None if exc.framing else StatusCode.CLIENT_ERROR_BAD_REQUEST
            raise self._fail(f"{target.name}: {exc}", offset, status) from None
        except IppEncodeError as exc:  # pragma: no cover - decode_value matches Value
            raise self._fail(f"{target.name}: {exc}", offset) from None
        if (
            not state.stack
            and target.name == "attributes-charset"
            and tag == ValueTag.CHARSET
            and isinstance(value, str)
            and value.lower() not in SUPPORTED_CHARSETS
        ):
            raise self._fail(
                f"attributes-charset {value!r} is not supported",
                offset,
                StatusCode.CLIENT_ERROR_CHARSET_NOT_SUPPORTED,
            )


def decode(data: bytes, limits: ParserLimits | None = None) -> tuple[Message, bytes]:
    """Decode a whole body held in memory: ``(message, document_bytes)``.

    Raises `IppDecodeError` (HTTP 400 when the end tag is missing).
    """
    parser = MessageParser(limits)
    message = parser.feed(data)
    if message is None:
        message = parser.close()
    return message, parser.tail
