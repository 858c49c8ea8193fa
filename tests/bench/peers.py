"""The systems under test, each started on loopback and stopped afterwards.

- the gateway: ``python -m gateway serve`` with a private spool and a config
  that raises the connection and history limits the scenarios need;
- cupsd: a private ServerRoot (``cupsd -c cupsd.conf -s cups-files.conf
  -f``) with its own port, spool, state and cache folders and one raw queue
  ``lp`` (no PPD, so no filters) to the device ``file:/dev/null``
  (``FileDevice Yes``). Its defaults are kept otherwise (``SyncOnClose No``:
  it does not fsync job files);
- cups-lpd in front of it, run inetd-style: a small trio listener here forks
  one cups-lpd per connection with the socket as stdin/stdout and
  ``CUPS_SERVER`` pointing at the private cupsd;
- LPRng lpd and BSD lpd from ``tests.peers`` (private mount namespaces);
- ippeveprinter from ``tests.peers.eve`` (``-c`` a command that exits at
  once, so a job is done as soon as it has arrived).

Every wrapper knows how many jobs were sent to it (``sent``) and can wait
until it has finished all of them (``settle``), so one run's backlog never
runs into the next measurement.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from gateway.ipp import DelimiterTag, decode
from tests.bench.common import REPO, free_port, proc_status
from tests.bench.loadgen import HttpConnection, IppTarget, get_jobs

START_TIMEOUT = 30.0
SETTLE_TIMEOUT = 180.0
PEERS_ROOT = Path(os.environ.get("PEERS_ROOT", "/opt/lpd-ipp-gateway-peers"))
CUPS_LPD = PEERS_ROOT / "cups/usr/lib/cups/daemon/cups-lpd"
LISTEN = re.compile(r"listening for (LPD|IPP) on (\S+):(\d+)$")

GATEWAY_CONFIG = """\
[gateway]
log_level = "info"
[lpd]
max_connections = 1500
max_connections_per_source = 1500
rate_limit = 0
[ipp]
max_connections = 1500
max_open_connections = 1500
max_connections_per_source = 1500
[history]
max_jobs = 20000
"""


def gateway_argv(root: Path, lpd: str = "127.0.0.1:0", ipp: str = "127.0.0.1:0") -> list[str]:
    """``python -m gateway serve`` on ``root/gateway.toml`` with its spool in ``root``."""
    return [
        sys.executable,
        "-m",
        "gateway",
        "serve",
        "--config",
        str(root / "gateway.toml"),
        "--spool-dir",
        str(root / "spool"),
        "--lpd-listen",
        lpd,
        "--ipp-listen",
        ipp,
    ]


async def wait_until(predicate: object, what: str, timeout: float = SETTLE_TIMEOUT) -> bool:
    """Poll ``predicate()`` (sync or async) every 20 ms up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    interval = 0.02
    while time.monotonic() < deadline:
        result = predicate()  # type: ignore[operator]
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return True
        await trio.sleep(interval)
        interval = min(0.5, interval * 1.2)
    print(f"  warning: {what} not reached in {timeout:.0f} s", file=sys.stderr)
    return False


def count_files(folder: Path, suffix: str = "", prefix: str = "") -> int:
    try:
        with os.scandir(folder) as it:
            return sum(1 for e in it if e.name.endswith(suffix) and e.name.startswith(prefix))
    except FileNotFoundError:
        return 0


# -- the gateway -------------------------------------------------------------


@dataclass
class Gateway:
    name: str
    process: trio.Process
    root: Path
    lpd_port: int = 0
    ipp_port: int = 0
    sent: int = 0
    output: Path | None = None  # file backend folder, if any

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ipp(self) -> IppTarget:
        return IppTarget(self.ipp_port, "/printers/lp")

    def rss(self) -> int:
        return proc_status(self.pid, "VmRSS")

    def delivered(self) -> int:
        return count_files(self.output, ".json", "job-") if self.output else 0

    async def settle(self) -> None:
        if self.output is not None:
            await wait_until(lambda: self.delivered() >= self.sent, f"{self.name}: all delivered")


