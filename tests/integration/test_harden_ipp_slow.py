"""Slow IPP clients: a stalled, dribbled or endless request body gets HTTP 408, the
job it carried is discarded, and 200 slow-body clients do not keep a normal
client from printing.

Slow clients come from other loopback addresses (127.0.0.10 and up) so that the
per-address caps apply to them and not to the normal client (127.0.0.1). Their
slowness is a sleep between bytes; everything waited for is a response or an
end of stream, under `trio.fail_after`.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import trio

from gateway import config
from gateway.app import Running
from gateway.core.job import JobState
from gateway.ipp import DelimiterTag, Operation, StatusCode, ValueTag, decode, encode
from tests.helpers import wait_for_state
from tests.ipp_harness import printer_uri, request, running_gateway, url

SLOW_CLIENTS = 200
SOURCES = 10


def slow_config(tmp_path: Path, **ipp: object) -> config.Config:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {
                "listen": ["127.0.0.1:0"],
                "idle_timeout": "30s",
                "min_body_rate": 1000,
                "body_rate_window": "2s",
                **ipp,
            },
            "queues": {"lp": {"backend": out.as_uri()}},
        }
    )


async def connect_from(source: str, port: int) -> trio.SocketStream:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_STREAM)
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", port))
    return trio.SocketStream(sock)


def print_job_head(running: Running, size: int, *, job_id: int | None = None) -> bytes:
    """HTTP headers announcing `size` more body bytes after the IPP attributes of a
    Print-Job (or a Send-Document to `job_id`), and those attributes."""
    if job_id is None:
        message = request(Operation.PRINT_JOB, printer_uri(running))
        message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    else:
        message = request(Operation.SEND_DOCUMENT, printer_uri(running))
        message.operation.add_integer("job-id", job_id)
        message.operation.add_boolean("last-document", True)
    attributes = encode(message)
    return (
        b"POST /ipp/print HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/ipp\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(attributes) + size, attributes)
    )


async def dribble(stream: trio.SocketStream, every: float, piece: bytes = b"x") -> str:
    """Send `piece` every `every` seconds until the gateway answers or closes; the
    answer's first bytes ("" when closed without one)."""
    answer = b""
    async with trio.open_nursery() as nursery:

        async def send_slowly() -> None:
            try:
                while True:
                    await stream.send_all(piece)
                    await trio.sleep(every)  # makes the client slow
            except trio.BrokenResourceError:
                return

        nursery.start_soon(send_slowly)
        try:
            while chunk := await stream.receive_some(4096):
                answer += chunk
        except trio.BrokenResourceError:
            pass
        nursery.cancel_scope.cancel()
    return answer.decode("latin-1")


def spool_files(running: Running) -> list[Path]:
    return [p for p in (running.context.config.spool_dir / "jobs").rglob("*") if p.is_file()]


