"""The LPD listener: accept RFC 1179 connections and run each one's command.

Why it looks like this
----------------------
`app.py` binds the sockets (so a busy or privileged port fails at start with
one clear line) and calls `serve`, which follows the nursery start protocol:
``task_status.started()`` once every listener accepts. Each connection is one
task holding one slot of ``lpd.max_connections``; the slot is taken *before*
``accept``, so when all are in use new clients wait in the kernel's backlog
instead of costing a task and a file descriptor each.

A connection carries one daemon command (RFC 1179 section 5). The codec
(`gateway.lpd.protocol`) frames it; `session.Session` reads the socket with
an idle timeout and deadlines (the command line within
``lpd.command_timeout`` of connecting, a whole ``\\2`` within
``lpd.job_timeout``); `receive` handles ``\\2`` (jobs into the spool, acks only
once durable) and `query` handles ``\\3``/``\\4`` (lpq) and ``\\5`` (lprm).
``\\1`` (print waiting jobs) is answered ``\\0`` and wakes the dispatcher.

Per source address (`SourceLimits`): at most
``lpd.max_connections_per_source`` open connections, for every address,
``lpd.trusted_hosts`` included (a trusted host may still misbehave, and
then it must not take every slot); new connections per second
(``lpd.rate_limit``), from which trusted hosts are exempt (a print server
forwarding a backlog opens one connection per job).

When ``accept`` fails for want of file descriptors or memory (EMFILE,
ENFILE), the listener pauses and tries again, with one warning line
(`gateway.netlimits.accept`), instead of trio's traceback ten times a
second.

A reload (`gateway.reload`) changes every ``[lpd]`` setting but the
addresses and ``lpd.max_connections`` for the connections accepted after it:
the per-connection code reads ``context.config``, which the reload replaces,
and `SourceLimits` takes its caps again (`LpdReconfig`).

Front-ends never talk to backends: this package only reads and writes the
spool and wakes the dispatcher.

Failure policy: a peer that breaks the protocol gets the codec's NAK byte
(with an LPRng-style reason line) and the connection is closed; every
connection that ends badly leaves exactly one log line; no traceback reaches
a client, and unexpected errors are logged as one warning line (with the
traceback only at debug level).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from functools import partial
from typing import Final

import trio

from gateway import netlimits
from gateway.config import Config, LpdConfig
from gateway.core.context import Commit, GatewayContext
from gateway.lpd.errors import NAK_FAIL, RemoteProtocolError
from gateway.lpd.events import (
    ConnectionClosed,
    Event,
    PrintWaiting,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
)
from gateway.lpd.server import query
from gateway.lpd.server.receive import FileRefused, JobReceiver
from gateway.lpd.server.session import Session, SessionEnded, find_queue, in_networks, peer_of

__all__ = ["serve", "serve_stream"]

log = logging.getLogger("gateway.lpd")


class BoundedListener(trio.abc.Listener[trio.SocketStream]):
    """A listener that takes a connection slot before each ``accept``.

    The handler gives the slot back (`release`) when its connection ends.
    """

    def __init__(self, inner: trio.SocketListener, slots: trio.Semaphore) -> None:
        self.inner = inner
        self.slots = slots
        self._full_logged = False

    async def accept(self) -> trio.SocketStream:
        if self.slots.value == 0 and not self._full_logged:
            self._full_logged = True
            log.warning(
                "lpd: all %d connection slots in use (lpd.max_connections); "
                "new clients wait in the backlog",
                self.slots.max_value,
            )
        await self.slots.acquire()
        self._full_logged = False
        try:
            return await netlimits.accept(self.inner, "lpd", log)  # EMFILE: pause, retry
        except BaseException:
            self.slots.release()
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()


class SourceLimits:
    """Per-address caps: open connections (every address) and new connections
    per second (a token bucket; addresses in ``lpd.trusted_hosts`` are exempt).
    A refused connection is logged once a minute per address, not once per
    connection."""

    LOG_EVERY = 60.0

    def __init__(self, context: GatewayContext) -> None:
        self.configure(context.config.lpd)
        self.open: dict[str, int] = {}
        self.buckets: dict[str, tuple[float, float]] = {}
        self.logged: dict[str, float] = {}

    def configure(self, cfg: LpdConfig) -> None:
        """Take the caps of `cfg` (at start and on reload; the counts are kept)."""
        self.max_open = cfg.max_connections_per_source
        self.rate = cfg.rate_limit
        self.burst = max(1.0, 2 * cfg.rate_limit)
        self.trusted = cfg.trusted_hosts

    def admit(self, peer: str, now: float) -> str | None:
        """None to serve ``peer``, else why not (and the caller closes)."""
        if self.open.get(peer, 0) >= self.max_open:
            return (
                f"{self.max_open} connections already open from this address "
                "(lpd.max_connections_per_source)"
            )
        if self.rate > 0 and not in_networks(peer, self.trusted):
            tokens, last = self.buckets.get(peer, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self.buckets[peer] = (tokens, now)
                return f"more than {self.rate:g} connections per second (lpd.rate_limit)"
            self.buckets[peer] = (tokens - 1, now)
            if len(self.buckets) > 10_000:  # forget idle addresses
                self.buckets = {p: b for p, b in self.buckets.items() if now - b[1] < 60}
        self.open[peer] = self.open.get(peer, 0) + 1
        return None

    def release(self, peer: str) -> None:
        count = self.open.get(peer, 0) - 1
        if count > 0:
            self.open[peer] = count
        else:
            self.open.pop(peer, None)

    def should_log(self, peer: str, now: float) -> bool:
        if now - self.logged.get(peer, -self.LOG_EVERY) < self.LOG_EVERY:
            return False
        self.logged[peer] = now
        if len(self.logged) > 10_000:
            self.logged = {p: t for p, t in self.logged.items() if now - t < self.LOG_EVERY}
        return True


class LpdReconfig:
    """What a reload changes in the running LPD listener beyond ``context.config``."""

    def __init__(self, limits: SourceLimits) -> None:
        self.limits = limits

    async def prepare(self, config: Config) -> Commit:
        return partial(self.limits.configure, config.lpd)


def _allowed(context: GatewayContext, peer: str) -> bool:
    networks = context.config.lpd.allow_networks
    return not networks or in_networks(peer, networks)


async def handle_connection(
    context: GatewayContext,
    slots: trio.Semaphore,
    limits: SourceLimits,
    stream: trio.SocketStream,
) -> None:
    """Serve one accepted connection, then give its slot back."""
    try:
        peer, port = peer_of(stream)
        if not _allowed(context, peer):
            log.warning("lpd %s:%d: refused: not in lpd.allow_networks", peer, port)
            with trio.CancelScope(shield=True):
                await stream.aclose()
            return
        now = trio.current_time()
        refused = limits.admit(peer, now)
        if refused is not None:
            if limits.should_log(peer, now):
                log.warning("lpd %s:%d: refused: %s", peer, port, refused)
            with trio.CancelScope(shield=True):
                await stream.aclose()
            return
        try:
            await serve_stream(context, stream, peer, port)
        finally:
            limits.release(peer)
    finally:
        slots.release()


async def serve_stream(
    context: GatewayContext, stream: trio.abc.HalfCloseableStream, peer: str, port: int
) -> None:
    """Serve one client connection on any byte stream (tests use memory
    streams); never raises except for cancellation."""
    session = Session(context, stream, peer, port)
    linger = True
    counted = context.metrics.connection("lpd") if context.metrics else contextlib.nullcontext()
    try:
        with counted:
            await _dispatch(session)
    except RemoteProtocolError as exc:
        log.warning("lpd %s: protocol error: %s", session.label, exc.reason)
        await session.try_send(exc.nak_bytes(with_reason=True))
    except FileRefused as exc:
        log.log(exc.level, "lpd %s: file refused: %s", session.label, exc)
        await session.try_send(bytes([exc.nak]) + str(exc).encode("utf-8", "replace") + b"\n")
    except SessionEnded as exc:
        log.log(exc.level, "lpd %s: %s", session.label, exc)
        linger = False
    except trio.Cancelled:
        linger = False
        raise
    except Exception as exc:
        log.warning("lpd %s: internal error: %s: %s", session.label, type(exc).__name__, exc)
        log.debug("lpd %s: traceback", session.label, exc_info=True)
        await session.try_send(bytes([NAK_FAIL]))
    finally:
        await session.close(linger=linger)


async def _dispatch(session: Session) -> None:
    """Read the daemon command and run it."""
    context = session.context
    session.expect("command line")
    event = await session.next_event()
    session.expect(None)
    if isinstance(event, ConnectionClosed):
        log.debug("lpd %s: closed without a command", session.label)
        return
    if isinstance(event, ReceiveJob):
        await _receive_job(session, event)
        return
    if not isinstance(event, QueueStateRequest | RemoveJobs | PrintWaiting):
        raise SessionEnded(f"unexpected first event {event!r}")  # pragma: no cover
    queue = find_queue(context, event.queue)
    if queue is None:
        await _unknown_queue(session, event)
    elif isinstance(event, QueueStateRequest):
        text = query.queue_state(context, queue, event.items, long=event.long, peer=session.peer)
        log.debug("lpd %s: queue state of %s sent", session.label, queue.name)
        await session.send(text)
    elif isinstance(event, RemoveJobs):
        text = await query.remove_jobs(context, queue, event.agent, event.items, peer=session.peer)
        await session.send(text)
    else:
        await session.send(session.conn.accept())
        context.dispatcher.wake(queue.name)


#: How a log line names a command (other than ``\2``) for a queue that does not exist.
_ASKED: Final[dict[type[Event], str]] = {
    QueueStateRequest: "queue state of",
    RemoveJobs: "remove from",
    PrintWaiting: "print-waiting for",
}


async def _unknown_queue(
    session: Session, event: QueueStateRequest | RemoveJobs | PrintWaiting
) -> None:
    """BSD's ``unknown printer`` text for lpq and lprm; a NAK for print-waiting."""
    log.info("lpd %s: %s unknown queue %r", session.label, _ASKED[type(event)], event.queue)
    if isinstance(event, PrintWaiting):
        await session.send(session.conn.refuse(NAK_FAIL, f"unknown queue {event.queue}"))
    else:
        await session.send(query.unknown_queue_text(session.context, event.queue))