@asynccontextmanager
async def gateway(
    work: Path,
    backend: str | None = None,
    name: str = "gateway",
    options: dict[str, bool | str] | None = None,
) -> AsyncIterator[Gateway]:
    """A gateway with queue ``lp`` -> ``backend`` (default: a file folder) and
    that queue's ``backend_options``."""
    root = work / f"{name}-{free_port()}"
    root.mkdir(parents=True)
    output = None
    if backend is None:
        output = root / "output"
        output.mkdir()
        backend = f"file://{output}"
    queue = f'\n[queues.lp]\nbackend = "{backend}"\n[queues.lp.backend_options]\n'
    for key, value in (options or {}).items():
        queue += f"{key} = {str(value).lower() if isinstance(value, bool) else repr(value)}\n"
    (root / "gateway.toml").write_text(GATEWAY_CONFIG + queue)
    log_path = root / "gateway.log"
    argv = gateway_argv(root)
    with open(log_path, "wb") as log:
        process = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=str(REPO),
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    gw = Gateway(name, process, root, output=output)
    try:
        with trio.fail_after(START_TIMEOUT):
            while True:
                text = log_path.read_text(errors="replace")
                if " spool in " in text:
                    break
                if process.poll() is not None:
                    raise RuntimeError(f"gateway exited:\n{text}")
                await trio.sleep(0.05)
        for line in text.splitlines():
            match = LISTEN.search(line)
            if match and match.group(1) == "LPD":
                gw.lpd_port = int(match.group(3))
            elif match:
                gw.ipp_port = int(match.group(3))
        yield gw
    finally:
        with trio.CancelScope(shield=True):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with trio.move_on_after(20):
                    await process.wait()
            if process.poll() is None:
                process.kill()
                await process.wait()
            shutil.rmtree(root, ignore_errors=True)


# -- cupsd and cups-lpd ------------------------------------------------------

CUPSD_CONF = """\
Listen 127.0.0.1:{port}
LogLevel warn
Browsing Off
DefaultShared No
WebInterface No
MaxJobs 0
MaxClients 2000
MaxClientsPerHost 2000
PreserveJobHistory No
PreserveJobFiles No
<Location />
  Order allow,deny
  Allow all
</Location>
"""

CUPS_FILES_CONF = """\
ServerRoot {root}
RequestRoot {root}/spool
TempDir {root}/spool/tmp
StateDir {root}/state
CacheDir {root}/cache
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
FileDevice Yes
User lp
Group lp
SystemGroup root
"""

PRINTERS_CONF = """\
<Printer lp>
Info benchmark raw queue
DeviceURI file:/dev/null
State Idle
Accepting Yes
Shared Yes
</Printer>
"""


@dataclass
class Cupsd:
    name: str
    port: int
    root: Path
    process: trio.Process | None = None
    sent: int = 0

    @property
    def ipp(self) -> IppTarget:
        return IppTarget(self.port, "/printers/lp")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def active_jobs(self) -> int:
        conn = HttpConnection(self.port, "/printers/lp")
        try:
            body = await conn.post(get_jobs(self.ipp.uri, "not-completed", 10000))
        finally:
            await conn.aclose()
        message, _ = decode(body)
        return len(message.groups_of(DelimiterTag.JOB_ATTRIBUTES))

    async def settle(self) -> None:
        async def idle() -> bool:
            return await self.active_jobs() == 0

        await wait_until(idle, f"{self.name}: no active jobs")


