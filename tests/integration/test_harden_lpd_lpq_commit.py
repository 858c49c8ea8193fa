"""lpq shows a spool that cannot commit: while the last commit failed (here a
really full disk: a small tmpfs, filled) and none has worked since, the status
line is ``Warning: lp is down: spool cannot commit: ...``, not "ready"; once a
commit works again, "lp is ready" again. Read by a raw client and by the real
LPRng lpq."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.integration.test_harden_lpd_limits import tmpfs
from tests.lpd_harness import STEP, Gateway, RawClient, control, gateway
from tests.lpd_peers import endpoint, lprng

pytestmark = pytest.mark.peer  # LPRng lpq


@pytest.fixture
def small_spool(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs as the spool."""
    with tmpfs(tmp_path / "spool", "8m") as spool:
        yield spool


def fill(spool: Path) -> Path:
    """Fill the file system to the last byte (blocking)."""
    filler = spool / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


async def empty_job(
    gw: Gateway, number: int, spool: Path | None = None
) -> tuple[int | None, bytes]:
    """A job, control file first, whose data file is empty: it needs no room,
    so on a full disk its ack 1 is still given and only the commit can fail.
    With ``spool``, the disk is filled between the two files. (last ack, reason)."""
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
    client = RawClient(stream)
    try:
        await client.send(b"\x02lp\n")
        assert await client.ack() == 0
        df = f"dfA{number:03d}h"
        cf = control(files=(("l", df, None),))
        assert await client.control_file(f"cfA{number:03d}h", cf) == (0, 0)
        if spool is not None:
            await trio.to_thread.run_sync(fill, spool)
        first, last = await client.data_file(df, b"")
        assert first == 0
        reason = await client.read_line() if last else b""
        return last, reason
    finally:
        await client.aclose()


async def lpq_text(gw: Gateway) -> str:
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
    client = RawClient(stream)
    await client.send(b"\x03lp\n")
    text = (await client.read_all()).decode()
    await client.aclose()
    return text


@pytest.mark.sqlite_only  # fills the disk under spool.db; a PostgreSQL store is elsewhere
async def test_lpq_says_down_while_the_spool_cannot_commit(
    nursery: trio.Nursery, tmp_path: Path, small_spool: Path
) -> None:
    gw = await gateway(
        nursery,
        tmp_path,
        gateway={"spool_dir": str(small_spool)},
        limits={"min_free_space": 0},
    )
    assert await empty_job(gw, 1) == (0, b"")
    [job] = gw.jobs()
    await gw.completed(job.id)
    assert (await lpq_text(gw)).splitlines()[0] == "lp is ready"

    last, reason = await empty_job(gw, 2, small_spool)
    assert last == 2 and b"no space left in the spool" in reason, (last, reason)
    text = await lpq_text(gw)
    assert (
        text.splitlines()[0]
        == "Warning: lp is down: spool cannot commit: no space left in the spool"
    )
    assert "is ready" not in text
    shown = await lprng("lpq", ["-P", endpoint(gw.port)], tmp_path)
    assert b"spool cannot commit: no space left in the spool" in shown.stdout

    (small_spool / "filler").unlink()
    assert await empty_job(gw, 3) == (0, b"")
    assert "is down" not in await lpq_text(gw)
    assert len(gw.jobs()) == 2
