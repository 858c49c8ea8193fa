"""One LPD connection over in-memory streams (no sockets): the server's
`serve_stream` with a real spool, and virtual time for the timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from gateway import config
from gateway.backends.file import FileBackend
from gateway.core.context import GatewayContext
from gateway.core.dispatcher import Dispatcher
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.lpd.server import serve_stream
from tests.lpd_harness import LogWatch

CF = b"Hclient\nPalice\nJjob\nfdfA001client\nNa.txt\n"
DF = b"hello\n"


def make_context(tmp_path: Path, spool: Spool, **lpd: object) -> GatewayContext:
    cfg = config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": [], **lpd},
            "ipp": {"listen": []},
            "queues": {"lp": {"backend": (tmp_path / "out").as_uri()}},
        }
    )
    queues = Queues([Queue(cfg.queues[0], FileBackend(cfg.queues[0].backend))])
    return GatewayContext(cfg, spool, queues, Dispatcher(spool, queues), "gw.example")


@pytest.fixture
async def context(tmp_path: Path, spool: Spool) -> AsyncIterator[GatewayContext]:
    yield make_context(tmp_path, spool)


async def read_all(stream: trio.abc.ReceiveStream) -> bytes:
    out = b""
    while chunk := await stream.receive_some(65536):
        out += chunk
    return out


async def test_job_over_memory_streams(context: GatewayContext) -> None:
    client, server = trio.testing.memory_stream_pair()
    wire = (
        b"\x02lp\n"
        + b"\x02%d cfA001client\n" % len(CF)
        + CF
        + b"\0"
        + b"\x03%d dfA001client\n" % len(DF)
        + DF
        + b"\0"
    )
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_stream, context, server, "192.0.2.5", 721)
            await client.send_all(wire)
            await client.send_eof()
            assert await read_all(client) == b"\0" * 5
    [job] = context.spool.jobs()
    assert job.origin.peer == "192.0.2.5"
    assert job.attributes["requesting-user-name"] == "alice"
    assert job.documents[0].name == "a.txt"


async def test_idle_timeout_after_command(
    tmp_path: Path, spool: Spool, autojump_clock: trio.testing.MockClock
) -> None:
    context = make_context(tmp_path, spool, idle_timeout="60s", command_timeout="10m")
    client, server = trio.testing.memory_stream_pair()
    with LogWatch() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_stream, context, server, "192.0.2.5", 721)
            await client.send_all(b"\x02lp\n")
            start = trio.current_time()
            assert await read_all(client) == b"\0"  # the ack, then the server hangs up
            assert 60 <= trio.current_time() - start < 61
    assert logs.find("no data for 60 s")


async def test_job_deadline_beats_a_slow_trickle(
    tmp_path: Path, spool: Spool, mock_clock: trio.testing.MockClock
) -> None:
    """One byte every 50 s never trips the 60 s idle timeout; the 10 min
    job deadline ends the connection and discards the job."""
    # Jump virtual time only after 50 ms of real idleness, so the spool's
    # worker threads (real time) do not make the clock race ahead.
    mock_clock.autojump_threshold = 0.05
    context = make_context(tmp_path, spool, idle_timeout="60s", job_timeout="10m")
    client, server = trio.testing.memory_stream_pair()
    ended: list[float] = []

    async def serve() -> None:
        await serve_stream(context, server, "192.0.2.5", 721)
        ended.append(trio.current_time())

    with LogWatch() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            start = trio.current_time()
            await client.send_all(b"\x02lp\n\x03100000 dfA001client\n")
            try:
                while not ended:
                    await client.send_all(b"x")
                    await trio.sleep(50)  # virtual time: under the idle timeout
            except trio.BrokenResourceError:
                pass
    assert ended
    assert 600 <= logs.time_of("job deadline passed") - start < 800
    assert not logs.find("lpd.idle_timeout")
    assert logs.find("job discarded")
    assert list(spool.jobs()) == []


async def test_client_closing_mid_command_line(context: GatewayContext) -> None:
    client, server = trio.testing.memory_stream_pair()
    with LogWatch() as logs, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_stream, context, server, "192.0.2.5", 721)
            await client.send_all(b"\x03l")
            await client.send_eof()
            reply = await read_all(client)
    assert reply[:1] == b"\x01"
    assert logs.find("protocol error")
