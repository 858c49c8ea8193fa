"""CUPS as a client, set up as a user would: ``lpadmin -p office -E -v
ipp://GATEWAY/printers/NAME -m everywhere`` builds a PPD from the queue's IPP
Everywhere attributes, for an ``lpd://`` queue (LPRng behind it, a PostScript
printer) and a ``file://`` queue; ``lpstat -p office`` shows it and ``lp -d
office file.pdf`` reaches the gateway's backend.

CUPS runs as a private cupsd (Debian cups-daemon's /usr/sbin/cupsd, its
filters and ipp backend) with its own ServerRoot, spool and port on 127.0.0.1,
no browsing and no socket but one in its folder; lpadmin, lpstat and lp are
the unpacked cups-client programs (`tests.peers.require`).

What CUPS sends for a PDF is PDF (its PPD says the printer takes it); the
LPRng queue's printer takes PostScript, so the gateway converts: LPRng's data
file must start with ``%!PS``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from gateway import config
from gateway.core.job import Job, JobState
from gateway.core.spool import Spool
from tests import peers
from tests.helpers import wait_for_state
from tests.ipp_harness import running_gateway
from tests.peers.eve import free_port
from tests.peers.lprng import lprng

pytestmark = pytest.mark.peer

START_TIMEOUT = 20.0
SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "ipptool-files" / "onepage-a4.pdf"


@dataclass
class Cupsd:
    """A private cupsd: where it listens and keeps its files."""

    port: int
    root: Path
    process: subprocess.Popen[bytes]

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        path = self.root / "log" / "error_log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    async def run(self, program: str, *args: str) -> tuple[int, str]:
        """A cups-client program (lpadmin, lpstat, lp) against this cupsd."""
        package = "cups-client"
        argv = [str(peers.require(program, package)), "-h", self.server, *args]
        env = dict(os.environ, CUPS_SERVERROOT=str(self.root / "client"))
        with trio.fail_after(60):
            result = await trio.run_process(
                argv, capture_stdout=True, capture_stderr=True, check=False, env=env
            )
        return result.returncode, (result.stdout + result.stderr).decode("utf-8", "replace")


def _configure(root: Path, port: int) -> tuple[Path, Path]:
    """cupsd.conf and cups-files.conf under `root`: every path inside it, the
    scheduler reachable by anyone on 127.0.0.1:PORT with no authentication (a
    test cupsd), no browsing, no web interface."""
    for sub in ("etc/ppd", "spool/tmp", "cache", "state", "log", "client"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.chown(root / "spool", "root", "lp")
    (root / "spool").chmod(0o710)
    shutil.chown(root / "spool" / "tmp", "root", "lp")
    (root / "spool" / "tmp").chmod(0o1770)
    files = root / "etc" / "cups-files.conf"
    files.write_text(
        f"ServerRoot {root}/etc\nRequestRoot {root}/spool\nCacheDir {root}/cache\n"
        f"StateDir {root}/state\nTempDir {root}/spool/tmp\nErrorLog {root}/log/error_log\n"
        f"AccessLog {root}/log/access_log\nPageLog {root}/log/page_log\n"
        "User lp\nGroup lp\nSystemGroup root\nSandboxing Relaxed\nFileDevice No\n"
    )
    conf = root / "etc" / "cupsd.conf"
    conf.write_text(
        f"LogLevel debug\nListen 127.0.0.1:{port}\nListen {root}/cups.sock\n"
        "Browsing Off\nBrowseLocalProtocols none\nDefaultAuthType None\nWebInterface No\n"
        "<Location />\nOrder allow,deny\nAllow all\n</Location>\n"
        "<Policy default>\n<Limit All>\nOrder deny,allow\n</Limit>\n</Policy>\n"
    )
    return conf, files


@asynccontextmanager
async def private_cupsd() -> AsyncIterator[Cupsd]:
    """cupsd in the foreground on a free loopback port; stopped (by its pid) after."""
    if os.geteuid() != 0:
        pytest.fail("the private cupsd runs as root (it runs its filters as user lp)")
    cupsd = peers.require("cupsd")
    root = Path(tempfile.mkdtemp(prefix="cupsd-peer-"))
    root.chmod(0o755)  # filters run as lp read the job files below it
    port = free_port()
    conf, files = _configure(root, port)
    process = subprocess.Popen(
        [str(cupsd), "-f", "-c", str(conf), "-s", str(files)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    daemon = Cupsd(port, root, process)
    try:
        with trio.fail_after(START_TIMEOUT):
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"cupsd exited ({process.returncode}):\n{daemon.log}")
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    await trio.sleep(0.05)  # bounded readiness poll, not synchronisation
                    continue
                await stream.aclose()
                break
        yield daemon
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def gateway_config(tmp_path: Path, queues: dict[str, dict[str, object]]) -> config.Config:
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": queues,
        }
    )


async def first_job(spool: Spool) -> Job:
    """The first job the gateway takes (woken by the spool's listener)."""
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set())
    while not list(spool.jobs()):
        await events[-1].wait()
        events.append(trio.Event())
    return next(iter(spool.jobs()))


