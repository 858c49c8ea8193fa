"""Idle connection floods against the IPP listener: capped in total and per
address, the idle ones closed to make room, descriptors never exhausted, and a
normal client served meanwhile.

Flooding clients come from other loopback addresses (127.0.0.9 and up); the
normal client from 127.0.0.1. Whether the gateway closed a flooding connection
is seen by the client as the end of its stream; everything waited for has a
deadline.
"""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trio

from gateway.ipp import Operation, StatusCode, ValueTag, decode, encode
from tests.gateway_process import GatewayProcess
from tests.integration.test_harden_ipp_slow import connect_from, print_normally, slow_config
from tests.ipp_harness import request, running_gateway

IDLE = 500


class Flood:
    """Idle connections that each notice when the gateway closes them."""

    def __init__(self) -> None:
        self.streams: list[trio.SocketStream] = []
        self.gone: set[trio.SocketStream] = set()
        self._changed = trio.Event()

    @property
    def closed(self) -> int:
        return len(self.gone)

    def still_open(self, source: str | None = None) -> int:
        return sum(
            1
            for s in self.streams
            if s not in self.gone and source in (None, s.socket.getsockname()[0])
        )

    async def open(self, nursery: trio.Nursery, source: str, port: int) -> None:
        stream = await connect_from(source, port)
        self.streams.append(stream)
        nursery.start_soon(self._watch, stream)

    async def _watch(self, stream: trio.SocketStream) -> None:
        try:
            while await stream.receive_some(4096):
                pass
        except trio.BrokenResourceError:
            pass
        except trio.ClosedResourceError:
            return  # closed by the test
        self.gone.add(stream)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_closed(self, count: int) -> None:
        while self.closed < count:
            await self._changed.wait()

    async def aclose(self) -> None:
        for stream in self.streams:
            await stream.aclose()


async def test_500_idle_connections_are_capped_and_a_normal_client_is_served(
    tmp_path: Path,
) -> None:
    """400 idle connections from 20 addresses and 100 from one more, against
    ipp.max_open_connections = 100: the one address keeps at most 32, at most
    100 stay open in all (the idle ones are closed to make room), and a normal
    Print-Job is answered at once."""
    cfg = slow_config(tmp_path, max_open_connections=100, idle_timeout="120s")
    flood = Flood()
    with trio.fail_after(60):
        async with running_gateway(cfg) as running, trio.open_nursery() as nursery:
            port = running.ipp[0][1]
            for n in range(IDLE - 100):
                await flood.open(nursery, f"127.0.0.{10 + n % 20}", port)
            for _ in range(100):
                await flood.open(nursery, "127.0.0.9", port)
            await flood.wait_closed(IDLE - 100)
            latency = await print_normally(running)
            await flood.wait_closed(IDLE - 100 + 1)  # the normal client took a place
            kept, kept_from_one = flood.still_open(), flood.still_open("127.0.0.9")
            metrics = running.context.metrics
            assert metrics is not None
            gauge = _open_connections(metrics.render().decode())
            await flood.aclose()
            nursery.cancel_scope.cancel()
    print(f"\n{IDLE} idle connections: {flood.closed} closed by the gateway; normal {latency:.2f}s")
    assert kept < 100 and kept_from_one <= 32
    assert gauge <= 100
    assert latency < 5


def _open_connections(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('gateway_open_connections{listener="ipp"}'):
            return float(line.split()[-1])
    raise AssertionError("no gateway_open_connections for ipp in /metrics")


async def test_one_address_keeps_at_most_its_share(tmp_path: Path) -> None:
    cfg = slow_config(tmp_path, max_connections_per_source=8, idle_timeout="120s")
    flood = Flood()
    with trio.fail_after(30):
        async with running_gateway(cfg) as running, trio.open_nursery() as nursery:
            for _ in range(50):
                await flood.open(nursery, "127.0.0.9", running.ipp[0][1])
            await flood.wait_closed(50 - 8)
            assert await print_normally(running) < 5  # other addresses are not affected
            await flood.aclose()
            nursery.cancel_scope.cancel()


@pytest.fixture
def low_descriptor_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[list[str]], GatewayProcess]:
    """Start gateways with RLIMIT_NOFILE 100 (soft) and 200 (hard)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 200))

    def start(args: list[str]) -> GatewayProcess:
        with monkeypatch.context() as patch:
            popen = functools.partial(subprocess.Popen, preexec_fn=limit)
            patch.setattr(subprocess, "Popen", popen)
            return GatewayProcess(args)

    return start


async def test_idle_floods_never_exhaust_a_small_open_file_limit(
    tmp_path: Path, low_descriptor_limit: Callable[[list[str]], GatewayProcess]
) -> None:
    """A gateway whose hard open-file limit is 200 raises its soft limit to it,
    keeps IPP connections to half of what that leaves, and serves a normal
    Print-Job through 300 idle connections without a traceback or an EMFILE."""
    conf = tmp_path / "gw.toml"
    out = tmp_path / "out"
    conf.write_text(
        f'[gateway]\nspool_dir = "{tmp_path / "spool"}"\n'
        '[lpd]\nlisten = []\n[ipp]\nlisten = ["127.0.0.1:0"]\nidle_timeout = "120s"\n'
        f'[queues.lp]\nbackend = "{out.as_uri()}"\n'
    )
    with low_descriptor_limit(["--config", str(conf)]) as gateway:
        gateway.ready()
        pid = gateway.proc.pid
        port = gateway.ports["IPP"][0]
        flood = Flood()
        most_descriptors = 0
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for n in range(300):
                    await flood.open(nursery, f"127.0.0.{10 + n % 10}", port)
                    if n % 50 == 0:
                        most_descriptors = max(most_descriptors, len(os.listdir(f"/proc/{pid}/fd")))
                await flood.wait_closed(300 - 68)
                started = time.monotonic()
                async with httpx.AsyncClient(timeout=20) as http:
                    message = request(Operation.PRINT_JOB, f"ipp://127.0.0.1:{port}/ipp/print")
                    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
                    response = await http.post(
                        f"http://127.0.0.1:{port}/ipp/print",
                        content=encode(message) + b"normal\n",
                        headers={"Content-Type": "application/ipp"},
                    )
                latency = time.monotonic() - started
                most_descriptors = max(most_descriptors, len(os.listdir(f"/proc/{pid}/fd")))
                await flood.aclose()
                nursery.cancel_scope.cancel()
        gateway.wait_for(r"job \d+ completed")
        gateway.signal(15)
        code, log = gateway.finish()
    print(f"\n300 idle connections, limit 200: {flood.closed} closed; normal {latency:.2f}s")
    assert code == 0, log
    answer, _ = decode(response.content)
    assert answer.operation_id_or_status == StatusCode.SUCCESSFUL_OK
    assert latency < 5
    assert "open-file limit raised from 100 to 200" in log
    assert "ipp: at most 68 open connections" in log
    assert most_descriptors < 200
    assert "Traceback" not in log and "EMFILE" not in log, log
