"""The IPP listener's connections: accepted here, capped here, served by hypercorn.

Why: hypercorn accepts without any cap, so idle connections (a TCP connect
and nothing more, half a header, a TLS handshake never finished) cost a
descriptor each until they time out, and enough of them exhaust the process.
`serve_listener` is the accept loop of one listening socket; it hands each
connection it keeps to hypercorn's per-connection server
(`hypercorn_hooks.connection_server`).

The caps, for every client alike (`ConnectionTable`):

- ``ipp.max_open_connections`` in total. A new connection past it is left in the
  kernel's backlog, except that the connection idle longest (one with no
  request in progress: a keep-alive between requests, or one that has not
  sent a whole request header yet) is closed to make room for it. When none
  is idle, newcomers wait in the backlog until a connection ends.
- ``ipp.max_connections_per_source`` per client address: a connection past it
  closes that address's own connection idle longest, or, when none is idle, is
  closed at once.
- The per-address number also caps requests in progress (HTTP/2 carries many
  on one connection): `ConnectionTable.request_started` says no past it, and
  `asgi` answers HTTP 503 (``ipp.max_connections`` caps requests in total).

When accept(2) fails for lack of descriptors (`gateway.netlimits.accept`), the
`EVICT_ON_EXHAUSTION` connections idle longest are closed before each retry,
so idle connections cannot keep a working client out. (`serving` also keeps
the total within half the open-file limit, `netlimits.connection_budget`, so
that should not happen through this listener alone.)

Every write to a client must finish within ``ipp.idle_timeout`` (`TimedStream`):
a client that does not read its answer is cut off, as one that does not send.

Refusals and evictions are logged at most once a minute per address (and
once a minute in total for evictions), never per connection.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from gateway import netlimits
from gateway.metrics import Metrics
from gateway.throttle import Throttle

from .tls import HandshakeRefusals

log = logging.getLogger("gateway.ipp")

Client = tuple[str, int]
"""A connection's peer as hypercorn puts it in the ASGI scope: (address, port)."""

ConnectionHandler = Callable[[trio.abc.Stream], Awaitable[None]]

EVICT_ON_EXHAUSTION = 16


source_of = netlimits.source_of


@dataclass(eq=False, slots=True)
class Connection:
    """One kept connection."""

    client: Client
    source: str
    idle_since: float
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    requests: int = 0
    evicted: bool = False

    @property
    def idle(self) -> bool:
        return self.requests == 0 and not self.evicted


