"""Run CUPS's ippeveprinter (Debian cups-ipp-utils) as a real IPP printer for tests.

ippeveprinter registers with Avahi over the system D-Bus, so both daemons are
started first when they are not running. Readiness is read from its own
verbose output (it prints printer-uuid once its listeners are open).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from tests.peers import require

DBUS_SOCKET = Path("/run/dbus/system_bus_socket")
DBUS_PID = Path("/run/dbus/pid")


AVAHI_CONF = Path(__file__).with_name("avahi-daemon.conf")


def _avahi_with_our_config() -> bool:
    """Whether an avahi-daemon runs with tests/peers/avahi-daemon.conf."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"avahi-daemon") and str(AVAHI_CONF).encode() in cmdline:
            return True
    return False


def ensure_system_daemons() -> None:
    """Start dbus-daemon --system, and avahi-daemon restricted to loopback (replacing
    an instance started with another configuration), so that no multicast leaves
    the machine."""
    bus_started = False
    if not _dbus_answers():
        # A machine image may carry the socket and pid file of a system bus that
        # no longer runs; dbus-daemon refuses to start over its pid file.
        DBUS_SOCKET.unlink(missing_ok=True)
        DBUS_PID.unlink(missing_ok=True)
        DBUS_SOCKET.parent.mkdir(parents=True, exist_ok=True)
        _run([str(require("dbus-daemon")), "--system", "--fork"])
        bus_started = True
    if _avahi_with_our_config() and not bus_started:
        return
    avahi = str(require("avahi-daemon"))
    subprocess.run([avahi, "--kill"], capture_output=True, timeout=30, check=False)
    for _ in range(100):  # --kill returns before the old daemon has let go of its pid file
        if subprocess.run([avahi, "--check"], capture_output=True, check=False).returncode:
            break
        time.sleep(0.05)
    _run([avahi, "--daemonize", "--no-chroot", "-f", str(AVAHI_CONF)])


def _dbus_answers() -> bool:
    """Whether a system bus listens on its socket (the file alone proves nothing)."""
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(DBUS_SOCKET))
        except OSError:
            return False
    return True


def _run(args: list[str]) -> None:
    """Run a daemon's start command; on failure, raise with what it printed."""
    done = subprocess.run(args, capture_output=True, timeout=30, check=False)
    if done.returncode:
        printed = (done.stderr or done.stdout).decode(errors="replace").strip()
        raise RuntimeError(f"{' '.join(args)} exited with {done.returncode}: {printed}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Eve:
    """A running ippeveprinter."""

    port: int
    spool: Path
    process: trio.Process
    output: list[str]

    @property
    def uri(self) -> str:
        return f"ipp://127.0.0.1:{self.port}/ipp/print"

    def files(self) -> list[Path]:
        """Documents it kept (-k), oldest job first."""
        return sorted(
            (p for p in self.spool.iterdir() if not p.name.endswith(".prn")),
            key=lambda p: int(p.name.split("-", 1)[0]),
        )


@asynccontextmanager
async def ippeveprinter(
    spool: Path,
    *,
    formats: Sequence[str] = (
        "application/pdf",
        "text/plain",
        "image/jpeg",
        "application/octet-stream",
    ),
    command: Path | None = None,
    port: int | None = None,
    name: str = "Gateway Test Printer",
) -> AsyncIterator[Eve]:
    """Start ippeveprinter on 127.0.0.1 and stop it afterwards."""
    ensure_system_daemons()
    spool.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        str(require("ippeveprinter")),
        "-v",
        "-k",
        "-p",
        str(port),
        "-d",
        str(spool),
        "-f",
        ",".join(formats),
    ]
    if command is not None:
        args += ["-c", str(command)]
    process = await trio.lowlevel.open_process(
        [*args, name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, LC_ALL="C"),
    )
    output: list[str] = []
    eve = Eve(port, spool, process, output)
    try:
        assert process.stderr is not None
        buffer = b""
        with trio.fail_after(20):
            while not any("printer-uuid=" in line for line in output):
                chunk = await process.stderr.receive_some(4096)
                if not chunk:
                    raise RuntimeError("ippeveprinter exited:\n" + "\n".join(output))
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                output += [line.decode("utf-8", "replace") for line in lines]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_drain, process, output, buffer)
            yield eve
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            process.terminate()
            with trio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _drain(process: trio.Process, output: list[str], buffer: bytes) -> None:
    assert process.stderr is not None
    while True:
        chunk = await process.stderr.receive_some(65536)
        if not chunk:
            return
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        output += [line.decode("utf-8", "replace") for line in lines]
