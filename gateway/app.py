"""The running gateway: one trio nursery with the listeners and the dispatcher.

Start-up order matters for the errors a person sees: every listening socket
is bound first (a busy or privileged port is reported at once, on one line,
with the fix), then the spool is opened and recovered, then the backends are
made, and only then does anything accept traffic.

SIGINT and SIGTERM stop the listeners, park the jobs being forwarded (they
stay durable in the spool and are forwarded after the next start) and exit 0.
SIGHUP (``systemctl reload``) reads the configuration again and applies it
without dropping a connection or a job (`gateway.reload`); SIGUSR1 rotates
the accounting files.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import trio

from gateway import backends, dnssd, privileges, reload
from gateway.config import Config, ListenAddress, machine_hostname
from gateway.core.accounting import Accountant
from gateway.core.context import GatewayContext
from gateway.core.conversion import ConversionStage
from gateway.core.dispatcher import Dispatcher
from gateway.core.leases import LeaseKeeper, instance_id
from gateway.core.polling import PollSettings
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool, SpoolLocked, StoreError, postgres
from gateway.core.spool.migrations import SchemaTooOld
from gateway.infra import Fetcher, FetchSettings
from gateway.ipp import server as ipp_server
from gateway.ipp.server import everywhere
from gateway.ipp.server.printer_attributes import printer_uuid
from gateway.lpd import server as lpd_server
from gateway.metrics import Metrics
from gateway.web import metrics_listener

log = logging.getLogger("gateway")

BACKLOG = 128


class StartupError(Exception):
    """The gateway cannot start; the message is one line saying why and what to do."""


@dataclass(slots=True)
class Running:
    """What a started gateway tells its starter (tests use the bound ports)."""

    context: GatewayContext
    #: Applies SIGHUP's reloads (tests call ``reloader.reload()`` themselves).
    reloader: reload.Reloader | None = None
    lpd: list[tuple[str, int]] = field(default_factory=list)
    ipp: list[tuple[str, int]] = field(default_factory=list)
    ipps: list[tuple[str, int]] = field(default_factory=list)
    metrics: list[tuple[str, int]] = field(default_factory=list)


def bind(address: ListenAddress, what: str, flag: str) -> socket.socket:
    """Bind a listening TCP socket, or raise `StartupError` naming the fix."""
    try:
        if address.host:
            infos = socket.getaddrinfo(
                address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, _, _, _, sockaddr = infos[0]
        else:
            family, sockaddr = (
                (socket.AF_INET6, ("::", address.port))
                if socket.has_ipv6
                else (socket.AF_INET, ("0.0.0.0", address.port))
            )
    except socket.gaierror as exc:
        raise StartupError(
            f"cannot listen for {what} on {address}: unknown host ({exc.strerror}); fix {flag}"
        ) from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and not address.host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        try:
            sock.bind(sockaddr)
        except OSError as exc:
            if family == socket.AF_INET6 and not address.host and exc.errno == errno.EADDRNOTAVAIL:
                sock.close()
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", address.port))
            else:
                raise
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise StartupError(_bind_advice(address, what, flag, exc)) from None
    return sock


def _first(group: BaseExceptionGroup[StartupError]) -> StartupError:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, StartupError)
    return error


def _bind_advice(address: ListenAddress, what: str, flag: str, exc: OSError) -> str:
    example = {"LPD": "127.0.0.1:5515", "metrics": "127.0.0.1:9631"}.get(what, "127.0.0.1:8631")
    where = f"cannot listen for {what} on {address}"
    if exc.errno == errno.EACCES:
        return (
            f"{where}: permission denied; ports below 1024 need root or "
            f"CAP_NET_BIND_SERVICE, or pass {flag} {example}"
        )
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{where}: address already in use (is another {what} server running?); "
            f"stop it or pass {flag} with another port, e.g. {flag} {example}"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: no such address on this machine; fix {flag}"
    return f"{where}: {exc.strerror}; fix {flag}"


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _shown(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def run(
    config: Config,
    *,
    task_status: trio.TaskStatus[Running] = trio.TASK_STATUS_IGNORED,
    handle_signals: bool = True,
    loader: Callable[[], Config] | None = None,
) -> None:
    """Run the gateway until cancelled or, with ``handle_signals``, SIGINT/SIGTERM.

    `loader` reads the configuration again on SIGHUP (the command passes its
    own, which applies the command-line flags again; without one the file of
    ``config.source`` is read, keeping the running spool folder, addresses and
    log settings: `reload.file_loader`). It raises `ConfigError` to refuse."""
    sockets: list[socket.socket] = []
    with contextlib.ExitStack() as stack:
        # Signals are caught from the very start, so a SIGTERM during start-up
        # still ends in an orderly stop.
        signals = (
            stack.enter_context(
                trio.open_signal_receiver(
                    signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP
                )
            )
            if handle_signals
            else None
        )

        def close_sockets() -> None:
            for sock in sockets:
                sock.close()

        stack.callback(close_sockets)
        before, after = privileges.raise_open_file_limit()
        if after != before:
            log.info("open-file limit raised from %d to %d", before, after)
        else:
            log.debug("open-file limit is %d", after)
        try:
            inherited = privileges.inherited_sockets()
        except privileges.PrivilegeError as exc:
            raise StartupError(str(exc)) from None
        lpd_socks = inherited.get("lpd") or [
            bind(a, "LPD", "--lpd-listen") for a in config.lpd.listen
        ]
        sockets += lpd_socks
        ipp_socks = inherited.get("ipp") or [
            bind(a, "IPP", "--ipp-listen") for a in config.ipp.listen
        ]
        sockets += ipp_socks
        ipps_socks = inherited.get("ipps") or [
            bind(a, "IPPS", "ipp.tls_listen") for a in config.ipp.tls_listen
        ]
        sockets += ipps_socks
        if config.ipp.require_tls and inherited.get("ipp"):
            raise StartupError(
                "systemd passed a plain IPP socket (named ipp) but ipp.require_tls is true: "
                "remove it from the socket unit, or set ipp.require_tls = false"
            )
        metrics_socks = [bind(a, "metrics", "metrics.listen") for a in config.metrics.listen]
        sockets += metrics_socks
        if config.user:
            try:
                privileges.drop_to(config.user, config.group or None, config.spool_dir)
            except (privileges.PrivilegeError, OSError) as exc:
                raise StartupError(f"cannot run as user {config.user!r}: {exc}") from None
            log.info("running as user %s", config.user)
        try:
            await _serve(
                config,
                lpd_socks,
                ipp_socks,
                ipps_socks,
                metrics_socks,
                task_status,
                signals,
                loader or reload.file_loader(config),
            )
        except BaseExceptionGroup as group:
            # A start-up failure inside the nursery reaches the caller as itself,
            # so the command can print its one line.
            startup, rest = group.split(StartupError)
            if startup is None or rest is not None:
                raise
            raise _first(startup) from None


def _lease_keeper(config: Config, queues: Queues) -> LeaseKeeper:
    """A fleet's forwarding leases (gateway/core/leases.py), on the shared store."""
    keeper = LeaseKeeper(
        config.spool.store,
        instance_id(config.spool_dir, config.fleet.instance_id),
        lease_time=config.fleet.lease_time,
        password=postgres.read_password(config.spool.store_password_file),
        queues=lambda: [q.name for q in queues],
        on_problem=queues.set_store_problem,
    )
    log.info("fleet: instance %s, lease time %.1fs", keeper.me, keeper.lease_time)
    return keeper