class ConnectionTable:
    """Open connections and requests, by client address (see the module doc)."""

    def __init__(self, max_total: int, per_source: int) -> None:
        self.max_total = max_total
        self.per_source = per_source
        self.slots = 0  # kept connections plus accepts under way
        self._by_client: dict[Client, Connection] = {}
        self._by_source: dict[str, set[Connection]] = {}
        self._requests: dict[str, int] = {}  # requests in progress by address
        self._changed = trio.Event()
        self.log_refusal = Throttle()
        self._log_eviction = Throttle()
        self._full_logged = False
        self._evicting = 0  # evicted connections not yet ended

    # -- slots -----------------------------------------------------------

    async def reserve(self) -> None:
        """Take a slot for the next accept: wait while all are taken, closing the
        connection idle longest to free one."""
        while self.slots >= self.max_total:
            victim = self._idlest(c for s in self._by_source.values() for c in s)
            if self._evicting:
                pass  # one is closing already: wait for it
            elif victim is not None:
                self._evict(victim, "ipp.max_open_connections")
            elif not self._full_logged:
                self._full_logged = True
                log.warning(
                    "ipp: all %d connections busy (ipp.max_open_connections); "
                    "new clients wait in the backlog",
                    self.max_total,
                )
            await self._wait_for_change()
        self._full_logged = False
        self.slots += 1

    def unreserve(self) -> None:
        """Give back a slot taken by `reserve` that no connection kept."""
        self.slots -= 1
        self._notify()

    def admit(self, client: Client) -> Connection | str:
        """Keep the connection just accepted in a reserved slot, or say why not
        (the caller closes it and calls `unreserve`)."""
        source = source_of(client[0])
        mine = self._by_source.get(source, set())
        if sum(1 for c in mine if not c.evicted) >= self.per_source:
            victim = self._idlest(mine)
            if victim is None:
                return (
                    f"{self.per_source} connections already busy from this address "
                    "(ipp.max_connections_per_source)"
                )
            self._evict(victim, "ipp.max_connections_per_source")
        connection = Connection(client, source, trio.current_time())
        self._by_client[client] = connection
        self._by_source.setdefault(source, set()).add(connection)
        return connection

    def release(self, connection: Connection) -> None:
        """A kept connection ended: its slot is free."""
        if self._by_client.get(connection.client) is connection:
            del self._by_client[connection.client]
        mine = self._by_source.get(connection.source)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self._by_source[connection.source]
        if connection.evicted:
            self._evicting -= 1
        self.slots -= 1
        self._notify()

    def evict_for_descriptors(self) -> None:
        """Close the `EVICT_ON_EXHAUSTION` connections idle longest (accept(2) ran
        out of descriptors)."""
        idle = sorted(
            (c for s in self._by_source.values() for c in s if c.idle),
            key=lambda c: c.idle_since,
        )
        for victim in idle[:EVICT_ON_EXHAUSTION]:
            self._evict(victim, "no free file descriptors")

    # -- requests --------------------------------------------------------

    def request_started(self, client: Any) -> bool:
        """Count a request of `client` (the ASGI scope's); False past the
        per-address cap (the request is refused and `request_ended` not called)."""
        source = source_of(str(client[0])) if client else "-"
        if self._requests.get(source, 0) >= self.per_source:
            return False
        self._requests[source] = self._requests.get(source, 0) + 1
        connection = self._by_client.get(tuple(client)) if client else None
        if connection is not None:
            connection.requests += 1
        return True

    def request_ended(self, client: Any) -> None:
        source = source_of(str(client[0])) if client else "-"
        count = self._requests.get(source, 0) - 1
        if count > 0:
            self._requests[source] = count
        else:
            self._requests.pop(source, None)
        connection = self._by_client.get(tuple(client)) if client else None
        if connection is not None and connection.requests > 0:
            connection.requests -= 1
            if connection.requests == 0:
                connection.idle_since = trio.current_time()
                self._notify()

    # -- inside ----------------------------------------------------------

    @staticmethod
    def _idlest(connections: Any) -> Connection | None:
        idle = [c for c in connections if c.idle]
        return min(idle, key=lambda c: c.idle_since) if idle else None

    def _evict(self, victim: Connection, why: str) -> None:
        victim.evicted = True
        self._evicting += 1
        victim.scope.cancel()
        held = self._log_eviction(why)
        if held is not None:
            log.info(
                "ipp: closing the connection idle longest (from %s) to make room (%s)%s",
                victim.source,
                why,
                Throttle.more(held),
            )

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait_for_change(self) -> None:
        await self._changed.wait()


