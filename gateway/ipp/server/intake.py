"""The request body after the IPP attributes: read, decompressed and spooled in chunks.

Why: document data can be gigabytes long and must never be held whole
(DESIGN.md). `BodyReader` yields the bytes after end-of-attributes-tag (the
parser's tail, then each ASGI ``http.request`` chunk) with a deadline on
every read; `Decompressor` undoes the IPP ``compression`` operation attribute
(RFC 8011 section 4.2.1.1: gzip RFC 1952, deflate RFC 1951) while streaming,
with bounded output per step so a small "zip bomb" never becomes a large
buffer; `spool_document` hands the result to a spool document writer through
`gateway.core.streaming` (joined into large chunks, written while
the next bytes are read) and returns once the file is complete.

Every read is paced by a `BodyPace`, one per request: no read waits longer
than ``ipp.idle_timeout``, the whole request ends by ``ipp.request_timeout``,
and while the reader waits for data the client must keep up
``ipp.min_body_rate`` bytes per second, measured over each
``ipp.body_rate_window`` of waiting (time spent writing to the spool does not
count against the client). A client that fails any of them gets
`RequestTimeout` (answered HTTP 408 by `asgi`); one that disconnects gets
`ClientGone`.

`receive_document` is what Print-Job and Send-Document call: it checks there is
room, streams the body into a new spool file and turns every way that can fail
into the `OperationError` the client is answered with. A full spool (`NoSpace`)
is server-error-busy (RFC 8011 section 4.1.6: "temporarily busy ... try again
later"); a document that would make its job larger than the job size limit
(``limits.max_job_size``, for the job's documents together) is
client-error-request-entity-too-large, since retrying cannot help.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import trio

from gateway.core.spool import DocumentWriter, JobFolder, NoSpace, Spool, StagedFile
from gateway.core.streaming import body_writer
from gateway.ipp.status import StatusCode

from .request import OperationError

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

INFLATE_STEP = 256 * 1024
"""Most decompressed bytes produced from one input step."""


class ClientGone(Exception):
    """The client closed the connection or stopped sending before the body ended."""


class RequestTimeout(ClientGone):
    """The client sends the request too slowly: a read waited ``idle_timeout``,
    the body came slower than the minimum rate, or the request deadline passed
    (HTTP 408)."""


@dataclass(slots=True)
class BodyPace:
    """The deadlines and the minimum rate of one request's body (see the module doc).

    `deadline` is a `trio.current_time` value (``math.inf``: none); a
    `min_rate` or `window` of 0 turns the rate rule off.
    """

    idle_timeout: float
    deadline: float = math.inf
    min_rate: int = 0
    window: float = 0.0
    waited: float = 0.0  # seconds spent waiting for data in this window
    arrived: int = 0  # bytes that came in those waits
    last_data: float = field(default_factory=trio.current_time)

    @classmethod
    def starting_now(
        cls, idle_timeout: float, request_timeout: float, min_rate: int, window: float
    ) -> BodyPace:
        """The pace of a request that starts now (a `request_timeout` of 0: no deadline)."""
        deadline = trio.current_time() + request_timeout if request_timeout > 0 else math.inf
        return cls(idle_timeout, deadline, min_rate, window)

    @property
    def rated(self) -> bool:
        return self.min_rate > 0 and self.window > 0

    def limit(self, now: float) -> tuple[float, str]:
        """How long the next wait may last, and what ends it then."""
        limits = [
            (self.last_data + self.idle_timeout - now, "idle"),
            (self.deadline - now, "deadline"),
        ]
        if self.rated:
            limits.append((self.window - self.waited, "window"))
        return min(limits)

    def account(self, waited: float, received: int) -> None:
        """Count one wait; at the end of a window, raise `RequestTimeout` if the
        client was too slow, else start the next window."""
        self.waited += waited
        self.arrived += received
        if received:
            self.last_data = trio.current_time()
        if not self.rated or self.waited < self.window:
            return
        if self.arrived < self.min_rate * self.waited:
            raise RequestTimeout(
                f"request body slower than {self.min_rate} bytes/s "
                f"({self.arrived} bytes in {self.waited:.0f}s; ipp.min_body_rate)"
            )
        self.waited = 0.0
        self.arrived = 0

    def expired(self, why: str) -> RequestTimeout:
        """The error for a wait that ran out because of `why` (idle or deadline)."""
        if why == "deadline":
            return RequestTimeout("request not complete by its deadline (ipp.request_timeout)")
        return RequestTimeout(f"no request data for {self.idle_timeout:.0f}s")


class CompressionError(OperationError):
    """The document data does not decompress (client-error-compression-error)."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.CLIENT_ERROR_COMPRESSION_ERROR, message)