async def _serve(
    config: Config,
    lpd_socks: list[socket.socket],
    ipp_socks: list[socket.socket],
    ipps_socks: list[socket.socket],
    metrics_socks: list[socket.socket],
    task_status: trio.TaskStatus[Running],
    signals: AsyncIterator[int] | None,
    loader: Callable[[], Config],
) -> None:
    shared = config.spool.store
    try:
        spool = await Spool.open(
            config.spool_dir,
            max_job_size=config.limits.max_job_size,
            min_free_space=config.limits.min_free_space,
            history_max_jobs=config.history.max_jobs,
            history_max_age=config.history.max_age,
            store=postgres.opener(shared, config.spool.store_password_file) if shared else None,
            documents=config.spool.documents,
        )
    except SpoolLocked as exc:
        raise StartupError(str(exc)) from None
    except (StoreError, SchemaTooOld) as exc:  # the shared job store (PostgreSQL)
        raise StartupError(f"job store {postgres.redact(shared)}: {exc}") from None
    except OSError as exc:
        raise StartupError(
            f"cannot open the spool in {config.spool_dir}: {exc.strerror}; "
            "pass --spool-dir with a folder this user may write"
        ) from None
    hostname = machine_hostname(config)
    made: list[Queue] = []
    try:
        for queue_config in config.queues:
            try:
                backend = backends.create(
                    queue_config, backends.BackendContext(hostname, config.spool_dir)
                )
            except backends.BackendUnavailable as exc:
                raise StartupError(str(exc)) from None
            made.append(Queue(queue_config, backend))
        try:  # the operator's lasting state and the queues created at run time
            queues = await Queues.restore(
                spool,
                made,
                functools.partial(
                    backends.create, context=backends.BackendContext(hostname, config.spool_dir)
                ),
            )
        except ValueError as exc:  # core/admin.py's AdminStateError: a state it cannot read
            raise StartupError(str(exc)) from None
        dispatcher = Dispatcher(
            spool,
            queues,
            retry_initial=config.dispatch.retry_initial,
            retry_max=config.dispatch.retry_max,
            multiple_operation_timeout=config.ipp.multiple_operation_timeout,
            polling=PollSettings.of(config.dispatch),
            conversion=ConversionStage(spool, config.convert),
            leases=_lease_keeper(config, queues) if shared else None,
        )
        if queues.admin is not None:  # a resume on another gateway forwards here at once
            queues.admin.switched = dispatcher.wake
        accountant = (
            Accountant(
                spool,
                queues,
                config.accounting,
                spool_dir=config.spool_dir,
                owns=dispatcher.holds,
            )
            if config.accounting.enabled
            else None
        )
        if accountant is not None:
            dispatcher.lease_listeners.append(lambda _queue: accountant.catch_up())
        context = GatewayContext(
            config,
            spool,
            queues,
            dispatcher,
            hostname,
            metrics=Metrics(spool, queues, config.metrics),
        )
        running = Running(
            context,
            reloader=None,
            lpd=[_address(s) for s in lpd_socks],
            ipp=[_address(s) for s in ipp_socks],
            ipps=[_address(s) for s in ipps_socks],
            metrics=[_address(s) for s in metrics_socks],
        )
        async with trio.open_nursery() as nursery:
            # A shared store: hear the other gateways' changes (returns at once for SQLite).
            await nursery.start(spool.follow, config.spool.poll_interval)
            if accountant is not None:  # before the dispatcher: it hears every job end
                await nursery.start(accountant.run)
            await nursery.start(dispatcher.run)
            await _start_fetchers(nursery, spool, queues, convert=config.convert.enabled)
            await _start_frontends(nursery, context, lpd_socks, ipp_socks, ipps_socks)
            if metrics_socks:
                serve_metrics = functools.partial(metrics_listener.serve, backlog=BACKLOG)
                await nursery.start(serve_metrics, context, metrics_socks)
            if config.dnssd.enabled:
                await nursery.start(
                    dnssd.advertise,
                    functools.partial(_adverts, context, running),
                    hostname,
                    config.dnssd,
                )
            if queues.admin is not None:
                running.reloader = reload.Reloader(context, queues.admin, loader, nursery)
            _log_ready(config, running, queues)
            task_status.started(running)
            if signals is not None:
                async for signum in signals:
                    if signum == signal.SIGUSR1:  # logrotate's postrotate: rotate, go on
                        log.info("SIGUSR1 received: rotating the accounting files")
                        if accountant is not None:
                            accountant.rotate()
                        continue
                    if signum == signal.SIGHUP:  # systemctl reload
                        log.info("SIGHUP received: reading the configuration again")
                        if running.reloader is not None:
                            nursery.start_soon(running.reloader.reload)
                        continue
                    log.info("%s received: stopping", signal.Signals(signum).name)
                    break
                await ipp_server.answer_held(context)  # held Get-Notifications answered first
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for queue in made:
                await queue.backend.aclose()
            await spool.aclose()
    log.info("stopped")


