"""`gateway.core.streaming.BodyWriter`: chunks joined, order kept, errors
surfacing as themselves."""

from __future__ import annotations

import pytest
import trio

from gateway.core import streaming as spooling
from gateway.core.spool import NoSpace


class FakeWriter:
    def __init__(self, fail_after: int | None = None) -> None:
        self.chunks: list[bytes] = []
        self.fail_after = fail_after

    async def write(self, data: bytes) -> None:
        await trio.sleep(0)
        if self.fail_after is not None and len(self.chunks) >= self.fail_after:
            raise NoSpace("disk full")
        self.chunks.append(data)


async def test_small_pieces_are_joined_in_order() -> None:
    writer = FakeWriter()
    pieces = [bytes([i % 256]) * 1000 for i in range(3000)]
    async with spooling.body_writer(writer) as pipe:  # type: ignore[arg-type]
        for piece in pieces:
            await pipe.write(piece)
        await pipe.close()
    assert b"".join(writer.chunks) == b"".join(pieces)
    assert all(len(c) <= spooling.MAX_CHUNK + 1000 for c in writer.chunks)
    assert len(writer.chunks) < 10


async def test_write_error_reaches_the_reader_unwrapped() -> None:
    writer = FakeWriter(fail_after=1)
    with pytest.raises(NoSpace):
        async with spooling.body_writer(writer) as pipe:  # type: ignore[arg-type]
            for _ in range(100):
                await pipe.write(b"x" * spooling.MAX_CHUNK)
            await pipe.close()


async def test_reader_error_is_not_wrapped_and_stops_the_writer() -> None:
    writer = FakeWriter()
    with pytest.raises(KeyError):
        async with spooling.body_writer(writer) as pipe:  # type: ignore[arg-type]
            await pipe.write(b"y" * spooling.MAX_CHUNK)
            raise KeyError("reader failed")


async def test_write_error_interrupts_a_waiting_reader() -> None:
    """The reader is blocked on something else (the network) when the write
    fails: it is interrupted and sees the write error."""
    writer = FakeWriter(fail_after=0)
    with trio.fail_after(5), pytest.raises(NoSpace):
        async with spooling.body_writer(writer) as pipe:  # type: ignore[arg-type]
            await pipe.write(b"z" * spooling.MAX_CHUNK)
            await trio.sleep_forever()
