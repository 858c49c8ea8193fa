"""`LpdClient` and the backend's error mapping against scripted LPD servers
on 127.0.0.1 (port 0). Well-behaved servers use the sans-I/O server
`Connection`; misbehaving ones are written byte by byte."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from gateway.backends.base import PermanentBackendError, TransientBackendError
from gateway.backends.lpd import LpdBackend
from gateway.core.job import Document, Frontend, Job, JobState, Origin
from gateway.lpd.client import (
    DataFile,
    LpdClient,
    LpdClientError,
    LpdConnectError,
    LpdConnectionLost,
    LpdNak,
    LpdTimeout,
    Reserve,
)
from gateway.lpd.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    FileData,
    FileEnd,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
)
from gateway.lpd.protocol import Connection

Handler = Callable[[trio.SocketStream], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[int]:
    """Serve ``handler`` on 127.0.0.1; yields the port."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
        )
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


@dataclass
class Recorder:
    """A well-behaved LPD server that keeps what it received."""

    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (kind, name, body)
    ends: list[str] = field(default_factory=list)
    commands: list[object] = field(default_factory=list)
    peers: list[int] = field(default_factory=list)
    reply: bytes = b"no entries\n"

    async def __call__(self, stream: trio.SocketStream) -> None:
        self.peers.append(stream.socket.getpeername()[1])
        conn = Connection()
        body = bytearray()
        name = kind = ""
        async with stream:
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                    continue
                if event is PAUSED:
                    continue
                if isinstance(event, (ReceiveJob, QueueStateRequest, RemoveJobs)):
                    self.commands.append(event)
                    if isinstance(event, ReceiveJob):
                        await stream.send_all(conn.accept())
                    else:
                        await stream.send_all(self.reply)
                        return
                elif isinstance(event, (ControlFileHeader, DataFileHeader)):
                    kind = "cf" if isinstance(event, ControlFileHeader) else "df"
                    name, body = event.name, bytearray()
                    await stream.send_all(conn.accept())
                elif isinstance(event, FileData):
                    body += event.data
                elif isinstance(event, FileEnd):
                    self.files.append((kind, name, bytes(body)))
                    self.ends.append(event.kind.value)
                    await stream.send_all(conn.accept())
                elif isinstance(event, ConnectionClosed):
                    return


def source(data: bytes, chunk: int = 1000) -> Callable[[], AsyncIterator[bytes]]:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), chunk):
            yield data[i : i + chunk]

    return chunks


CF = b"Hgw\nPalice\nldfA001gw\nUdfA001gw\n"
DATA = bytes(range(256)) * 100


async def test_job_control_first_by_default_then_data_first() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with server(recorder) as port:
            client = LpdClient("127.0.0.1", port, timeout=5)
            df = DataFile("dfA001gw", len(DATA), source(DATA))
            await client.send_job("lp", "cfA001gw", CF, [df])
            await client.send_job("lp", "cfA001gw", CF, [df], data_first=True)
    assert recorder.files == [
        ("cf", "cfA001gw", CF),
        ("df", "dfA001gw", DATA),
        ("df", "dfA001gw", DATA),
        ("cf", "cfA001gw", CF),
    ]
    assert [c.queue for c in recorder.commands] == ["lp", "lp"]  # type: ignore[attr-defined]


async def test_stream_mode_sends_the_last_file_with_size_zero_and_closes() -> None:
    recorder = Recorder()
    # Not starting with NUL: our own server (like CUPS) reads "size 0, then
    # NUL" as an empty file and anything else as a stream until EOF.
    streamed = b"%!PS\n" + DATA
    with trio.fail_after(10):
        async with server(recorder) as port:
            client = LpdClient("127.0.0.1", port, timeout=5)
            files = [
                DataFile("dfA001gw", 3, source(b"abc")),
                DataFile("dfB001gw", len(streamed), source(streamed)),
            ]
            await client.send_job("lp", "cfA001gw", CF, files, data_first=True, stream_last=True)
    assert recorder.files == [
        ("cf", "cfA001gw", CF),  # stream mode forces control first
        ("df", "dfA001gw", b"abc"),
        ("df", "dfB001gw", streamed),
    ]
    assert recorder.ends == ["normal", "normal", "streamed"]


