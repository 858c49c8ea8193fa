"""Every LPD phase has a deadline, every source a connection cap, and a
listener out of file descriptors backs off.

Slow clients of six kinds, 40 of each (from 40 loopback addresses), each hold a
connection slot only until its deadline: a command line sent a byte at a time,
NUL "keepalives" after ``\\2queue``, an abort (``\\1``) every 0.2 s, a file
header sent a byte at a time, a client that stays after its last job (all
cut by ``lpd.command_timeout``, which what they send does not extend), and a
body trickled a byte at a time (cut by ``lpd.job_timeout``). With fewer slots
than slow clients, a normal client (the real LPRng ``lpr``) waits only until
the first deadlines free slots; its latency is printed (run with ``-s``).

Then: ``lpd.max_connections_per_source`` holds for a trusted host; and with
the open-file limit at 64 (``prlimit``), a flood of connections makes accept
fail with EMFILE: one warning line, no traceback, and the gateway serves again
once connections close.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from tests.gateway_process import GatewayProcess
from tests.integration.test_harden_lpd_spool_lock import args as gateway_args
from tests.lpd_harness import STEP, LogWatch, RawClient, control, document_bytes, gateway, sha256
from tests.lpd_peers import endpoint, lprng

COMMAND_TIMEOUT = 1.0
JOB_TIMEOUT = 3.0
IDLE_TIMEOUT = 10.0  # far above both: what cuts the slow clients is the deadlines
PER_KIND = 40
SLOTS = 128
PACE = 0.2  # the slow clients' pacing (making them slow, not synchronising)
SLACK = 1.5  # scheduling and backlog wait on a loaded test machine
TEXT = b"a normal job during the attack\n" * 100


async def connect_from(source: str, port: int) -> trio.SocketStream:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    await sock.bind((source, 0))
    with trio.fail_after(STEP):
        await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


async def until_closed(stream: trio.SocketStream, pacer: Callable[[], Awaitable[None]]) -> None:
    """Run ``pacer`` (the slow client's sending) until the server closes."""
    async with trio.open_nursery() as nursery:

        async def reader() -> None:
            try:
                while await stream.receive_some(4096):
                    pass
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            nursery.cancel_scope.cancel()

        async def writer() -> None:
            try:
                await pacer()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await trio.sleep_forever()  # the reader ends it

        nursery.start_soon(reader)
        nursery.start_soon(writer)


async def started_job(stream: trio.SocketStream) -> None:
    """``\\2lp`` and its ack."""
    with trio.fail_after(STEP * 3):  # may wait in the backlog for a slot
        await stream.send_all(b"\x02lp\n")
        assert await stream.receive_some(1) == b"\0"


def byte_by_byte(data: bytes) -> Callable[[trio.SocketStream], Awaitable[None]]:
    async def send(stream: trio.SocketStream) -> None:
        for i in range(len(data)):
            await stream.send_all(data[i : i + 1])
            await trio.sleep(PACE)
        await trio.sleep_forever()

    return send


async def command_bytewise(stream: trio.SocketStream) -> float:
    start = trio.current_time()
    await until_closed(stream, lambda: byte_by_byte(b"\x03lp" + b" alice" * 100)(stream))
    return start


def after_job_ack(again: bytes) -> Callable[[trio.SocketStream], Awaitable[float]]:
    """A slow client that sends ``\\2lp`` and then ``again`` every `PACE` s."""

    async def slow(stream: trio.SocketStream) -> float:
        await started_job(stream)
        start = trio.current_time()

        async def pace() -> None:
            while True:
                await stream.send_all(again)
                await trio.sleep(PACE)

        await until_closed(stream, pace)
        return start

    return slow


async def header_bytewise(stream: trio.SocketStream) -> float:
    await started_job(stream)
    start = trio.current_time()
    await until_closed(stream, lambda: byte_by_byte(b"\x03" + b"1" * 18 + b" dfA001h\n")(stream))
    return start


async def idle_after_last_job(stream: trio.SocketStream) -> float:
    await started_job(stream)
    client = RawClient(stream)
    cf = control(files=(("l", "dfA001h", None),))
    assert await client.control_file("cfA001h", cf) == (0, 0)
    assert await client.data_file("dfA001h", b"slow client's job\n") == (0, 0)
    start = trio.current_time()
    await until_closed(stream, trio.sleep_forever)
    return start


async def body_trickle(stream: trio.SocketStream) -> float:
    await started_job(stream)
    start = trio.current_time()  # the job deadline runs from the \2 line
    with trio.fail_after(STEP):
        await stream.send_all(b"\x03100000 dfA001h\n")
        assert await stream.receive_some(1) == b"\0"
    await until_closed(stream, lambda: byte_by_byte(b"x" * 100000)(stream))
    return start


#: kind -> (the slow client, the deadline that must cut it). Times run from the
#: server's first answer, but for the command line (there is none), whose time
#: includes the wait in the backlog (until the first deadlines free slots).
KINDS: dict[str, tuple[Callable[[trio.SocketStream], Awaitable[float]], float]] = {
    "command line byte by byte": (command_bytewise, 2 * COMMAND_TIMEOUT),
    "NUL keepalives after \\2": (after_job_ack(b"\0"), COMMAND_TIMEOUT),
    "\\1 every 0.2 s": (after_job_ack(b"\x01\n"), COMMAND_TIMEOUT),
    "file header byte by byte": (header_bytewise, COMMAND_TIMEOUT),
    "idle after its last job": (idle_after_last_job, COMMAND_TIMEOUT),
    "body byte by byte": (body_trickle, JOB_TIMEOUT),
}


@pytest.mark.peer
async def test_slow_clients_are_cut_at_their_deadlines_and_lpr_is_served(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await gateway(
        nursery,
        tmp_path,
        lpd={
            "command_timeout": COMMAND_TIMEOUT,
            "job_timeout": JOB_TIMEOUT,
            "idle_timeout": IDLE_TIMEOUT,
            "max_connections": SLOTS,
        },
    )
    held: dict[str, list[float]] = {kind: [] for kind in KINDS}
    lpr_latency: list[float] = []
    with LogWatch() as logs, trio.fail_after(60):
        async with trio.open_nursery() as attack:

            async def one(kind: str, source: str) -> None:
                stream = await connect_from(source, gw.port)
                start = await KINDS[kind][0](stream)
                held[kind].append(trio.current_time() - start)
                await stream.aclose()

            for i in range(PER_KIND):
                for kind in KINDS:
                    attack.start_soon(one, kind, f"127.0.0.{2 + i}")
            await logs.wait_for("connection slots in use")  # every slot is taken now
            began = trio.current_time()
            folder = tmp_path / "docs"
            folder.mkdir()
            (folder / "normal.txt").write_bytes(TEXT)
            await lprng("lpr", ["-P", endpoint(gw.port), "normal.txt"], tmp_path, cwd=folder)
            lpr_latency.append(trio.current_time() - began)
    assert "Traceback" not in "\n".join(logs.lines)
    for kind, (_, deadline) in KINDS.items():
        assert len(held[kind]) == PER_KIND, kind
        assert max(held[kind]) <= deadline + SLACK, (kind, max(held[kind]))
    normal = [j for j in gw.jobs() if j.origin.peer == "127.0.0.1"]
    assert len(normal) == 1
    side = await gw.completed(normal[0].id)
    assert document_bytes(gw.out, side["documents"][0]) == TEXT
    slow_jobs = [j for j in gw.jobs() if j.origin.peer != "127.0.0.1"]
    assert len(slow_jobs) == PER_KIND  # the "idle after its last job" clients' jobs
    print(  # the figures for README "Security"
        f"\n{PER_KIND * len(KINDS)} slow LPD clients ({PER_KIND} of each of {len(KINDS)} kinds) "
        f"on {SLOTS} slots: lpr served in {lpr_latency[0]:.2f} s; slowest slow client held "
        + ", ".join(f"{kind}: {max(times):.2f} s" for kind, times in held.items())
    )


async def test_the_connection_cap_holds_for_trusted_hosts(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """40 NUL-keepalive connections from a trusted host: 4 are served, the
    others closed at once without a byte; a client from another address is
    served at once."""
    gw = await gateway(
        nursery,
        tmp_path,
        lpd={"trusted_hosts": ["127.0.0.0/8"], "max_connections_per_source": 4},
    )
    streams = [await connect_from("127.0.0.2", gw.port) for _ in range(40)]
    served = 0
    for stream in streams:
        with trio.fail_after(STEP):
            try:
                await stream.send_all(b"\x02lp\n")
                reply = await stream.receive_some(1)
            except trio.BrokenResourceError:
                reply = b""
        served += reply == b"\0"
    assert served == 4
    client = RawClient(await connect_from("127.0.0.3", gw.port))
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    assert await client.control_file("cfA001h", control(files=(("l", "dfA001h", None),))) == (0, 0)
    assert await client.data_file("dfA001h", TEXT) == (0, 0)
    [job] = [j for j in gw.jobs() if j.origin.peer == "127.0.0.3"]
    assert (await gw.completed(job.id))["documents"][0]["sha256"] == sha256(TEXT)
    for stream in streams:
        await stream.aclose()


async def test_out_of_file_descriptors_backs_off_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With RLIMIT_NOFILE 64 (soft and hard, so it cannot be raised), 100
    connections make accept fail with EMFILE: one warning line, no traceback;
    once they close, a job is taken and completes."""
    wrapper = tmp_path / "python-nofile-64"
    wrapper.write_text(f'#!/bin/sh\nexec prlimit --nofile=64:64 "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    cli = gateway_args(tmp_path, tmp_path / "spool")
    gw = await trio.to_thread.run_sync(lambda: GatewayProcess(cli).ready())
    with gw:
        port = gw.ports["LPD"][-1]
        flood = [await connect_from(f"127.0.0.{2 + i % 10}", port) for i in range(100)]
        await trio.to_thread.run_sync(
            lambda: gw.wait_for(r"lpd: cannot accept connections: EMFILE")
        )
        for stream in flood:
            await stream.aclose()
        with trio.fail_after(STEP * 2):
            client = RawClient(await trio.open_tcp_stream("127.0.0.1", port))
        await client.send(b"\x02lp\n")
        assert await client.ack() == 0
        cf = control(files=(("l", "dfA001h", None),))
        assert await client.control_file("cfA001h", cf) == (0, 0)
        assert await client.data_file("dfA001h", TEXT) == (0, 0)
        await client.aclose()
        await trio.to_thread.run_sync(lambda: gw.wait_for(r"job \d+ completed"))
        log = gw.log
    assert len([line for line in log.splitlines() if "cannot accept connections" in line]) == 1
    assert "Traceback" not in log
