"""CUPS's own clients (Debian cups-client: lp, lpstat, cancel) against the gateway.

They are unpacked under /opt/lpd-ipp-gateway-peers because cups-client
conflicts with LPRng; `tests.peers.require` finds them.
"""

from __future__ import annotations

import getpass
import json
import re
from pathlib import Path

import pytest
import trio

from gateway.core.job import JobState
from tests import peers
from tests.helpers import wait_for_state
from tests.ipp_harness import gateway_config, running_gateway

pytestmark = pytest.mark.peer


async def _run(*argv: str) -> tuple[int, str]:
    result = await trio.run_process(
        list(argv), capture_stdout=True, capture_stderr=True, check=False
    )
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", "replace")


async def test_lp_prints_with_attributes_into_the_file_backend(tmp_path: Path) -> None:
    lp = str(peers.require("lp", "cups-client"))
    document = tmp_path / "report.txt"
    document.write_text("quarterly report\n" * 100)
    with trio.fail_after(60):
        async with running_gateway(gateway_config(tmp_path)) as running:
            host, port = running.ipp[0]
            code, out = await _run(
                lp, "-h", f"{host}:{port}", "-d", "lp", "-t", "Q3 report", "-n", "2",
                "-o", "media=iso_a4_210x297mm", "-o", "sides=two-sided-long-edge", str(document),
            )  # fmt: skip
            assert code == 0, out
            match = re.search(r"request id is lp-(\d+)", out)
            assert match, out
            job_id = int(match.group(1))
            await wait_for_state(running.context.spool, job_id, JobState.COMPLETED)
    sidecar = json.loads((tmp_path / "out" / f"job-{job_id}.json").read_text())
    assert sidecar["job-name"] == "Q3 report"
    assert sidecar["copies"] == 2
    assert sidecar["media"] == "iso_a4_210x297mm"
    assert sidecar["sides"] == "two-sided-long-edge"
    assert sidecar["job-originating-user-name"] == getpass.getuser()
    assert sidecar["job-originating-host-name"] == "127.0.0.1"
    assert sidecar["origin"]["frontend"] == "ipp"
    [doc] = sidecar["documents"]
    assert doc["document-name"] == "report.txt"
    assert doc["size"] == document.stat().st_size
    stored = tmp_path / "out" / doc["file"]
    assert stored.read_bytes() == document.read_bytes()


async def test_lpstat_lists_and_cancel_cancels(tmp_path: Path) -> None:
    lp = str(peers.require("lp", "cups-client"))
    lpstat = str(peers.require("lpstat", "cups-client"))
    cancel = str(peers.require("cancel", "cups-client"))
    document = tmp_path / "held.txt"
    document.write_text("wait for me\n")
    with trio.fail_after(60):
        async with running_gateway(gateway_config(tmp_path)) as running:
            server = "{}:{}".format(*running.ipp[0])
            # Held, so that it is still there for lpstat and cancel.
            code, out = await _run(lp, "-h", server, "-d", "lp", "-H", "hold", str(document))
            assert code == 0, out
            match = re.search(r"request id is lp-(\d+)", out)
            assert match, out
            job_id = int(match.group(1))
            job = running.context.spool.get(job_id)
            assert job is not None and job.state == JobState.PENDING_HELD

            code, out = await _run(lpstat, "-h", server, "-o")
            assert code == 0, out
            assert re.search(rf"^\S+-{job_id}\s+{getpass.getuser()}\s", out, re.MULTILINE), out

            code, out = await _run(lpstat, "-h", server, "-p", "-d")  # CUPS-Get-Printers
            assert code == 0, out
            assert "printer lp is idle" in out and "system default destination: lp" in out

            code, out = await _run(cancel, "-h", server, str(job_id))
            assert code == 0, out
            job = running.context.spool.get(job_id)
            assert job is not None and job.state == JobState.CANCELED

            code, out = await _run(lpstat, "-h", server, "-o")
            assert code == 0, out
            assert f"-{job_id} " not in out
    assert not (tmp_path / "out" / f"job-{job_id}.json").exists()
