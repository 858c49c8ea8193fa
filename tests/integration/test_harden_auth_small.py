"""Small leaks and slips: job-printer-uri names the job's own queue and Get-Jobs on
``/`` lists every queue's jobs (CUPS's lpstat -o shows NAME-ID for each), and a
folder job says "delivered", never the server's path."""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import httpx
import pytest
import trio

from gateway.core.job import JobState
from gateway.ipp import Operation, StatusCode, ValueTag
from tests import peers
from tests.helpers import wait_for_state
from tests.ipp_harness import gateway_config, post, printer_uri, request, running_gateway, url
from tests.lpd_harness import LogWatch


async def _run(*argv: str) -> tuple[int, str]:
    result = await trio.run_process(
        list(argv), capture_stdout=True, capture_stderr=True, check=False
    )
    return result.returncode, (result.stdout + result.stderr).decode("utf-8", "replace")


@pytest.mark.peer
async def test_cups_lpstat_shows_each_job_under_its_own_queue(tmp_path: Path) -> None:
    lp = str(peers.require("lp", "cups-client"))
    lpstat = str(peers.require("lpstat", "cups-client"))
    document = tmp_path / "held.txt"
    document.write_text("wait for me\n")
    out = (tmp_path / "out").as_uri()
    cfg = gateway_config(tmp_path, queues={"lp": {"backend": out}, "office": {"backend": out}})
    with trio.fail_after(60):
        async with running_gateway(cfg) as running:
            server = "{}:{}".format(*running.ipp[0])
            ids = {}
            for queue in ("lp", "office"):  # held, so that lpstat still lists them
                code, text = await _run(lp, "-h", server, "-d", queue, "-H", "hold", str(document))
                assert code == 0, text
                match = re.search(rf"request id is {queue}-(\d+)", text)
                assert match, text
                ids[queue] = int(match.group(1))
            # lpstat -o asks ipp://HOST:PORT/ for every printer's jobs and names each
            # job by the last part of its job-printer-uri.
            code, listing = await _run(lpstat, "-h", server, "-o")
            # job-printer-uri of a job on the default queue, asked by its alias
            get = request(Operation.GET_JOB_ATTRIBUTES, printer_uri(running, "/ipp/print"))
            get.operation.add("job-id", ValueTag.INTEGER, ids["lp"])
            async with httpx.AsyncClient() as http:
                answer = await post(http, url(running, "/ipp/print"), get)
    assert code == 0, listing
    user = re.escape(getpass.getuser())
    for queue, job_id in ids.items():
        assert re.search(rf"^{queue}-{job_id}\s+{user}\s", listing, re.MULTILINE), listing
    assert "print-" not in listing
    host, port = running.ipp[0]
    assert answer.job.value("job-printer-uri") == f"ipp://{host}:{port}/printers/lp"


async def test_a_folder_job_says_delivered_not_where(tmp_path: Path) -> None:
    with LogWatch() as logs, trio.fail_after(60):
        async with running_gateway(gateway_config(tmp_path)) as running:
            uri = printer_uri(running, "/printers/lp")
            message = request(Operation.PRINT_JOB, uri)
            message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
            async with httpx.AsyncClient() as http:
                created = await post(http, url(running, "/printers/lp"), message, b"hello\n")
                job_id = created.job.value("job-id")
                await wait_for_state(running.context.spool, job_id, JobState.COMPLETED)
                get = request(Operation.GET_JOB_ATTRIBUTES, uri)
                get.operation.add("job-id", ValueTag.INTEGER, job_id)
                answer = await post(http, url(running, "/printers/lp"), get)
    assert answer.status == StatusCode.SUCCESSFUL_OK
    shown = answer.job.value("job-state-message")
    assert shown == f"delivered as job-{job_id}-1.txt"
    assert str(tmp_path) not in shown
    assert (tmp_path / "out" / f"job-{job_id}-1.txt").read_bytes() == b"hello\n"
    # The folder is in the log, for the administrator.
    done = logs.find(rf"job {job_id} completed ")
    assert done is not None and (tmp_path / "out").as_uri() in done
