"""Run LPRng's lpd (Debian lprng: /usr/sbin/lpd) as a real LPD server for tests.

LPRng reads its configuration from fixed paths (/etc/lprng/lpd.conf,
/etc/lprng/lpd.perms, and the printcap named there) and has no option to
read another file (its LPD_CONF variable is compiled out). So the daemon runs
in a private mount namespace (``unshare --mount --propagation private``, as
root) where a temporary folder is bind-mounted over /etc/lprng; nothing
outside the namespace changes, and the namespace ends with the daemon.

The private lpd.conf points every path into the temporary folder (printcap,
lock file), runs the daemon as root (so the spool needs no chown), listens
on 127.0.0.1 only through the TCP port given with ``-p`` (``-P off``: no
UNIX socket). The printcap holds queue ``lp`` that "prints" by appending to
``out/lp.out`` (so jobs leave the queue) and keeps each job's files after
printing (``save_when_done``), so a test can read the hold file (LPRng's
stored form of the control file: ``hfA<nnn>``, ``KEY=value`` lines) and the
data files. The system lpd.perms is used unchanged.

LPRng's own clients (``lpc``, ``lpq``) are run in the same kind of
namespace, talking to the daemon over TCP (``-P lp@127.0.0.1%PORT``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from tests.peers import require
from tests.peers.bsdlpd import mount_namespace, stop_namespace
from tests.peers.eve import free_port

QUEUES = ("lp",)
START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 30.0


def _namespace_argv(etc: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` run in a private mount namespace with ``etc`` over /etc/lprng."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.fail("the LPRng peer needs root and unshare(1) for its private mount namespace")
    script = f"mount --bind {shlex.quote(str(etc))} /etc/lprng && exec {shlex.join(argv)}"
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", script]


def make_root(queues: Sequence[str] = QUEUES) -> Path:
    """A fresh folder with etc/ (lpd.conf, lpd.perms, printcap), spool/ and out/.

    Made with mkdtemp under /tmp and mode 0755, because pytest's tmp_path is
    0700 and LPRng's helper processes may run as the daemon user.
    """
    root = Path(tempfile.mkdtemp(prefix="lprng-peer-"))
    root.chmod(0o755)
    etc = root / "etc"
    etc.mkdir()
    (etc / "lpd.conf").write_text(
        "printcap_path=/etc/lprng/printcap\n"
        "lpd_printcap_path=/etc/lprng/lpd_printcap\n"
        f"lockfile={root}/lpd.lock\n"
        "unix_socket_path=off\n"
        "user=root\n"
        "group=root\n"
    )
    shutil.copy("/etc/lprng/lpd.perms", etc / "lpd.perms")
    (etc / "lpd_printcap").write_text("")
    entries = []
    for queue in queues:
        (root / "spool" / queue).mkdir(parents=True)
        (root / "out").mkdir(exist_ok=True)
        (root / "out" / f"{queue}.out").write_text("")
        entries.append(
            f"{queue}:sd={root}/spool/%P:lp={root}/out/{queue}.out:sh:mx=0:save_when_done\n"
        )
    (etc / "printcap").write_text("".join(entries))
    return root


@dataclass
class Lprng:
    """A running LPRng lpd: its port and folders."""

    port: int
    root: Path
    process: trio.Process | None = None
    namespace: str | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "lpd.stderr"

    def uri(self, queue: str = "lp", query: str = "") -> str:
        return f"lpd://127.0.0.1:{self.port}/{queue}" + (f"?{query}" if query else "")

    def spool(self, queue: str = "lp") -> Path:
        return self.root / "spool" / queue

    def printed(self, queue: str = "lp") -> bytes:
        """Everything the queue has "printed" (appended to its output file)."""
        return (self.root / "out" / f"{queue}.out").read_bytes()

    def hold_files(self, queue: str = "lp") -> list[dict[str, str]]:
        """LPRng's stored jobs (``hf*`` files: ``KEY=value`` lines), by job number."""
        out = []
        for path in sorted(self.spool(queue).glob("hf*")):
            fields: dict[str, str] = {}
            for line in path.read_text(errors="replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key] = value
            out.append(fields)
        return out

    async def client(self, program: str, *args: str) -> str:
        """Run LPRng ``program`` (lpc, lpq) against this daemon; its output."""
        argv = _namespace_argv(self.root / "etc", [str(require(program)), *args])
        with trio.fail_after(CLIENT_TIMEOUT):
            result = await trio.run_process(
                argv, capture_stdout=True, capture_stderr=True, check=False
            )
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        assert result.returncode == 0, f"{program} {' '.join(args)}: {text}"
        return text

    async def lpc(self, command: str, queue: str = "lp") -> str:
        """``lpc -P queue@127.0.0.1%PORT command`` (stop, start, ...)."""
        return await self.client("lpc", "-P", f"{queue}@127.0.0.1%{self.port}", command)

    async def start(self) -> None:
        """Start lpd (again, on the same port) and wait until it accepts."""
        assert self.process is None, "already running"
        argv = _namespace_argv(
            self.root / "etc", [str(require("lpd")), "-F", "-p", str(self.port), "-P", "off"]
        )
        with open(self.log, "ab") as log:
            self.process = await trio.lowlevel.open_process(
                argv, stdout=log, stderr=log, start_new_session=True
            )
        with trio.fail_after(START_TIMEOUT):
            while True:
                if self.process.returncode is not None or self.process.poll() is not None:
                    self.process = None
                    text = self.log.read_text()
                    if "Cannot bind" in text:
                        raise PortTaken(f"LPRng lpd exited:\n{text}")
                    raise RuntimeError(f"LPRng lpd exited:\n{text}")
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                except OSError:
                    await trio.sleep(0.05)  # bounded readiness poll, not synchronisation
                    continue
                await stream.aclose()
                self.namespace = mount_namespace(self.process.pid)
                return

    async def stop(self) -> None:
        """Stop lpd and everything it started: every process in its private
        mount namespace, by pid."""
        process, self.process = self.process, None
        if process is None:
            return
        with trio.CancelScope(shield=True):
            await stop_namespace(process, self.namespace)


#: Ports tried when the free port picked is taken before lpd binds it.
PORT_ATTEMPTS = 3


class PortTaken(RuntimeError):
    """lpd could not bind its port: someone took it after `free_port` chose it."""


@asynccontextmanager
async def lprng(
    queues: Sequence[str] = QUEUES, *, port: int | None = None, start: bool = True
) -> AsyncIterator[Lprng]:
    """An LPRng lpd on 127.0.0.1 with a private spool; stopped and removed after."""
    daemon = Lprng(port or free_port(), make_root(queues))
    try:
        for attempt in range(1, PORT_ATTEMPTS + 1) if start else ():
            try:
                await daemon.start()
                break
            except PortTaken:
                # free_port() closed its socket; another program (a gateway on
                # port 0, a PostgreSQL client) may take the port before lpd binds it.
                if port is not None or attempt == PORT_ATTEMPTS:
                    raise
                daemon.log.write_bytes(b"")
                daemon.port = free_port()
        yield daemon
    finally:
        await daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)


def lprng_version() -> str:
    """``lprng 3.8.B-6`` (for notes on captured fixtures)."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}", "lprng"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "lprng"
