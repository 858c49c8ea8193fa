"""Print letters c, g, n, t, v (CIF, plot, ditroff, troff, raster) are printed,
not refused: an IPP-side queue gets a document-format for each, and an LPD
printer behind an ``lpd://`` backend gets the letter the client sent.

Clients are the real LPRng ``lpr`` (``-c``, ``-g``, ``-t``, ``-v``, and ``-Fn``
for ditroff: its ``-n`` is the copy count) and the real BSD ``lpr``
(``-c -g -n -t -v``, through a BSD lpd that forwards its queue to the gateway,
`bsd_forwarder`). The LPD printer is a real LPRng lpd (`tests.peers.lprng`),
whose hold file records the letter of each data file it stored.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from gateway.core.job import JobState
from tests.helpers import wait_for_state
from tests.lpd_harness import Gateway, RawClient, control, document_bytes, gateway, sha256
from tests.lpd_peers import endpoint, lprng
from tests.peers import require
from tests.peers.bsdlpd import mount_namespace, stop_namespace
from tests.peers.lprng import lprng as lprng_daemon

pytestmark = pytest.mark.peer

#: letter -> (document-format, the LPRng lpr option that sends it, BSD lpr's).
LETTERS = {
    "c": ("application/x-cif", ["-c"], "-c"),
    "g": ("application/x-plot", ["-g"], "-g"),
    "n": ("application/x-ditroff", ["-Fn"], "-n"),
    "t": ("application/x-troff", ["-t"], "-t"),
    "v": ("image/x-sun-raster", ["-v"], "-v"),
}
DATA = {letter: f"{letter} data: not text, not sniffed\n".encode() * 20 for letter in LETTERS}


def files(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    for letter, data in DATA.items():
        (folder / f"{letter}.dat").write_bytes(data)
    return folder


@pytest.mark.parametrize("letter", sorted(LETTERS))
async def test_lprng_lpr_letter_to_a_file_queue(
    nursery: trio.Nursery, tmp_path: Path, letter: str
) -> None:
    """LPRng lpr with the letter's option: the job is taken (no NAK), its
    document has the letter's document-format, and the letter is remembered."""
    gw = await gateway(nursery, tmp_path)
    fmt, option, _ = LETTERS[letter]
    await lprng(
        "lpr",
        ["-P", endpoint(gw.port), "-U", "alice", *option, f"{letter}.dat"],
        tmp_path,
        cwd=files(tmp_path),
    )
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    [doc] = side["documents"]
    assert doc["document-format"] == fmt
    assert doc["attributes"] == {"lpd-format-letter": letter}
    assert doc["sha256"] == sha256(DATA[letter])
    assert document_bytes(gw.out, doc) == DATA[letter]


async def test_bsd_lpr_letters_to_a_file_queue(nursery: trio.Nursery, tmp_path: Path) -> None:
    """BSD lpr -c/-g/-n/-t/-v, forwarded by BSD lpd (data files first): five
    jobs, each document with its letter's format."""
    gw = await gateway(nursery, tmp_path, lpd={"listen": ["127.0.0.2:0"]})
    folder = files(tmp_path)
    async with bsd_forwarder(gw.port, host="127.0.0.2") as bsd:
        for letter in sorted(LETTERS):
            await bsd.lpr(LETTERS[letter][2], str(folder / f"{letter}.dat"))
        with trio.fail_after(60):
            while len(gw.jobs()) < len(LETTERS):
                await wait_for_any(gw)
    seen = {}
    for job in gw.jobs():
        side = await gw.completed(job.id)
        [doc] = side["documents"]
        seen[doc["attributes"]["lpd-format-letter"]] = doc
    assert sorted(seen) == sorted(LETTERS)
    for letter, doc in seen.items():
        assert doc["document-format"] == LETTERS[letter][0]
        assert doc["sha256"] == sha256(DATA[letter])


async def wait_for_any(gw: Gateway) -> None:
    """Wait for the next change in the gateway's spool."""
    event = trio.Event()
    gw.spool.add_listener(lambda job, old: event.set())
    await event.wait()


# --------------------------------------------------------------------------
# BSD lpr through a forwarding BSD lpd

