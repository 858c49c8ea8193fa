"""The IPP listener: hypercorn serving `IppApp` on the sockets gateway.app bound.

Why: hypercorn already speaks HTTP/1.1 (chunked and Content-Length bodies,
``Expect: 100-continue``), HTTP/2 (h2c with prior knowledge on the plain
listener, ALPN ``h2`` on TLS) and TLS on trio. This module sets it up and
runs it with its public API, ``hypercorn.trio.serve``.

gateway.app binds every listening socket itself, before it gives up root, so
that a port of 0 is known (and logged) before any traffic and so that sockets
passed by systemd (socket activation) are used as they are. hypercorn adopts
an open socket through an ``fd://N`` bind: each socket is handed over as a
duplicate of its file descriptor (`os.dup`), which hypercorn owns and closes
when it stops, while gateway.app keeps and closes its own. hypercorn calls
``listen()`` again on what it adopts, with ``Config.backlog``, so the caller
passes its backlog. Plain sockets serve ``ipp://``, TLS ones ``ipps://``.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import ssl
from typing import Any, cast

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from gateway.core.context import GatewayContext

from .asgi import HostAllowList, IppApp
from .handlers import HANDLERS
from .hypercorn_hooks import raise_receive_size
from .printer_attributes import Listener
from .request import IppService
from .tls import certificate_for


class _NoBanner(logging.Filter):
    """Drop hypercorn's "Running on ..." lines: gateway.app logs the bound addresses."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Running on ")


_hypercorn_log = logging.getLogger("gateway.ipp.http")
_hypercorn_log.addFilter(_NoBanner())


def hypercorn_config(context: GatewayContext, *, tls: bool) -> HypercornConfig:
    """hypercorn settings for the IPP listener (and the certificate for ipps)."""
    config = HypercornConfig()
    ipp = context.config.ipp
    config.keep_alive_timeout = ipp.idle_timeout
    config.read_timeout = int(ipp.idle_timeout)
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


def _adopt(sock: socket.socket) -> str:
    """An ``fd://`` bind for hypercorn: a duplicate of `sock` that hypercorn owns."""
    return f"fd://{os.dup(sock.fileno())}"


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
    listeners = [Listener("ipp", _port(s)) for s in plain]
    listeners += [Listener("ipps", _port(s)) for s in tls]
    config = await trio.to_thread.run_sync(
        functools.partial(hypercorn_config, context, tls=bool(tls))
    )
    # Name lookups (getfqdn, getaddrinfo) may be slow: not on the event loop.
    allow = await trio.to_thread.run_sync(
        HostAllowList, context.hostname, context.config.ipp.allowed_hosts
    )
    service = IppService(context, listeners, tuple(sorted(HANDLERS)))
    app = IppApp(
        service,
        allow,
        tls_ports=[_port(s) for s in tls],
        idle_timeout=context.config.ipp.idle_timeout,
    )
    raise_receive_size()
    config.backlog = backlog
    # With a certificate, hypercorn serves `bind` with TLS and `insecure_bind`
    # without; without one, `bind` is plain.
    if tls:
        config.bind = [_adopt(s) for s in tls]
        config.insecure_bind = [_adopt(s) for s in plain]
    else:
        config.bind = [_adopt(s) for s in plain]
    async with trio.open_nursery() as nursery:
        # IppApp types scopes and messages as mappings, not hypercorn's TypedDicts.
        asgi_app = cast(Any, app)
        await nursery.start(functools.partial(hypercorn_serve, asgi_app, config, mode="asgi"))
        task_status.started()


__all__ = ["hypercorn_config", "serve"]
