"""The command line contract: one clear line for every mistake, exit 0 on SIGTERM,
and no spooled job lost or forwarded twice across kills and restarts."""

from __future__ import annotations

import errno
import json
import signal
import socket
from pathlib import Path

import trio

from gateway.app import _bind_advice
from gateway.config import ListenAddress
from gateway.core.job import JobState
from gateway.core.spool import Spool
from tests.gateway_process import GatewayProcess, run_cli
from tests.helpers import spool_job


def write_config(path: Path, spool: Path, out: Path, *, enabled: bool) -> Path:
    path.write_text(
        f"""
[gateway]
spool_dir = "{spool}"
[lpd]
listen = []
[ipp]
listen = []
[queues.lp]
backend = "{out.as_uri()}"
enabled = {"true" if enabled else "false"}
"""
    )
    return path


def spool_jobs(root: Path, count: int) -> list[int]:
    async def go() -> list[int]:
        spool = await Spool.open(root)
        try:
            return [(await spool_job(spool)).id for _ in range(count)]
        finally:
            await spool.aclose()

    return trio.run(go)


def spool_states(root: Path) -> dict[int, JobState]:
    async def go() -> dict[int, JobState]:
        spool = await Spool.open(root)
        try:
            return {job.id: job.state for job in spool.jobs()}
        finally:
            await spool.aclose()

    return trio.run(go)


def test_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["serve", "--lpd-listen", f"127.0.0.1:{port}", "--spool-dir", "/tmp/x"])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot listen for LPD on 127.0.0.1:{port}: address already in use" in lines[0]
    assert "--lpd-listen" in lines[0]


def test_permission_advice_names_the_fixes() -> None:
    advice = _bind_advice(
        ListenAddress("", 515), "LPD", "--lpd-listen", OSError(errno.EACCES, "denied")
    )
    assert "root" in advice and "CAP_NET_BIND_SERVICE" in advice
    assert "--lpd-listen 127.0.0.1:5515" in advice


def test_unknown_config_key_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text("[ipp]\nlisten = ['127.0.0.1:0']\nmax_conections = 5\n")
    for args in (["serve", "--config", str(conf)], ["check-config", str(conf)]):
        result = run_cli(args)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"{conf}: ipp.max_conections: unknown key" in lines[0]


def test_bad_queue_flag_is_one_line() -> None:
    for flag in ("lp=smb://server/share", "bad name=file:///tmp/x"):
        result = run_cli(["serve", "--queue", flag])
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "--queue" in lines[0]


def test_check_config_checks_backend_options(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text(
        "[queues.office]\nbackend = 'lpd://printer.example/raw'\n"
        "backend_options = { order = 'sideways' }\n"
    )
    result = run_cli(["check-config", str(conf)])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{conf}: queue office:" in lines[0] and "order" in lines[0]


def test_check_config_accepts_the_example() -> None:
    example = Path(__file__).resolve().parents[2] / "conf" / "gateway.toml"
    result = run_cli(["check-config", str(example)])
    assert result.returncode == 0, result.stderr
    assert "queue lp (default) -> file:///var/spool/lpd-ipp-gateway/output" in result.stdout


def test_sigterm_exits_zero_and_keeps_spooled_jobs(tmp_path: Path) -> None:
    spool_dir, out = tmp_path / "spool", tmp_path / "out"
    (job_id,) = spool_jobs(spool_dir, 1)
    held = write_config(tmp_path / "held.toml", spool_dir, out, enabled=False)
    with GatewayProcess(["--config", str(held)]) as gw:
        gw.ready()
        gw.signal(signal.SIGTERM)
        code, log = gw.finish()
    assert code == 0, log
    assert "SIGTERM received: stopping" in log
    assert spool_states(spool_dir) == {job_id: JobState.PENDING}

    live = write_config(tmp_path / "live.toml", spool_dir, out, enabled=True)
    with GatewayProcess(["--config", str(live)]) as gw:
        gw.wait_for(rf"job {job_id} completed")
        gw.signal(signal.SIGINT)
        code, log = gw.finish()
    assert code == 0, log
    assert (out / f"job-{job_id}.json").exists()


def test_sigkill_between_spooling_and_forwarding_delivers_once(tmp_path: Path) -> None:
    spool_dir, out = tmp_path / "spool", tmp_path / "out"
    first = spool_jobs(spool_dir, 2)
    held = write_config(tmp_path / "held.toml", spool_dir, out, enabled=False)
    live = write_config(tmp_path / "live.toml", spool_dir, out, enabled=True)

    with GatewayProcess(["--config", str(held)]) as gw:
        gw.ready()
        gw.kill()  # SIGKILL: the jobs are spooled, not forwarded
    assert not out.exists()

    with GatewayProcess(["--config", str(live)]) as gw:
        for job_id in first:
            gw.wait_for(rf"job {job_id} completed")
        gw.kill()
    log_second = gw.log

    # A third start must not forward them again.
    with GatewayProcess(["--config", str(live)]) as gw:
        gw.ready()
        gw.signal(signal.SIGTERM)
        code, log_third = gw.finish()
    assert code == 0
    for job_id in first:
        assert log_second.count(f"job {job_id} forwarding") == 1
        assert f"job {job_id} forwarding" not in log_third
        meta = json.loads((out / f"job-{job_id}.json").read_text())
        assert meta["job-id"] == job_id
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"job-{i}.json" for i in first] + [f"job-{i}-1.txt" for i in first]
    )
    assert set(spool_states(spool_dir).values()) == {JobState.COMPLETED}

    # Job ids keep increasing across all those restarts.
    (later,) = spool_jobs(spool_dir, 1)
    assert later > max(first)


def test_startup_failure_inside_the_nursery_is_one_line(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f"""
[gateway]
spool_dir = "{tmp_path / "spool"}"
user = "no-such-user-here"
[lpd]
listen = []
[ipp]
listen = []
"""
    )
    result = run_cli(["serve", "--config", str(conf)])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no such user 'no-such-user-here'" in lines[0]
    assert "internal error" not in lines[0]


def test_every_subcommand_has_complete_help() -> None:
    for command in ("serve", "check-config", "passwd", "gen-cert"):
        result = run_cli([command, "--help"])
        assert result.returncode == 0, result.stderr
        assert "example" in result.stdout, command
    serve = run_cli(["serve", "--help"]).stdout
    for option in (
        "--config",
        "--spool-dir",
        "--lpd-listen",
        "--ipp-listen",
        "--queue",
        "--log-level",
        "--log-format",
    ):
        assert option in serve
    assert "(default *:515)" in serve and "embedded default" in serve


def test_passwd_and_gen_cert(tmp_path: Path) -> None:
    import subprocess
    import sys

    from gateway.ipp.server.auth import PasswordFile

    done = subprocess.run(
        [sys.executable, "-m", "gateway", "passwd", str(tmp_path / "pw"), "alice"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert PasswordFile(tmp_path / "pw").verify("alice", "s3cret")
    made = run_cli(["gen-cert", "--out-dir", str(tmp_path / "tls"), "--hostname", "gw.test"])
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert "-----BEGIN CERTIFICATE-----" in (tmp_path / "tls" / "cert.pem").read_text()
    assert made.stdout.strip().splitlines()[-1].startswith("sha256:")
