"""End to end through the whole gateway to a real IPP printer (ippeveprinter):
LPRng lpr -> gateway LPD -> ippeveprinter, ipptool Print-Job -> gateway IPP ->
ippeveprinter, and what the gateway shows of that printer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from gateway import app, config
from gateway.core.job import Job, JobState
from gateway.core.spool import Spool
from gateway.ipp import DelimiterTag, Operation, ValueTag
from tests.helpers import wait_for_state
from tests.integration.test_backend_ipp import remote_job
from tests.ipp_harness import ipptool_file, post, printer_uri, request, running_gateway, url
from tests.lpd_peers import endpoint, lprng
from tests.peers.eve import Eve, ippeveprinter

DATA = b"Quarterly figures, page 1\n" * 200


def quick_printer(tmp: Path) -> Path:
    script = tmp / "print.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return script


def gateway_to(eve: Eve, tmp: Path) -> config.Config:
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp / "spool")},
            "lpd": {"listen": ["127.0.0.1:0"]},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {"office": {"backend": eve.uri}},
        }
    )


@asynccontextmanager
async def gateway_and_printer(
    tmp: Path, **eve_options: object
) -> AsyncIterator[tuple[app.Running, Eve]]:
    async with (
        ippeveprinter(tmp / "eve", **eve_options) as eve,  # type: ignore[arg-type]
        running_gateway(gateway_to(eve, tmp)) as running,
    ):
        yield running, eve


async def first_job(spool: Spool) -> Job:
    """The first job the gateway receives (waits on the spool listener)."""
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set())
    while True:
        jobs = list(spool.jobs())
        if jobs:
            return jobs[0]
        await events[-1].wait()
        events.append(trio.Event())


async def test_lpr_through_gateway_to_ippeveprinter(tmp_path: Path) -> None:
    document = tmp_path / "figures.txt"
    document.write_bytes(DATA)
    with trio.fail_after(120):
        async with gateway_and_printer(tmp_path, command=quick_printer(tmp_path)) as (
            running,
            eve,
        ):
            spool = running.context.spool
            port = running.lpd[0][1]
            await lprng(
                "lpr",
                [
                    "-P",
                    endpoint(port, "office"),
                    "-U",
                    "alice",
                    "-J",
                    "Quarterly report",
                    "-#2",
                    str(document),
                ],
                tmp_path,
            )
            job = await first_job(spool)
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
            remote = await remote_job(eve.uri, int(done.backend_job_id or 0))
            listing = await lprng("lpq", ["-P", endpoint(port, "office")], tmp_path)
    attrs = remote.group(DelimiterTag.JOB_ATTRIBUTES)
    assert attrs is not None
    assert attrs.value("job-name") == "Quarterly report"
    assert attrs.value("job-originating-user-name") == "alice"
    assert attrs.value("copies") == 2
    (kept,) = eve.files()
    assert kept.read_bytes() == DATA
    text = listing.stdout.decode()
    assert "alice" in text and str(job.id) in text and "done" in text, text


async def test_ipptool_print_job_through_gateway_to_ippeveprinter(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "figures.txt").write_bytes(DATA)
    (work / "print.test").write_text(
        """{
    NAME "Print-Job through the gateway"
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR naturalLanguage attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name bob
    ATTR name job-name "Budget"
    ATTR mimeMediaType document-format text/plain
    GROUP job-attributes-tag
    ATTR integer copies 3
    FILE figures.txt
    STATUS successful-ok
    EXPECT job-id OF-TYPE integer
}
"""
    )
    with trio.fail_after(120):
        async with gateway_and_printer(tmp_path, command=quick_printer(tmp_path)) as (
            running,
            eve,
        ):
            spool = running.context.spool
            await ipptool_file(running, "/printers/office", work)
            job = await first_job(spool)
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
            remote = await remote_job(eve.uri, int(done.backend_job_id or 0))
            async with httpx.AsyncClient() as client:
                message = request(
                    Operation.GET_JOB_ATTRIBUTES, printer_uri(running, "/printers/office")
                )
                message.operation.add("job-id", ValueTag.INTEGER, job.id)
                answer = await post(client, url(running, "/printers/office"), message)
    attrs = remote.group(DelimiterTag.JOB_ATTRIBUTES)
    assert attrs is not None
    assert attrs.value("job-name") == "Budget"
    assert attrs.value("job-originating-user-name") == "bob"
    assert attrs.value("copies") == 3
    (kept,) = eve.files()
    assert kept.read_bytes() == DATA
    assert answer.job.value("job-state") == int(JobState.COMPLETED)


async def test_gateway_shows_the_printers_capabilities(tmp_path: Path) -> None:
    formats = ["application/pdf", "image/jpeg"]
    with trio.fail_after(60):
        async with gateway_and_printer(tmp_path, formats=formats) as (running, eve):
            mine = await remote_printer(eve.uri)
            async with httpx.AsyncClient() as client:
                message = request(
                    Operation.GET_PRINTER_ATTRIBUTES, printer_uri(running, "/printers/office")
                )
                answer = await post(client, url(running, "/printers/office"), message)
    printer = answer.printer
    shown = printer.values("document-format-supported")
    # The printer's own formats first (ippeveprinter adds application/octet-stream,
    # which says it sniffs), then what the gateway converts to them.
    assert set(formats) <= set(mine.values("document-format-supported"))
    assert shown[: len(formats)] == formats
    assert {"image/pwg-raster", "image/urf", "text/plain"} <= set(shown)
    assert shown[-1] == "application/octet-stream"
    assert printer.values("media-supported") == mine.values("media-supported")
    assert printer.values("sides-supported") == mine.values("sides-supported")


async def remote_printer(uri: str) -> Any:
    from gateway.ipp.client import IppClient
    from gateway.ipp.message import Message

    client = IppClient(uri)
    try:
        response = await client.send(
            lambda version, rid: Message.request(
                Operation.GET_PRINTER_ATTRIBUTES, rid, version=version, printer_uri=uri
            )
        )
    finally:
        await client.aclose()
    return response.message.group(DelimiterTag.PRINTER_ATTRIBUTES)


async def test_rejected_format_is_visible_through_lpq_and_ipp(tmp_path: Path) -> None:
    """A PCL job for a printer that takes only PDF: no conversion leads there (text
    would be converted), so the job ends aborted and both front-ends say why."""
    document = tmp_path / "notes.pcl"
    document.write_bytes(b"\x1bE\x1b&l0O PCL the printer cannot take\x0c\x1bE")
    with trio.fail_after(120):
        async with gateway_and_printer(tmp_path, formats=["application/pdf"]) as (running, _eve):
            spool = running.context.spool
            port = running.lpd[0][1]
            await lprng(
                "lpr", ["-P", endpoint(port, "office"), "-U", "carol", str(document)], tmp_path
            )
            job = await first_job(spool)
            done = await wait_for_state(spool, job.id, JobState.ABORTED)
            listing = await lprng("lpq", ["-l", "-P", endpoint(port, "office")], tmp_path)
            async with httpx.AsyncClient() as client:
                message = request(
                    Operation.GET_JOB_ATTRIBUTES, printer_uri(running, "/printers/office")
                )
                message.operation.add("job-id", ValueTag.INTEGER, job.id)
                answer = await post(client, url(running, "/printers/office"), message)
    reason = "cannot print application/vnd.hp-pcl on this printer, which takes application/pdf"
    assert reason in done.state_message
    assert answer.job.value("job-state") == int(JobState.ABORTED)
    assert reason in str(answer.job.value("job-state-message"))
    text = listing.stdout.decode()
    assert str(job.id) in text and "cannot print application/vnd.hp-pcl" in text, text
