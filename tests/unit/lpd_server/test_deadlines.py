"""Phase deadlines of one LPD connection, in virtual time: what a slow client
sends does not extend the wait for a line (``lpd.command_timeout``), and the
whole receive-job command ends at ``lpd.job_timeout``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from gateway.core.spool import Spool
from gateway.lpd.events import OPEN_ENDED_SIZE, DataFileHeader
from gateway.lpd.server import serve_stream
from tests.lpd_harness import LogWatch
from tests.unit.lpd_server.test_connection import CF, DF, make_context


async def slow_client(
    tmp_path: Path, spool: Spool, first: bytes, every: bytes, **lpd: object
) -> tuple[float, LogWatch]:
    """Send ``first``, then ``every`` each 5 s (virtual) until the server hangs
    up; how long the connection lasted, and the log."""
    context = make_context(tmp_path, spool, idle_timeout="60s", **lpd)
    client, server = trio.testing.memory_stream_pair()
    with LogWatch() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_stream, context, server, "192.0.2.5", 721)
            start = trio.current_time()

            async def pace() -> None:
                await client.send_all(first)
                while True:
                    await trio.sleep(5)  # the client's pacing, virtual time
                    await client.send_all(every)

            nursery.start_soon(pace)
            while await client.receive_some(65536):
                pass
            ended = trio.current_time() - start
            nursery.cancel_scope.cancel()
    return ended, logs


@pytest.mark.parametrize(
    ("first", "every", "what"),
    [
        (b"\x03l", b"p", "command line"),  # a command line a byte at a time
        (b"\x02lp\n", b"\0", "subcommand"),  # NUL keepalives
        (b"\x02lp\n", b"\x01\n", "subcommand"),  # an abort every 5 s
        (b"\x02lp\n\x03", b"1", "subcommand"),  # a file header a byte at a time
    ],
)
async def test_what_a_slow_client_sends_does_not_extend_the_wait(
    tmp_path: Path,
    spool: Spool,
    autojump_clock: trio.testing.MockClock,
    first: bytes,
    every: bytes,
    what: str,
) -> None:
    ended, logs = await slow_client(tmp_path, spool, first, every, command_timeout="30s")
    assert 30 <= ended < 31
    assert logs.find(rf"no {what} within 30 s \(lpd.command_timeout\)")


async def test_the_whole_receive_job_has_the_job_timeout(
    tmp_path: Path, spool: Spool, mock_clock: trio.testing.MockClock
) -> None:
    """Many small jobs, each in time, but the connection as a whole is over
    at lpd.job_timeout (2 min): the job then in progress is discarded."""
    # Jump virtual time only after 50 ms of real idleness, so the spool's
    # worker threads (real time) do not make the clock race ahead.
    mock_clock.autojump_threshold = 0.05
    job = b"\x02%d cfA001client\n" % len(CF) + CF + b"\0" + b"\x03%d dfA001client\n" % len(DF) + DF
    ended, logs = await slow_client(
        tmp_path, spool, b"\x02lp\n" + job + b"\0", job + b"\0", job_timeout="2m"
    )
    assert 120 <= ended < 121
    assert logs.find(r"receive-job deadline passed \(lpd.job_timeout\)")
    assert 20 <= len(list(spool.jobs())) <= 120 // 5 + 1  # every 5 s, until the deadline


async def test_idle_after_the_last_job_is_an_info_line(
    tmp_path: Path, spool: Spool, autojump_clock: trio.testing.MockClock
) -> None:
    job = (
        b"\x02%d cfA001client\n" % len(CF)
        + CF
        + b"\0"
        + b"\x03%d dfA001client\n" % len(DF)
        + DF
        + b"\0"
    )
    context = make_context(tmp_path, spool, idle_timeout="60s", command_timeout="10s")
    client, server = trio.testing.memory_stream_pair()
    with LogWatch() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_stream, context, server, "192.0.2.5", 721)
            await client.send_all(b"\x02lp\n" + job)
            received = b""
            while chunk := await client.receive_some(65536):
                received += chunk
    assert received == b"\0" * 5
    assert logs.find(r"closed after its last job: no subcommand within 10 s")
    [job_] = spool.jobs()
    assert job_.attributes["requesting-user-name"] == "alice"


@pytest.mark.parametrize(
    ("size", "open_ended"),
    [
        (0, False),  # size 0 is its own case (empty file or LPRng stream)
        (4096, False),
        (2**32, False),
        (2**31 - 1, True),  # CUPS without large-file support
        (999_999_999_999, True),  # CUPS mode=stream
        (125_899_906_843_000, True),  # Windows without "LPR byte counting"
        (OPEN_ENDED_SIZE, True),
        (OPEN_ENDED_SIZE - 1, False),
    ],
)
def test_open_ended_sizes(size: int, open_ended: bool) -> None:
    assert DataFileHeader(size=size, name="dfA001h").open_ended is open_ended
