"""The seven scenarios of issue 9 (the eighth, issue 17's fleet, is in fleet.py).
Each appends `Figure` rows to a list.

Every figure has one sample per run (``Settings.runs``); within a run every
system is measured in turn with the same load generator, so slow drift of
the machine hits all of them alike. Peers are started once per scenario.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from gateway.ipp import DelimiterTag, decode
from tests.bench import loadgen, machine, peers
from tests.bench.common import Figure, GiB, KiB, MiB, percentile, reset_peak_rss, size_text
from tests.bench.loadgen import HttpConnection

JOB_SIZE = KiB


@dataclass
class Settings:
    runs: int = 3
    ingest_jobs: int = 300
    e2e_jobs: int = 100
    large: int = 1024 * MiB
    huge: int = 5 * 1024 * MiB
    gpa_seconds: float = 3.0
    idle_connections: int = 1000
    latency_jobs: int = 30
    history_jobs: int = 10000
    status_samples: int = 30
    machine_bytes: int = 1024 * MiB
    small_files: int = 1000
    fleet_queues: int = 2000
    fleet_idle_seconds: float = 60.0

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            runs=1,
            ingest_jobs=40,
            e2e_jobs=30,
            large=64 * MiB,
            huge=256 * MiB,
            gpa_seconds=1.0,
            idle_connections=1000,
            latency_jobs=10,
            history_jobs=500,
            status_samples=10,
            machine_bytes=256 * MiB,
            small_files=200,
            fleet_idle_seconds=20.0,
        )


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def at_least(factor: float) -> Callable[[float, float | None], bool]:
    return lambda gw, peer: peer is not None and gw >= factor * peer


def at_most(factor: float) -> Callable[[float, float | None], bool]:
    return lambda gw, peer: peer is not None and gw <= factor * peer


def below(limit: float) -> Callable[[float, float | None], bool]:
    return lambda gw, _: gw < limit


# -- 1. LPD ingest -----------------------------------------------------------


async def lpd_ingest(s: Settings, work: Path, out: list[Figure]) -> None:
    async with AsyncExitStack() as stack:
        gw = await stack.enter_async_context(peers.gateway(work))
        lprng = await stack.enter_async_context(peers.lprng())
        bsd = await stack.enter_async_context(peers.bsd_lpd())
        cups = await stack.enter_async_context(peers.cupsd(work))
        cupslpd = await stack.enter_async_context(peers.cups_lpd(cups))
        systems: list[tuple[Any, int]] = [
            (gw, gw.lpd_port),
            (lprng, lprng.port),
            (bsd, bsd.port),
            (cupslpd, cupslpd.port),
        ]
        dead: dict[str, str] = {}

        async def batch(system: Any, port: int, clients: int, jobs: int) -> Any:
            """One batch; None when cupsd behind cups-lpd has died (it has exited
            with SIGSEGV on cups-lpd's Send-Document here): its cells are left out."""
            if system.name in dead:
                return None
            try:
                return await _lpd_batch(system, port, clients, jobs)
            except Exception:
                daemon = cups.process
                if system is not cupslpd or daemon is None or daemon.poll() is None:
                    raise
                dead[system.name] = f"cupsd exited ({daemon.returncode})"
                say(f"LPD: {dead[system.name]} behind cups-lpd; its cells are missing")
                return None

        for system, port in systems:  # warm-up: one job each
            await batch(system, port, 1, 1)
        for clients in (1, 8):
            fig = Figure(
                "1 LPD ingest",
                f"1 KiB jobs, {clients} client{'s' if clients > 1 else ''}",
                "jobs/s",
                True,
                target=">=2x best LPD" if clients == 8 else "",
                check=at_least(2.0) if clients == 8 else None,
            )
            lat = Figure("1 LPD ingest", f"latency p50, {clients} clients", "ms", False)
            for run in range(s.runs):
                for system, port in systems:
                    result = await batch(system, port, clients, s.ingest_jobs)
                    if result is None:
                        continue
                    say(f"LPD {system.name} c={clients} #{run + 1}: {result.rate:.1f} jobs/s")
                    samples = fig.gateway if system is gw else fig.peer(system.name)
                    samples.append(result.rate)
                    p50 = statistics.median(result.latencies) * 1000
                    (lat.gateway if system is gw else lat.peer(system.name)).append(p50)
            for name, why in dead.items():
                fig.note += f"{name}: {why}; its cells are missing. "
            out += [fig, lat]


async def _lpd_batch(system: Any, port: int, clients: int, jobs: int) -> loadgen.LoadResult:
    result = await loadgen.lpd_load(port, clients, jobs, JOB_SIZE)
    system.sent += jobs
    if isinstance(system, peers.LpdPeer):
        system.sent_bytes += jobs * JOB_SIZE
    await system.settle()
    return result


# -- 2. IPP ingest -----------------------------------------------------------


async def ipp_ingest(s: Settings, work: Path, out: list[Figure]) -> None:
    async with AsyncExitStack() as stack:
        gw = await stack.enter_async_context(peers.gateway(work))
        cups = await stack.enter_async_context(peers.cupsd(work))
        systems: list[Any] = [gw, cups]
        for system in systems:
            await loadgen.ipp_print_load(system.ipp, 1, 1, JOB_SIZE)
            system.sent += 1
        for clients in (1, 8):
            fig = Figure(
                "2 IPP ingest",
                f"1 KiB Print-Job, {clients} client{'s' if clients > 1 else ''}",
                "jobs/s",
                True,
                target=">=1x cupsd" if clients == 8 else "",
                check=at_least(1.0) if clients == 8 else None,
                versus="cupsd",
            )
            for run in range(s.runs):
                for system in systems:
                    result = await loadgen.ipp_print_load(
                        system.ipp, clients, s.ingest_jobs, JOB_SIZE
                    )
                    system.sent += s.ingest_jobs
                    await system.settle()
                    say(f"IPP {system.name} c={clients} #{run + 1}: {result.rate:.1f} jobs/s")
                    (fig.gateway if system is gw else fig.peer(system.name)).append(result.rate)
            out.append(fig)


# -- 3. End to end -----------------------------------------------------------


async def end_to_end(s: Settings, work: Path, out: list[Figure]) -> None:
    clients = 8
    async with AsyncExitStack() as stack:
        eve = await stack.enter_async_context(peers.ippeveprinter(work))
        lprng = await stack.enter_async_context(peers.lprng())
        eve_uri = f"ipp://127.0.0.1:{eve.port}/ipp/print"
        # Direct clients send without waiting for the previous job to print, so the
        # figure with a target does the same (waitjob=false); the default is shown too.
        gw_eve = await stack.enter_async_context(
            peers.gateway(work, eve_uri, name="gw-to-eve", options={"waitjob": False})
        )
        gw_eve_wait = await stack.enter_async_context(
            peers.gateway(work, eve_uri, name="gw-to-eve-waitjob")
        )
        # LPRng's queue prints to a file and takes anything, as the direct client
        # sends it: the gateway's lpd:// queue says so (`formats`), or it would
        # convert the bench's PDF-looking documents to PostScript (and fail on them).
        gw_lpd = await stack.enter_async_context(
            peers.gateway(
                work,
                f"lpd://127.0.0.1:{lprng.port}/lp",
                name="gw-to-lprng",
                options={"formats": "application/pdf,application/postscript,text/plain"},
            )
        )
        to_eve = Figure(
            "3 end to end",
            f"LPD -> gateway -> ippeveprinter, {clients} clients",
            "jobs/s",
            True,
            target=">=0.9x direct",
            check=at_least(0.9),
        )
        to_eve_wait = Figure(
            "3 end to end",
            f"LPD -> gateway -> ippeveprinter, {clients} clients, waitjob=true (default)",
            "jobs/s",
            True,
        )
        to_eve_wait.peers["IPP direct to eve"] = to_eve.peer("IPP direct to eve")
        to_lpd = Figure(
            "3 end to end",
            f"IPP -> gateway -> LPRng lpd, {clients} clients",
            "jobs/s",
            True,
            target=">=0.9x direct",
            check=at_least(0.9),
        )
        n = s.e2e_jobs

        async def lpd_via_gateway() -> None:
            await loadgen.lpd_load(gw_eve.lpd_port, clients, n, JOB_SIZE)

        async def lpd_via_gateway_waitjob() -> None:
            await loadgen.lpd_load(gw_eve_wait.lpd_port, clients, n, JOB_SIZE)

        async def ipp_direct() -> None:
            await loadgen.ipp_print_load(eve.ipp, clients, n, JOB_SIZE)

        async def ipp_via_gateway() -> None:
            await loadgen.ipp_print_load(gw_lpd.ipp, clients, n, JOB_SIZE)

        async def lpd_direct() -> None:
            await loadgen.lpd_load(lprng.port, clients, n, JOB_SIZE)

        def lprng_jobs() -> int:
            return lprng.printed_jobs(JOB_SIZE)

        # warm-up: the gateways connect to their backends once
        for warm in (gw_eve, gw_eve_wait):
            before = eve.received()
            await loadgen.lpd_load(warm.lpd_port, 1, 1, JOB_SIZE)
            await peers.wait_until(
                lambda b=before: eve.received() >= b + 1, "warm-up job at ippeveprinter"
            )
        await loadgen.ipp_print_load(gw_lpd.ipp, 1, 1, JOB_SIZE)
        await peers.wait_until(lambda: lprng_jobs() >= 1, "warm-up job at LPRng")
        lprng.sent_bytes += JOB_SIZE
        for run in range(s.runs):
            for label, send, counter, samples in (
                ("LPD->gw->eve", lpd_via_gateway, eve.received, to_eve.gateway),
                (
                    "LPD->gw->eve waitjob",
                    lpd_via_gateway_waitjob,
                    eve.received,
                    to_eve_wait.gateway,
                ),
                ("IPP->eve direct", ipp_direct, eve.received, to_eve.peer("IPP direct to eve")),
                ("IPP->gw->LPRng", ipp_via_gateway, lprng_jobs, to_lpd.gateway),
                (
                    "LPD->LPRng direct",
                    lpd_direct,
                    lprng_jobs,
                    to_lpd.peer("LPD direct to LPRng"),
                ),
            ):
                base = counter()
                start = time.perf_counter()
                await send()
                await peers.wait_until(
                    lambda c=counter, b=base: c() >= b + n, f"{label}: all {n} jobs"
                )
                rate = (counter() - base) / (time.perf_counter() - start)
                samples.append(rate)
                say(f"end to end {label} run {run + 1}: {rate:.1f} jobs/s")
                if counter is lprng_jobs:
                    lprng.sent_bytes += n * JOB_SIZE
                    await lprng.settle()
        to_eve.note = (
            "ippeveprinter runs '-c done.sh' (exits at once); a job counts when its file is in "
            "ippeveprinter's spool (-k); queue option waitjob=false, and ippeveprinter's "
            "server-error-busy is asked again after 5 ms, doubling"
        )
        to_eve_wait.note = (
            "the default: the next job goes once the printer is seen to finish the last "
            "(first status poll after 5 ms, doubling)"
        )
        to_lpd.note = "a job counts when LPRng has printed it (appended to its output file)"
        out += [to_eve, to_eve_wait, to_lpd]


# -- 4. Large documents ------------------------------------------------------


class RssSampler:
    """Sample a process's RSS every 100 ms, and at each ``step`` bytes sent."""

    def __init__(self, pid: int, step: int) -> None:
        self.pid = pid
        self.peak = 0
        self.step = step
        self.curve: list[tuple[int, int]] = []
        self._next_mark = step

    def rss(self) -> int:
        from tests.bench.common import proc_status

        return proc_status(self.pid, "VmRSS")

    def progress(self, sent: int) -> None:
        if sent >= self._next_mark:
            self.curve.append((sent, self.rss()))
            self._next_mark += self.step

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.rss())
            await trio.sleep(0.1)


