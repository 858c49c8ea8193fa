"""``lpd-ipp-gateway db upgrade|status`` and ``serve --store`` on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from gateway.core.spool.migrations import LATEST
from tests.gateway_process import GatewayProcess


def db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "db", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_upgrade_creates_then_keeps_the_schema_and_status_reports_it(pg_dsn: str) -> None:
    before = db("status", "--store", pg_dsn)
    assert before.returncode == 1 and "schema version 0" in before.stdout
    made = db("upgrade", "--store", pg_dsn)
    assert made.returncode == 0, made.stderr
    assert f"upgraded from version 0 to {LATEST}" in made.stdout
    again = db("upgrade", "--store", pg_dsn)
    assert again.returncode == 0 and "up to date" in again.stdout
    assert db("status", "--store", pg_dsn).returncode == 0


def test_db_without_a_store_or_with_a_bad_one_says_why(tmp_path: Path) -> None:
    none = db("status")
    assert none.returncode == 2 and "no job store named" in none.stderr
    bad = db("upgrade", "--store", "mysql://x/y")
    assert bad.returncode == 2 and "--store" in bad.stderr


def test_serve_refuses_an_older_schema_naming_the_command(tmp_path: Path, pg_dsn: str) -> None:
    assert db("upgrade", "--store", pg_dsn).returncode == 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 0")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "serve",
            "--store",
            pg_dsn,
            "--spool-dir",
            str(tmp_path / "s"),
            "--lpd-listen",
            "127.0.0.1:0",
            "--ipp-listen",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "run 'lpd-ipp-gateway db upgrade' first" in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) <= 2


@pytest.mark.peer
def test_serve_on_an_empty_database_creates_the_schema(tmp_path: Path, pg_dsn: str) -> None:
    gw = GatewayProcess(
        [
            "--store",
            pg_dsn,
            "--spool-dir",
            str(tmp_path / "s"),
            "--lpd-listen",
            "127.0.0.1:0",
            "--ipp-listen",
            "127.0.0.1:0",
        ]
    )
    try:
        gw.ready(timeout=60)
        with psycopg.connect(pg_dsn) as conn:
            assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (LATEST,)
    finally:
        gw.proc.terminate()
        gw.proc.wait(timeout=30)
