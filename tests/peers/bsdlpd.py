"""Run BSD lpd (Debian lpr, unpacked under PEERS_ROOT because it conflicts
with lprng) as a real LPD server for tests.

BSD lpd reads fixed paths: /etc/printcap, /etc/hosts.lpd, /etc/hosts (for
the reverse lookup of every client), /var/spool/lpd/lpd.lock,
/var/run/lpd.pid and the /dev/printer socket. It takes the TCP port as its
last argument and ``-b 127.0.0.1`` for the address, so it can share the
host's network (the test reaches it on 127.0.0.1:PORT, no veth or nsenter
needed for the traffic). Only the files are private: it runs in a mount
namespace (``unshare --mount --propagation private``, as root) where /etc,
/run, /var/spool and /dev are overlays whose writable layers live in a
temporary folder, so nothing outside changes; the namespace ends with the
last process in it.

The namespace is held by a ``sleep`` that the setup script execs after
starting lpd (lpd daemonises and has no foreground flag). BSD's own ``lpc``
runs inside the same namespace with ``nsenter --mount --target <holder>``.
Stopping kills, by pid, every process in that mount namespace (found
through /proc/PID/ns/mnt), so nothing it started outlives the test.

Queue ``lp`` keeps its spool in the temporary folder (visible from the
test) and "prints" through an input filter that appends to ``out/lp.out``
(BSD opens the ``lp`` device without O_APPEND, so a plain file there would
be overwritten by each job). With ``held=True`` the filter waits until the
test calls `BsdLpd.release`, so a job stays active in the queue with its
control and data files in the spool (BSD deletes them once printed, and
this Debian lpd does not keep ``lpc stop`` once a job arrives: it resets
the lock file's mode).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from tests.peers import require
from tests.peers.eve import free_port

START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 30.0

_SETUP = """\
set -e
ROOT=$1
PORT=$2
LPD=$3
overlay() {
    n=$(echo "$1" | tr / _)
    mkdir -p "$ROOT/ov/$n-up" "$ROOT/ov/$n-work"
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$ROOT/ov/$n-up,workdir=$ROOT/ov/$n-work" "$1"
}
overlay /etc
overlay /run
overlay /var/spool
overlay /dev
printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost\\n' >/etc/hosts
printf 'localhost\\n' >/etc/hosts.lpd
printf 'lp|BSD lpd test queue:\\\\\\n\\t:lp=/dev/null:sd=%s/spool/lp:if=%s/filter.sh:sh:mx#0:\\n' \
    "$ROOT" "$ROOT" >/etc/printcap
