"""The IPP listener: our accept loop, hypercorn serving `IppApp` on each connection.

Why: hypercorn already speaks HTTP/1.1 (chunked and Content-Length bodies,
``Expect: 100-continue``), HTTP/2 (h2c with prior knowledge on the plain
listener, ALPN ``h2`` on TLS) and TLS on trio. It accepts without any cap, so
the gateway accepts itself (`connections.serve_listener`: connection caps in
total and per address, back-off when descriptors run out) and hands each
connection it keeps to hypercorn's per-connection server
(`hypercorn_hooks.connection_server`, the private part, isolated and tested).

gateway.app binds every listening socket itself, before it gives up root, so
that a port of 0 is known (and logged) before any traffic and so that sockets
passed by systemd (socket activation) are used as they are. This module
accepts on a duplicate of each (`socket.dup`), which it closes when it stops,
while gateway.app keeps and closes its own; it listens again with the
caller's backlog. Plain sockets serve ``ipp://``, TLS ones ``ipps://``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import socket
import ssl

import trio
from hypercorn.config import Config as HypercornConfig

from gateway import netlimits
from gateway.core.context import GatewayContext

from .asgi import HostAllowList, IppApp
from .connections import ConnectionTable, listening, serve_listeners
from .handlers import HANDLERS
from .hypercorn_hooks import connection_server, raise_receive_size
from .printer_attributes import Listener
from .request import IppService
from .tls import certificate_for

log = logging.getLogger("gateway.ipp")
_hypercorn_log = logging.getLogger("gateway.ipp.http")

#: Queues warmed between two yields to the event loop (about 1 ms of work).
WARM_SLICE = 50


def hypercorn_config(context: GatewayContext, *, tls: bool) -> HypercornConfig:
    """hypercorn settings for the IPP listener (and the certificate for ipps)."""
    config = HypercornConfig()
    ipp = context.config.ipp
    config.keep_alive_timeout = ipp.idle_timeout
    # Reads of a request body are timed by the app (`intake.BodyPace`), which
    # answers 408; hypercorn's own read deadline is later so that it does not
    # drop the connection first.
    config.read_timeout = math.ceil(2 * ipp.idle_timeout)
    config.ssl_handshake_timeout = ipp.idle_timeout
    config.graceful_timeout = 5.0
    config.include_server_header = False
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.errorlog = _hypercorn_log
    if tls:
        pair = certificate_for(
            context.config.spool_dir, context.hostname, ipp.certificate, ipp.private_key
        )
        config.certfile = str(pair.certificate)
        config.keyfile = str(pair.private_key)
        if ipp.client_ca is not None:
            # Mutual TLS: the handshake itself refuses clients without a
            # certificate issued by this CA.
            config.ca_certs = str(ipp.client_ca)
            config.verify_mode = ssl.CERT_REQUIRED
    return config


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


async def serve(
    context: GatewayContext,
    plain: list[socket.socket],
    tls: list[socket.socket],
    *,
    backlog: int,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve IPP on the given bound, listening sockets until cancelled; `backlog`
    is the one they listen with."""
    ipp = context.config.ipp
    listeners = [Listener("ipp", _port(s)) for s in plain]
    listeners += [Listener("ipps", _port(s)) for s in tls]
    config = await trio.to_thread.run_sync(
        functools.partial(hypercorn_config, context, tls=bool(tls))
    )
    # Name lookups (getfqdn, getaddrinfo) may be slow: not on the event loop.
    allow = await trio.to_thread.run_sync(HostAllowList, context.hostname, ipp.allowed_hosts)
    service = IppService(context, listeners, tuple(sorted(HANDLERS)))
    most = netlimits.connection_budget(ipp.max_open_connections)
    if most < ipp.max_open_connections:
        log.info(
            "ipp: at most %d open connections, half of what the open-file limit leaves "
            "(raise it to allow ipp.max_open_connections = %d)",
            most,
            ipp.max_open_connections,
        )
    table = ConnectionTable(most, ipp.max_connections_per_source)
    app = IppApp(
        service,
        allow,
        tls_ports=[_port(s) for s in tls],
        idle_timeout=ipp.idle_timeout,
        connections=table,
    )
    raise_receive_size()
    handler = connection_server(app, config)
    tls_context = await trio.to_thread.run_sync(config.create_ssl_context) if tls else None
    with contextlib.ExitStack() as stack:
        listenings = [
            listening(
                stack,
                sock,
                backlog,
                label="ipps" if secure else "ipp",
                table=table,
                handler=handler,
                idle_timeout=ipp.idle_timeout,
                tls=tls_context if secure else None,
                metrics=context.metrics,
            )
            for sock, secure in [(s, False) for s in plain] + [(s, True) for s in tls]
        ]
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(serve_listeners, listenings))
            task_status.started()
            nursery.start_soon(warm, service)


async def warm(service: IppService) -> None:
    """Build every queue's printer description in the background, `WARM_SLICE`
    queues at a time with the event loop's other work in between: the first
    CUPS-Get-Printers of a fleet then costs what the next ones do (cupsd pays the
    same while it reads printers.conf, before it answers at all)."""
    for n, description in enumerate(list(service.descriptions.values()), 1):
        try:
            description.warm()
        except Exception as exc:  # only a head start: the first request builds it anyway
            log.debug("ipp: queue %s not warmed: %r", description.queue.name, exc)
        if n % WARM_SLICE == 0:
            await trio.lowlevel.checkpoint()


__all__ = ["hypercorn_config", "serve", "warm"]
