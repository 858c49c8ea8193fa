"""The metrics listener (``[metrics] listen``): ``GET /metrics`` for Prometheus only.

Why: a scraper should not need an IPP user's password, and the IPP listener's
pages show job names to those users. This listener serves the Prometheus text
and nothing else (no page, no job or user name: the metrics carry none), with
no password; bind it to an address only the scraper reaches. It is served the
way the IPP listener is (`gateway.ipp.server.connections`: the gateway's own
accept loop with connection caps, hypercorn for each connection), over TLS
with the ipps certificate when ``ipp.require_tls`` is true, and then only for
clients with a certificate from ``ipp.client_ca`` when that is set.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

from gateway.core.context import GatewayContext
from gateway.ipp.server.connections import ConnectionTable, listening, serve_listeners
from gateway.ipp.server.hypercorn_hooks import connection_server
from gateway.ipp.server.serving import hypercorn_config
from gateway.metrics import CONTENT_TYPE
from gateway.web.status import TEXT, respond

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Open connections at most, and per client address: a scraper needs one or two.
MAX_CONNECTIONS = 16
MAX_PER_SOURCE = 4
LABEL = "metrics"


class MetricsApp:
    """ASGI app: ``GET``/``HEAD /metrics``; 404 for any other path, 405 for any other method."""

    def __init__(self, context: GatewayContext) -> None:
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # hypercorn runs no lifespan here (connection_server)
            return
        method = scope.get("method", "GET")
        head = method == "HEAD"
        metrics = self.context.metrics
        if method not in ("GET", "HEAD"):
            extra = [(b"allow", b"GET, HEAD")]
            await respond(send, 405, b"only GET and HEAD here\n", TEXT, head=False, extra=extra)
        elif scope.get("path") != "/metrics" or metrics is None:
            await respond(send, 404, b"only /metrics here\n", TEXT, head=head)
        else:
            await respond(send, 200, metrics.render(), CONTENT_TYPE, head=head)


async def serve(
    context: GatewayContext,
    sockets: list[socket.socket],
    *,
    backlog: int,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``/metrics`` on the given bound, listening sockets until cancelled."""
    tls = context.config.ipp.require_tls
    config = await trio.to_thread.run_sync(functools.partial(hypercorn_config, context, tls=tls))
    handler = connection_server(MetricsApp(context), config)
    tls_context = await trio.to_thread.run_sync(config.create_ssl_context) if tls else None
    table = ConnectionTable(MAX_CONNECTIONS, MAX_PER_SOURCE)
    with contextlib.ExitStack() as stack:
        listenings = [
            listening(
                stack,
                sock,
                backlog,
                label=LABEL,
                table=table,
                handler=handler,
                idle_timeout=context.config.ipp.idle_timeout,
                tls=tls_context,
                metrics=context.metrics,
            )
            for sock in sockets
        ]
        await serve_listeners(listenings, task_status=task_status)


__all__ = ["MetricsApp", "serve"]