mkdir -p /var/spool/lpd
rm -f /run/lpd.pid /dev/printer
"$LPD" -b 127.0.0.1 "$PORT"
exec sleep infinity
"""


def make_root(*, held: bool = False) -> Path:
    """A fresh folder: setup.sh, filter.sh, spool/lp (daemon:lp 2775), out/."""
    root = Path(tempfile.mkdtemp(prefix="bsdlpd-peer-"))
    root.chmod(0o755)
    (root / "setup.sh").write_text(_SETUP)
    spool = root / "spool" / "lp"
    spool.mkdir(parents=True)
    shutil.chown(root / "spool", "daemon", "lp")
    shutil.chown(spool, "daemon", "lp")
    spool.chmod(0o2775)
    out = root / "out"
    out.mkdir()
    out.chmod(0o777)
    (out / "lp.out").write_text("")
    (out / "lp.out").chmod(0o666)
    flt = root / "filter.sh"
    flt.write_text(
        f"#!/bin/sh\nwhile [ ! -e {out}/release ]; do sleep 0.05; done\ncat >>{out}/lp.out\n"
    )
    flt.chmod(0o755)
    if not held:
        (out / "release").touch()
    return root


@dataclass
class BsdLpd:
    """A running BSD lpd: its port, folders and the namespace holder."""

    port: int
    root: Path
    holder: trio.Process | None = None
    namespace: str | None = None

    def uri(self, queue: str = "lp", query: str = "") -> str:
        return f"lpd://127.0.0.1:{self.port}/{queue}" + (f"?{query}" if query else "")

    @property
    def spool(self) -> Path:
        return self.root / "spool" / "lp"

    def release(self) -> None:
        """Let the held filter print (see ``held``)."""
        (self.root / "out" / "release").touch()

    def printed(self) -> bytes:
        return (self.root / "out" / "lp.out").read_bytes()

    def lpd_pid(self) -> int | None:
        path = self.root / "ov" / "_run-up" / "lpd.pid"
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    async def lpc(self, *args: str) -> str:
        """BSD ``lpc`` inside the daemon's mount namespace."""
        assert self.holder is not None
        argv = [
            _tool("nsenter"),
            "--mount",
            "--target",
            str(self.holder.pid),
            str(require("lpc", "lpr")),
            *args,
        ]
        with trio.fail_after(CLIENT_TIMEOUT):
            result = await trio.run_process(
                argv, capture_stdout=True, capture_stderr=True, check=False
            )
        text = (result.stdout + result.stderr).decode("utf-8", "replace")
        assert result.returncode == 0, f"lpc {' '.join(args)}: {text}"
        return text

    async def start(self) -> None:
        assert self.holder is None
        argv = [
            _tool("unshare"),
            "--mount",
            "--propagation",
            "private",
            "sh",
            str(self.root / "setup.sh"),
            str(self.root),
            str(self.port),
            str(require("lpd", "lpr")),
        ]
        with open(self.root / "setup.log", "ab") as log:
            self.holder = await trio.lowlevel.open_process(
                argv, stdout=log, stderr=log, start_new_session=True
            )
        with trio.fail_after(START_TIMEOUT):
            while True:
                if self.holder.poll() is not None:
                    raise RuntimeError(
                        "BSD lpd setup failed:\n" + (self.root / "setup.log").read_text()
                    )
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", self.port)
                except OSError:
                    await trio.sleep(0.05)  # bounded readiness poll, not synchronisation
                    continue
                await stream.aclose()
                self.namespace = mount_namespace(self.holder.pid)
                return

    async def stop(self) -> None:
        """Stop, by pid, every process in the daemon's mount namespace (lpd,
        which daemonises into its own session, its printer daemons and
        filters, and the holder)."""
        holder, self.holder = self.holder, None
        if holder is None:
            return
        with trio.CancelScope(shield=True):
            await stop_namespace(holder, self.namespace)


def mount_namespace(pid: int) -> str | None:
    """The mount namespace of ``pid`` (``mnt:[inode]``), or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def namespace_members(namespace: str) -> list[int]:
    """Pids of the processes in mount namespace ``namespace`` (from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and mount_namespace(int(entry.name)) == namespace:
            members.append(int(entry.name))
    return members


async def stop_namespace(process: trio.Process, namespace: str | None) -> None:
    """SIGTERM, then SIGKILL, every process of a private mount namespace we
    made (never the host's: ``namespace`` must differ from ours), by pid."""
    if namespace == mount_namespace(os.getpid()):
        namespace = None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if namespace is not None:
            for pid in namespace_members(namespace):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        elif process.returncode is None:
            process.send_signal(sig)
        if sig == signal.SIGTERM:
            with trio.move_on_after(5):
                await process.wait()
    await process.wait()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None or os.geteuid() != 0:
        pytest.fail(f"the BSD lpd peer needs root and {name}(1) for its private mount namespace")
    return path


@asynccontextmanager
async def bsd_lpd(*, held: bool = False) -> AsyncIterator[BsdLpd]:
    """BSD lpd on 127.0.0.1 with a private spool; stopped and removed after."""
    require("lpd", "lpr")
    daemon = BsdLpd(free_port(), make_root(held=held))
    try:
        await daemon.start()
        yield daemon
    finally:
        await daemon.stop()
        shutil.rmtree(daemon.root, ignore_errors=True)
