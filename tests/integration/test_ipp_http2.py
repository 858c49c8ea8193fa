"""IPP over HTTP/2 with a real HTTP/2 client (httpx[http2]).

h2c with prior knowledge on the plain listener and ALPN ``h2`` on the TLS
listener: Print-Job then Get-Jobs, checking the response really was HTTP/2.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from gateway.core.job import JobState
from gateway.ipp import Operation, StatusCode
from tests.helpers import wait_for_state
from tests.ipp_harness import (
    gateway_config,
    post,
    printer_uri,
    request,
    running_gateway,
    tls_context,
    url,
)


@pytest.mark.parametrize("tls", [False, True], ids=["h2c-prior-knowledge", "h2-alpn"])
async def test_print_job_and_get_jobs_over_http2(tmp_path: Path, tls: bool) -> None:
    document = b"%PDF-1.4\n" + b"x" * 200_000
    with trio.fail_after(30):
        async with running_gateway(gateway_config(tmp_path)) as running:
            uri = printer_uri(running, tls=tls)
            verify = tls_context() if tls else True
            async with httpx.AsyncClient(http1=False, http2=True, verify=verify) as client:
                print_job = request(Operation.PRINT_JOB, uri)
                print_job.operation.add_name("job-name", "over h2")
                print_job.operation.add_mime_media_type("document-format", "application/pdf")
                answer = await post(client, url(running, tls=tls), print_job, document)
                assert answer.http.http_version == "HTTP/2"
                assert answer.status == StatusCode.SUCCESSFUL_OK
                job_id = answer.job.value("job-id")
                assert isinstance(job_id, int)
                await wait_for_state(running.context.spool, job_id, JobState.COMPLETED)

                get_jobs = request(Operation.GET_JOBS, uri, request_id=2)
                get_jobs.operation.add_keyword("which-jobs", "completed")
                get_jobs.operation.add_keyword("requested-attributes", "job-id", "job-name")
                answer = await post(client, url(running, tls=tls), get_jobs)
                assert answer.http.http_version == "HTTP/2"
                assert answer.status == StatusCode.SUCCESSFUL_OK
                assert [(g.value("job-id"), g.value("job-name")) for g in answer.jobs()] == [
                    (job_id, "over h2")
                ]
    stored = (tmp_path / "out" / f"job-{job_id}-1.pdf").read_bytes()
    assert stored == document
