"""Overlap reading a file from the network with writing it to the spool.

Why it exists
-------------
`DocumentWriter.write` writes each chunk of a large document in a worker
thread. Awaiting it for every chunk would make the connection wait for the
disk, then the disk wait for the connection. `BodyWriter` hands chunks to one
background task through a bounded channel instead, so the socket is read
while the previous chunks are written: the cost per file becomes the slower
of the two, not their sum. Used by both front-ends (LPD data files, IPP
document bodies). Memory stays bounded by the channel (`DEPTH` chunks of
about `MAX_CHUNK` bytes each, 512 KiB: with 1 MiB the gateway's peak RSS for
a 1 GiB document went over 64 MiB).

A write error (no space, a size limit) stops the pipeline at once: the
reader is interrupted, even while it waits for the network, and sees the
original exception, so the client gets its NAK without sending the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import trio

from gateway.core.spool import DocumentWriter

#: Chunks of up to this many bytes go to the writer (small reads are joined).
MAX_CHUNK: Final = 512 * 1024
#: Chunks in flight between the reader and the writer task.
DEPTH: Final = 2


class BodyWriter:
    """Feeds a `DocumentWriter` from a background task; see the module doc."""

    def __init__(self, writer: DocumentWriter, *, depth: int = DEPTH) -> None:
        self._writer = writer
        self._send, self._receive = trio.open_memory_channel[bytes](depth)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._error: BaseException | None = None
        self._done = trio.Event()
        self._reader_scope: trio.CancelScope | None = None
        self._writer_scope = trio.CancelScope()

    async def _run(self) -> None:
        try:
            with self._writer_scope:
                async for chunk in self._receive:
                    await self._writer.write(chunk)
        except Exception as exc:  # NoSpace, OSError: handed to the reader
            self._error = exc
            if self._reader_scope is not None:
                self._reader_scope.cancel()  # the reader may be waiting for the network
        finally:
            self._receive.close()  # only now: the reader must see the error first
            self._done.set()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    async def write(self, data: bytes) -> None:
        """Queue bytes for writing (joined into chunks of up to `MAX_CHUNK`)."""
        self._check()
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= MAX_CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        pieces, self._pending, self._pending_size = self._pending, [], 0
        chunk = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        try:
            await self._send.send(chunk)
        except trio.BrokenResourceError:
            self._check()
            raise

    async def close(self) -> None:
        """Write what is queued and wait until the writer task is done;
        raises the writer's error, if any."""
        await self._flush()
        await self._send.aclose()
        await self._done.wait()
        self._check()


@asynccontextmanager
async def body_writer(writer: DocumentWriter) -> AsyncIterator[BodyWriter]:
    """A `BodyWriter` whose task lives for the ``async with`` block.

    A write error interrupts the block (even while it waits for the network)
    and comes out as itself; so do the block's own exceptions (never wrapped
    in an exception group: the writer task never raises, it stores its error).
    """
    pipe = BodyWriter(writer)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pipe._run)
            with trio.CancelScope() as reader_scope:
                pipe._reader_scope = reader_scope
                try:
                    yield pipe
                except BaseException:
                    pipe._writer_scope.cancel()  # the file is discarded: stop writing
                    raise
                finally:
                    pipe._send.close()
            if reader_scope.cancelled_caught:
                pipe._check()
    except BaseExceptionGroup as group:
        real = [e for e in group.exceptions if not isinstance(e, trio.Cancelled)]
        if len(group.exceptions) == 1 and len(real) == 1:
            raise real[0] from None
        raise