async def _start_fetchers(
    nursery: trio.Nursery, spool: Spool, queues: Queues, *, convert: bool
) -> None:
    """The proxy queues' fetchers (IPP INFRA, gateway/infra/): one per queue with
    fetch_from or fetch_system. A secret file that cannot be read stops the start.
    ``convert``: the dispatcher converts documents for the printers, so a proxy
    queue takes every format the gateway converts to one its printer takes."""
    for queue in queues:
        try:
            settings = FetchSettings.of(queue.config)
        except OSError as exc:
            raise StartupError(
                f"queue {queue.name}: cannot read its fetch credentials: {exc.strerror}"
            ) from None
        if settings is not None:
            await nursery.start(Fetcher(spool, queue, settings, convert=convert).run)


async def _start_frontends(
    nursery: trio.Nursery,
    context: GatewayContext,
    lpd_socks: list[socket.socket],
    ipp_socks: list[socket.socket],
    ipps_socks: list[socket.socket],
) -> None:
    """Start the LPD and IPP listeners on the sockets bound for them."""
    if lpd_socks:
        await nursery.start(lpd_server.serve, context, lpd_socks)
    if ipp_socks or ipps_socks:
        serve_ipp = functools.partial(ipp_server.serve, backlog=BACKLOG)
        await nursery.start(serve_ipp, context, ipp_socks, ipps_socks)


