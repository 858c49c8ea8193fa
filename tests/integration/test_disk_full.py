"""A full spool: clients get "no space" (LPD NAK 2) or an IPP error status, nothing
partial is spooled or forwarded, and the gateway takes jobs again once space returns.

The spool is a small tmpfs the test mounts (root only, as in CI) and fills with a
file, so the disk is really full: both the announced-size check and a write that
runs out of space in the middle are exercised.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from gateway import config
from gateway.core.job import JobState
from gateway.ipp import Operation, StatusCode, ValueTag, decode, encode
from tests.helpers import wait_for_state
from tests.ipp_harness import printer_uri, request, running_gateway, url
from tests.lpd_harness import RawClient, control, sidecar

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

SPOOL_SIZE = 16 * 1024 * 1024
BIG = b"B" * (3 * 1024 * 1024)


@pytest.fixture
def small_spool(tmp_path: Path) -> Iterator[Path]:
    spool = tmp_path / "spool"
    spool.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SPOOL_SIZE},mode=0750", "tmpfs", str(spool)],
        check=True,
        timeout=30,
    )
    try:
        yield spool
    finally:
        subprocess.run(["umount", "-l", str(spool)], check=False, timeout=30)


def fill(spool: Path, leave: int) -> Path:
    """Fill the file system but ``leave`` bytes."""
    filler = spool / "filler"
    free = os.statvfs(spool).f_bavail * os.statvfs(spool).f_frsize
    with open(filler, "wb") as fh:
        fh.truncate(0)
        remaining = max(0, free - leave)
        block = b"\0" * (1024 * 1024)
        while remaining > 0:
            fh.write(block[: min(len(block), remaining)])
            remaining -= min(len(block), remaining)
        fh.flush()
        os.fsync(fh.fileno())
    return filler


async def lpd_job(port: int, number: int, data: bytes, *, stream: bool = False) -> list[int | None]:
    """One job, control file first; the acks seen (None where the server closed)."""
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    client = RawClient(tcp)
    try:
        await client.send(b"\x02lp\n")
        acks: list[int | None] = [await client.ack()]
        cf = control(files=(("l", f"dfA{number:03d}client", "big.bin"),))
        acks += list(await client.control_file(f"cfA{number:03d}client", cf))
        if stream:  # LPRng lpr -k: size 0, bytes until the client closes
            await client.send(b"\x03%d dfA%03dclient\n" % (0, number))
            acks.append(await client.ack())
            try:
                await client.send(data)
                await client.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            acks.append(await client.ack())
        else:
            acks += list(await client.data_file(f"dfA{number:03d}client", data))
        return acks
    finally:
        await client.aclose()


async def ipp_job(client: httpx.AsyncClient, running: object, data: bytes) -> int:
    uri = printer_uri(running, "/ipp/print")  # type: ignore[arg-type]
    message = request(Operation.PRINT_JOB, uri)
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "application/octet-stream")

    async def body() -> object:
        yield encode(message)
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    response = await client.post(
        url(running, "/ipp/print"),
        content=body(),  # type: ignore[arg-type]
        headers={"Content-Type": "application/ipp"},
    )
    if response.status_code != 200:
        return 0x0500
    answer, _ = decode(response.content)
    return answer.operation_id_or_status


async def test_full_spool_refuses_cleanly_and_recovers(small_spool: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = config.from_mapping(
        {
            "gateway": {"spool_dir": str(small_spool)},
            "lpd": {"listen": ["127.0.0.1:0"]},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "limits": {"min_free_space": 0},
            "queues": {"lp": {"backend": out.as_uri()}},
        }
    )
    with trio.fail_after(120):
        async with running_gateway(cfg) as running:
            spool = running.context.spool
            port = running.lpd[0][1]
            filler = await trio.to_thread.run_sync(fill, small_spool, 1024 * 1024)

            # Announced size larger than the free space: NAK 2 ("no space") at once.
            acks = await lpd_job(port, 1, BIG)
            assert acks[:3] == [0, 0, 0] and acks[3] == 2, acks
            # A stream (size 0) that runs out of space half-way is refused, not acked.
            acks = await lpd_job(port, 2, BIG, stream=True)
            assert acks[-1] != 0, acks
            # IPP: the write fails half-way; an error status, never successful-ok.
            async with httpx.AsyncClient(timeout=30) as client:
                status = await ipp_job(client, running, BIG)
            assert status >= 0x0400, hex(status)
            assert list(spool.jobs()) == []
            assert not out.exists() or list(out.iterdir()) == []
            leftovers = [p for p in (small_spool / "jobs").rglob("*") if p.is_file()]
            assert leftovers == [], leftovers

            # Space comes back: the same jobs go through.
            filler.unlink()
            acks = await lpd_job(port, 3, BIG)
            assert acks == [0, 0, 0, 0, 0], acks
            async with httpx.AsyncClient(timeout=30) as client:
                assert await ipp_job(client, running, BIG) == StatusCode.SUCCESSFUL_OK
            jobs = list(spool.jobs())
            assert len(jobs) == 2
            for job in jobs:
                await wait_for_state(spool, job.id, JobState.COMPLETED)
                meta = sidecar(out, job.id)
                assert meta["documents"][0]["size"] == len(BIG)
