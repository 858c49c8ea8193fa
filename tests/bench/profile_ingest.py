"""Profile the gateway's ingest path with py-spy (not a project dependency).

    pip install py-spy
    sudo python -m tests.bench.profile_ingest [--jobs 1500] [--out /tmp/profile]

Starts a gateway (file backend), attaches ``py-spy record`` to it, sends 1 KiB
jobs from 8 clients over LPD and then over IPP (``--kinds lpd-large``: one
512 MiB LPD job), and writes for each a collapsed-stack file, then prints the
top functions by own time and by total time from the collapsed stacks.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import trio

from tests.bench import loadgen, peers


async def profile(kind: str, jobs: int, out: Path, work: Path) -> Path:
    async with peers.gateway(work, name=f"gw-profile-{kind}") as gw:
        await loadgen.lpd_load(gw.lpd_port, 1, 5, 1024)
        collapsed = out / f"{kind}.collapsed"
        spy = await trio.lowlevel.open_process(
            [
                shutil.which("py-spy") or "py-spy",
                "record",
                "--pid",
                str(gw.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await trio.sleep(1.0)
        if kind == "lpd":
            result = await loadgen.lpd_load(gw.lpd_port, 8, jobs, 1024)
            print(f"{kind}: {result.rate:.1f} jobs/s while profiled", file=sys.stderr)
        elif kind == "ipp":
            result = await loadgen.ipp_print_load(gw.ipp, 8, jobs, 1024)
            print(f"{kind}: {result.rate:.1f} jobs/s while profiled", file=sys.stderr)
        else:
            size = 512 * 1024 * 1024
            elapsed = await loadgen.lpd_job(gw.lpd_port, size=size, block=b"\xa5" * (1 << 20))
            print(f"{kind}: {size / elapsed / 1e6:.0f} MB/s while profiled", file=sys.stderr)
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        with trio.move_on_after(30):
            await spy.wait()
        return collapsed


def summarize(collapsed: Path, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        samples += count
        frames = stack.split(";")
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames}:
            total[frame] += count
    lines = [f"{collapsed.name}: {samples} samples", "  own time:"]
    lines += [f"    {100 * c / samples:5.1f}%  {f}" for f, c in own.most_common(top)]
    lines.append("  total time (function and what it calls):")
    lines += [f"    {100 * c / samples:5.1f}%  {f}" for f, c in total.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file.py)``; line numbers dropped."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name


async def main(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lpd-ipp-profile-", dir="/var/tmp"))
    try:
        for kind in args.kinds.split(","):
            collapsed = await profile(kind, args.jobs, args.out, work)
            print(summarize(collapsed))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1500)
    parser.add_argument(
        "--kinds", default="lpd,ipp", help="lpd, ipp (1 KiB jobs), lpd-large (one 512 MiB job)"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/gateway-profile"))
    trio.run(main, parser.parse_args())
