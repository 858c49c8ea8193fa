"""Floods and slow clients: 1,000 idle LPD connections and 200 slow-loris IPP clients
(from other loopback addresses) do not stop a normal client from printing."""

from __future__ import annotations

from pathlib import Path

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from gateway import config
from gateway.core.job import JobState
from gateway.ipp import Operation, StatusCode, ValueTag, decode, encode
from tests.helpers import wait_for_state
from tests.ipp_harness import printer_uri, request, running_gateway, url
from tests.lpd_harness import RawClient, control

IDLE_LPD = 1000
SLOW_IPP = 200


async def connect_from(source: str, port: int) -> trio.SocketStream | None:
    """A TCP connection to 127.0.0.1:port from address ``source`` (None if refused)."""
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    try:
        await sock.bind((source, 0))
        await sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    return trio.SocketStream(sock)


async def test_idle_floods_and_slow_loris_do_not_block_a_normal_client(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": ["127.0.0.1:0"], "idle_timeout": "120s"},
            "ipp": {"listen": ["127.0.0.1:0"], "idle_timeout": "120s"},
            "queues": {"lp": {"backend": out.as_uri()}},
        }
    )
    held: list[trio.SocketStream] = []
    with trio.fail_after(120):
        async with running_gateway(cfg) as running:
            lpd_port, ipp_port = running.lpd[0][1], running.ipp[0][1]
            # 1,000 connections from 127.0.0.2 that never send a command.
            for _ in range(IDLE_LPD):
                stream = await connect_from("127.0.0.2", lpd_port)
                if stream is not None:
                    held.append(stream)
            # 200 IPP clients from 127.0.0.3 that send half a request and stall.
            for _ in range(SLOW_IPP):
                stream = await connect_from("127.0.0.3", ipp_port)
                if stream is not None:
                    await stream.send_all(
                        b"POST /ipp/print HTTP/1.1\r\nHost: localhost\r\n"
                        b"Content-Type: application/ipp\r\nContent-Length: 100000\r\n\r\n\x02"
                    )
                    held.append(stream)
            assert len(held) >= SLOW_IPP

            # A normal LPD client still prints ...
            client = RawClient(await trio.open_tcp_stream("127.0.0.1", lpd_port))
            await client.send(b"\x02lp\n")
            assert await client.ack() == 0
            assert await client.control_file("cfA007normal", control(host="normal")) == (0, 0)
            assert await client.data_file("dfA042client", b"normal job\n") == (0, 0)
            await client.aclose()
            # ... and so does a normal IPP client.
            async with httpx.AsyncClient(timeout=20) as http:
                message = request(Operation.PRINT_JOB, printer_uri(running, "/ipp/print"))
                message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
                response = await http.post(
                    url(running, "/ipp/print"),
                    content=encode(message) + b"ipp job\n",
                    headers={"Content-Type": "application/ipp"},
                )
            answer, _ = decode(response.content)
            assert answer.operation_id_or_status == StatusCode.SUCCESSFUL_OK
            for job in list(running.context.spool.jobs()):
                await wait_for_state(running.context.spool, job.id, JobState.COMPLETED)
            assert len(list(running.context.spool.jobs())) == 2
            # The flood from one address was capped, not served: at most
            # max_connections_per_source of its connections are being served.
            metrics = running.context.metrics
            assert metrics is not None
            served = _gauge(metrics.render().decode(), "gateway_open_connections", "lpd")
            for stream in held:
                await stream.aclose()
    assert 0 < served <= cfg.lpd.max_connections_per_source


def _gauge(text: str, name: str, listener: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("listener") == listener:
                return sample.value
    raise AssertionError(f"{name}{{listener={listener}}} not in /metrics")
