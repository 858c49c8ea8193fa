"""/metrics on a running gateway: scraped before and after jobs flow through LPD and IPP."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from gateway import config
from gateway.core.job import JobState
from gateway.ipp import Operation, ValueTag, encode
from tests.helpers import wait_for_state
from tests.ipp_harness import printer_uri, request, running_gateway, url
from tests.lpd_harness import RawClient, control


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_counters_move_as_jobs_flow(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": ["127.0.0.1:0"]},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {"lp": {"backend": out.as_uri()}},
        }
    )
    with trio.fail_after(60):
        async with running_gateway(cfg) as running, httpx.AsyncClient() as client:
            metrics_url = url(running, "/metrics")
            before = values((await client.get(metrics_url)).text)
            # One job by LPD ...
            client_lpd = RawClient(await trio.open_tcp_stream(*running.lpd[0]))
            await client_lpd.send(b"\x02lp\n")
            assert await client_lpd.ack() == 0
            assert await client_lpd.control_file("cfA001client", control()) == (0, 0)
            assert await client_lpd.data_file("dfA042client", b"x" * 1000) == (0, 0)
            await client_lpd.aclose()
            # ... and one by IPP.
            uri = printer_uri(running, "/printers/lp")
            message = request(Operation.PRINT_JOB, uri)
            message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
            await client.post(
                url(running, "/printers/lp"),
                content=encode(message) + b"y" * 500,
                headers={"Content-Type": "application/ipp"},
            )
            for job in list(running.context.spool.jobs()):
                await wait_for_state(running.context.spool, job.id, JobState.COMPLETED)
            response = await client.get(metrics_url)
    after = values(response.text)
    assert response.headers["content-type"].startswith("text/plain")
    lpd = ("gateway_jobs_received_total", (("frontend", "lpd"), ("queue", "lp")))
    ipp = ("gateway_jobs_received_total", (("frontend", "ipp"), ("queue", "lp")))
    assert before.get(lpd, 0) == 0 and after[lpd] == 1
    assert before.get(ipp, 0) == 0 and after[ipp] == 1
    assert after[("gateway_bytes_received_total", (("frontend", "lpd"), ("queue", "lp")))] == 1000
    forwarded = ("gateway_jobs_forwarded_total", (("backend", out.as_uri()), ("queue", "lp")))
    assert after[forwarded] == 2
    assert after[("gateway_job_latency_seconds_count", (("queue", "lp"),))] == 2
