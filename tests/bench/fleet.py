"""Scenario 8 (issue 17): a fleet in one gateway, 2,000 queues against cupsd's 2,000.

In the same run, with the same clients:

- the gateway with 2,000 ``file://`` queues (``q0000`` ... ; the first is
  ``lp``) and cupsd with 2,000 raw queues to ``file:/dev/null``, written
  straight into its ``printers.conf`` (no lpadmin);
- start-up: from spawning the process until a Get-Printer-Attributes of the
  first queue is answered on the IPP port (a fixed port, so no log is read);
- CUPS-Get-Printers with ``printer-name, printer-state`` (the first one after
  start and then the median of `REPEATS`) and with ``all``; ``lpstat -p``
  (CUPS's own lpstat, ``-h`` each server); Get-Printer-Attributes of one
  queue; lpq (``\\3``) of one queue (gateway only);
- RSS: idle after start, and after the listings; against a gateway with one
  queue (the target) and cupsd (information);
- outgoing status requests while idle: a gateway with 2,000 ``ipp://`` queues
  all pointing at one ippeveprinter through a counting TCP proxy, which counts
  the HTTP requests (``POST``) that pass over `Settings.fleet_idle_seconds`,
  after the first `IDLE_WARMUP` seconds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from gateway.ipp import DelimiterTag, Message, Operation, decode, encode
from gateway.ipp.parser import ParserLimits
from tests.bench import loadgen, peers
from tests.bench.common import REPO, Figure, MiB, free_port, proc_status
from tests.bench.loadgen import HttpConnection
from tests.bench.scenarios import Settings, at_most, below, say

REPEATS = 5
IDLE_WARMUP = 10.0
FEW = ("printer-name", "printer-state")


def queue_names(count: int) -> list[str]:
    return ["lp", *(f"q{i:04d}" for i in range(1, count))]


def cups_get_printers(requested: tuple[str, ...]) -> bytes:
    message = Message.request(Operation.CUPS_GET_PRINTERS, 1)
    message.operation.add_name("requesting-user-name", "bench")
    message.operation.add_keyword("requested-attributes", *requested)
    return encode(message)


#: A listing of 2,000 printers is far over the limits a server puts on requests.
LISTING_LIMITS = ParserLimits(
    max_header_bytes=1 << 30, max_attributes=10**7, max_values=10**8, strict_keywords=False
)


def printers_in(body: bytes) -> int:
    message, _ = decode(loadgen.check_ipp(body, "CUPS-Get-Printers"), LISTING_LIMITS)
    return len(message.groups_of(DelimiterTag.PRINTER_ATTRIBUTES))


@dataclass
class Server:
    """A started server: its process and IPP port."""

    name: str
    process: trio.Process
    port: int
    root: Path
    started_in: float = 0.0
    lpd_port: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> float:
        return proc_status(self.pid, "VmRSS") / MiB


async def _answers(port: int, path: str, process: trio.Process, timeout: float = 120) -> None:
    """Wait until a Get-Printer-Attributes on ``path`` is answered."""
    uri = f"ipp://127.0.0.1:{port}{path}"
    with trio.fail_after(timeout):
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server on port {port} exited ({process.returncode})")
            conn = HttpConnection(port, path)
            try:
                body = await conn.post(loadgen.get_printer_attributes(uri))
                loadgen.check_ipp(body, "Get-Printer-Attributes")
                return
            except (OSError, EOFError, loadgen.BenchError):
                await trio.sleep(0.01)
            finally:
                await conn.aclose()


@asynccontextmanager
async def fleet_gateway(
    work: Path, backends: list[str], name: str, extra: str = ""
) -> AsyncIterator[Server]:
    """``python -m gateway serve`` with one queue per backend URI."""
    root = work / f"{name}-{free_port()}"
    root.mkdir(parents=True)
    names = queue_names(len(backends))
    text = peers.GATEWAY_CONFIG + extra
    for queue, backend in zip(names, backends, strict=True):
        text += f'\n[queues.{queue}]\nbackend = "{backend}"\n'
    (root / "gateway.toml").write_text(text)
    ipp_port, lpd_port = free_port(), free_port()
    argv = peers.gateway_argv(root, f"127.0.0.1:{lpd_port}", f"127.0.0.1:{ipp_port}")
    argv += ["--log-level", "warning"]
    with open(root / "gateway.log", "wb") as log:
        start = time.perf_counter()
        process = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=str(REPO),
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    server = Server(name, process, ipp_port, root, lpd_port=lpd_port)
    try:
        await _answers(ipp_port, "/ipp/print", process)
        server.started_in = time.perf_counter() - start
        yield server
    finally:
        with trio.CancelScope(shield=True):
            await peers._stop(process)
            shutil.rmtree(root, ignore_errors=True)


@asynccontextmanager
async def fleet_cupsd(work: Path, count: int) -> AsyncIterator[Server]:
    """`peers.cupsd` with `count` raw queues written into its printers.conf."""
    printers = "".join(
        f"<Printer {q}>\nInfo fleet queue {q}\nDeviceURI file:/dev/null\n"
        "State Idle\nAccepting Yes\nShared Yes\n</Printer>\n"
        for q in queue_names(count)
    )
    start = time.perf_counter()
    async with peers.cupsd(work, printers) as daemon:
        assert daemon.process is not None
        server = Server("cupsd", daemon.process, daemon.port, daemon.root)
        await _answers(daemon.port, "/printers/lp", daemon.process)
        server.started_in = time.perf_counter() - start
        yield server


async def timed_post(port: int, path: str, body: bytes) -> tuple[float, bytes]:
    conn = HttpConnection(port, path)
    try:
        start = time.perf_counter()
        answer = await conn.post(body)
        return time.perf_counter() - start, answer
    finally:
        await conn.aclose()


async def lpstat(port: int) -> tuple[float, int]:
    """``lpstat -h 127.0.0.1:PORT -p``: seconds and printers listed."""
    from tests.peers import require

    program = str(require("lpstat", "cups-client"))
    start = time.perf_counter()
    result = await trio.run_process(
        [program, "-h", f"127.0.0.1:{port}", "-p"],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=dict(os.environ, LC_ALL="C"),
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"lpstat failed: {result.stderr.decode(errors='replace')[:200]}")
    return elapsed, sum(1 for line in result.stdout.splitlines() if line.startswith(b"printer "))


# -- the counting proxy -------------------------------------------------------


@dataclass
class Counter:
    requests: list[float] = field(default_factory=list)


async def counting_proxy(
    upstream: int, counter: Counter, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
) -> None:
    """A TCP proxy to 127.0.0.1:`upstream` that notes the time of every HTTP request
    line (``POST ``) sent through it."""

    async def pipe(src: trio.SocketStream, dst: trio.SocketStream, count: bool) -> None:
        tail = b""
        try:
            while data := await src.receive_some(65536):
                if count:
                    seen = tail + data
                    counter.requests.extend([time.perf_counter()] * seen.count(b"POST /"))
                    tail = data[-5:]
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                await dst.aclose()

    async def handle(client: trio.SocketStream) -> None:
        try:
            server = await trio.open_tcp_stream("127.0.0.1", upstream)
        except OSError:
            await client.aclose()
            return
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pipe, client, server, True)
            nursery.start_soon(pipe, server, client, False)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    task_status.started(port)
    await trio.serve_listeners(handle, listeners)


# -- the scenario -------------------------------------------------------------


async def fleet(s: Settings, work: Path, out: list[Figure]) -> None:
    n = s.fleet_queues
    label = f"{n} queues"
    first_cgp = Figure("8 fleet", f"first CUPS-Get-Printers {', '.join(FEW)}, {label}", "ms",
                       False, target="<=1x cupsd", check=at_most(1.0), versus="cupsd")  # fmt: skip
    cgp = Figure("8 fleet", f"CUPS-Get-Printers {', '.join(FEW)}, {label}", "ms", False,
                 target="<=1x cupsd", check=at_most(1.0), versus="cupsd")  # fmt: skip
    cgp_all = Figure("8 fleet", f"CUPS-Get-Printers all, {label}", "ms", False, versus="cupsd")
    lpstat_p = Figure("8 fleet", f"lpstat -p, {label}", "ms", False, versus="cupsd")
    gpa = Figure("8 fleet", f"Get-Printer-Attributes of one queue, {label}", "ms", False,
                 versus="cupsd")  # fmt: skip
    lpq = Figure("8 fleet", f"lpq of one queue, {label}", "ms", False)
    rss_idle = Figure("8 fleet", f"RSS idle, {label}", "MiB", False,
                      target="<=2x one-queue gateway", check=at_most(2.0),
                      versus="gateway, 1 queue")  # fmt: skip
    rss_after = Figure("8 fleet", f"RSS after the listings, {label}", "MiB", False,
                       versus="gateway, 1 queue")  # fmt: skip
    startup = Figure("8 fleet", f"start until IPP answers, {label}", "s", False,
                     target="<=1x cupsd", check=at_most(1.0), versus="cupsd")  # fmt: skip
    sizes: dict[str, int] = {}
    for run in range(s.runs):
        async with AsyncExitStack() as stack:
            one = await stack.enter_async_context(
                fleet_gateway(work, [f"file://{work}/out-one"], "gw-one")
            )
            backends = [f"file://{work}/out-fleet"] * n
            gw = await stack.enter_async_context(fleet_gateway(work, backends, "gw-fleet"))
            cups = await stack.enter_async_context(fleet_cupsd(work, n))
            await trio.sleep(2.0)
            startup.gateway.append(gw.started_in)
            startup.peer("cupsd").append(cups.started_in)
            startup.peer("gateway, 1 queue").append(one.started_in)
            rss_idle.gateway.append(gw.rss())
            rss_idle.peer("gateway, 1 queue").append(one.rss())
            rss_idle.peer("cupsd").append(cups.rss())
            for server in (gw, cups):
                few: Figure | None = first_cgp
                samples = []
                for _ in range(REPEATS + 1):
                    took, body = await timed_post(server.port, "/", cups_get_printers(FEW))
                    assert printers_in(body) == n, f"{server.name}: {printers_in(body)} printers"
                    if few is not None:
                        (few.gateway if server is gw else few.peer("cupsd")).append(took * 1000)
                        few = None
                    else:
                        samples.append(took * 1000)
                (cgp.gateway if server is gw else cgp.peer("cupsd")).append(
                    statistics.median(samples)
                )
                samples = []
                for _ in range(REPEATS):
                    took, body = await timed_post(server.port, "/", cups_get_printers(("all",)))
                    samples.append(took * 1000)
                sizes[f"{server.name} all"] = len(body)
                (cgp_all.gateway if server is gw else cgp_all.peer("cupsd")).append(
                    statistics.median(samples)
                )
                samples = []
                for _ in range(REPEATS):
                    took, listed = await lpstat(server.port)
                    assert listed == n, f"{server.name}: lpstat listed {listed}"
                    samples.append(took * 1000)
                (lpstat_p.gateway if server is gw else lpstat_p.peer("cupsd")).append(
                    statistics.median(samples)
                )
                samples = []
                path = "/printers/q1000" if n > 1000 else "/printers/lp"
                for _ in range(REPEATS):
                    uri = f"ipp://127.0.0.1:{server.port}{path}"
                    took, body = await timed_post(
                        server.port, path, loadgen.get_printer_attributes(uri)
                    )
                    samples.append(took * 1000)
                (gpa.gateway if server is gw else gpa.peer("cupsd")).append(
                    statistics.median(samples)
                )
            samples = []
            for _ in range(REPEATS):
                took, _size = await loadgen.lpd_query(
                    gw.lpd_port,
                    queue="q1000" if n > 1000 else "lp",
                )
                samples.append(took * 1000)
            lpq.gateway.append(statistics.median(samples))
            rss_after.gateway.append(gw.rss())
            rss_after.peer("gateway, 1 queue").append(one.rss())
            rss_after.peer("cupsd").append(cups.rss())
            say(
                f"fleet run {run + 1}: start {gw.started_in:.2f} s vs cupsd "
                f"{cups.started_in:.2f} s; CUPS-Get-Printers first {first_cgp.gateway[-1]:.0f} "
                f"then {cgp.gateway[-1]:.0f} ms vs cupsd {cgp.peers['cupsd'][-1]:.0f} ms; "
                f"RSS {rss_idle.gateway[-1]:.0f}/{rss_after.gateway[-1]:.0f} MiB vs one queue "
                f"{rss_idle.peers['gateway, 1 queue'][-1]:.0f} MiB (load {os.getloadavg()[0]:.2f})"
            )
    cgp_all.note = "answer bytes: " + ", ".join(f"{k} {v}" for k, v in sizes.items())
    out += [startup, first_cgp, cgp, cgp_all, lpstat_p, gpa, lpq, rss_idle, rss_after]
    out.append(await _idle_polls(s, work))


async def _idle_polls(s: Settings, work: Path) -> Figure:
    n = s.fleet_queues
    seconds = s.fleet_idle_seconds
    fig = Figure("8 fleet", f"status requests while idle, {n} ipp:// queues", "req/s", False,
                 target="<5 req/s", check=below(5.0))  # fmt: skip
    counter = Counter()
    async with AsyncExitStack() as stack:
        eve = await stack.enter_async_context(peers.ippeveprinter(work))
        nursery = await stack.enter_async_context(trio.open_nursery())
        proxy: int = await nursery.start(counting_proxy, eve.port, counter)
        backends = [f"ipp://127.0.0.1:{proxy}/ipp/print"] * n
        gw = await stack.enter_async_context(fleet_gateway(work, backends, "gw-ipp-fleet"))
        await trio.sleep(IDLE_WARMUP)
        before = len(counter.requests)
        await trio.sleep(seconds)
        counted = len(counter.requests) - before
        rate = counted / seconds
        fig.gateway.append(rate)
        fig.note = (
            f"{counted} requests in {seconds:.0f} s after {IDLE_WARMUP:.0f} s "
            f"(start-up {gw.started_in:.1f} s, RSS {gw.rss():.0f} MiB, "
            f"{len(counter.requests)} requests in all); load {os.getloadavg()[0]:.2f}"
        )
        say(f"fleet idle polls: {rate:.2f} req/s ({fig.note})")
        nursery.cancel_scope.cancel()
    return fig
