"""Wrong-password floods over ipps://: bounded memory (at most a few scrypt checks
at once), back-off per address (HTTP 429), and a user who signed in a moment
ago keeps printing meanwhile.

Flooding clients come from other loopback addresses (127.0.0.20 and up).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
import trio

from gateway.ipp import Operation, StatusCode, ValueTag, decode, encode
from gateway.ipp.server import auth
from gateway.ipp.server.auth import set_password
from tests.gateway_process import GatewayProcess
from tests.ipp_harness import gateway_config, printer_uri, request, running_gateway, tls_context

FLOOD = 200
FLOOD_SOURCES = 40  # 5 wrong passwords each: none is blocked before it is checked


def print_job(uri: str) -> bytes:
    message = request(Operation.PRINT_JOB, uri)
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    return encode(message) + b"signed in\n"


TLS = tls_context()  # one for all clients: making one costs the test's loop ~20 ms


def client(
    source: str = "127.0.0.1", password: str = "wonderland", user: str = "alice"
) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=source, verify=TLS)
    return httpx.AsyncClient(transport=transport, auth=(user, password), timeout=30)


async def post(http: httpx.AsyncClient, target: str, body: bytes) -> httpx.Response:
    return await http.post(target, content=body, headers={"Content-Type": "application/ipp"})


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of process `pid`, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


async def flood(target: str, body: bytes) -> Counter[int]:
    """FLOOD requests with a wrong password, all at once, from FLOOD_SOURCES
    addresses; the HTTP statuses they got."""
    statuses: Counter[int] = Counter()

    async def one(source: str) -> None:
        async with client(source, password="guess") as http:
            statuses[(await post(http, target, body)).status_code] += 1

    async with trio.open_nursery() as nursery:
        for n in range(FLOOD):
            nursery.start_soon(one, f"127.0.0.{20 + n % FLOOD_SOURCES}")
    return statuses


async def test_a_wrong_password_flood_keeps_memory_bounded(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    set_password(passwd, "alice", "wonderland")
    out = tmp_path / "out"
    conf = tmp_path / "gw.toml"
    conf.write_text(
        f'[gateway]\nspool_dir = "{tmp_path / "spool"}"\n[lpd]\nlisten = []\n'
        f'[ipp]\nlisten = []\ntls_listen = ["127.0.0.1:0"]\nauth = "jobs"\n'
        f'password_file = "{passwd}"\n'
        f'[queues.lp]\nbackend = "{out.as_uri()}"\n'
    )
    with GatewayProcess(["--config", str(conf)]) as gateway:
        gateway.ready()
        port = gateway.ports["IPPS"][0]
        target = f"https://127.0.0.1:{port}/ipp/print"
        body = print_job(f"ipps://127.0.0.1:{port}/ipp/print")
        with trio.fail_after(120):
            async with client() as alice:
                assert (await post(alice, target, body)).status_code == 200  # warmed up
                before = memory_kib(gateway.proc.pid)
                async with trio.open_nursery() as nursery:
                    result: dict[str, Counter[int]] = {}

                    async def run_flood() -> None:
                        result["statuses"] = await flood(target, body)

                    nursery.start_soon(run_flood)
                    started = time.monotonic()
                    answer = await post(alice, target, body)  # signed in a moment ago
                    latency = time.monotonic() - started
                after = memory_kib(gateway.proc.pid)
        gateway.signal(15)
        code, log = gateway.finish()
    statuses = result["statuses"]
    grew = (after["VmHWM"] - before["VmRSS"]) // 1024
    print(
        f"\n{FLOOD} wrong passwords: {dict(statuses)}; RSS {before['VmRSS'] // 1024} MiB "
        f"before, peak {after['VmHWM'] // 1024} MiB, {after['VmRSS'] // 1024} MiB after; "
        f"signed-in user {latency:.2f}s"
    )
    assert code == 0, log
    assert answer.status_code == 200
    assert decode(answer.content)[0].operation_id_or_status == StatusCode.SUCCESSFUL_OK
    assert sum(statuses.values()) == FLOOD
    assert set(statuses) <= {401, 429, 503}
    assert statuses[401] >= auth.CHECK_QUEUE  # checked, a few at a time
    assert grew < 64, f"memory grew by {grew} MiB"
    assert "Traceback" not in log


async def test_wrong_passwords_from_one_address_get_429_then_a_check_again(
    tmp_path: Path,
) -> None:
    passwd = tmp_path / "passwd"
    set_password(passwd, "alice", "wonderland")
    set_password(passwd, "bob", "builder")
    cfg = gateway_config(tmp_path, ipp={"auth": "jobs", "password_file": str(passwd)})
    with trio.fail_after(60):
        async with running_gateway(cfg) as running:
            host, port = running.ipps[0]
            target = f"https://{host}:{port}/ipp/print"
            body = print_job(printer_uri(running, tls=True))
            async with client("127.0.0.9", "wonderland") as alice:
                assert (await post(alice, target, body)).status_code == 200
                async with client("127.0.0.9", "guess") as mallory:
                    for _ in range(auth.FREE_FAILURES):
                        assert (await post(mallory, target, body)).status_code == 401
                    refused = await post(mallory, target, body)
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "1"
                assert "too many wrong passwords" in refused.text
                # bob is not known yet: refused without a check, from that address ...
                async with client("127.0.0.9", "builder", "bob") as bob:
                    assert (await post(bob, target, body)).status_code == 429
                # ... not from another one,
                async with client("127.0.0.1", "builder", "bob") as bob:
                    assert (await post(bob, target, body)).status_code == 200
                # and alice, checked a moment ago, goes on printing from there.
                assert (await post(alice, target, body)).status_code == 200
