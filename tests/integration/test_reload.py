"""SIGHUP reloads the configuration of a real gateway process during a burst.

The acceptance of the reload issue: during a burst of 200 LPD and IPP jobs
from several clients, the file is rewritten to add a queue and remove one
that holds jobs, and the gateway gets SIGHUP: every acknowledged job is
delivered (file backends: one sidecar each), the IPP clients' HTTP/1.1
connections opened before the reload serve requests after it (each client
uses one connection for all its jobs, and a dropped one fails the test), the
new queue takes LPD and IPP jobs, and the removed queue takes no new job but
keeps its held jobs until they are released and delivered; then it is gone.
A broken file then is refused with one log line and nothing changes.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import h11
import trio

from gateway.ipp import DelimiterTag, Message, Operation, ValueTag, decode, encode
from tests.gateway_process import GatewayProcess
from tests.integration.test_accounting import Drain, lpd_print, payload

CLIENTS = 8
JOBS = 200
POLL = 0.05  # seconds between looks at the output folders (every wait has a deadline)


def config_text(tmp_path: Path, queues: dict[str, str]) -> str:
    tables = "".join(
        f"[queues.{name}]\nbackend = {json.dumps((tmp_path / folder).as_uri())}\n"
        for name, folder in queues.items()
    )
    return f"""
[gateway]
spool_dir = {json.dumps(str(tmp_path / "spool"))}
[lpd]
listen = ["127.0.0.1:0"]
[ipp]
listen = ["127.0.0.1:0"]
[dnssd]
enabled = false
{tables}"""


class IppConnection:
    """One HTTP/1.1 connection kept open for every request (h11 over a trio
    stream): a connection the gateway closes fails the request that needed it."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        self.requests = 0

    @classmethod
    async def open(cls, port: int) -> IppConnection:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def call(self, path: str, body: bytes) -> Message:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        headers = [
            ("Host", "127.0.0.1"),
            ("Content-Type", "application/ipp"),
            ("Content-Length", str(len(body))),
        ]
        data = self.conn.send(h11.Request(method="POST", target=path, headers=headers))
        data += self.conn.send(h11.Data(data=body)) + self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        content = b""
        status = 0
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    raise AssertionError("the gateway closed a kept-alive IPP connection")
                self.conn.receive_data(chunk)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                content += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError("the gateway closed a kept-alive IPP connection")
        assert status == 200, status
        assert self.conn.their_state is not h11.MUST_CLOSE, "the gateway asked to close"
        self.requests += 1
        message, _ = decode(content)
        return message


def print_job(port: int, queue: str, token: str, data: bytes, *, held: bool = False) -> bytes:
    uri = f"ipp://127.0.0.1:{port}/printers/{queue}"
    request = Message.request(Operation.PRINT_JOB, 1, printer_uri=uri, requesting_user_name="u")
    request.operation.add("job-name", ValueTag.NAME, token)
    request.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "application/octet-stream")
    if held:
        request.add_group(DelimiterTag.JOB_ATTRIBUTES).add(
            "job-hold-until", ValueTag.KEYWORD, "indefinite"
        )
    return encode(request) + data


def job_request(port: int, operation: Operation, job_id: int) -> bytes:
    uri = f"ipp://127.0.0.1:{port}/printers/old"
    request = Message.request(operation, 2, printer_uri=uri, requesting_user_name="u")
    request.operation.add("job-id", ValueTag.INTEGER, job_id)
    return encode(request)


def delivered(folder: Path) -> list[str]:
    """The job-name of every job the file backend wrote to `folder`."""
    if not folder.exists():
        return []
    return [json.loads(p.read_text())["job-name"] for p in sorted(folder.glob("job-*.json"))]


async def until_delivered(folder: Path, names: set[str]) -> list[str]:
    while not names <= set(got := delivered(folder)):
        await trio.sleep(POLL)
    return got


async def lpq(port: int, queue: str) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(f"\x03{queue}\n".encode())
        text = b""
        while chunk := await stream.receive_some(65536):
            text += chunk
    return text.decode("utf-8", "replace")


@dataclass
class Burst:
    lpd: int
    ipp: int
    acknowledged: set[str] = field(default_factory=set)
    connections: list[IppConnection] = field(default_factory=list)
    halfway: trio.Event = field(default_factory=trio.Event)
    go_on: trio.Event = field(default_factory=trio.Event)

    async def client(self, index: int) -> None:
        count = JOBS // CLIENTS
        connection = await IppConnection.open(self.ipp) if index % 2 else None
        if connection is not None:
            self.connections.append(connection)
        for n in range(count):
            if n == count // 2:  # half of every client's jobs before the reload
                if len(self.acknowledged) >= JOBS // 2:
                    self.halfway.set()
                await self.go_on.wait()
            token = f"c{index}-j{n}"
            data = payload(token)
            with trio.fail_after(20):
                if connection is None:
                    assert await lpd_print(self.lpd, token, f"user{index}", data)
                else:
                    answer = await connection.call(
                        "/printers/lp", print_job(self.ipp, "lp", token, data)
                    )
                    assert answer.operation_id_or_status < 0x100, hex(answer.operation_id_or_status)
            self.acknowledged.add(token)
        if connection is not None:
            await connection.stream.aclose()