async def ppd_options(cups: Cupsd) -> str:
    """``lpoptions -p office -l`` once cupsd has made the queue's PPD: cupsd 2.4
    builds it from the printer's attributes in the background after lpadmin
    returned (it logs "Generating PPD file from ..."), so the options are asked
    for until they are there (a bounded poll of the server)."""
    for _ in range(100):
        code, out = await cups.run("lpoptions", "-p", "office", "-l")
        if code == 0 and "PageSize" in out:
            return out
        await trio.sleep(0.1)  # bounded poll of cupsd, not synchronisation
    raise AssertionError(f"cupsd made no PPD for office:\n{cups.log}")


async def add_and_print(cups: Cupsd, uri: str) -> None:
    """lpadmin -m everywhere, lpstat -p, lp: each must succeed."""
    code, out = await cups.run("lpadmin", "-p", "office", "-E", "-v", uri, "-m", "everywhere")
    assert code == 0, f"lpadmin: {out}\n{cups.log}"
    options = await ppd_options(cups)
    assert "A4" in options and "Letter" in options, options
    ppd = (cups.root / "etc" / "ppd" / "office.ppd").read_text(errors="replace")
    assert '*cupsFilter2: "application/vnd.cups-pdf application/pdf' in ppd, ppd
    code, out = await cups.run("lpstat", "-p", "office")
    assert code == 0 and "printer office is idle" in out, out
    code, out = await cups.run("lp", "-d", "office", "-t", "Everywhere", str(SAMPLE))
    assert code == 0 and "request id is office-" in out, out


async def test_cups_adds_a_file_queue_with_everywhere_and_prints_to_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    cfg = gateway_config(tmp_path, {"folder": {"backend": out.as_uri()}})
    with trio.fail_after(180):
        async with private_cupsd() as cups, running_gateway(cfg) as running:
            host, port = running.ipp[0]
            await add_and_print(cups, f"ipp://{host}:{port}/printers/folder")
            job = await first_job(running.context.spool)
            await wait_for_state(running.context.spool, job.id, JobState.COMPLETED)
    stored = sorted(out.glob(f"job-{job.id}-*"))
    assert stored, list(out.iterdir())
    assert stored[0].read_bytes()[:5] == b"%PDF-"  # CUPS sends PDF; a folder keeps it


async def test_cups_adds_an_lpd_queue_with_everywhere_and_prints_to_it(tmp_path: Path) -> None:
    with trio.fail_after(180):
        async with lprng() as peer, private_cupsd() as cups:
            office = {
                "backend": peer.uri(),
                "backend_options": {"formats": "application/postscript,text/plain"},
            }
            cfg = gateway_config(tmp_path, {"postscript": office})
            async with running_gateway(cfg) as running:
                host, port = running.ipp[0]
                await add_and_print(cups, f"ipp://{host}:{port}/printers/postscript")
                job = await first_job(running.context.spool)
                await wait_for_state(running.context.spool, job.id, JobState.COMPLETED)
            received = [p.read_bytes() for p in sorted(peer.spool().glob("df*"))]
    assert len(received) == 1, "LPRng received no job"
    # The printer takes PostScript: what CUPS sent (PDF) arrives converted.
    assert received[0][:4] == b"%!PS", received[0][:64]
