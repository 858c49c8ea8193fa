"""Every use of hypercorn beyond its public API, in one place.

Two, and why:

- `connection_server`: hypercorn's public ``hypercorn.trio.serve`` runs its
  own accept loop (``trio.serve_listeners``) with no cap on connections, idle
  ones included, and on EMFILE it logs a traceback every 100 ms. The gateway
  therefore accepts itself (`connections.serve_listener`: caps in total and per
  address, closing idle connections to make room, back-off when descriptors
  run out) and gives each connection it keeps to what ``serve`` would have
  run for it: ``hypercorn.trio.tcp_server.TCPServer(app, config, context,
  state, stream)``, with the app wrapped by ``hypercorn.utils.wrap_app`` and
  one ``hypercorn.trio.worker_context.WorkerContext`` for all connections.
  ``TCPServer`` does the TLS handshake (for a `trio.SSLStream`), picks HTTP/1.1
  or HTTP/2 (ALPN ``h2`` on TLS, prior knowledge on plain) and serves the
  requests. What ``serve`` does beyond that is not needed: the lifespan
  protocol (`asgi.IppApp` has nothing to start or stop), statsd, and the
  graceful drain on shutdown (the gateway cancels its listeners; in-flight
  requests ended the same way under ``serve``, which was cancelled whole).
- `raise_receive_size`: hypercorn's trio server reads a connection at most
  64 KiB at a time (the module constant ``hypercorn.trio.tcp_server.MAX_RECV``,
  read on every ``receive_some``; no `Config` setting exists), and each read
  costs one pass through h11 and one ASGI message: most of the time a large
  document takes. Reads of up to `RECEIVE_SIZE` (allocated only while data is
  waiting) take a quarter of the passes. It does nothing harmful if a
  hypercorn release drops the constant.

``tests/unit/ipp_server/test_hypercorn_hooks.py`` (the constant, read at each
receive) and ``test_harden_hypercorn_connection.py`` (names, signatures, how
``TCPServer`` tells TLS from plain, and one real HTTP/1.1 and one HTTP/2
request served through `connection_server`) fail when a hypercorn release
changes what these rely on, so an upgrade cannot break them unnoticed.
`hypercorn.config.Config` (public) carries every setting.
"""

from __future__ import annotations

from typing import Any, cast

import trio
from hypercorn.config import Config
from hypercorn.trio import tcp_server
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from .connections import ConnectionHandler

RECEIVE_SIZE = 256 * 1024
"""The most bytes hypercorn reads from a connection at once, once raised."""


def raise_receive_size(size: int = RECEIVE_SIZE) -> None:
    """Let hypercorn read up to `size` bytes at a time (never less than its own limit)."""
    if getattr(tcp_server, "MAX_RECV", 0) < size:
        tcp_server.MAX_RECV = size


def connection_server(app: Any, config: Config) -> ConnectionHandler:
    """A coroutine function that serves one accepted connection (a socket stream,
    or a `trio.SSLStream` over one) with the ASGI `app` until it closes."""
    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
    context = WorkerContext(None)

    async def serve(stream: trio.abc.Stream) -> None:
        server = tcp_server.TCPServer(
            wrapped, config, context, ConnectionState({}), cast(Any, stream)
        )
        await server.run()

    return serve


__all__ = ["RECEIVE_SIZE", "connection_server", "raise_receive_size"]
