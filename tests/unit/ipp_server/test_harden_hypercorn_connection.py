"""What `gateway.ipp.server.hypercorn_hooks.connection_server` relies on in hypercorn
is still there, and serving one accepted connection with it works.

These fail when a hypercorn release renames or changes the per-connection server
(``hypercorn.trio.tcp_server.TCPServer``), its worker context or `wrap_app`, or
how ``TCPServer`` tells a TLS stream from a plain one, so an upgrade cannot break
the gateway's own accept loop unnoticed.
"""

from __future__ import annotations

import inspect
from collections.abc import MutableMapping
from typing import Any

import httpx
import trio
from hypercorn.config import Config
from hypercorn.trio import tcp_server
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import wrap_app

from gateway.ipp.server.connections import TimedStream
from gateway.ipp.server.hypercorn_hooks import connection_server


def test_tcp_server_takes_app_config_context_state_stream() -> None:
    params = list(inspect.signature(tcp_server.TCPServer.__init__).parameters)
    assert params == ["self", "app", "config", "context", "state", "stream"]
    assert inspect.iscoroutinefunction(tcp_server.TCPServer.run)


def test_tcp_server_tells_tls_by_do_handshake_and_reads_the_socket() -> None:
    """`TimedStream` offers ``socket`` (read for the addresses) and no
    ``do_handshake`` (its absence means plain); a `trio.SSLStream` over it
    offers ``transport_stream.socket``."""
    names = tcp_server.TCPServer.run.__code__.co_names
    for name in ("do_handshake", "selected_alpn_protocol", "transport_stream", "socket"):
        assert name in names, name
    assert not hasattr(TimedStream, "do_handshake")
    assert isinstance(inspect.getattr_static(TimedStream, "socket"), property)


def test_worker_context_and_wrap_app() -> None:
    context = WorkerContext(None)
    assert not context.terminated.is_set()
    assert list(inspect.signature(wrap_app).parameters) == ["app", "wsgi_max_body_size", "mode"]


async def hello(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    body = f"{scope['http_version']} {scope['client'][0]}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_serves_http1_and_h2c_on_an_accepted_connection() -> None:
    handler = connection_server(hello, Config())
    with trio.fail_after(10):
        (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listener.socket.getsockname()[1]

        async def accept_and_serve(count: int) -> None:
            async with trio.open_nursery() as nursery:
                for _ in range(count):
                    stream = await listener.accept()
                    nursery.start_soon(handler, TimedStream(stream, 5.0))

        async with listener, trio.open_nursery() as nursery:
            nursery.start_soon(accept_and_serve, 2)
            for http2 in (False, True):
                async with httpx.AsyncClient(http1=not http2, http2=http2) as client:
                    response = await client.get(f"http://127.0.0.1:{port}/")
                expected = "2" if http2 else "1.1"
                assert response.text == f"{expected} 127.0.0.1"
            nursery.cancel_scope.cancel()