async def print_normally(running: Running) -> float:
    """A normal Print-Job from 127.0.0.1; its latency in seconds."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=20) as http:
        message = request(Operation.PRINT_JOB, printer_uri(running))
        message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
        response = await http.post(
            url(running),
            content=encode(message) + b"normal job\n",
            headers={"Content-Type": "application/ipp"},
        )
    assert response.status_code == 200, response.text
    answer, _ = decode(response.content)
    assert answer.operation_id_or_status == StatusCode.SUCCESSFUL_OK
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("settings", "every", "piece", "reason"),
    [
        ({"idle_timeout": "2s", "body_rate_window": "60s"}, 3600.0, b"x", "no request data"),
        ({}, 0.5, b"x", "slower than 1000 bytes/s"),
        ({"request_timeout": "3s"}, 0.1, b"x" * 4000, "ipp.request_timeout"),
    ],
    ids=["stalled", "dribbled", "endless"],
)
async def test_slow_bodies_get_408_and_leave_nothing(
    tmp_path: Path, settings: dict[str, str], every: float, piece: bytes, reason: str
) -> None:
    """1 MiB at once (so it reaches the disk), then: nothing (stalled), a byte every
    half second (dribbled, under 1000 bytes/s), or 40 kB/s past the request's
    deadline (endless)."""
    with trio.fail_after(30):
        async with running_gateway(slow_config(tmp_path, **settings)) as running:
            async with await connect_from("127.0.0.10", running.ipp[0][1]) as stream:
                await stream.send_all(print_job_head(running, 2**30) + b"x" * 2**20)
                answer = await dribble(stream, every, piece)
            assert answer.startswith("HTTP/1.1 408"), answer
            assert "connection: close" in answer.lower(), answer
            assert reason in answer
            assert list(running.context.spool.jobs()) == []
            assert spool_files(running) == []
            assert await print_normally(running) < 5


async def test_a_stalled_send_document_is_discarded_and_the_job_stays(tmp_path: Path) -> None:
    cfg = slow_config(tmp_path, idle_timeout="2s")
    with trio.fail_after(30):
        async with running_gateway(cfg) as running:
            async with httpx.AsyncClient(timeout=10) as http:
                create = request(Operation.CREATE_JOB, printer_uri(running))
                response = await http.post(
                    url(running),
                    content=encode(create),
                    headers={"Content-Type": "application/ipp"},
                )
                created, _ = decode(response.content)
            job_id = created.group(DelimiterTag.JOB_ATTRIBUTES).value("job-id")
            assert isinstance(job_id, int)
            stream = await connect_from("127.0.0.10", running.ipp[0][1])
            await stream.send_all(print_job_head(running, 2**22, job_id=job_id) + b"y" * 2**21)
            answer = await dribble(stream, 3600.0)
            await stream.aclose()
            assert answer.startswith("HTTP/1.1 408"), answer
            job = running.context.spool.get(job_id)
            assert job is not None and job.incoming and not job.documents
            assert spool_files(running) == []


async def test_200_slow_body_clients_do_not_keep_a_normal_client_out(tmp_path: Path) -> None:
    """200 Print-Jobs dribbling a byte a second from 10 addresses, against 128
    request slots: 16 per address are kept (the rest are closed at once), the
    rest of the slots' holders are cut off with 408 after the 2 s rate window,
    and a normal Print-Job is answered within a few seconds meanwhile."""
    cfg = slow_config(tmp_path, max_connections=128, max_connections_per_source=16)
    outcomes: list[str] = []
    with trio.fail_after(60):
        async with running_gateway(cfg) as running:
            port = running.ipp[0][1]
            all_sent = trio.Event()
            sent = 0

            async def slow_client(source: str) -> None:
                nonlocal sent
                try:
                    stream = await connect_from(source, port)
                    await stream.send_all(print_job_head(running, 100_000))
                except OSError:
                    outcomes.append("")
                    return
                finally:
                    sent += 1
                    if sent == SLOW_CLIENTS:
                        all_sent.set()
                async with stream:
                    outcomes.append(await dribble(stream, 1.0))

            async with trio.open_nursery() as nursery:
                for n in range(SLOW_CLIENTS):
                    nursery.start_soon(slow_client, f"127.0.0.{10 + n % SOURCES}")
                await all_sent.wait()
                latency = await print_normally(running)
            (job,) = running.context.spool.jobs()
            await wait_for_state(running.context.spool, job.id, JobState.COMPLETED)
            kept = {p.parent.name for p in spool_files(running)}
            assert kept <= {running.context.spool.folder_of(job.id).key}, kept
    timed_out = sum(1 for o in outcomes if o.startswith("HTTP/1.1 408"))
    closed = sum(1 for o in outcomes if o == "")
    print(f"\nslow clients: {timed_out} got 408, {closed} closed at once; normal {latency:.2f}s")
    assert len(outcomes) == SLOW_CLIENTS
    assert timed_out == 16 * SOURCES
    assert closed == SLOW_CLIENTS - timed_out
    assert latency < 5
