"""systemd units, socket activation and dropping root after binding."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import GatewayProcess
from tests.integration.test_cli import spool_jobs
from tests.peers import require

CONF = Path(__file__).resolve().parents[2] / "conf"
UNITS = ["lpd-ipp-gateway.service", "lpd-ipp-gateway-lpd.socket", "lpd-ipp-gateway-ipp.socket"]


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    script = shutil.which("lpd-ipp-gateway") or str(Path(sys.executable).parent / "lpd-ipp-gateway")
    assert Path(script).exists(), "the package is not installed (pip install -e .)"
    for unit in UNITS:
        text = (CONF / unit).read_text()
        # The units name the usual install path; verify them against this install.
        (tmp_path / unit).write_text(text.replace("/usr/local/bin/lpd-ipp-gateway", script))
    result = subprocess.run(
        [str(require("systemd-analyze")), "verify", *(str(tmp_path / u) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_socket_units_name_their_sockets() -> None:
    assert "FileDescriptorName=lpd" in (CONF / "lpd-ipp-gateway-lpd.socket").read_text()
    assert "FileDescriptorName=ipp" in (CONF / "lpd-ipp-gateway-ipp.socket").read_text()
    service = (CONF / "lpd-ipp-gateway.service").read_text()
    assert "User=lpd-ipp-gateway" in service and "ListenStream" not in service


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A folder an unprivileged user can reach (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="lig-drop-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping root needs root")
def test_drops_root_after_binding_and_still_forwards(world_readable_dir: Path) -> None:
    spool_dir = world_readable_dir / "spool"
    out = spool_dir / "output"
    (job_id,) = spool_jobs(spool_dir, 1)  # made by root, handed over by the gateway
    conf = world_readable_dir / "gw.toml"
    conf.write_text(
        f"""
[gateway]
spool_dir = "{spool_dir}"
user = "nobody"
[lpd]
listen = []
[ipp]
listen = []
[queues.lp]
backend = "{out.as_uri()}"
"""
    )
    with GatewayProcess(["--config", str(conf)]) as gw:
        gw.wait_for(r"running as user nobody")
        gw.wait_for(rf"job {job_id} completed")
        status = Path(f"/proc/{gw.proc.pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        gw.signal(signal.SIGTERM)
        code, log = gw.finish()
    assert code == 0, log
    nobody = int(
        subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True, check=True).stdout
    )
    assert uids == [str(nobody)] * 4
    assert (out / f"job-{job_id}.json").stat().st_uid == nobody


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_socket_activation_serves_the_inherited_sockets(tmp_path: Path) -> None:
    """systemd-socket-activate (what the .socket units do) binds the ports and
    passes them as LISTEN_FDS named lpd and ipp; the gateway serves those instead
    of its configured listeners, and prints through them."""
    lpd_port, ipp_port = _free_port(), _free_port()
    conf = tmp_path / "gw.toml"
    out = tmp_path / "out"
    conf.write_text(
        f"""
[gateway]
spool_dir = "{tmp_path / "spool"}"
[lpd]
listen = ["127.0.0.1:1"]
[ipp]
listen = ["127.0.0.1:1"]
[queues.lp]
backend = "{out.as_uri()}"
"""
    )
    activate = subprocess.Popen(
        [
            str(require("systemd-socket-activate")),
            "-l",
            f"127.0.0.1:{lpd_port}",
            "-l",
            f"127.0.0.1:{ipp_port}",
            "--fdname=lpd:ipp",
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--config",
            str(conf),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # connecting is what starts the service
            try:
                conn = socket.create_connection(("127.0.0.1", lpd_port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "systemd-socket-activate did not listen"
                time.sleep(0.05)  # bounded wait for the activator to bind
        with conn:
            conn.sendall(b"\x02lp\n")
            assert conn.recv(1) == b"\0"
            cf = b"Hclient\nPalice\nJactivated\nldfA001client\n"
            conn.sendall(b"\x02%d cfA001client\n" % len(cf))
            assert conn.recv(1) == b"\0"
            conn.sendall(cf + b"\0")
            assert conn.recv(1) == b"\0"
            conn.sendall(b"\x03%d dfA001client\n" % 5)
            assert conn.recv(1) == b"\0"
            conn.sendall(b"hello\0")
            assert conn.recv(1) == b"\0"
        with socket.create_connection(("127.0.0.1", ipp_port), timeout=5) as http:
            http.sendall(
                b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )
            reply = b""
            while chunk := http.recv(65536):
                reply += chunk
        assert b"200" in reply.split(b"\r\n", 1)[0]
        assert b'"name": "activated"' in reply
    finally:
        activate.send_signal(signal.SIGTERM)
        output, _ = activate.communicate(timeout=30)
    assert f"listening for LPD on 127.0.0.1:{lpd_port}" in output, output
    assert f"listening for IPP on 127.0.0.1:{ipp_port}" in output, output
