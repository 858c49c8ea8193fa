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

A reload (`gateway.reload`) reaches this listener through `IppReconfig`,
which it registers on the context: the TLS certificate, key and client CA are
taken for new connections (`tls.ReloadableContext`; open connections keep
theirs), the password file, operators, authentication policy and OAuth
settings from the next request on. The rest of ``[ipp]`` (addresses, caps,
timeouts, allowed hosts) is built into the accept loop and waits for a restart.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import socket
import ssl
from collections.abc import Callable

import trio
from hypercorn.config import Config as HypercornConfig

from gateway import netlimits
from gateway.config import Config, ConfigError
from gateway.core.context import Commit, GatewayContext
from gateway.core.leases import instance_id

from .asgi import HostAllowList, IppApp
from .auth import PasswordChecks, PasswordFile
from .connections import ConnectionTable, listening, serve_listeners
from .handlers import HANDLERS
from .hypercorn_hooks import connection_server, raise_receive_size
from .oauth import BearerTokens
from .printer_attributes import Listener
from .request import IppService
from .subscription_store import PrinterState
from .tls import ReloadableContext, certificate_for

log = logging.getLogger("gateway.ipp")
_hypercorn_log = logging.getLogger("gateway.ipp.http")

#: Queues warmed between two yields to the event loop (about 1 ms of work).
WARM_SLICE = 50


def hypercorn_config(
    context: GatewayContext, *, tls: bool, settings: Config | None = None
) -> HypercornConfig:
    """hypercorn settings for the IPP listener (and the certificate for ipps),
    from `settings` (by default the configuration in force)."""
    config = HypercornConfig()
    settings = settings or context.config
    ipp = settings.ipp
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
            settings.spool_dir, context.hostname, ipp.certificate, ipp.private_key
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
    owner = ""
    if context.spool.shared:  # several gateways, one store: each keeps its own subscriptions
        owner = await trio.to_thread.run_sync(
            instance_id, context.config.spool_dir, context.config.fleet.instance_id
        )
    await service.subscriptions.load(
        context.spool, _printer_state(context), [q.name for q in context.queues], owner=owner
    )
    context.queues.watch_state(lambda queue: service.subscriptions.check_printer(queue.name))
    _HELD[id(context)] = service
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
    tls_context = (
        ReloadableContext(await trio.to_thread.run_sync(_ssl_context, config)) if tls else None
    )
    context.reconfigurables.append(IppReconfig(context, app, tls_context))
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
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(functools.partial(serve_listeners, listenings))
                task_status.started()
                nursery.start_soon(warm, service)
        finally:
            _HELD.pop(id(context), None)


#: The IPP service of each running gateway (by its context), for `answer_held`.
_HELD: dict[int, IppService] = {}


async def answer_held(context: GatewayContext) -> None:
    """The gateway stops: answer the Get-Notifications requests held open
    (notify-wait) before the listeners are cancelled."""
    service = _HELD.get(id(context))
    if service is not None:
        await service.subscriptions.waits.stop()


class IppReconfig:
    """What a reload changes in the running IPP listener (see the module doc)."""

    def __init__(self, context: GatewayContext, app: IppApp, tls: ReloadableContext | None) -> None:
        self.context = context
        self.app = app
        self.tls = tls

    async def prepare(self, config: Config) -> Commit:
        """Build the new TLS context and authentication checks; `ConfigError`
        naming the key when a file cannot be used (nothing is changed then)."""
        old = self.context.config.ipp
        ipp = config.ipp
        tls_context: ssl.SSLContext | None = None
        tls_keys = (ipp.certificate, ipp.private_key, ipp.client_ca)
        if self.tls is not None and tls_keys != (old.certificate, old.private_key, old.client_ca):
            tls_context = await trio.to_thread.run_sync(self._tls_context, config)
        passwords = self.app.passwords
        if ipp.password_file != old.password_file:
            passwords = None
            if ipp.password_file is not None:
                passwords = PasswordChecks(await _password_file(config))
        tokens = self.app.tokens
        if config.oauth != self.context.config.oauth:
            tokens = BearerTokens(config.oauth) if config.oauth.issuer else None
        runtime = [q.config.auth for q in self.context.queues if q.runtime]
        auth_on = ipp.auth != "none" or any(
            a not in ("", "none") for a in [*runtime, *(q.auth for q in config.queues)]
        )
        certificate_user = (
            config.oauth.client_certificate_user if ipp.client_ca is not None else "off"
        )

        def commit() -> None:
            if self.tls is not None and tls_context is not None:
                self.tls.current = tls_context
            app = self.app
            app.passwords = passwords
            app.tokens = tokens
            app.operators = frozenset(ipp.operators)
            app.auth_on = auth_on
            app.certificate_user = certificate_user

        return commit

    def _tls_context(self, config: Config) -> ssl.SSLContext:
        ipp = config.ipp
        try:
            return _ssl_context(hypercorn_config(self.context, tls=True, settings=config))
        except (OSError, ssl.SSLError, ValueError) as exc:
            key = "ipp.client_ca" if _names_ca(exc, ipp.client_ca) else "ipp.certificate"
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
            raise ConfigError(config.source, key, f"cannot be used for TLS: {reason}") from None


def _ssl_context(config: HypercornConfig) -> ssl.SSLContext:
    """hypercorn's TLS context of `config` (which has a certificate)."""
    context = config.create_ssl_context()
    if context is None:
        raise ValueError("no certificate")
    return context


def _names_ca(exc: BaseException, client_ca: object) -> bool:
    return client_ca is not None and str(client_ca) == getattr(exc, "filename", None)


async def _password_file(config: Config) -> PasswordFile:
    """The password file `config` names, refused when it cannot be read (at start
    a missing file only warns; a reload that would lock every user out is refused)."""
    path = config.ipp.password_file
    assert path is not None
    try:
        await trio.Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            config.source, "ipp.password_file", f"cannot read {path}: {exc.strerror}"
        ) from None
    return PasswordFile(path)


def _printer_state(context: GatewayContext) -> Callable[[str], PrinterState | None]:
    """A queue's printer-state and -reasons, for the subscriptions' printer events."""

    def state(name: str) -> PrinterState | None:
        queue = context.queues.get(name)
        if queue is None:
            return None
        now = queue.state()
        return now.ipp_state, now.reasons

    return state


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


__all__ = ["IppReconfig", "hypercorn_config", "serve", "warm"]