async def test_queue_state_and_remove_read_until_eof() -> None:
    recorder = Recorder(reply=b"lp is ready\nno entries\n")
    with trio.fail_after(10):
        async with server(recorder) as port:
            client = LpdClient("127.0.0.1", port, timeout=5)
            assert await client.queue_state("lp", ("7",)) == b"lp is ready\nno entries\n"
            assert await client.remove_jobs("lp", "alice", ("7",)) == b"lp is ready\nno entries\n"
    state, remove = recorder.commands
    assert isinstance(state, QueueStateRequest) and state.long and state.items == ("7",)
    assert isinstance(remove, RemoveJobs)
    assert (remove.agent, remove.items) == ("alice", ("7",))


async def test_reserved_source_ports_are_exactly_the_range() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with server(recorder) as port:
            for mode, span in ((Reserve.RFC1179, range(721, 732)), (Reserve.ANY, range(512, 1024))):
                client = LpdClient("127.0.0.1", port, timeout=5, reserve=mode)
                await client.queue_state("lp")
                assert recorder.peers[-1] in span


def nak_server(reply: bytes, *, after: int = 0) -> Handler:
    """Acks ``after`` times (any line), then writes ``reply`` and closes."""

    async def handler(stream: trio.SocketStream) -> None:
        async with stream:
            for _ in range(after):
                await stream.receive_some(65536)
                await stream.send_all(b"\0")
            await stream.receive_some(65536)
            await stream.send_all(reply)

    return handler


def lpd_job(job_id: int = 1, created: float | None = None) -> Job:
    return Job(
        id=job_id,
        queue="lp",
        state=JobState.PROCESSING,
        attributes={"requesting-user-name": "alice", "job-name": "t"},
        documents=(Document(1, "doc", "text/plain", 4, ""),),
        origin=Origin(Frontend.API),
        created=time.time() if created is None else created,
    )


class Source:
    def __init__(self, path: Path) -> None:
        self.path = path

    def document_path(self, doc: Document) -> Path:
        return self.path


async def submit_to(handler: Handler, tmp_path: Path, **options: object) -> Exception | None:
    """Submit a 4-byte job to ``handler`` through an LpdBackend. The queue
    listing comes from the same handler's first connection, so servers here
    answer their first connection with an empty listing."""
    doc = tmp_path / "doc"
    doc.write_bytes(b"abc\n")
    calls = [0]

    async def first_is_listing(stream: trio.SocketStream) -> None:
        calls[0] += 1
        if calls[0] == 1:
            async with stream:
                await stream.receive_some(65536)
                await stream.send_all(b"no entries\n")
            return
        await handler(stream)

    async with server(first_is_listing) as port:
        backend = LpdBackend(f"lpd://127.0.0.1:{port}/lp", {"timeout": 2, **options}, hostname="gw")
        try:
            await backend.submit(lpd_job(), Source(doc))
        except Exception as exc:  # returned: raising here would be wrapped by the nursery
            return exc
    return None


