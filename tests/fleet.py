"""Gateways of one fleet for the tests: several real gateway processes on one
PostgreSQL database (tests/pgcluster.py), with a shared documents folder and a
shared file:// output folder, and the small LPD and IPP clients that talk to them.

Progress is read from each gateway's log (tests/gateway_process.py), never slept for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import trio

from gateway.ipp import Message, Operation, ValueTag, decode, encode
from tests.gateway_process import GatewayProcess

#: ``[fleet] lease_time`` of the test fleets: short, so a takeover test is quick.
LEASE_TIME = 4.0


def write_config(
    root: Path,
    name: str,
    dsn: str,
    *,
    queues: tuple[str, ...] = ("lp",),
    lease_time: float = LEASE_TIME,
    backend: str | None = None,
    extra: tuple[str, ...] = (),
) -> Path:
    """The configuration of gateway ``name`` of a fleet in ``root`` (its spool in
    root/NAME, documents in root/documents, output in root/out)."""
    (root / "out").mkdir(exist_ok=True)
    (root / "documents").mkdir(exist_ok=True)
    lines = [
        "[gateway]",
        f'spool_dir = "{root / name}"',
        "[lpd]",
        'listen = ["127.0.0.1:0"]',
        "[ipp]",
        'listen = ["127.0.0.1:0"]',
        "[spool]",
        f'store = "{dsn}"',
        f'documents = "{root / "documents"}"',
        'poll_interval = "0.5s"',
        "[fleet]",
        f'lease_time = "{lease_time}s"',
        f'instance_id = "{name}"',
        "[dnssd]",
        "enabled = false",
        *extra,
    ]
    for queue in queues:
        lines += [f"[queues.{queue}]", f'backend = "{backend or "file://" + str(root / "out")}"']
    path = root / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def start(config: Path, timeout: float = 60.0) -> GatewayProcess:
    """A gateway of the fleet, once it is ready (its ports known)."""

    def run() -> GatewayProcess:
        return GatewayProcess(["--config", str(config)]).ready(timeout=timeout)

    return await trio.to_thread.run_sync(run)


async def wait_log(gw: GatewayProcess, pattern: str, timeout: float = 30.0) -> str:
    """The first log line of ``gw`` matching ``pattern`` (waiting for it)."""
    match = await trio.to_thread.run_sync(lambda: gw.wait_for(pattern, timeout))
    return match.string


async def lpd_print(port: int, token: str, data: bytes, queue: str = "lp") -> bool:
    """Send one job by RFC 1179 (control file first); True once the last ack came."""
    number = sum(token.encode()) % 1000
    cf = f"Hfleet\nPfleet\nJ{token}\nldfA{number:03d}fleet\nN{token}\n".encode()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:

        async def ack() -> bool:
            return await stream.receive_some(1) == b"\0"

        await stream.send_all(f"\x02{queue}\n".encode())
        if not await ack():
            return False
        await stream.send_all(f"\x02{len(cf)} cfA{number:03d}fleet\n".encode())
        if not await ack():
            return False
        await stream.send_all(cf + b"\0")
        if not await ack():
            return False
        await stream.send_all(f"\x03{len(data)} dfA{number:03d}fleet\n".encode())
        if not await ack():
            return False
        await stream.send_all(data + b"\0")
        return await ack()


async def ipp_request(
    client: httpx.AsyncClient, port: int, request: Message, data: bytes = b"", queue: str = "lp"
) -> Message:
    response = await client.post(
        f"http://127.0.0.1:{port}/printers/{queue}",
        content=encode(request) + data,
        headers={"Content-Type": "application/ipp"},
    )
    assert response.status_code == 200, response.text
    message, _ = decode(response.content)
    return message


async def ipp_print(
    client: httpx.AsyncClient,
    port: int,
    token: str,
    data: bytes,
    queue: str = "lp",
    document_format: str = "application/octet-stream",
) -> int:
    """Print-Job; the IPP status code of the answer."""
    uri = f"ipp://127.0.0.1:{port}/printers/{queue}"
    request = Message.request(Operation.PRINT_JOB, 1, printer_uri=uri, requesting_user_name="fleet")
    request.operation.add("job-name", ValueTag.NAME, token)
    request.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, document_format)
    return (await ipp_request(client, port, request, data, queue)).operation_id_or_status


def delivered(out: Path) -> dict[int, dict[str, object]]:
    """The jobs in the file backend's output folder: id -> sidecar JSON."""
    found = {}
    for sidecar in out.glob("job-*.json"):
        found[int(sidecar.stem.split("-")[1])] = json.loads(sidecar.read_text())
    return found


COMPLETED = re.compile(r"job (\d+) completed ")


def completed_ids(gws: list[GatewayProcess]) -> set[int]:
    """The jobs the gateways logged as completed (forwarded to their backend)."""
    return {int(m.group(1)) for gw in gws for line in gw.lines if (m := COMPLETED.search(line))}


async def wait_completed(gw: GatewayProcess, count: int, timeout: float = 60.0) -> set[int]:
    """Wait until ``gw`` logged ``count`` completed jobs in all; their ids."""
    with trio.fail_after(timeout):
        while True:
            seen = completed_ids([gw])
            if len(seen) >= count:
                return seen
            others = "|".join(str(i) for i in sorted(seen)) or "0"
            await wait_log(gw, rf"job (?!(?:{others}) )\d+ completed ", timeout)
