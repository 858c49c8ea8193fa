"""One gateway per spool folder. A second gateway started on a folder in use
exits at once (non-zero) with one line naming the folder and the process that
holds it, and before it reads or sweeps anything: the first one's upload in
progress survives and becomes a job. A gateway killed with SIGKILL leaves no
stale lock behind."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from tests.gateway_process import GatewayProcess
from tests.lpd_harness import STEP, RawClient, control

DATA = b"half now, half later\n" * 100_000  # 2 MiB: streamed to disk, not buffered


def args(tmp_path: Path, spool: Path) -> list[str]:
    """The command line of a gateway on ``spool``, free ports, queue lp -> tmp/out."""
    return [
        "--spool-dir",
        str(spool),
        "--lpd-listen",
        "127.0.0.1:0",
        "--ipp-listen",
        "127.0.0.1:0",
        "--queue",
        f"lp={(tmp_path / 'out').as_uri()}",
    ]


async def test_a_second_gateway_on_the_same_spool_refuses_to_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    first = await trio.to_thread.run_sync(lambda: GatewayProcess(args(tmp_path, spool)).ready())
    with first:
        port = first.ports["LPD"][-1]
        # An upload half done: its folder is in jobs/ and no record names it yet.
        with trio.fail_after(STEP):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        client = RawClient(stream)
        await client.send(b"\x02lp\n")
        assert await client.ack() == 0
        cf = control(files=(("l", "dfA001h", "half"),))
        assert await client.control_file("cfA001h", cf) == (0, 0)
        await client.send(b"\x03%d dfA001h\n" % len(DATA))
        assert await client.ack() == 0
        await client.send(DATA[: len(DATA) // 2])
        with trio.fail_after(STEP):
            while not list((spool / "jobs").glob("*/doc-1.part")):
                await trio.sleep(0.01)  # bounded wait for the file to reach the disk
        uploads = list((spool / "jobs").iterdir())

        second = GatewayProcess(args(tmp_path, spool))
        with second:
            code, log = await trio.to_thread.run_sync(second.finish)
        assert code != 0
        lines = [line for line in log.splitlines() if line.strip()]
        [line] = [line for line in lines if "spool" in line]
        assert str(spool) in line
        assert re.search(rf"\bprocess {first.proc.pid}\b", line), line
        assert "Traceback" not in log
        assert not any("listening for" in line for line in lines)  # it never served
        assert list((spool / "jobs").iterdir()) == uploads  # nothing was swept

        # The first gateway's upload goes on and becomes a job.
        await client.send(DATA[len(DATA) // 2 :] + b"\0")
        assert await client.ack() == 0
        await client.aclose()
        await trio.to_thread.run_sync(lambda: first.wait_for(r"job \d+ completed"))


async def test_the_lock_goes_with_a_killed_gateway(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    first = await trio.to_thread.run_sync(lambda: GatewayProcess(args(tmp_path, spool)).ready())
    with first:
        first.kill()
    again = await trio.to_thread.run_sync(lambda: GatewayProcess(args(tmp_path, spool)).ready())
    with again:
        assert (spool / "lock").read_text().strip() == str(again.proc.pid)