async def test_sighup_during_a_burst_adds_and_removes_queues(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text(config_text(tmp_path, {"lp": "out-lp", "old": "out-old"}))
    args = ["--config", str(conf), "--log-level", "info"]
    gw = await trio.to_thread.run_sync(lambda: GatewayProcess(args).ready(timeout=60))
    lpd_port, ipp_port = gw.ports["LPD"][0], gw.ports["IPP"][0]
    drain = Drain(gw)
    with trio.fail_after(240):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain.run)
            # The queue that goes holds two jobs (held, so they wait for us).
            keeper = await IppConnection.open(ipp_port)
            held = []
            for n in range(2):
                body = print_job(ipp_port, "old", f"held-{n}", b"held\n", held=True)
                answer = await keeper.call("/printers/old", body)
                assert answer.operation_id_or_status < 0x100
                jobs = answer.group(DelimiterTag.JOB_ATTRIBUTES)
                assert jobs is not None
                held.append(int(jobs.value("job-id")))  # type: ignore[arg-type]

            burst = Burst(lpd_port, ipp_port)
            async with trio.open_nursery() as clients:
                for index in range(CLIENTS):
                    clients.start_soon(burst.client, index)
                while len(burst.acknowledged) < JOBS // 2 - CLIENTS:
                    await trio.sleep(POLL)
                # Reload while the other half is sent.
                conf.write_text(config_text(tmp_path, {"lp": "out-lp", "new": "out-new"}))
                gw.signal(signal.SIGHUP)
                burst.go_on.set()
                while not any(
                    "reload: " in line and "queues added: new" in line for line in gw.lines
                ):
                    await trio.sleep(POLL)
            assert len(burst.acknowledged) == JOBS
            assert all(c.requests == JOBS // CLIENTS for c in burst.connections)

            # The new queue takes LPD and IPP jobs.
            answer = await keeper.call(
                "/printers/new", print_job(ipp_port, "new", "new-ipp", b"x\n")
            )
            assert answer.operation_id_or_status < 0x100
            assert await lpd_to(lpd_port, "new", "new-lpd")
            await until_delivered(tmp_path / "out-new", {"new-ipp", "new-lpd"})

            # The removed queue: no new job, its held jobs still listed ...
            refused = await keeper.call("/printers/old", print_job(ipp_port, "old", "late", b"x\n"))
            assert refused.operation_id_or_status == 0x0506  # server-error-not-accepting-jobs
            assert not await lpd_to(lpd_port, "old", "late-lpd")
            listing = await lpq(lpd_port, "old")
            assert "held-0" in listing or str(held[0]) in listing, listing
            # ... until they are released, delivered, and the queue goes.
            for job_id in held:
                answer = await keeper.call(
                    "/printers/old", job_request(ipp_port, Operation.RELEASE_JOB, job_id)
                )
                assert answer.operation_id_or_status < 0x100, hex(answer.operation_id_or_status)
            await until_delivered(tmp_path / "out-old", {"held-0", "held-1"})
            while not any("reload: queue old removed" in line for line in gw.lines):
                await trio.sleep(POLL)
            assert "unknown printer" in await lpq(lpd_port, "old")

            # Every acknowledged job of the burst was delivered, once.
            got = await until_delivered(tmp_path / "out-lp", burst.acknowledged)
            assert sorted(got) == sorted(burst.acknowledged)

            # A broken file: one line, and everything goes on as it was.
            conf.write_text(
                config_text(tmp_path, {"lp": "out-lp"})
                + "[queues.bad]\nbackend = 'file:///nowhere'\naccepting = 'maybe'\n"
            )
            gw.signal(signal.SIGHUP)
            while not any("reload refused" in line for line in gw.lines):
                await trio.sleep(POLL)
            answer = await keeper.call(
                "/printers/new", print_job(ipp_port, "new", "after-bad", b"x\n")
            )
            assert answer.operation_id_or_status < 0x100
            await until_delivered(tmp_path / "out-new", {"after-bad"})
            await keeper.stream.aclose()
            code, log = await drain.stop(signal.SIGTERM)
    assert code == 0, log
    refusals = [line for line in log.splitlines() if "reload refused" in line]
    assert len(refusals) == 1, refusals
    assert re.search(
        r"reload refused: \S+gateway\.toml: queues\.bad\.accepting: .*; "
        r"the running configuration stays$",
        refusals[0],
    ), refusals[0]
    assert "Traceback" not in log, log


async def lpd_to(port: int, queue: str, token: str) -> bool:
    """One LPD job to `queue`; whether it was acknowledged."""
    cf = f"Hws\nPu\nJ{token}\nldfA001ws\n".encode()
    data = b"lpd\n"
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        steps = [
            f"\x02{queue}\n".encode(),
            f"\x02{len(cf)} cfA001ws\n".encode(),
            cf + b"\0",
            f"\x03{len(data)} dfA001ws\n".encode(),
            data + b"\0",
        ]
        for step in steps:
            await stream.send_all(step)
            if await stream.receive_some(1) != b"\0":
                return False
    return True
