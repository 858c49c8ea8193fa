"""Streaming decompression and body reading (gateway/ipp/document.py)."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import pytest
import trio

from gateway.core.spool import Spool
from gateway.ipp.server.intake import (
    INFLATE_STEP,
    BodyReader,
    ClientGone,
    CompressionError,
    Decompressor,
    DocumentTooLarge,
    spool_document,
)

DATA = bytes(range(256)) * 5000


def deflate_raw(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


def run(decompressor: Decompressor, wire: bytes, step: int = 1000) -> bytes:
    out = bytearray()
    for i in range(0, len(wire), step):
        for piece in decompressor.feed(wire[i : i + step]):
            assert len(piece) <= INFLATE_STEP
            out += piece
    decompressor.finish()
    return bytes(out)


@pytest.mark.parametrize(
    ("compression", "wire"),
    [
        ("none", DATA),
        ("gzip", gzip.compress(DATA)),
        ("gzip", gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])),  # two members
        ("deflate", deflate_raw(DATA)),
        ("deflate", zlib.compress(DATA)),  # zlib wrapper tolerated
    ],
    ids=["none", "gzip", "gzip-two-members", "deflate", "deflate-zlib-wrapper"],
)
@pytest.mark.parametrize("step", [1, 7, 65536])
def test_decompressor_round_trip(compression: str, wire: bytes, step: int) -> None:
    wire_step = 997 if step == 1 and len(wire) > 100_000 else step
    assert run(Decompressor(compression), wire, wire_step) == DATA


def test_a_small_bomb_comes_out_in_bounded_pieces() -> None:
    wire = gzip.compress(b"\0" * 50_000_000)
    decompressor = Decompressor("gzip")
    total = 0
    for piece in decompressor.feed(wire):
        assert len(piece) <= INFLATE_STEP
        total += len(piece)
    decompressor.finish()
    assert total == 50_000_000


@pytest.mark.parametrize(
    ("compression", "wire"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(DATA)[:-10]),
        ("deflate", b"\xff\xfe\xfd\xfc"),
        ("deflate", deflate_raw(DATA) + b"trailing"),
    ],
    ids=["not-gzip", "gzip-truncated", "deflate-garbage", "deflate-trailing"],
)
def test_decompressor_errors(compression: str, wire: bytes) -> None:
    with pytest.raises(CompressionError):
        run(Decompressor(compression), wire)


def fake_receive(chunks: list[dict[str, Any]]) -> Any:
    async def receive() -> dict[str, Any]:
        if not chunks:
            await trio.sleep_forever()
        return chunks.pop(0)

    return receive


async def test_body_reader_yields_tail_then_chunks() -> None:
    receive = fake_receive(
        [
            {"type": "http.request", "body": b"bc", "more_body": True},
            {"type": "http.request", "body": b"d", "more_body": False},
        ]
    )
    reader = BodyReader(receive, b"a", True, 5.0)
    assert [c async for c in reader.chunks()] == [b"a", b"bc", b"d"]
    assert reader.finished and reader.received == 4


async def test_body_reader_disconnect_and_timeout(autojump_clock: trio.abc.Clock) -> None:
    reader = BodyReader(fake_receive([{"type": "http.disconnect"}]), b"", True, 5.0)
    with pytest.raises(ClientGone):
        await reader.drain()
    reader = BodyReader(fake_receive([]), b"", True, 5.0)
    with pytest.raises(ClientGone, match="no request data"):
        await reader.drain()


async def test_spool_document_streams_and_enforces_the_limit(spool: Spool) -> None:
    body = [
        {"type": "http.request", "body": DATA[i : i + 4096], "more_body": True}
        for i in range(0, len(DATA), 4096)
    ]
    body.append({"type": "http.request", "body": b"", "more_body": False})
    folder = spool.new_folder()
    async with folder.document() as writer:
        staged = await spool_document(
            BodyReader(fake_receive(list(body)), b"", True, 5.0), writer, Decompressor("none")
        )
    assert staged.size == len(DATA)
    assert (spool.root / staged.path).read_bytes() == DATA
    folder = spool.new_folder()
    async with folder.document() as writer:
        with pytest.raises(DocumentTooLarge):
            await spool_document(
                BodyReader(fake_receive(list(body)), b"", True, 5.0),
                writer,
                Decompressor("none"),
                max_size=10_000,
            )
