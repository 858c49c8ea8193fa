"""Crash safety: clients print over LPD and IPP at once while the gateway is killed
with SIGKILL at random moments and restarted.

Checked afterwards, against what each client saw:
- every job a client saw acknowledged (LPD: the last ack of the job; IPP: a
  successful Print-Job response) reached the backend, byte-identical;
- no gateway job was forwarded (completed) twice;
- nothing half-received was forwarded: every delivered document is exactly a
  payload some client sent in full.

The default is the issue's harness (8 clients, 500 jobs, 5 kills); set
CRASH_JOBS / CRASH_KILLS to change it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from gateway.ipp import Message, Operation, ValueTag, decode, encode
from tests import pgcluster
from tests.gateway_process import GatewayProcess

JOBS = int(os.environ.get("CRASH_JOBS", "500"))
KILLS = int(os.environ.get("CRASH_KILLS", "5"))
CLIENTS = 8


@dataclass
class Ledger:
    """What the clients know: payloads sent and jobs acknowledged."""

    sent: dict[str, bytes] = field(default_factory=dict)  # token -> payload
    acknowledged: set[str] = field(default_factory=set)
    attempts: int = 0


@dataclass
class Ports:
    lpd: int = 0
    ipp: int = 0
    generation: int = 0
    changed: trio.Event = field(default_factory=trio.Event)


def payload(token: str) -> bytes:
    seed = int(hashlib.sha256(token.encode()).hexdigest()[:8], 16)
    rnd = random.Random(seed)
    size = rnd.choice([200, 1500, 20_000, 70_000])
    return f"{token}\n".encode() + rnd.randbytes(size)


async def lpd_print(port: int, token: str, data: bytes) -> bool:
    """Send one job by RFC 1179; True once the last ack came."""
    number = int(hashlib.sha256(token.encode()).hexdigest()[:6], 16) % 1000
    cf = f"Hcrash\nPcrash\nJ{token}\nldfA{number:03d}crash\nNdata.bin\n".encode()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:

        async def ack() -> bool:
            reply = await stream.receive_some(1)
            return reply == b"\0"

        await stream.send_all(b"\x02lp\n")
        if not await ack():
            return False
        await stream.send_all(f"\x02{len(cf)} cfA{number:03d}crash\n".encode())
        if not await ack():
            return False
        await stream.send_all(cf + b"\0")
        if not await ack():
            return False
        await stream.send_all(f"\x03{len(data)} dfA{number:03d}crash\n".encode())
        if not await ack():
            return False
        await stream.send_all(data + b"\0")
        return await ack()


async def ipp_print(client: httpx.AsyncClient, port: int, token: str, data: bytes) -> bool:
    uri = f"ipp://127.0.0.1:{port}/printers/lp"
    request = Message.request(Operation.PRINT_JOB, 1, printer_uri=uri, requesting_user_name="crash")
    request.operation.add("job-name", ValueTag.NAME, token)
    request.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "application/octet-stream")
    response = await client.post(
        f"http://127.0.0.1:{port}/printers/lp",
        content=encode(request) + data,
        headers={"Content-Type": "application/ipp"},
    )
    if response.status_code != 200:
        return False
    message, _ = decode(response.content)
    return message.operation_id_or_status < 0x100


async def client_loop(index: int, count: int, ports: Ports, ledger: Ledger) -> None:
    kind = "lpd" if index % 2 == 0 else "ipp"
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(count):
            token = f"c{index}-j{n}"
            data = payload(token)
            ledger.sent[token] = data
            while True:
                ledger.attempts += 1
                port = ports.lpd if kind == "lpd" else ports.ipp
                generation = ports.generation
                ok = False
                try:
                    with trio.fail_after(15):
                        if kind == "lpd":
                            ok = await lpd_print(port, token, data)
                        else:
                            ok = await ipp_print(http, port, token, data)
                except (
                    OSError,
                    trio.BrokenResourceError,
                    trio.TooSlowError,
                    httpx.HTTPError,
                    ValueError,
                ):
                    ok = False
                if ok:
                    ledger.acknowledged.add(token)
                    break
                # Not acknowledged: the gateway may be down; wait for the next start.
                if generation == ports.generation:
                    await ports.changed.wait()


async def start(args: list[str], ports: Ports) -> GatewayProcess:
    gw = await trio.to_thread.run_sync(lambda: GatewayProcess(args).ready(timeout=60))
    ports.lpd, ports.ipp = gw.ports["LPD"][-1], gw.ports["IPP"][-1]
    ports.generation += 1
    ports.changed.set()
    ports.changed = trio.Event()
    return gw


async def test_sigkill_at_random_moments_loses_nothing(tmp_path: Path) -> None:
    spool, out = tmp_path / "spool", tmp_path / "out"
    args = [
        "--spool-dir",
        str(spool),
        "--lpd-listen",
        "127.0.0.1:0",
        "--ipp-listen",
        "127.0.0.1:0",
        "--queue",
        f"lp={out.as_uri()}",
        "--log-level",
        "info",
    ]
    ledger = Ledger()
    ports = Ports()
    logs: list[str] = []
    rnd = random.Random(1179)
    gw = await start(args, ports)
    with trio.fail_after(900):
        async with trio.open_nursery() as nursery:
            per_client = [
                JOBS // CLIENTS + (1 if i < JOBS % CLIENTS else 0) for i in range(CLIENTS)
            ]
            for i, count in enumerate(per_client):
                nursery.start_soon(client_loop, i, count, ports, ledger)
            for _ in range(KILLS):
                await trio.sleep(rnd.uniform(0.3, 2.5))  # a random moment, not a sync point
                gw.kill()
                logs.append(gw.finish()[1])
                gw = await start(args, ports)
        # Every client is done; let the last gateway deliver everything, then stop it.
        total = len(ledger.sent)
        assert len(ledger.acknowledged) == total
    with trio.fail_after(300):
        while _unfinished(spool) > 0:
            await trio.to_thread.run_sync(gw.wait_for, r" completed ", 60)
            logs.append(gw.log)
            gw.lines.clear()
    gw.signal(signal.SIGTERM)
    code, last = gw.finish()
    logs.append(last)
    assert code == 0

    delivered: dict[str, list[int]] = {}
    for sidecar in _sidecars(out):
        meta = json.loads(sidecar.read_text())
        (doc,) = meta["documents"]
        data = (out / doc["file"]).read_bytes()
        token = meta["job-name"]
        assert token in ledger.sent, f"unknown job {token!r} delivered"
        assert data == ledger.sent[token], f"{token}: delivered bytes differ (half a job?)"
        assert doc["sha256"] == hashlib.sha256(data).hexdigest()
        delivered.setdefault(token, []).append(meta["job-id"])
    missing = ledger.acknowledged - set(delivered)
    assert not missing, f"acknowledged but never delivered: {sorted(missing)[:10]}"
    completed = re.findall(r"INFO job (\d+) completed ", "\n".join(logs))
    assert len(completed) == len(set(completed)), "a job was forwarded (completed) twice"
    print(
        f"\ncrash harness: {total} jobs, {ledger.attempts} attempts, {KILLS} kills, "
        f"{sum(len(v) for v in delivered.values())} gateway jobs delivered, "
        f"{sum(1 for v in delivered.values() if len(v) > 1)} resent by clients after a lost ack"
    )


def _sidecars(out: Path) -> list[Path]:
    return sorted(out.glob("job-*.json")) if out.exists() else []


def _unfinished(spool: Path) -> int:
    """Jobs not yet ended, read from the running gateway's database (WAL readers are fine)."""
    if pgcluster.selected_store() == "postgresql":
        rows = pgcluster.rows(pgcluster.database_for(spool))
        return sum(1 for _, data in rows if json.loads(data)["state"] < 7)
    db = sqlite3.connect(f"file:{spool / 'spool.db'}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM jobs WHERE state < 7").fetchone()[0])
    finally:
        db.close()
