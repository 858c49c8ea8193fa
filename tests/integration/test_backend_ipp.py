"""The ipp:// backend against a real printer: CUPS's ippeveprinter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from gateway.backends.ipp import IppBackend
from gateway.core.job import JobState
from gateway.core.queues import Queue
from gateway.core.spool import Spool
from gateway.ipp.attributes import Attribute
from gateway.ipp.client import IppClient
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.tags import DelimiterTag, ValueTag
from tests import helpers
from tests.helpers import spool_job, wait_for_state
from tests.peers.eve import free_port, ippeveprinter


@asynccontextmanager
async def forwarding(spool: Spool, uri: str, tmp: Path) -> AsyncIterator[Queue]:
    backend = IppBackend(uri, {}, hostname="gateway.test", state_dir=tmp)
    async with helpers.forwarding(spool, backend) as queue:
        yield queue


async def remote_job(uri: str, job_id: int) -> Message:
    client = IppClient(uri)
    try:
        response = await client.send(lambda version, rid: _get_job(uri, version, rid, job_id))
    finally:
        await client.aclose()
    return response.message


def _get_job(uri: str, version: tuple[int, int], rid: int, job_id: int) -> Message:
    message = Message.request(Operation.GET_JOB_ATTRIBUTES, rid, version=version, printer_uri=uri)
    message.operation.append(Attribute.of("job-id", ValueTag.INTEGER, job_id))
    message.operation.append(Attribute.of("requested-attributes", ValueTag.KEYWORD, "all"))
    return message


async def test_job_arrives_byte_identical_with_its_attributes(spool: Spool, tmp_path: Path) -> None:
    data = b"Quarterly figures\n" * 500
    with trio.fail_after(60):
        async with (
            ippeveprinter(tmp_path / "eve") as eve,
            forwarding(spool, eve.uri, tmp_path) as _queue,
        ):
            job = await spool_job(
                spool,
                [(data, "text/plain", "figures.txt")],
                queue="office",
                attributes={
                    "job-name": "Quarterly report",
                    "requesting-user-name": "alice",
                    "copies": 2,
                },
            )
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
            remote_id = int(done.backend_job_id or "0")
            attrs = (await remote_job(eve.uri, remote_id)).group(DelimiterTag.JOB_ATTRIBUTES)
    assert attrs is not None
    assert attrs.value("job-name") == "Quarterly report"
    assert attrs.value("job-originating-user-name") == "alice"
    assert attrs.value("copies") == 2
    (kept,) = eve.files()
    assert kept.read_bytes() == data


async def test_outage_of_30s_delivers_all_20_once_in_order(spool: Spool, tmp_path: Path) -> None:
    quick = tmp_path / "print.sh"  # "prints" at once, so 20 jobs take seconds, not minutes
    quick.write_text("#!/bin/sh\nexit 0\n")
    quick.chmod(0o755)
    port = free_port()
    uri = f"ipp://127.0.0.1:{port}/ipp/print"
    payloads = [f"job number {i:02d}\n".encode() * 50 for i in range(20)]
    with trio.fail_after(120):
        async with forwarding(spool, uri, tmp_path) as queue:
            jobs = [
                await spool_job(spool, [(p, "text/plain", f"doc{i}.txt")], queue="office")
                for i, p in enumerate(payloads)
            ]
            # The printer is down: the first job is retried and the queue says why.
            events = [trio.Event()]
            spool.add_listener(lambda job, old: events[-1].set())
            while "retrying" not in (spool.get(jobs[0].id).state_message or ""):  # type: ignore[union-attr]
                await events[-1].wait()
                events.append(trio.Event())
            state = queue.state()
            assert "connecting-to-device" in state.reasons
            assert "cannot connect" in state.message
            await trio.sleep(30)  # the outage itself
            async with ippeveprinter(tmp_path / "eve", port=port, command=quick) as eve:
                for job in jobs:
                    await wait_for_state(spool, job.id, JobState.COMPLETED)
    kept = eve.files()
    assert [p.read_bytes() for p in kept] == payloads
    assert queue.problem is None


async def test_cancel_on_gateway_cancels_at_printer(spool: Spool, tmp_path: Path) -> None:
    hold = tmp_path / "hold.sh"
    hold.write_text("#!/bin/sh\nexec sleep 60\n")
    hold.chmod(0o755)
    with trio.fail_after(60):
        async with (
            ippeveprinter(tmp_path / "eve", command=hold) as eve,
            forwarding(spool, eve.uri, tmp_path),
        ):
            job = await spool_job(spool, queue="office")
            events = [trio.Event()]
            spool.add_listener(lambda j, old: events[-1].set())
            while not spool.get(job.id).backend_job_id:  # type: ignore[union-attr]
                await events[-1].wait()
                events.append(trio.Event())
            remote_id = int(spool.get(job.id).backend_job_id)  # type: ignore[arg-type, union-attr]
            await spool.cancel(job.id)
            while spool.get(job.id).cancel_requested:  # type: ignore[union-attr]
                await events[-1].wait()
                events.append(trio.Event())
            attrs = (await remote_job(eve.uri, remote_id)).group(DelimiterTag.JOB_ATTRIBUTES)
    assert attrs is not None
    state = attrs.value("job-state")
    reasons = attrs.values("job-state-reasons")
    assert state == int(JobState.CANCELED) or "processing-to-stop-point" in reasons
    assert spool.get(job.id).state == JobState.CANCELED  # type: ignore[union-attr]


async def test_format_the_printer_rejects_aborts_with_a_reason(
    spool: Spool, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        async with (
            ippeveprinter(tmp_path / "eve", formats=["application/pdf"]) as eve,
            forwarding(spool, eve.uri, tmp_path),
        ):
            job = await spool_job(
                spool, [(b"plain text\n", "text/plain", "notes.txt")], queue="office"
            )
            done = await wait_for_state(spool, job.id, JobState.ABORTED)
    assert "does not take text/plain" in done.state_message
    assert "application/pdf" in done.state_message
    assert eve.files() == []
