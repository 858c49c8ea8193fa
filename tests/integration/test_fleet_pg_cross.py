"""Two gateways on one PostgreSQL store act on each other's jobs.

- LPRng ``lpq`` at gateway A lists a job submitted at gateway B (held, so it
  stays); ``lprm`` at A removes it; Get-Job-Attributes agrees at A and B.
- A cancel sent to A for a job that B is forwarding to a real printer
  (ippeveprinter, holding the job) reaches the printer: B, the lease holder, hears
  of it through the store's sync and cancels it there.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import trio

from gateway.core.job import JobState
from gateway.ipp import DelimiterTag, Message, Operation, ValueTag
from tests import fleet
from tests.integration.test_backend_ipp import remote_job
from tests.lpd_peers import endpoint, lprng
from tests.peers.eve import ippeveprinter


def job_request(operation: Operation, port: int, job_id: int, user: str = "root") -> Message:
    uri = f"ipp://127.0.0.1:{port}/printers/lp"
    request = Message.request(operation, 1, printer_uri=uri, requesting_user_name=user)
    request.operation.add("job-id", ValueTag.INTEGER, job_id)
    return request


async def job_state(http: httpx.AsyncClient, port: int, job_id: int) -> int:
    answer = await fleet.ipp_request(
        http, port, job_request(Operation.GET_JOB_ATTRIBUTES, port, job_id)
    )
    attrs = answer.group(DelimiterTag.JOB_ATTRIBUTES)
    assert attrs is not None, answer
    return int(attrs.value("job-state"))  # type: ignore[arg-type]


async def until_state(http: httpx.AsyncClient, port: int, job_id: int, state: JobState) -> None:
    """Ask until the gateway shows ``state`` (it hears the other's change by NOTIFY)."""
    while await job_state(http, port, job_id) != int(state):
        await trio.sleep(0.05)  # asking again for a state, bounded by the caller's deadline


async def test_lpq_and_lprm_at_a_for_a_job_submitted_at_b(tmp_path: Path, pg_dsn: str) -> None:
    with trio.fail_after(120):
        a = await fleet.start(fleet.write_config(tmp_path, "gw-a", pg_dsn))
        b = await fleet.start(fleet.write_config(tmp_path, "gw-b", pg_dsn))
        try:
            ipp_a, ipp_b = a.ports["IPP"][0], b.ports["IPP"][0]
            async with httpx.AsyncClient(timeout=20) as http:
                uri = f"ipp://127.0.0.1:{ipp_b}/printers/lp"
                request = Message.request(
                    Operation.PRINT_JOB, 1, printer_uri=uri, requesting_user_name="root"
                )
                request.operation.add("job-name", ValueTag.NAME, "held-at-b")
                held = request.add_group(DelimiterTag.JOB_ATTRIBUTES)
                held.add("job-hold-until", ValueTag.KEYWORD, "indefinite")
                answer = await fleet.ipp_request(http, ipp_b, request, b"held\n")
                assert answer.operation_id_or_status < 0x100, answer
                attrs = answer.group(DelimiterTag.JOB_ATTRIBUTES)
                assert attrs is not None
                job_id = int(attrs.value("job-id"))  # type: ignore[arg-type]
                await until_state(http, ipp_a, job_id, JobState.PENDING_HELD)

                listing = await lprng("lpq", ["-P", endpoint(a.ports["LPD"][0])], tmp_path)
                assert re.search(rf"\b{job_id}\b", listing.stdout.decode()), listing.stdout
                await lprng("lprm", ["-P", endpoint(a.ports["LPD"][0]), str(job_id)], tmp_path)
                assert await job_state(http, ipp_a, job_id) == int(JobState.CANCELED)
                await until_state(http, ipp_b, job_id, JobState.CANCELED)
                listing = await lprng("lpq", ["-P", endpoint(b.ports["LPD"][0])], tmp_path)
                assert not re.search(rf"\b{job_id}\b.*held-at-b", listing.stdout.decode())
            assert fleet.delivered(tmp_path / "out") == {}
        finally:
            a.kill()
            b.kill()


async def test_cancel_at_a_reaches_the_printer_b_forwards_to(tmp_path: Path, pg_dsn: str) -> None:
    hold = tmp_path / "hold.sh"
    hold.write_text("#!/bin/sh\nexec sleep 60\n")
    hold.chmod(0o755)
    with trio.fail_after(120):
        async with ippeveprinter(tmp_path / "eve", command=hold) as eve:
            b = await fleet.start(fleet.write_config(tmp_path, "gw-b", pg_dsn, backend=eve.uri))
            a = None
            try:
                await fleet.wait_log(b, r"fleet: gw-b holds queue lp")
                a = await fleet.start(fleet.write_config(tmp_path, "gw-a", pg_dsn, backend=eve.uri))
                ipp_a = a.ports["IPP"][0]
                async with httpx.AsyncClient(timeout=20) as http:
                    status = await fleet.ipp_print(
                        http, ipp_a, "to-cancel", b"hello\n", document_format="text/plain"
                    )
                    assert status < 0x100
                    line = await fleet.wait_log(b, r"job (\d+) forwarded .*remote-job=(\d+)")
                    found = re.search(r"job (\d+) forwarded .*remote-job=(\d+)", line)
                    assert found is not None
                    job_id, remote_id = int(found.group(1)), int(found.group(2))
                    answer = await fleet.ipp_request(
                        http, ipp_a, job_request(Operation.CANCEL_JOB, ipp_a, job_id, "fleet")
                    )
                    assert answer.operation_id_or_status < 0x100, answer
                    await fleet.wait_log(b, rf"job {job_id} canceled-at-backend ")
                    assert not any(f"job {job_id} canceled-at-backend" in x for x in a.lines)
                attrs = (await remote_job(eve.uri, remote_id)).group(DelimiterTag.JOB_ATTRIBUTES)
                assert attrs is not None
                state = attrs.value("job-state")
                reasons = attrs.values("job-state-reasons")
                assert state == int(JobState.CANCELED) or "processing-to-stop-point" in reasons
            finally:
                b.kill()
                if a is not None:
                    a.kill()
