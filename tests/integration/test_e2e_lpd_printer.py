"""End to end through the whole gateway to real LPD servers: ipptool Print-Job and CUPS
`lp -h` -> gateway IPP -> LPRng lpd, and ipptool -> gateway -> BSD lpd. The control file
the LPD server stores has the H, P, J, L, N and copies the IPP job asked for, the data
file is byte-identical, and Get-Job-Attributes on the gateway ends completed."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import trio

from gateway import app, config
from gateway.core.job import Job, JobState
from gateway.core.spool import Spool
from gateway.ipp import Operation, ValueTag
from gateway.lpd.controlfile import parse
from tests.helpers import wait_for_state
from tests.integration.test_backend_lpd_lprng import hf_copies
from tests.ipp_harness import ipptool_file, post, printer_uri, request, running_gateway, url
from tests.peers import require
from tests.peers.bsdlpd import bsd_lpd
from tests.peers.lprng import lprng

HOST = "gateway.test"
DATA = b"Budget 2027, line by line\n" * 400


def config_to(uri: str, tmp: Path) -> config.Config:
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp / "spool"), "hostname": HOST},
            "lpd": {"listen": []},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {"office": {"backend": uri}},
        }
    )


def ipptool_test(work: Path) -> Path:
    (work / "budget.txt").write_bytes(DATA)
    test = work / "print.test"
    test.write_text(
        """{
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR naturalLanguage attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name bob
    ATTR name job-name "Budget"
    ATTR name document-name "budget.txt"
    ATTR mimeMediaType document-format text/plain
    GROUP job-attributes-tag
    ATTR integer copies 2
    ATTR keyword job-sheets standard
    FILE budget.txt
    STATUS successful-ok
}
"""
    )
    return test


async def only_job(spool: Spool) -> Job:
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set())
    while not list(spool.jobs()):
        await events[-1].wait()
        events.append(trio.Event())
    (job,) = list(spool.jobs())
    return job


async def completed_by_ipp(running: app.Running, job: Job) -> int:
    """Get-Job-Attributes on the gateway, after the job ended: its job-state."""
    await wait_for_state(running.context.spool, job.id, JobState.COMPLETED)
    async with httpx.AsyncClient() as client:
        message = request(Operation.GET_JOB_ATTRIBUTES, printer_uri(running, "/printers/office"))
        message.operation.add("job-id", ValueTag.INTEGER, job.id)
        answer = await post(client, url(running, "/printers/office"), message)
    return int(answer.job.value("job-state"))


async def test_ipptool_through_gateway_to_lprng(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ipptool_test(work)
    with trio.fail_after(120):
        async with lprng() as peer, running_gateway(config_to(peer.uri(), tmp_path)) as running:
            await ipptool_file(running, "/printers/office", work)
            job = await only_job(running.context.spool)
            state = await completed_by_ipp(running, job)
            (hold,) = peer.hold_files()
            stored = [p.read_bytes() for p in peer.spool().glob("df*")]
    assert state == int(JobState.COMPLETED)
    assert hold["H"] == HOST
    assert hold["P"] == "bob"
    assert hold["J"] == "Budget"
    assert hold["L"] == "bob"
    assert hf_copies(hold) == [("budget.txt", 2)]
    assert stored == [DATA]


async def test_cups_lp_through_gateway_to_lprng(tmp_path: Path) -> None:
    document = tmp_path / "budget.txt"
    document.write_bytes(DATA)
    lp = require("lp", "cups-client")
    with trio.fail_after(120):
        async with lprng() as peer, running_gateway(config_to(peer.uri(), tmp_path)) as running:
            host, port = running.ipp[0]
            result = await trio.run_process(
                [
                    str(lp),
                    "-h",
                    f"{host}:{port}",
                    "-d",
                    "office",
                    "-U",
                    "carol",
                    "-t",
                    "Budget",
                    "-n",
                    "2",
                    "-o",
                    "job-sheets=standard",
                    str(document),
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
                env=dict(os.environ, CUPS_SERVERROOT=str(tmp_path)),
            )
            assert result.returncode == 0, result.stderr.decode()
            job = await only_job(running.context.spool)
            state = await completed_by_ipp(running, job)
            (hold,) = peer.hold_files()
            stored = [p.read_bytes() for p in peer.spool().glob("df*")]
    assert state == int(JobState.COMPLETED)
    assert hold["H"] == HOST
    assert hold["P"] == "carol"
    assert hold["J"] == "Budget"
    assert hold["L"] == "carol"
    assert [copies for _name, copies in hf_copies(hold)] == [2]
    assert stored == [DATA]


async def test_ipptool_through_gateway_to_bsd_lpd(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    ipptool_test(work)
    with trio.fail_after(120):
        async with (
            bsd_lpd(held=True) as peer,
            running_gateway(config_to(peer.uri(), tmp_path)) as running,
        ):
            await ipptool_file(running, "/printers/office", work)
            spool = running.context.spool
            job = await only_job(spool)
            events = [trio.Event()]
            spool.add_listener(lambda j, old: events[-1].set())
            while "is printing" not in (spool.get(job.id).state_message or ""):  # type: ignore[union-attr]
                await events[-1].wait()
                events.append(trio.Event())
            (cf_path,) = peer.spool.glob("cf*")
            cf = parse(cf_path.read_bytes())
            stored = [p.read_bytes() for p in peer.spool.glob("df*")]
            peer.release()
            state = await completed_by_ipp(running, job)
    assert state == int(JobState.COMPLETED)
    assert cf.host == HOST
    assert cf.user == "bob"
    assert cf.job_name == "Budget"
    assert cf.banner_user == "bob"
    assert [(r.letter, r.document_name) for r in cf.print_requests] == [
        ("f", "budget.txt"),
        ("f", "budget.txt"),
    ]
    assert stored == [DATA]
