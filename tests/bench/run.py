"""Run the benchmark harness and print one table (see tests/bench/README.md).

python -m tests.bench.run                 # full: 3 runs, ~25-35 min, root
python -m tests.bench.run --quick         # smoke test: 1 run, small sizes
python -m tests.bench.run --only 1,5      # some scenarios only
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from tests.bench import conversion, fleet, machine, pg_fleet, scenarios
from tests.bench.common import Figure, GiB, MiB, loadavg, render_table, size_text
from tests.bench.scenarios import Settings, say

#: ippeveprinter exits when avahi-daemon restarts (tests.peers.eve restarts it
#: for every test session on the machine): a scenario using it is tried again.
ATTEMPTS = 3

SCENARIOS = {
    "1": "lpd-ingest",
    "2": "ipp-ingest",
    "3": "end-to-end",
    "4": "large",
    "5": "printer-attributes",
    "6": "idle",
    "7": "status",
    "8": "fleet",
    "9": "conversion",
    "10": "pg-fleet",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__)
    parser.add_argument("--runs", type=int, help="runs per figure (default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="fewer jobs, smaller documents")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios: numbers 1-10 or names "
        + ", ".join(f"{k}={v}" for k, v in SCENARIOS.items()),
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/var/tmp"),
        help="where spools and test files go (needs ~6 GiB free for scenario 4)",
    )
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    return parser.parse_args(argv)


def selected(only: str) -> list[str]:
    if not only:
        return list(SCENARIOS.values())
    names = []
    for raw in only.split(","):
        item = raw.strip()
        name = SCENARIOS.get(item, item)
        if name not in SCENARIOS.values():
            raise SystemExit(f"unknown scenario {item!r}; choose from {SCENARIOS}")
        names.append(name)
    return names


def machine_limits(s: Settings, work: Path) -> list[Figure]:
    loop = Figure("machine", "loopback TCP, 1 connection", "MB/s", True)
    write = Figure(
        "machine", f"sequential write {size_text(s.machine_bytes)} + fsync", "MB/s", True
    )
    small = Figure("machine", "1 KiB files created+fsync'ed", "files/s", True)
    for run in range(s.runs):
        loop.gateway.append(machine.loopback_mbps(s.machine_bytes))
        write.gateway.append(machine.fsync_write_mbps(work, s.machine_bytes))
        small.gateway.append(machine.small_files_per_s(work, s.small_files))
        say(
            f"machine run {run + 1}: loopback {loop.gateway[-1]:.0f} MB/s, "
            f"fsync write {write.gateway[-1]:.0f} MB/s, {small.gateway[-1]:.0f} files/s"
        )
    return [loop, write, small]


async def main(args: argparse.Namespace) -> int:
    s = Settings.quick() if args.quick else Settings()
    if args.runs:
        s.runs = args.runs
    names = selected(args.only)
    if os.geteuid() != 0:
        print("the peers (LPRng, BSD lpd, cupsd, ippeveprinter) need root", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 8192:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    need = (s.huge + 2 * s.large + GiB) if "large" in names else s.machine_bytes + 512 * MiB
    free = shutil.disk_usage(args.work_dir).free
    if free < need:
        print(f"{args.work_dir}: {free / GiB:.1f} GiB free, need {need / GiB:.1f}", file=sys.stderr)
        return 2
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_start = loadavg()
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="lpd-ipp-bench-", dir=args.work_dir))
    work.chmod(0o755)
    figures: list[Figure] = []
    failures: list[str] = []
    try:
        limits = await trio.to_thread.run_sync(machine_limits, s, work)
        jobs: dict[str, Callable[[], Awaitable[None]]] = {
            "lpd-ingest": lambda: scenarios.lpd_ingest(s, work, figures),
            "ipp-ingest": lambda: scenarios.ipp_ingest(s, work, figures),
            "end-to-end": lambda: scenarios.end_to_end(s, work, figures),
            "large": lambda: scenarios.large_documents(s, work, figures),
            "printer-attributes": lambda: scenarios.printer_attributes(s, work, figures),
            "idle": lambda: scenarios.idle_connections(s, work, figures),
            "status": lambda: scenarios.status_at_scale(s, work, figures),
            "fleet": lambda: fleet.fleet(s, work, figures),
            "conversion": lambda: conversion.conversion(s, work, figures),
            "pg-fleet": lambda: pg_fleet.pg_fleet(s, work, figures),
        }
        for name in names:
            say(f"scenario {name} (load {loadavg()})")
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await jobs[name]()
                except Exception as exc:  # one scenario failing must not lose the others
                    traceback.print_exc()
                    if "ippeveprinter exited" in repr(exc) and attempt < ATTEMPTS:
                        say(f"scenario {name}: ippeveprinter died (avahi restarted?); again")
                        continue
                    failures.append(f"{name}: {exc!r}")
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = (time.perf_counter() - t0) / 60
    header = [
        f"lpd-ipp-gateway benchmark, {started}, {minutes:.1f} min, "
        f"{'quick' if args.quick else 'full'}, {s.runs} run(s) per figure",
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, "
        f"Linux {platform.release()}, Python {platform.python_version()}",
        f"load average (1/5/15 min) at start {load_start}, at end {loadavg()}",
        "cells: median [min-max] over runs; ratio = gateway median / peer median",
        "",
    ]
    table = "\n".join(header) + render_table(figures, limits)
    if failures:
        table += "\n\nscenarios that failed:\n" + "\n".join(f"  {f}" for f in failures)
    print(table)
    if args.output:
        args.output.write_text(table + "\n")
    return 1 if failures else 0


def cli(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return trio.run(main, args)


if __name__ == "__main__":
    sys.exit(cli())