async def _large_one(work: Path, size: int, over: str) -> tuple[float, int, list[tuple[int, int]]]:
    """One document of ``size`` bytes into a fresh gateway; MB/s and peak RSS."""
    block = b"\xa5" * (1024 * KiB)
    async with peers.gateway(work, name=f"gw-large-{over}") as gw:
        await loadgen.lpd_job(gw.lpd_port, b"warm-up")  # imports, spool, sqlite warm
        gw.sent += 1
        await gw.settle()
        reset_peak_rss(gw.pid)
        sampler = RssSampler(gw.pid, min(GiB, max(size // 5, MiB)))
        sampler.curve.append((0, sampler.rss()))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sampler.run)
            start = time.perf_counter()
            if over == "lpd":
                await loadgen.lpd_job(
                    gw.lpd_port, size=size, block=block, progress=sampler.progress
                )
            else:
                conn = HttpConnection(gw.ipp_port, "/printers/lp")
                try:
                    with trio.fail_after(3600):
                        head = loadgen.print_job_head(gw.ipp.uri, "large")
                        body = await conn.post_stream(head, size, block, sampler.progress)
                    loadgen.check_ipp(body, "large Print-Job")
                finally:
                    await conn.aclose()
            elapsed = time.perf_counter() - start
            nursery.cancel_scope.cancel()
        from tests.bench.common import proc_status

        peak = max(sampler.peak, proc_status(gw.pid, "VmHWM"))
        gw.sent += 1
        await gw.settle()
    return size / elapsed / 1e6, peak, sampler.curve


async def large_documents(s: Settings, work: Path, out: list[Figure]) -> None:
    """Each transfer is preceded by an fsync'ed write of the same size to the
    same folder (machine.py), the reference for its MB/s."""
    size = size_text(s.large)
    for over, label in (("lpd", "LPD"), ("ipp", "IPP chunked")):
        speed = Figure(
            "4 large documents",
            f"{size} over {label}",
            "MB/s",
            True,
            target=">=0.8x fsync write",
            check=at_least(0.8),
        )
        rss = Figure(
            "4 large documents",
            f"peak RSS, {size} over {label}",
            "MiB",
            False,
            target="<64 MiB",
            check=below(64),
        )
        for run in range(s.runs):
            speed.peer("fsync write").append(
                await trio.to_thread.run_sync(machine.fsync_write_mbps, work, s.large)
            )
            mbps, peak, _ = await _large_one(work, s.large, over)
            say(f"large {label} run {run + 1}: {mbps:.1f} MB/s, peak RSS {peak / MiB:.1f} MiB")
            speed.gateway.append(mbps)
            rss.gateway.append(peak / MiB)
        out += [speed, rss]
    huge = size_text(s.huge)
    mbps, peak, curve = await _large_one(work, s.huge, "lpd")
    say(f"huge LPD: {mbps:.1f} MB/s, peak RSS {peak / MiB:.1f} MiB")
    one = next(f for f in out if f.name == f"peak RSS, {size} over LPD")
    flat = Figure(
        "4 large documents",
        f"peak RSS, {huge} over LPD (1 run)",
        "MiB",
        False,
        gateway=[peak / MiB],
        peers={f"{size} over LPD": list(one.gateway)},
        target="<64 MiB, <=1.1x smaller",
        check=lambda gw, small: gw < 64 and small is not None and gw <= 1.1 * small + 2,
        note=f"{mbps:.0f} MB/s; RSS (MiB) by bytes sent: "
        + ", ".join(f"{size_text(sent) if sent else 'idle'} {r / MiB:.1f}" for sent, r in curve),
        versus=f"{size} over LPD",
    )
    out.append(flat)


# -- 5. Get-Printer-Attributes -----------------------------------------------


async def printer_attributes(s: Settings, work: Path, out: list[Figure]) -> None:
    async with AsyncExitStack() as stack:
        gw = await stack.enter_async_context(peers.gateway(work))
        cups = await stack.enter_async_context(peers.cupsd(work))
        eve = await stack.enter_async_context(peers.ippeveprinter(work))
        systems: list[Any] = [gw, cups, eve]
        sizes: dict[str, int] = {}
        for system in systems:
            conn = HttpConnection(system.ipp.port, system.ipp.path)
            try:
                body = await conn.post(loadgen.get_printer_attributes(system.ipp.uri))
                sizes[system.name] = len(body)
            finally:
                await conn.aclose()
        figs = []
        dead: dict[str, str] = {}
        for conns in (1, 8, 64):
            fig = Figure(
                "5 Get-Printer-Attributes",
                f"{conns} connection{'s' if conns > 1 else ''}",
                "req/s",
                True,
                target=">=0.3x cupsd" if conns == 8 else "",
                check=at_least(0.3) if conns == 8 else None,
                versus="cupsd",
            )
            for run in range(s.runs):
                for system in systems:
                    if system.name in dead:
                        continue
                    target = system.ipp
                    try:
                        result = await loadgen.ipp_timed_load(
                            target,
                            conns,
                            s.gpa_seconds,
                            functools.partial(loadgen.get_printer_attributes, target.uri),
                            "Get-Printer-Attributes",
                        )
                    except Exception:
                        if not isinstance(system, peers.Eve):
                            raise
                        # it has crashed (SIGSEGV) or closed every connection under
                        # load here: keep the other figures
                        dead[system.name] = f"{conns} connections, run {run + 1}"
                        say(f"GPA: ippeveprinter stopped answering ({system.process.poll()})")
                        continue
                    say(f"GPA {system.name} c={conns} run {run + 1}: {result.rate:.0f} req/s")
                    (fig.gateway if system is gw else fig.peer(system.name)).append(result.rate)
            if conns == 1:
                fig.note = "all attributes; response bytes: " + ", ".join(
                    f"{k} {v}" for k, v in sizes.items()
                )
            figs.append(fig)
        for name, when in dead.items():
            figs[-1].note += f"{name} stopped answering at {when}; its later cells are missing. "
        out += figs


# -- 6. Idle connections -----------------------------------------------------


async def idle_connections(s: Settings, work: Path, out: list[Figure]) -> None:
    n = s.idle_connections
    per = Figure(
        "6 idle LPD connections",
        f"RSS per idle connection ({n})",
        "KiB",
        False,
        target="<50 KiB",
        check=below(50),
    )
    lat = Figure(
        "6 idle LPD connections",
        f"1 KiB job latency p50, {n} idle held",
        "ms",
        False,
        target="<=2x idle gateway",
        check=at_most(2.0),
    )
    for run in range(s.runs):
        async with peers.gateway(work, name="gw-idle") as gw:
            await loadgen.lpd_load(gw.lpd_port, 1, 5, JOB_SIZE)  # warm-up
            quiet = await loadgen.lpd_load(gw.lpd_port, 1, s.latency_jobs, JOB_SIZE)
            gw.sent += 5 + s.latency_jobs
            await gw.settle()
            await trio.sleep(0.5)
            before = gw.rss()
            streams: list[trio.SocketStream] = []
            try:
                for _ in range(n):
                    streams.append(await trio.open_tcp_stream("127.0.0.1", gw.lpd_port))
                await trio.sleep(1.0)
                after = gw.rss()
                busy = await loadgen.lpd_load(gw.lpd_port, 1, s.latency_jobs, JOB_SIZE)
                gw.sent += s.latency_jobs
                open_ = await _still_open(streams)
            finally:
                for stream in streams:
                    await stream.aclose()
            per.gateway.append((after - before) / n / KiB)
            lat.gateway.append(statistics.median(busy.latencies) * 1000)
            lat.peer("idle gateway").append(statistics.median(quiet.latencies) * 1000)
            say(
                f"idle run {run + 1}: {(after - before) / n / KiB:.1f} KiB/conn, "
                f"latency {lat.gateway[-1]:.2f} ms vs {lat.peers['idle gateway'][-1]:.2f} ms, "
                f"{open_}/{n} still open"
            )
            per.note = f"{open_} of {n} connections still open after the latency jobs"
    out += [per, lat]


async def _still_open(streams: list[trio.SocketStream]) -> int:
    """How many connections the server has not closed (no EOF pending)."""
    alive = 0
    for stream in streams:
        with trio.move_on_after(0.001) as scope:
            data = await stream.receive_some(1)
        if scope.cancelled_caught or data:
            alive += 1
    return alive


# -- 7. Status at scale ------------------------------------------------------


async def status_at_scale(s: Settings, work: Path, out: list[Figure]) -> None:
    n = s.history_jobs
    async with peers.gateway(work, name="gw-history") as gw:
        say(f"status: submitting {n} jobs")
        start = time.perf_counter()
        fill = await loadgen.lpd_load(gw.lpd_port, 8, n, JOB_SIZE)
        gw.sent += n
        await gw.settle()
        say(
            f"status: {n} jobs in {time.perf_counter() - start:.0f} s "
            f"(ingest {fill.rate:.0f} jobs/s)"
        )
        checks: list[tuple[str, Callable[[], Any]]] = [
            ("lpq short (\\3)", lambda: loadgen.lpd_query(gw.lpd_port, long=False)),
            ("lpq long (\\4)", lambda: loadgen.lpd_query(gw.lpd_port, long=True)),
        ]
        figs = {
            name: Figure(
                "7 status at scale",
                f"{name}, {n} jobs in history",
                "ms",
                False,
                target="<50 ms",
                check=below(50),
            )
            for name in (
                "lpq short (\\3)",
                "lpq long (\\4)",
                "Get-Jobs completed limit 50",
                "Get-Jobs not-completed limit 50",
            )
        }
        notes: dict[str, str] = {}
        conn = HttpConnection(gw.ipp_port, "/printers/lp")
        try:
            for run in range(s.runs):
                for name, query in checks:
                    samples = []
                    size = 0
                    for _ in range(s.status_samples):
                        latency, size = await query()
                        samples.append(latency * 1000)
                    figs[name].gateway.append(statistics.median(samples))
                    notes[name] = f"p95 {percentile(samples, 0.95):.1f} ms, {size} bytes"
                for which in ("completed", "not-completed"):
                    name = f"Get-Jobs {which} limit 50"
                    samples = []
                    jobs = 0
                    for _ in range(s.status_samples):
                        t0 = time.perf_counter()
                        body = await conn.post(loadgen.get_jobs(gw.ipp.uri, which, 50))
                        samples.append((time.perf_counter() - t0) * 1000)
                        loadgen.check_ipp(body, "Get-Jobs")
                        jobs = len(decode(body)[0].groups_of(DelimiterTag.JOB_ATTRIBUTES))
                    figs[name].gateway.append(statistics.median(samples))
                    notes[name] = f"p95 {percentile(samples, 0.95):.1f} ms, {jobs} jobs returned"
                say(
                    f"status run {run + 1}: "
                    + ", ".join(f"{k} {v.gateway[-1]:.1f} ms" for k, v in figs.items())
                )
        finally:
            await conn.aclose()
        for name, fig in figs.items():
            fig.note = notes.get(name, "")
            out.append(fig)