class DocumentTooLarge(OperationError):
    """The document is over the spool's job size limit (client-error-request-entity-too-large)."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.CLIENT_ERROR_REQUEST_ENTITY_TOO_LARGE, message)


class BodyReader:
    """The rest of one HTTP request body, after the bytes the IPP parser consumed.

    `pace` is the request's `BodyPace` (shared by the readers of one request),
    or just an idle timeout in seconds.
    """

    def __init__(self, receive: Receive, first: bytes, more: bool, pace: BodyPace | float) -> None:
        self._receive = receive
        self._first = first
        self._more = more
        self.pace = pace if isinstance(pace, BodyPace) else BodyPace(pace)
        self.received = 0

    @property
    def all_read(self) -> bool:
        """True when no more of the body is to come from the client."""
        return not self._more

    @property
    def finished(self) -> bool:
        """True once the whole body was read."""
        return not self._first and not self._more

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the remaining body bytes; raises `ClientGone` on disconnect or timeout."""
        if self._first:
            first, self._first = self._first, b""
            self.received += len(first)
            yield first
        while self._more:
            chunk = await self.next_chunk()
            if chunk:
                yield chunk

    async def next_chunk(self) -> bytes:
        """One more ASGI body chunk (b"" at the end); raises `RequestTimeout` when
        the client is too slow (see `BodyPace`), `ClientGone` when it left."""
        if not self._more:
            return b""
        while True:
            start = trio.current_time()
            wait, why = self.pace.limit(start)
            with trio.move_on_after(max(0.0, wait)) as scope:
                message = await self._receive()
            waited = trio.current_time() - start
            if not scope.cancelled_caught:
                break
            self.pace.account(waited, 0)
            if why != "window":
                raise self.pace.expired(why)
        if message["type"] == "http.disconnect":
            raise ClientGone("client disconnected")
        self._more = bool(message.get("more_body", False))
        body: bytes = message.get("body", b"")
        self.received += len(body)
        self.pace.account(waited, len(body))
        return body

    async def drain(self) -> None:
        """Read and drop the rest of the body, so the response can be read by the client."""
        self._first = b""
        while self._more:
            await self.next_chunk()


class Decompressor:
    """Streaming inverse of the IPP ``compression`` attribute (none, gzip, deflate)."""

    def __init__(self, compression: str) -> None:
        self.compression = compression
        self._inflater: Any = None
        self._pending = b""
        self._done = compression == "none"

    def _start(self, data: bytes) -> Any:
        if self.compression == "gzip":
            return zlib.decompressobj(wbits=31)
        # "deflate" is RFC 1951 raw data; accept a zlib (RFC 1950) wrapper too.
        zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        return zlib.decompressobj(wbits=15 if zlib_header else -15)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decompressed pieces (each at most `INFLATE_STEP` bytes) of `data`."""
        if self.compression == "none":
            if data:
                yield data
            return
        data = self._pending + data
        self._pending = b""
        while data:
            if self._inflater is None:
                if len(data) < 2:  # the first two bytes tell gzip / zlib / raw
                    self._pending = data
                    return
                if self.compression == "gzip" and data[:2] != b"\x1f\x8b":
                    raise CompressionError("not gzip data")
                self._inflater = self._start(data)
                self._done = False
            try:
                out = self._inflater.decompress(data, INFLATE_STEP)
            except zlib.error as exc:
                raise CompressionError(f"{self.compression} data is corrupt: {exc}") from None
            if out:
                yield out
            if self._inflater.eof:
                data = self._inflater.unused_data
                self._inflater = None
                self._done = True
                if data and self.compression != "gzip":
                    raise CompressionError("data after the end of the deflate stream")
                continue  # gzip: another member may follow
            data = self._inflater.unconsumed_tail

    def finish(self) -> None:
        """Raise `CompressionError` if the compressed stream ended early."""
        if self._pending or not self._done:
            raise CompressionError(f"{self.compression} data ends early")


async def spool_document(
    body: BodyReader,
    writer: DocumentWriter,
    decompressor: Decompressor,
    *,
    max_size: int = 0,
) -> StagedFile:
    """Stream the body through `decompressor` into `writer`; return the staged file.

    Raises `CompressionError`, `DocumentTooLarge`, `NoSpace` or `ClientGone`.
    """
    size = 0

    async def copy(write: Callable[[bytes], Awaitable[None]]) -> None:
        nonlocal size
        async for chunk in body.chunks():
            for piece in decompressor.feed(chunk):
                size += len(piece)
                if max_size and size > max_size:
                    raise DocumentTooLarge(
                        f"document is larger than {max_size} bytes, "
                        "the room left in its job (limits.max_job_size)"
                    )
                await write(piece)
        decompressor.finish()

    if body.all_read and decompressor.compression == "none":
        await copy(writer.write)  # a small request, read whole: nothing to overlap
    else:
        async with body_writer(writer) as pipe:
            await copy(pipe.write)
            await pipe.close()
    return await writer.finish()


async def receive_document(
    spool: Spool, body: BodyReader, folder: JobFolder, compression: str, *, job_size: int = 0
) -> StagedFile:
    """Stream the rest of the request body into a new file of `folder` (see the
    module doc); `job_size` is what the job's other documents hold already.
    Raises `OperationError` (or `ClientGone`)."""
    limit = spool.max_job_size
    if limit and job_size >= limit:
        raise DocumentTooLarge(
            f"job already holds {job_size} bytes, its limit (limits.max_job_size {limit})"
        )
    try:
        spool.check_room(0)
        async with folder.document() as writer:
            return await spool_document(
                body,
                writer,
                Decompressor(compression),
                max_size=limit - job_size if limit else 0,
            )
    except NoSpace as exc:
        raise OperationError(StatusCode.SERVER_ERROR_BUSY, str(exc)) from None


async def discard_staged(spool: Spool, staged: StagedFile) -> None:
    """Remove a staged document file that no job took."""
    path = spool.root / staged.path
    await trio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))


__all__ = [
    "BodyPace",
    "BodyReader",
    "ClientGone",
    "CompressionError",
    "Decompressor",
    "DocumentTooLarge",
    "RequestTimeout",
    "discard_staged",
    "receive_document",
    "spool_document",
]
