"""systemd units, socket activation and dropping root after binding."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
