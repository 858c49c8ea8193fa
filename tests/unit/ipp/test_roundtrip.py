"""Property tests: encode/decode round trips, chunking, robustness on junk."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.ipp import IppDecodeError, Message, MessageParser, ParserLimits, decode, encode

from .strategies import messages
from .wire import request

DEEP = ParserLimits(max_depth=64)
SETTINGS = settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(messages)
def test_encode_decode_round_trip(message: Message) -> None:
    data = encode(message)
    decoded, tail = decode(data, DEEP)
    assert tail == b""
    assert decoded == message
    assert encode(decoded) == data


@SETTINGS
@given(messages, st.binary(max_size=200), st.data())
def test_any_chunking_gives_same_message_and_tail(
    message: Message, document: bytes, data: st.DataObject
) -> None:
    body = encode(message) + document
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    parser = MessageParser(DEEP)
    result = None
    rest: list[bytes] = []
    for i, piece in enumerate(pieces):
        result = parser.feed(piece)
        if result is not None:
            rest = pieces[i + 1 :]
            break
    assert result == message
    assert parser.tail + b"".join(rest) == document
    assert parser.header_bytes == len(body) - len(document)


def test_byte_at_a_time() -> None:
    body = request(b"\x44\x00\x04name\x00\x03abc") + b"DOC"
    parser = MessageParser()
    results = [parser.feed(body[i : i + 1]) for i in range(len(body) - 3)]
    assert all(r is None for r in results[:-1])
    assert results[-1] is not None
    assert parser.tail == b""


def _feed_all(data: bytes) -> None:
    parser = MessageParser(ParserLimits(max_header_bytes=4096, max_attributes=50, max_depth=4))
    try:
        if parser.feed(data) is None:
            parser.close()
    except IppDecodeError as exc:
        assert (exc.status is None) != (exc.http_status is None)


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_decoder_only_raises_its_own_error_on_junk(data: bytes) -> None:
    _feed_all(data)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_decoder_only_raises_its_own_error_after_valid_prefix(data: bytes) -> None:
    _feed_all(bytes.fromhex("0200000b0000000101") + data)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.data())
def test_decoder_only_raises_its_own_error_on_mutations(
    message: Message, data: st.DataObject
) -> None:
    body = bytearray(encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(body) - 1))
        body[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    _feed_all(bytes(body[:cut]))