class TimedStream(trio.abc.HalfCloseableStream):
    """A client's socket stream whose every write must finish within `timeout`
    (hypercorn writes with no deadline, shielded from cancellation)."""

    def __init__(self, inner: trio.SocketStream, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout

    @property
    def socket(self) -> trio.socket.SocketType:
        """The socket, as hypercorn reads it for the peer and local address."""
        return self.inner.socket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        with trio.move_on_after(self.timeout) as scope:
            await self.inner.send_all(data)
        if scope.cancelled_caught:
            raise trio.BrokenResourceError(f"client read nothing for {self.timeout:g}s")

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(slots=True)
class Listening:
    """What the accept loop of one listening socket needs."""

    listener: trio.SocketListener
    label: str  # ipp or ipps (logs and metrics)
    table: ConnectionTable
    handler: ConnectionHandler
    idle_timeout: float
    tls: ssl.SSLContext | None = None
    metrics: Metrics | None = None
    refusals: HandshakeRefusals | None = None  # does (and logs) the TLS handshakes


def adopt(stack: contextlib.ExitStack, sock: socket.socket, backlog: int) -> trio.SocketListener:
    """A listener on a duplicate of the bound socket `sock` (gateway.app keeps and
    closes its own), listening with `backlog`, closed when `stack` closes."""
    own = stack.enter_context(sock.dup())
    own.listen(backlog)
    own.setblocking(False)
    return trio.SocketListener(trio.socket.from_stdlib_socket(own))


def listening(
    stack: contextlib.ExitStack,
    sock: socket.socket,
    backlog: int,
    *,
    label: str,
    table: ConnectionTable,
    handler: ConnectionHandler,
    idle_timeout: float,
    tls: ssl.SSLContext | None,
    metrics: Metrics | None,
) -> Listening:
    """The accept loop's view of the bound socket `sock` (see `adopt`); with `tls`,
    its TLS handshakes are done (and refusals logged) by `HandshakeRefusals`."""
    return Listening(
        adopt(stack, sock, backlog),
        label,
        table,
        handler,
        idle_timeout,
        tls,
        metrics,
        HandshakeRefusals(label, idle_timeout, metrics) if tls is not None else None,
    )


async def serve_listeners(
    listenings: list[Listening], *, task_status: trio.TaskStatus[None]
) -> None:
    """Accept on every one of `listenings` until cancelled; started once all are."""
    async with trio.open_nursery() as nursery:
        for one in listenings:
            nursery.start_soon(serve_listener, one, nursery)
        task_status.started()


async def serve_listener(listening: Listening, nursery: trio.Nursery) -> None:
    """Accept connections until cancelled, each served in `nursery`."""
    table = listening.table
    sock = listening.listener.socket
    while True:
        await trio.lowlevel.wait_readable(sock)  # a client is waiting: make room
        await table.reserve()
        kept = False
        try:
            stream = await netlimits.accept(
                listening.listener, listening.label, log, table.evict_for_descriptors
            )
            try:
                peer = stream.socket.getpeername()
                client: Client = (str(peer[0]), int(peer[1]))
            except OSError:
                client = ("-", 0)  # gone already
            verdict = table.admit(client) if client[0] != "-" else "it left at once"
            if isinstance(verdict, str):
                held = table.log_refusal(source_of(client[0]))
                if held is not None:
                    log.warning(
                        "%s %s:%d: refused: %s%s",
                        listening.label,
                        *client,
                        verdict,
                        Throttle.more(held),
                    )
                with trio.CancelScope(shield=True):
                    await stream.aclose()
            else:
                nursery.start_soon(_serve_connection, listening, verdict, stream)
                kept = True
        finally:
            if not kept:
                table.unreserve()


async def _serve_connection(
    listening: Listening, connection: Connection, stream: trio.SocketStream
) -> None:
    timed = TimedStream(stream, listening.idle_timeout)
    served: trio.abc.Stream = timed
    if listening.tls is not None:
        served = trio.SSLStream(timed, listening.tls, server_side=True, https_compatible=True)
    metrics = listening.metrics
    counted = metrics.connection(listening.label) if metrics else contextlib.nullcontext()
    try:
        with connection.scope, counted:
            refusals = listening.refusals
            tls_refused = (
                isinstance(served, trio.SSLStream)
                and refusals is not None
                and not await refusals.handshake(served, connection.client)
            )
            if not tls_refused:
                await listening.handler(served)
    except Exception as exc:
        log.warning("%s %s:%d: connection failed: %r", listening.label, *connection.client, exc)
        log.debug("%s: connection failed", listening.label, exc_info=True)
    finally:
        listening.table.release(connection)
        await trio.aclose_forcefully(stream)


__all__ = [
    "Connection",
    "ConnectionHandler",
    "ConnectionTable",
    "Listening",
    "TimedStream",
    "adopt",
    "serve_listener",
    "source_of",
]
