"""The ASGI app driven directly (no sockets): every request gets an answer.

Real captured requests (tests/fixtures/ipp, recorded from CUPS lp and ipptool)
are mutated by hypothesis (bytes flipped, cut, inserted, the operation id and
version changed) and sent through `IppApp`. The answer must always be an HTTP
200 ``application/ipp`` message that decodes and echoes the request-id when
it could be read, or a bare HTTP 400, and never server-error-internal-error
(which would mean a bug was caught at the boundary).
"""

from __future__ import annotations

import contextlib
import struct
import tempfile
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.backends.file import FileBackend
from gateway.core.context import GatewayContext
from gateway.core.dispatcher import Dispatcher
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.ipp import StatusCode, decode
from gateway.ipp.server.asgi import HostAllowList, IppApp
from gateway.ipp.server.handlers import HANDLERS
from gateway.ipp.server.printer_attributes import Listener
from gateway.ipp.server.request import IppService
from tests.ipp_harness import gateway_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ipp"
REQUESTS = sorted(p.read_bytes() for p in FIXTURES.glob("*.bin") if "response" not in p.name)


@contextlib.asynccontextmanager
async def make_app() -> AsyncIterator[IppApp]:
    """A fresh gateway context in a temporary folder (per hypothesis example)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = gateway_config(Path(tmp))
        spool = await Spool.open(cfg.spool_dir)
        try:
            queue = Queue(cfg.queues[0], FileBackend(cfg.queues[0].backend))
            queues = Queues([queue])
            # The dispatcher is not started: jobs stay in the spool.
            context = GatewayContext(cfg, spool, queues, Dispatcher(spool, queues), "testhost")
            service = IppService(context, [Listener("ipp", 631)], tuple(sorted(HANDLERS)))
            yield IppApp(service, HostAllowList("testhost", []), tls_ports=[], idle_timeout=5.0)
        finally:
            await spool.aclose()


async def call(app: IppApp, body: bytes, pieces: int = 3) -> tuple[int, bytes]:
    step = max(1, len(body) // pieces)
    parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/ipp/print",
        "headers": [(b"host", b"localhost:631"), (b"content-type", b"application/ipp")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 631),
        "scheme": "http",
    }
    await app(scope, receive, send)
    assert sent and sent[0]["type"] == "http.response.start"
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def _check(status: int, body: bytes, request: bytes) -> None:
    if status == 400:
        return
    assert status == 200
    response, _ = decode(body)
    assert response.operation_id_or_status != StatusCode.SERVER_ERROR_INTERNAL_ERROR, response
    if len(request) >= 8:
        (request_id,) = struct.unpack(">i", request[4:8])
        assert response.request_id in (request_id, 0)


@pytest.mark.parametrize("index", range(len(REQUESTS)))
async def test_captured_requests_are_answered(index: int) -> None:
    request = REQUESTS[index]
    async with make_app() as app:
        status, body = await call(app, request)
    _check(status, body, request)


mutations = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("op"), st.integers(0, 0x4030), st.just(0)),
    st.tuples(st.just("version"), st.integers(0, 3), st.integers(0, 3)),
)


def mutate(data: bytes, steps: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, where, value in steps:
        if kind == "op" and len(buf) >= 4:
            buf[2:4] = struct.pack(">H", where)
        elif kind == "version" and len(buf) >= 2:
            buf[0], buf[1] = where, value
        elif not buf:
            continue
        elif kind == "flip":
            buf[where % len(buf)] = value
        elif kind == "cut":
            del buf[where % len(buf) :]
        elif kind == "insert":
            buf.insert(where % (len(buf) + 1), value)
    return bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    index=st.integers(0, len(REQUESTS) - 1),
    steps=st.lists(mutations, min_size=1, max_size=4),
    pieces=st.integers(1, 7),
)
async def test_mutated_requests_never_reach_an_internal_error(
    index: int, steps: list[tuple[str, int, int]], pieces: int
) -> None:
    request = mutate(REQUESTS[index], steps)
    async with make_app() as app:
        status, body = await call(app, request, pieces)
    _check(status, body, request)