@pytest.mark.parametrize(
    ("reply", "after", "kind", "reason", "words"),
    [
        # LPRng: ACK_FAIL + text for an unknown queue -> permanent.
        (
            b"\x03spool queue for 'nosuch' does not exist on server localhost\n",
            0,
            PermanentBackendError,
            "other",
            "does not exist",
        ),
        # LPRng: spooling disabled (ACK_RETRY + text) -> transient, retried.
        (b"\x02lp: spooling disabled\n", 0, TransientBackendError, "other", "spooling disabled"),
        # BSD: plain text instead of an ack byte ('l' = 108) -> the reserve hint.
        (
            b"lpd: connected from invalid port (40000)\n",
            0,
            TransientBackendError,
            "other",
            "reserve=any",
        ),
        # BSD: unknown queue or queueing disabled: a bare \1 -> transient.
        (b"\x01", 0, TransientBackendError, "other", "NAK 1"),
        # No room for the control file (\2 after the subcommand) -> spool-area-full.
        (b"\x02", 1, TransientBackendError, "spool-area-full", "NAK 2"),
        # Reset after the job ack, where ack 1 was due.
        (b"", 1, TransientBackendError, "connecting-to-device", "closed the connection"),
    ],
    ids=[
        "lprng-unknown-queue",
        "lprng-spooling-disabled",
        "bsd-invalid-port-text",
        "bsd-bare-nak",
        "no-space-for-control-file",
        "reset-after-job-ack",
    ],
)
async def test_refusals_map_to_backend_errors(
    tmp_path: Path,
    reply: bytes,
    after: int,
    kind: type[Exception],
    reason: str,
    words: str,
) -> None:
    with trio.fail_after(10):
        error = await submit_to(nak_server(reply, after=after), tmp_path)
    assert isinstance(error, kind)
    assert error.reason == reason  # type: ignore[attr-defined]
    assert words in error.message  # type: ignore[attr-defined]


async def test_nak_keeps_the_servers_text() -> None:
    with trio.fail_after(10):
        async with server(nak_server(b"\x03no such printer lp\r\n")) as port:
            client = LpdClient("127.0.0.1", port, timeout=5)
            with pytest.raises(LpdNak) as info:
                await client.send_job("lp", "cfA001gw", CF, [])
    assert (info.value.code, info.value.reason, info.value.stage) == (
        3,
        "no such printer lp",
        "receive-job",
    )


async def test_silent_server_times_out(tmp_path: Path) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    with trio.fail_after(10):
        async with server(silent) as port:
            client = LpdClient("127.0.0.1", port, timeout=0.3)
            with pytest.raises(LpdTimeout):
                await client.send_job("lp", "cfA001gw", CF, [])
        error = await submit_to(silent, tmp_path)
    assert isinstance(error, TransientBackendError)
    assert error.reason == "connecting-to-device"


async def test_refused_connection_is_transient_until_contimeout() -> None:
    with trio.fail_after(10):
        async with server(nak_server(b"")) as port:
            pass  # closed: nothing listens on the port any more
        client = LpdClient("127.0.0.1", port, timeout=2)
        with pytest.raises(LpdConnectError, match="cannot connect"):
            await client.queue_state("lp")
        backend = LpdBackend(f"lpd://127.0.0.1:{port}/lp", {"contimeout": 60}, hostname="gw")
        with pytest.raises(TransientBackendError) as transient:
            await backend.submit(lpd_job(), Source(Path("/nonexistent")))
        assert transient.value.reason == "connecting-to-device"
        with pytest.raises(PermanentBackendError, match="contimeout=60"):
            await backend.submit(lpd_job(created=time.time() - 61), Source(Path("/nonexistent")))


async def test_spool_file_shorter_than_announced_aborts_without_the_nul() -> None:
    recorder = Recorder()
    with trio.fail_after(10):
        async with server(recorder) as port:
            client = LpdClient("127.0.0.1", port, timeout=5)
            with pytest.raises(LpdClientError, match="has 3 bytes, not 10"):
                await client.send_job(
                    "lp", "cfA001gw", CF, [DataFile("dfA001gw", 10, source(b"abc"))]
                )
    # No NUL after the short data file: the server sees it cut short.
    assert recorder.files == [("cf", "cfA001gw", CF), ("df", "dfA001gw", b"abc")]
    assert recorder.ends == ["normal", "short"]


async def test_reset_during_a_reply_is_connection_lost() -> None:
    async def reset(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        stream.socket.setsockopt(
            trio.socket.SOL_SOCKET, trio.socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        await stream.aclose()

    with trio.fail_after(10):
        async with server(reset) as port:
            client = LpdClient("127.0.0.1", port, timeout=5)
            with pytest.raises(LpdConnectionLost):
                await client.send_job("lp", "cfA001gw", CF, [])