@asynccontextmanager
async def cupsd(work: Path, printers: str = PRINTERS_CONF) -> AsyncIterator[Cupsd]:
    """cupsd with `printers` as its printers.conf (default: the one raw queue ``lp``)."""
    root = work / f"cupsd-{free_port()}"
    for sub in ("spool/tmp", "state", "cache", "log", "ppd"):
        (root / sub).mkdir(parents=True)
    root.chmod(0o755)
    port = free_port()
    (root / "cupsd.conf").write_text(CUPSD_CONF.format(port=port))
    (root / "cups-files.conf").write_text(CUPS_FILES_CONF.format(root=root))
    (root / "printers.conf").write_text(printers)
    daemon = Cupsd("cupsd", port, root)
    with open(root / "log" / "stderr", "wb") as log:
        daemon.process = await trio.lowlevel.open_process(
            [
                shutil.which("cupsd") or "/usr/sbin/cupsd",
                "-c",
                str(root / "cupsd.conf"),
                "-s",
                str(root / "cups-files.conf"),
                "-f",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        await _wait_port(port, daemon.process, root / "log" / "error_log")
        yield daemon
    finally:
        with trio.CancelScope(shield=True):
            await _stop(daemon.process)
            shutil.rmtree(root, ignore_errors=True)


async def _wait_port(port: int, process: trio.Process, log: Path) -> None:
    with trio.fail_after(START_TIMEOUT):
        while True:
            if process.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise RuntimeError(f"daemon exited ({process.returncode}):\n{text}")
            try:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return


async def _stop(process: trio.Process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with trio.move_on_after(10):
            await process.wait()
    if process.poll() is None:
        process.kill()
        await process.wait()


@dataclass
class CupsLpd:
    """cups-lpd, one process per connection (as inetd would run it)."""

    name: str
    cups: Cupsd
    port: int = 0
    live: set[trio.Process] = field(default_factory=set)
    sent: int = 0
    started: int = 0

    async def settle(self) -> None:
        await wait_until(lambda: not self.live, f"{self.name}: every cups-lpd exited")
        await self.cups.settle()


@asynccontextmanager
async def cups_lpd(cups: Cupsd) -> AsyncIterator[CupsLpd]:
    if not CUPS_LPD.is_file():
        raise RuntimeError(f"no {CUPS_LPD}: run 'sudo bash tests/peers/install.sh'")
    server = CupsLpd("cups-lpd", cups)
    env = dict(os.environ, CUPS_SERVER=f"127.0.0.1:{cups.port}")
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    server.port = listener.getsockname()[1]

    async def serve_one(sock: trio.socket.SocketType) -> None:
        try:
            # trio's sockets are non-blocking; inetd hands out blocking ones
            os.set_blocking(sock.fileno(), True)
            process = await trio.lowlevel.open_process(
                [str(CUPS_LPD), "-n"],
                stdin=sock.fileno(),
                stdout=sock.fileno(),
                stderr=subprocess.DEVNULL,
                env=env,
            )
        finally:
            sock.close()
        server.live.add(process)
        server.started += 1
        try:
            await process.wait()
        finally:
            server.live.discard(process)

    async def accept_loop() -> None:
        while True:
            sock, _ = await listener.accept()
            nursery.start_soon(serve_one, sock)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_loop)
            yield server
            nursery.cancel_scope.cancel()
    finally:
        listener.close()
        for process in list(server.live):
            if process.poll() is None:
                process.kill()


# -- LPRng, BSD lpd, ippeveprinter ------------------------------------------


@dataclass
class LpdPeer:
    """LPRng or BSD lpd from tests.peers: queue ``lp`` appends each job's
    data to ``out/lp.out``; ``settle`` waits until every byte sent is there."""

    name: str
    port: int
    root: Path
    sent: int = 0
    sent_bytes: int = 0
    base_bytes: int = 0

    def printed_bytes(self) -> int:
        try:
            return (self.root / "out" / "lp.out").stat().st_size
        except FileNotFoundError:
            return 0

    def printed_jobs(self, job_size: int) -> int:
        """Jobs printed, when every job is ``job_size`` bytes."""
        return self.printed_bytes() // job_size

    async def settle(self) -> None:
        want = self.base_bytes + self.sent_bytes
        await wait_until(lambda: self.printed_bytes() >= want, f"{self.name}: all printed")


@asynccontextmanager
async def lprng() -> AsyncIterator[LpdPeer]:
    """LPRng as tests.peers.lprng sets it up, less ``save_when_done``: kept
    jobs count against LPRng's queue limit ("Maximum number of jobs in
    queue") after a few hundred."""
    from tests.peers.lprng import Lprng, make_root

    daemon = Lprng(free_port(), make_root())
    printcap = daemon.root / "etc" / "printcap"
    printcap.write_text(printcap.read_text().replace(":save_when_done", ""))
    try:
        await daemon.start()
        yield LpdPeer("lprng-lpd", daemon.port, daemon.root)
    finally:
        await daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


@asynccontextmanager
async def bsd_lpd() -> AsyncIterator[LpdPeer]:
    from tests.peers.bsdlpd import bsd_lpd as start

    async with start() as daemon:
        yield LpdPeer("bsd-lpd", daemon.port, daemon.root)


@dataclass
class Eve:
    name: str
    port: int
    spool: Path
    process: trio.Process
    sent: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def ipp(self) -> IppTarget:
        return IppTarget(self.port, "/ipp/print")

    def received(self) -> int:
        if self.process.poll() is not None:
            # it exits when avahi-daemon is restarted (another test run's
            # tests.peers.eve.ensure_system_daemons does that)
            raise RuntimeError(f"ippeveprinter exited ({self.process.returncode})")
        return count_files(self.spool) - count_files(self.spool, ".prn")


EVE_SETUP = """\
set -e
CONF=$1
shift
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
dbus-daemon --system --fork
avahi-daemon --daemonize --no-chroot -f "$CONF"
exec "$@"
"""


@asynccontextmanager
async def ippeveprinter(work: Path) -> AsyncIterator[Eve]:
    """ippeveprinter with a D-Bus and an Avahi of its own.

    ippeveprinter exits when its Avahi goes away, and every test session on
    the machine restarts the shared one (tests.peers.eve). So it runs in a
    private mount namespace with a tmpfs over /run, where the script above
    starts dbus-daemon and avahi-daemon (loopback only, host name
    ``lpdbench``) and then execs ippeveprinter. Stopping kills every process
    of that namespace by pid.
    """
    from tests.peers import require
    from tests.peers.bsdlpd import mount_namespace, stop_namespace
    from tests.peers.eve import AVAHI_CONF

    root = work / f"eve-{free_port()}"
    (root / "spool").mkdir(parents=True)
    command = root / "done.sh"
    command.write_text("#!/bin/sh\nexit 0\n")
    command.chmod(0o755)
    conf = root / "avahi-daemon.conf"
    conf.write_text(
        AVAHI_CONF.read_text().replace("[server]\n", "[server]\nhost-name=lpdbench\n", 1)
    )
    (root / "setup.sh").write_text(EVE_SETUP)
    port = free_port()
    argv = [
        shutil.which("unshare") or "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        str(root / "setup.sh"),
        str(conf),
        str(require("ippeveprinter")),
        "-v",
        "-k",
        "-p",
        str(port),
        "-d",
        str(root / "spool"),
        "-f",
        "application/pdf,application/octet-stream",
        "-c",
        str(command),
        "Benchmark Printer",
    ]
    process = await trio.lowlevel.open_process(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, LC_ALL="C"),
        start_new_session=True,
    )
    output: list[str] = []
    namespace = None
    try:
        assert process.stderr is not None
        buffer = b""
        with trio.fail_after(START_TIMEOUT):
            while not any("printer-uuid=" in line for line in output):
                chunk = await process.stderr.receive_some(4096)
                if not chunk:
                    raise RuntimeError("ippeveprinter exited:\n" + "\n".join(output))
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                output += [line.decode("utf-8", "replace") for line in lines]
        namespace = mount_namespace(process.pid)

        async def drain() -> None:
            assert process.stderr is not None
            while chunk := await process.stderr.receive_some(65536):
                del output[:-50]
                output.extend(chunk.decode("utf-8", "replace").splitlines())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            yield Eve("ippeveprinter", port, root / "spool", process)
            nursery.cancel_scope.cancel()
    except Exception as exc:
        if process.returncode not in (None, -signal.SIGTERM):
            last = output[-1] if output else ""
            raise RuntimeError(f"ippeveprinter exited ({process.returncode}): {last}") from exc
        raise
    finally:
        with trio.CancelScope(shield=True):
            await stop_namespace(process, namespace)
        shutil.rmtree(root, ignore_errors=True)
