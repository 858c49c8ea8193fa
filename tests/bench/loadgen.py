"""The load generator: the same trio client code for the gateway and every peer.

LPD (RFC 1179): one connection per job, ``\\2queue``, the data file, then the
control file (the 4.2BSD lpr order), each acknowledged. A job counts when the
last ack arrives; the client then closes at once and starts its next job, as
lpr does. What a server does after that ack is not timed (cups-lpd submits
the job to cupsd only after the connection ends); each system's backlog is
drained (``settle``) before the next measurement.

IPP: HTTP/1.1 keep-alive connections, one per client, requests with
Content-Length (or chunked for large documents); a request counts when the
whole response has arrived and its status is successful. The IPP bodies are
built with the gateway's own codec (`gateway.ipp`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from gateway.ipp import Message, Operation, encode

HOST = "localhost"  # resolvable in every peer's namespace (LPRng looks it up)
IO_TIMEOUT = 120.0
_job_numbers = itertools.count(1)


def document(size: int) -> bytes:
    """``size`` bytes that start like a PDF: ippeveprinter auto-types
    application/octet-stream documents and refuses what it cannot name."""
    head = b"%PDF-1.4\n%bench\n"
    return (head + b"B" * size)[:size]


class BenchError(Exception):
    """A server refused or broke a request: the figure is not valid."""


# -- LPD -------------------------------------------------------------------


def control_file(number: int, size: int, queue: str = "lp") -> bytes:
    """As ``lpr -h -l``: no banner (an ``L`` line becomes job-sheets=standard,
    which ippeveprinter refuses)."""
    name = f"dfA{number:03d}{HOST}"
    return (f"H{HOST}\nPbench\nJbench job {number}\nl{name}\nU{name}\nNbench.txt\n").encode()


async def _expect_ack(stream: trio.SocketStream, what: str) -> None:
    data = await stream.receive_some(1)
    if data != b"\0":
        rest = b""
        with trio.move_on_after(1):
            rest = await stream.receive_some(1024)
        raise BenchError(f"LPD {what}: got {data!r} {rest!r}")


async def lpd_job(
    port: int,
    data: bytes | None = None,
    *,
    queue: str = "lp",
    size: int | None = None,
    block: bytes = b"",
    progress: Callable[[int], None] | None = None,
) -> float:
    """Send one job; return its latency (connect to last ack), in seconds.

    With ``size`` and ``block`` the data file is ``size`` bytes streamed as
    repeats of ``block`` (never held whole)."""
    number = next(_job_numbers) % 1000
    length = len(data) if data is not None else (size or 0)
    start = time.perf_counter()
    with trio.fail_after(IO_TIMEOUT if length < (1 << 30) else 3600):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        try:
            await stream.send_all(b"\2" + queue.encode() + b"\n")
            await _expect_ack(stream, "receive-job")
            await stream.send_all(f"\3{length} dfA{number:03d}{HOST}\n".encode())
            await _expect_ack(stream, "data file header")
            if data is not None:
                await stream.send_all(data + b"\0")
            else:
                sent = 0
                while sent < length:
                    piece = block if length - sent >= len(block) else block[: length - sent]
                    await stream.send_all(piece)
                    sent += len(piece)
                    if progress is not None:
                        progress(sent)
                await stream.send_all(b"\0")
            await _expect_ack(stream, "data file")
            cf = control_file(number, length, queue)
            await stream.send_all(f"\2{len(cf)} cfA{number:03d}{HOST}\n".encode())
            await _expect_ack(stream, "control file header")
            await stream.send_all(cf + b"\0")
            await _expect_ack(stream, "control file")
            latency = time.perf_counter() - start
        finally:
            await stream.aclose()
    return latency


async def lpd_query(port: int, long: bool = False, queue: str = "lp") -> tuple[float, int]:
    """lpq: ``\\3queue`` or ``\\4queue``; return (latency to EOF, bytes)."""
    start = time.perf_counter()
    total = 0
    with trio.fail_after(IO_TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        try:
            await stream.send_all((b"\4" if long else b"\3") + queue.encode() + b"\n")
            while data := await stream.receive_some(65536):
                total += len(data)
        finally:
            await stream.aclose()
    return time.perf_counter() - start, total


# -- HTTP / IPP ------------------------------------------------------------


class HttpConnection:
    """A minimal HTTP/1.1 client connection for ``application/ipp`` POSTs."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.path = path
        self.stream: trio.SocketStream | None = None
        self.buffer = bytearray()

    async def _connect(self) -> trio.SocketStream:
        if self.stream is None:
            self.stream = await trio.open_tcp_stream("127.0.0.1", self.port)
            self.buffer.clear()
        return self.stream

    async def aclose(self) -> None:
        if self.stream is not None:
            await self.stream.aclose()
            self.stream = None

    async def _fill(self) -> None:
        assert self.stream is not None
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buffer += data

    async def _until(self, sep: bytes) -> bytes:
        while (index := self.buffer.find(sep)) < 0:
            await self._fill()
        out = bytes(self.buffer[:index])
        del self.buffer[: index + len(sep)]
        return out

    async def _exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            await self._fill()
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    def _head(self, length: int | None) -> bytes:
        framing = (
            f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
        )
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/ipp\r\n{framing}\r\n\r\n"
        ).encode()

    async def post(self, body: bytes) -> bytes:
        """POST ``body``; return the response body. Reconnects once if the
        server had closed an idle keep-alive connection."""
        for attempt in (0, 1):
            stream = await self._connect()
            try:
                await stream.send_all(self._head(len(body)) + body)
                return await self._response()
            except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
                await self.aclose()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def post_stream(
        self, head: bytes, size: int, block: bytes, progress: Callable[[int], None] | None = None
    ) -> bytes:
        """POST ``head`` followed by ``size`` bytes of repeated ``block``, chunked."""
        stream = await self._connect()
        await stream.send_all(self._head(None) + b"%x\r\n" % len(head) + head + b"\r\n")
        sent = 0
        while sent < size:
            piece = block if size - sent >= len(block) else block[: size - sent]
            await stream.send_all(b"%x\r\n" % len(piece) + piece + b"\r\n")
            sent += len(piece)
            if progress is not None:
                progress(sent)
        await stream.send_all(b"0\r\n\r\n")
        return await self._response()

    async def _response(self) -> bytes:
        while True:
            head = (await self._until(b"\r\n\r\n")).decode("latin-1")
            status_line, *header_lines = head.split("\r\n")
            status = int(status_line.split()[1])
            headers = {}
            for line in header_lines:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            if status != 100:
                break
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self._until(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self._until(b"\r\n"):
                        pass
                    break
                parts.append(await self._exact(size))
                await self._until(b"\r\n")
            body = b"".join(parts)
        elif "content-length" in headers:
            body = await self._exact(int(headers["content-length"]))
        else:
            while True:
                try:
                    await self._fill()
                except EOFError:
                    break
            body = bytes(self.buffer)
            self.buffer.clear()
            await self.aclose()
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        if status != 200:
            raise BenchError(f"HTTP {status} from port {self.port}{self.path}: {body[:200]!r}")
        return body


_request_ids = itertools.count(1)
#: ippeveprinter takes one job at a time and answers server-error-busy to the
#: others; the client tries again after a short pause.
SERVER_ERROR_BUSY = 0x0507
BUSY_PAUSE = 0.005
BUSY_RETRIES = 20000


def ipp_status(body: bytes) -> int:
    if len(body) < 8:
        raise BenchError(f"short IPP response {body!r}")
    return int.from_bytes(body[2:4], "big")


def check_ipp(body: bytes, what: str) -> bytes:
    status = ipp_status(body)
    if status >= 0x0100:
        raise BenchError(f"{what}: IPP status 0x{status:04x}")
    return body


def print_job_head(uri: str, name: str = "bench") -> bytes:
    message = Message.request(
        Operation.PRINT_JOB,
        next(_request_ids) & 0x7FFFFFFF,
        printer_uri=uri,
        requesting_user_name="bench",
    )
    message.operation.add_name("job-name", name)
    message.operation.add_mime_media_type("document-format", "application/octet-stream")
    return encode(message)


def get_printer_attributes(uri: str) -> bytes:
    message = Message.request(
        Operation.GET_PRINTER_ATTRIBUTES,
        next(_request_ids) & 0x7FFFFFFF,
        printer_uri=uri,
        requesting_user_name="bench",
    )
    return encode(message)


def get_jobs(uri: str, which: str, limit: int) -> bytes:
    message = Message.request(
        Operation.GET_JOBS,
        next(_request_ids) & 0x7FFFFFFF,
        printer_uri=uri,
        requesting_user_name="bench",
    )
    message.operation.add_integer("limit", limit)
    message.operation.add_keyword("which-jobs", which)
    message.operation.add_keyword(
        "requested-attributes", "job-id", "job-name", "job-state", "job-originating-user-name"
    )
    return encode(message)


@dataclass
class IppTarget:
    """Where an IPP server is: port, HTTP path and printer-uri."""

    port: int
    path: str

    @property
    def uri(self) -> str:
        return f"ipp://127.0.0.1:{self.port}{self.path}"


# -- running clients -------------------------------------------------------


@dataclass
class LoadResult:
    jobs: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.elapsed


async def closed_loop(
    clients: int, total: int, one: Callable[[int], Awaitable[float]]
) -> LoadResult:
    """``clients`` tasks take jobs from a shared counter until ``total`` are
    done; ``one(client_index)`` sends one and returns its latency."""
    counter = itertools.count()
    latencies: list[float] = []

    async def client(index: int) -> None:
        while next(counter) < total:
            latencies.append(await one(index))

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for index in range(clients):
            nursery.start_soon(client, index)
    return LoadResult(total, time.perf_counter() - start, latencies)


async def lpd_load(port: int, clients: int, total: int, size: int) -> LoadResult:
    data = document(size)

    async def one(_: int) -> float:
        return await lpd_job(port, data)

    return await closed_loop(clients, total, one)


@asynccontextmanager
async def http_pool(target: IppTarget, count: int) -> AsyncIterator[list[HttpConnection]]:
    pool = [HttpConnection(target.port, target.path) for _ in range(count)]
    try:
        yield pool
    finally:
        for conn in pool:
            await conn.aclose()


async def ipp_print_load(target: IppTarget, clients: int, total: int, size: int) -> LoadResult:
    doc = document(size)
    async with http_pool(target, clients) as pool:

        async def one(index: int) -> float:
            start = time.perf_counter()
            with trio.fail_after(IO_TIMEOUT):
                for _ in range(BUSY_RETRIES):
                    body = await pool[index].post(print_job_head(target.uri) + doc)
                    if ipp_status(body) != SERVER_ERROR_BUSY:
                        break
                    await trio.sleep(BUSY_PAUSE)  # as CUPS's ipp backend does, but sooner
                check_ipp(body, "Print-Job")
            return time.perf_counter() - start

        return await closed_loop(clients, total, one)


async def ipp_timed_load(
    target: IppTarget, clients: int, duration: float, make: Callable[[], bytes], what: str
) -> LoadResult:
    """Requests from ``make()`` on ``clients`` keep-alive connections until
    ``duration`` seconds have passed (each connection finishes its request)."""
    done = 0
    latencies: list[float] = []
    async with http_pool(target, clients) as pool:
        start = time.perf_counter()
        deadline = start + duration

        async def client(conn: HttpConnection) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                with trio.fail_after(IO_TIMEOUT):
                    check_ipp(await conn.post(make()), what)
                latencies.append(time.perf_counter() - t0)
                done += 1

        async with trio.open_nursery() as nursery:
            for conn in pool:
                nursery.start_soon(client, conn)
        return LoadResult(done, time.perf_counter() - start, latencies)