#: Runs in a private mount namespace: overlays on /etc, /run, /var/spool and
#: /dev (writable layers in ROOT), a printcap whose queue ``fwd`` forwards to
#: HOST (an address lpd does not take for its own, so it forwards), the
#: ``printer`` service moved to PORT (lpd connects to the service's port), then
#: lpd on its UNIX socket only; the ``sleep`` holds the namespace.
_FORWARDER_SETUP = """\
set -e
ROOT=$1 HOST=$2 PORT=$3 LPD=$4
overlay() {
    n=$(echo "$1" | tr / _)
    mkdir -p "$ROOT/ov/$n-up" "$ROOT/ov/$n-work"
    mount -t overlay overlay -o "lowerdir=$1,upperdir=$ROOT/ov/$n-up,workdir=$ROOT/ov/$n-work" "$1"
}
overlay /etc
overlay /run
overlay /var/spool
overlay /dev
sed -i "s|^printer[[:space:]].*|printer $PORT/tcp spooler|" /etc/services
SD=/var/spool/lpd/fwd
printf 'fwd|forward to the gateway:\\\n\t:lp=:rm=%s:rp=lp:sd=%s:lf=%s/log:mx#0:\n' \
    "$HOST" "$SD" "$SD" >/etc/printcap
mkdir -p /var/spool/lpd/fwd
touch /var/spool/lpd/fwd/log
chown -R daemon:lp /var/spool/lpd
chmod 2775 /var/spool/lpd/fwd
rm -f /run/lpd.pid /dev/printer
"$LPD" -s
for _ in $(seq 100); do [ -S /dev/printer ] && break; sleep 0.05; done
touch "$ROOT/ready"
exec sleep infinity
"""


@dataclass
class BsdForwarder:
    """BSD lpd whose queue ``fwd`` forwards to the gateway; `lpr` spools into it."""

    root: Path
    holder: trio.Process

    async def lpr(self, *args: str) -> None:
        """BSD ``lpr -P fwd ARGS`` inside the forwarder's mount namespace."""
        argv = [
            require("nsenter").as_posix(),
            "--mount",
            "--target",
            str(self.holder.pid),
            require("lpr", "lpr").as_posix(),
            "-P",
            "fwd",
            *args,
        ]
        with trio.fail_after(30):
            result = await trio.run_process(
                argv, capture_stdout=True, capture_stderr=True, check=False
            )
        assert result.returncode == 0, (result.stdout + result.stderr).decode(errors="replace")


@asynccontextmanager
async def bsd_forwarder(port: int, *, host: str) -> AsyncIterator[BsdForwarder]:
    """A BSD lpd (``-s``: no network listener) forwarding queue ``fwd`` to
    ``host:port``; stopped, with everything it started, afterwards."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("the BSD forwarder needs root and unshare(1) for its private mount namespace")
    root = Path(tempfile.mkdtemp(prefix="bsd-forwarder-"))
    root.chmod(0o755)
    (root / "setup.sh").write_text(_FORWARDER_SETUP)
    argv = [
        require("unshare").as_posix(),
        "--mount",
        "--propagation",
        "private",
        "sh",
        str(root / "setup.sh"),
        str(root),
        host,
        str(port),
        require("lpd", "lpr").as_posix(),
    ]
    with open(root / "setup.log", "ab") as log:
        holder = await trio.lowlevel.open_process(
            argv, stdout=log, stderr=log, start_new_session=True
        )
    namespace = None
    try:
        with trio.fail_after(15):
            while not (root / "ready").exists():
                if holder.poll() is not None:
                    raise RuntimeError((root / "setup.log").read_text())
                await trio.sleep(0.05)  # bounded readiness poll, not synchronisation
        namespace = mount_namespace(holder.pid)
        yield BsdForwarder(root, holder)
    finally:
        with trio.CancelScope(shield=True):
            await stop_namespace(holder, namespace)
        shutil.rmtree(root, ignore_errors=True)


async def test_letters_reach_an_lprng_printer_unchanged(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """One job with a file of each letter, sent by a raw client to a queue whose
    backend is a real LPRng lpd: the control file LPRng stores has the same
    letter for each data file, and the data arrives byte for byte."""
    order = sorted(LETTERS)
    async with lprng_daemon() as peer:
        gw = await gateway(nursery, tmp_path, queues={"fwd": {"backend": peer.uri()}})
        stream = await trio.open_tcp_stream(gw.host, gw.port)
        client = RawClient(stream)
        await client.send(b"\x02fwd\n")
        assert await client.ack() == 0
        names = {letter: f"df{chr(ord('A') + i)}007client" for i, letter in enumerate(order)}
        cf = control(files=tuple((letter, names[letter], f"{letter}.dat") for letter in order))
        assert await client.control_file("cfA007client", cf) == (0, 0)
        for letter in order:
            assert await client.data_file(names[letter], DATA[letter]) == (0, 0)
        await client.aclose()
        [job] = gw.jobs()
        with trio.fail_after(60):
            await wait_for_state(gw.spool, job.id, JobState.COMPLETED)
        (hold,) = peer.hold_files()
        stored = {p.name: p.read_bytes() for p in peer.spool().glob("df*")}
    formats = hold_formats(hold)
    assert [f for _, f in formats] == order, hold
    by_name = dict(formats)
    for name, data in stored.items():
        assert data == DATA[by_name[name]]


def hold_formats(hold: dict[str, str]) -> list[tuple[str, str]]:
    """(data file name, format letter) per data file of an LPRng hold file."""
    out = []
    for entry in hold["hfdatafiles"].split("\x01"):
        fields = dict(part.split("=", 1) for part in entry.split("\x02") if "=" in part)
        if fields:
            out.append((fields.get("dftransfername", ""), fields.get("format", "")))
    return out
