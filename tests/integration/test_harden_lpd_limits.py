"""LPD space promises: ``limits.max_job_size`` bounds a job's total (streamed
files included), and ack 1 reserves the announced size, so jobs that arrive
together are never all promised the same free space; a reservation never
outlives its file (end, refusal, lost connection, timeout)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

from tests.lpd_harness import STEP, LogWatch, RawClient, control, gateway, sha256

MiB = 1024 * 1024


async def open_job(port: int) -> RawClient:
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    client = RawClient(stream)
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    return client


async def test_job_limit_counts_every_file_streamed_ones_too(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Limit 100 000: a 60 000-byte file is taken; a second one of 60 000
    streamed with size 0 (LPRng lpr -k) would make the job 120 000, so it is
    refused (NAK 2 with the reason) and the job is discarded."""
    gw = await gateway(nursery, tmp_path, limits={"max_job_size": 100_000})
    with LogWatch() as logs:
        client = await open_job(gw.port)
        cf = control(files=(("l", "dfA001h", "a"), ("l", "dfB001h", "b")))
        assert await client.control_file("cfA001h", cf) == (0, 0)
        assert await client.data_file("dfA001h", b"a" * 60_000) == (0, 0)
        await client.send(b"\x030 dfB001h\n")
        assert await client.ack() == 0  # no size to check yet
        try:
            await client.send(b"b" * 60_000)
            await client.send_eof()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the gateway hung up first
        reply = await client.read_all()
        await logs.wait_for("job discarded")
    assert reply[:1] == b"\x02"
    assert b"larger than the limit of 100000 bytes" in reply
    assert gw.jobs() == []
    assert list((gw.spool.root / "jobs").iterdir()) == []


async def test_job_limit_allows_a_job_just_within(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The same limit, a job under it: control file, 50 000 bytes, then 40 000
    streamed until the close: received."""
    gw = await gateway(nursery, tmp_path, limits={"max_job_size": 100_000})
    with LogWatch() as logs:
        client = await open_job(gw.port)
        cf = control(files=(("l", "dfA001h", "a"), ("l", "dfB001h", "b")))
        assert await client.control_file("cfA001h", cf) == (0, 0)
        assert await client.data_file("dfA001h", b"a" * 50_000) == (0, 0)
        await client.send(b"\x030 dfB001h\n")
        assert await client.ack() == 0
        await client.send(b"b" * 40_000)
        await client.send_eof()
        assert await client.read_all() == b"\0"
        await logs.wait_for(r"^job \d+ received ")
    [job] = gw.jobs()
    assert job.size == 90_000


@contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` (made here) as a tmpfs of ``size`` (``64m``): a disk that
    really fills up. Root only, as in CI; the test is skipped otherwise."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0750", "tmpfs", str(folder)],
        check=True,
        timeout=30,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


@pytest.fixture
def small_spool(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs as the spool."""
    with tmpfs(tmp_path / "spool", "64m") as spool:
        yield spool


async def test_ack_1_reserves_room_for_jobs_arriving_together(
    nursery: trio.Nursery, tmp_path: Path, small_spool: Path
) -> None:
    """Six clients announce 20 MiB each at once on a 64 MiB spool; none sends a
    byte until every one has its ack 1. Those that got ack 1 all succeed; the
    others got NAK 2 ("no space", BSD senders retry later) at ack 1 itself."""
    gw = await gateway(
        nursery, tmp_path, gateway={"spool_dir": str(small_spool)}, limits={"min_free_space": 0}
    )
    size = 20 * MiB
    data = bytes(range(256)) * (size // 256)
    clients = 6
    fits = gw.spool.free_space() // size
    assert 1 <= fits < clients
    first_acks: dict[int, int | None] = {}
    results: dict[int, tuple[int | None, bytes]] = {}
    all_answered = trio.Event()

    async def one(n: int) -> None:
        client = await open_job(gw.port)
        df = f"dfA{n:03d}h"
        assert await client.control_file(f"cfA{n:03d}h", control(files=(("l", df, None),))) == (
            0,
            0,
        )
        await client.send(b"\x03%d %s\n" % (size, df.encode()))
        first_acks[n] = await client.ack()
        if len(first_acks) == clients:
            all_answered.set()
        with trio.fail_after(STEP):
            await all_answered.wait()
        if first_acks[n] != 0:
            results[n] = (first_acks[n], await client.read_line())
            await client.aclose()
            return
        for i in range(0, size, MiB):
            await client.send(data[i : i + MiB])
        await client.send(b"\0")
        results[n] = (await client.ack(), b"")
        await client.aclose()

    with trio.fail_after(120):
        async with trio.open_nursery() as inner:
            for n in range(clients):
                inner.start_soon(one, n)
    acked = sorted(n for n, ack in first_acks.items() if ack == 0)
    refused = sorted(n for n, ack in first_acks.items() if ack != 0)
    assert len(acked) == fits, first_acks
    for n in acked:
        assert results[n] == (0, b""), (n, results[n])  # ack 2: durably committed
    for n in refused:
        ack, reason = results[n]
        assert ack == 2 and b"not enough free space" in reason, (n, results[n])
    assert len(gw.jobs()) == fits
    for job in gw.jobs():
        side = await gw.completed(job.id)
        assert side["documents"][0]["sha256"] == sha256(data)
    assert gw.spool.reserved == 0


async def test_reservations_never_leak(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Whatever ends a file after ack 1 (its end, a NAK, a lost connection, a
    timeout, a bad trailer), the room reserved for it is given back."""
    gw = await gateway(nursery, tmp_path, lpd={"idle_timeout": 0.5})
    spool = gw.spool
    with LogWatch() as logs:
        # 1. a lost connection right after ack 1
        client = await open_job(gw.port)
        await client.send(b"\x03%d dfA001h\n" % (5 * MiB))
        assert await client.ack() == 0
        assert spool.reserved == 5 * MiB
        await client.aclose()
        await logs.wait_for("receive-job done")  # logged once the connection's work ended
        assert spool.reserved == 0
        # 2. a timeout half-way
        client = await open_job(gw.port)
        await client.send(b"\x03%d dfA002h\n" % (5 * MiB) + b"x" * MiB)
        assert await client.ack() == 0
        await logs.wait_for("lpd.idle_timeout")  # logged once the job is discarded
        assert spool.reserved == 0
        await client.aclose()
        # 3. a non-NUL trailer (the sender gave up on the file), then a good file
        client = await open_job(gw.port)
        await client.send(b"\x031000 dfA003h\n")
        assert await client.ack() == 0
        await client.send(b"y" * 1000 + b"\x01")
        await logs.wait_for("instead of NUL")
        assert await client.data_file("dfA003h", b"z" * 1000) == (0, 0)
        assert spool.reserved == 0
        await client.aclose()