def _adverts(context: GatewayContext, running: Running) -> list[dnssd.Advert]:
    """The DNS-SD records of every queue, from the IPP Everywhere capabilities
    its printer attributes show (gateway/ipp/server/everywhere.py), so that the
    TXT record and Get-Printer-Attributes never disagree."""
    config = context.config
    infos = []
    for queue in context.queues:
        profile = everywhere.profile_of(
            queue.config,
            queue.capabilities(),
            kind=everywhere.backend_kind(queue.backend.uri),
            default_media=config.convert.default_media,
        )
        policy = queue.config.auth or config.ipp.auth
        infos.append(
            dnssd.QueueInfo(
                name=queue.name,
                info=queue.config.info,
                location=queue.config.location,
                make_and_model=queue.config.make_and_model,
                uuid=str(printer_uuid(config.spool_dir, queue.name)),
                formats=profile.pdl,
                color=profile.color,
                duplex=profile.duplex,
                urf=",".join(profile.urf) or None,
                kind=",".join(profile.kinds),
                paper_max=everywhere.paper_max(profile),
                air="none" if policy == "none" else "username,password",
            )
        )
    return dnssd.adverts(
        infos,
        context.hostname,
        ipp_port=running.ipp[0][1] if running.ipp else None,
        ipps_port=running.ipps[0][1] if running.ipps else None,
        lpd_port=running.lpd[0][1] if running.lpd else None,
    )


def _log_ready(config: Config, running: Running, queues: Queues) -> None:
    for host, port in running.lpd:
        log.info("listening for LPD on %s", _shown(host, port))
    for host, port in running.ipp:
        log.info("listening for IPP on %s", _shown(host, port))
    for host, port in running.ipps:
        log.info("listening for IPPS on %s", _shown(host, port))
    for host, port in running.metrics:
        log.info("listening for metrics on %s", _shown(host, port))
    plain = [f"IPP on {_shown(*a)}" for a in running.ipp]
    if not config.ipp.require_tls:
        plain += [f"metrics on {_shown(*a)}" for a in running.metrics]
    if config.ipp.client_ca is not None and plain:
        log.warning(
            "ipp.client_ca is set, but these plain listeners serve clients without a "
            "certificate: %s (ipp.require_tls = true serves TLS only)",
            ", ".join(plain),
        )
    ipp = running.ipp[0] if running.ipp else running.ipps[0] if running.ipps else None
    scheme = "ipp" if running.ipp else "ipps"
    for queue in queues:
        default = " (default)" if queue is queues.default else ""
        where = []
        if ipp is not None:
            host = "localhost" if ipp[0] in ("::", "0.0.0.0") else ipp[0]
            where.append(f"{scheme}://{_shown(host, ipp[1])}/printers/{queue.name}")
        if running.lpd:
            where.append(f"lpd queue {queue.name}")
        shown = f" [{', '.join(where)}]" if where else ""
        log.info("queue %s%s -> %s%s", queue.name, default, queue.backend.uri, shown)
    log.info("spool in %s", config.spool_dir)