async def _receive_job(session: Session, event: ReceiveJob) -> None:
    queue = find_queue(session.context, event.queue)
    if queue is None:
        log.warning("lpd %s: job refused: unknown queue %r", session.label, event.queue)
        await session.send(session.conn.refuse(NAK_FAIL, f"unknown queue {event.queue}"))
        return
    if not queue.is_accepting:
        log.warning(
            "lpd %s: job refused: queue %s is not accepting jobs", session.label, queue.name
        )
        await session.send(
            session.conn.refuse(NAK_FAIL, f"queue {queue.name} is not accepting jobs")
        )
        return
    busy = queue.refuses_new_jobs
    if busy is not None:
        log.warning("lpd %s: job refused (busy): queue %s: %s", session.label, queue.name, busy)
        await session.send(session.conn.refuse(NAK_FAIL, f"busy, try again later: {busy}"))
        return
    await session.send(session.conn.accept())
    receiver = JobReceiver(session, queue)
    await receiver.run()
    log.debug("lpd %s: receive-job done, %d job(s)", session.label, len(receiver.jobs))


async def serve(
    context: GatewayContext,
    sockets: list[socket.socket],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve RFC 1179 on already bound, listening ``sockets`` until cancelled."""
    slots = trio.Semaphore(
        context.config.lpd.max_connections, max_value=context.config.lpd.max_connections
    )
    listeners = [
        BoundedListener(trio.SocketListener(trio.socket.from_stdlib_socket(s)), slots)
        for s in sockets
    ]
    limits = SourceLimits(context)
    context.reconfigurables.append(LpdReconfig(limits))
    handler = partial(handle_connection, context, slots, limits)
    lenient = context.config.lpd.lenient_byte_count
    if lenient is not None:
        log.warning(
            "lpd.lenient_byte_count is deprecated and read as lpd.strict_byte_count = %s; "
            "files that end with the connection are accepted by default now",
            str(not lenient).lower(),
        )
    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, handler, listeners)
        task_status.started()
