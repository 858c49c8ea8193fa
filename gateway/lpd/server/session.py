"""One LPD connection on the server side: socket bytes <-> codec events.

Why it exists
-------------
The codec (`gateway.lpd.protocol.Connection`) frames everything and never
does I/O; the command handlers (`receive`, `query`) want to say "give me the
next event" and "send this ack". `Session` joins the two: it reads the
socket only when the codec asks for more bytes, so framing never depends on
how the bytes arrived, and it puts a deadline on every read and write.

Deadlines: every read waits at most ``lpd.idle_timeout`` for a byte, and
never past two deadlines. The *wait* deadline (`Session.expect`) bounds one
wait for a line: the command line from the moment the client connects, the
next subcommand line from the last ack (``lpd.command_timeout``). Bytes that
are not that line (a NUL "keepalive", an abort) do not move it, nor does a
line sent a byte at a time. The *command* deadline (`Session.limit`) bounds
the whole command: ``lpd.job_timeout`` from the ``\\2`` line to the close,
however many files and jobs come. So no client holds a connection slot for
longer than those settings allow, whatever it sends.

Every way a connection can end early is an exception carrying one log line
(`SessionEnded` and its subclasses), so the server logs each connection's
end exactly once and no traceback ever reaches a client or the error log.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Iterable
from typing import Final, TypeAlias

import trio

from gateway import netlimits
from gateway.core.context import GatewayContext
from gateway.core.queues import Queue
from gateway.lpd.errors import LocalProtocolError
from gateway.lpd.events import NEED_DATA, PAUSED, Event
from gateway.lpd.protocol import Connection

log = logging.getLogger("gateway.lpd")

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Bytes asked of the socket per read. Reads feed the codec, which hands file
#: bodies out in chunks of at most this size; memory does not grow with a file.
READ_SIZE: Final = 256 * 1024

#: After the last reply, how long (and how much) to drain a client's unread
#: bytes so that closing does not reset the connection and lose the reply.
LINGER_SECONDS: Final = 2.0
LINGER_BYTES: Final = 1024 * 1024


class SessionEnded(Exception):
    """The connection ends now; ``str(exc)`` is the one log line's reason."""

    level = logging.INFO


class PeerGone(SessionEnded):
    """The client reset or closed the connection where it may not."""


class TimedOut(SessionEnded):
    """No byte within the idle timeout, or a deadline passed (``waiting``:
    the one for a line, see `Session.expect`)."""

    level = logging.WARNING

    def __init__(self, reason: str, *, waiting: bool = False) -> None:
        super().__init__(reason)
        self.waiting = waiting


def shown(text: str, limit: int = 120) -> str:
    """Client text made safe for a log line: control characters escaped
    (no terminal escapes, no forged lines), cut to ``limit`` characters."""
    out = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
    return out + "..." if len(text) > limit else out


normalise_peer = netlimits.source_of
"""The peer's IP as text; IPv4-mapped IPv6 (``::ffff:10.0.0.7``) as IPv4."""


def in_networks(peer: str, networks: Iterable[IPNetwork]) -> bool:
    """Whether the address ``peer`` is in one of ``networks`` (never for a non-IP peer)."""
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in networks)


def peer_of(stream: trio.SocketStream) -> tuple[str, int]:
    """(normalised peer IP, port) of a connected stream; ("", 0) if unknown."""
    try:
        name = stream.socket.getpeername()
    except OSError:
        return "", 0
    if isinstance(name, tuple):
        return normalise_peer(str(name[0])), int(name[1])
    return str(name), 0


def find_queue(context: GatewayContext, name: str) -> Queue | None:
    """The queue an LPD client names: exact match first, then a unique
    case-insensitive one (reference/lpd.md 7.1 case 16)."""
    queue = context.queues.get(name)
    if queue is not None:
        return queue
    folded = [q for q in context.queues if q.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


class Session:
    """A client connection driven through the sans-I/O `Connection`, with
    the deadlines of the module doc (`expect`, `limit`)."""

    def __init__(
        self,
        context: GatewayContext,
        stream: trio.abc.HalfCloseableStream,
        peer: str,
        port: int,
    ) -> None:
        cfg = context.config.lpd
        self.context = context
        self.stream = stream
        self.peer = peer
        self.port = port
        self.idle_timeout = cfg.idle_timeout
        self.command_timeout = cfg.command_timeout
        self.deadline = math.inf  # of the whole command (trio clock)
        self._deadline_why = ""
        self.wait_deadline = math.inf  # of the line being waited for
        self._waiting_for = ""
        self.conn = Connection(
            max_line_length=cfg.max_line,
            max_control_file_size=cfg.max_control_file,
            legacy_encoding=cfg.legacy_encoding,
        )

    @property
    def label(self) -> str:
        """``peer:port`` for connection-level log lines."""
        host = f"[{self.peer}]" if ":" in self.peer else self.peer
        return f"{host}:{self.port}"

    def limit(self, seconds: float, why: str) -> None:
        """The whole command must be over ``seconds`` from now; ``why`` says
        which, in the log line (``receive-job deadline passed (lpd.job_timeout)``)."""
        self.deadline = trio.current_time() + seconds
        self._deadline_why = why

    def expect(self, what: str | None) -> None:
        """Start waiting for ``what`` (a line): it must have come within
        ``lpd.command_timeout`` of now, whatever else arrives meanwhile.
        ``None``: the wait is over (a file body follows, bounded otherwise)."""
        if what is None:
            self.wait_deadline = math.inf
        else:
            self.wait_deadline = trio.current_time() + self.command_timeout
        self._waiting_for = what or ""

    def _timeout(self) -> float:
        until = min(self.deadline, self.wait_deadline) - trio.current_time()
        return max(0.0, min(self.idle_timeout, until))

    def _timed_out(self) -> TimedOut:
        now = trio.current_time()
        if now >= self.deadline:
            return TimedOut(self._deadline_why)
        if now >= self.wait_deadline:
            return TimedOut(
                f"no {self._waiting_for} within {self.command_timeout:g} s (lpd.command_timeout)",
                waiting=True,
            )
        return TimedOut(f"no data for {self.idle_timeout:g} s (lpd.idle_timeout)")

    async def next_event(self) -> Event:
        """The next codec event, reading the socket as needed.

        Raises `RemoteProtocolError` (the peer broke RFC 1179), `TimedOut`
        or `PeerGone`. Calling it while an ack is due is a bug in the caller.
        """
        while True:
            event = self.conn.next_event()
            if event is PAUSED:
                raise LocalProtocolError("an acknowledgement is due before the next event")
            if event is not NEED_DATA:
                assert isinstance(event, Event)
                return event
            if self.conn.peer_closed:
                raise PeerGone("connection closed")
            await self._receive()

    async def _receive(self) -> None:
        timeout = self._timeout()
        data: bytes | bytearray = b""
        with trio.move_on_after(timeout) as scope:
            try:
                data = await self.stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise PeerGone(f"connection lost ({exc.__class__.__name__})") from None
        if scope.cancelled_caught:
            raise self._timed_out()
        self.conn.receive_data(bytes(data) if isinstance(data, bytearray) else data)

    async def send(self, data: bytes) -> None:
        """Write bytes to the client within the idle timeout (and the command's
        deadline)."""
        if not data:
            return
        timeout = max(0.0, min(self.idle_timeout, self.deadline - trio.current_time()))
        with trio.move_on_after(timeout) as scope:
            try:
                await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise PeerGone(
                    f"connection lost while replying ({exc.__class__.__name__})"
                ) from None
        if scope.cancelled_caught:
            if trio.current_time() >= self.deadline:
                raise TimedOut(self._deadline_why)
            raise TimedOut("client does not read the reply (lpd.idle_timeout)")

    async def try_send(self, data: bytes) -> bool:
        """Like `send`, but a client that has gone is not an error (an ack
        after a file that ended with the connection is usually not read)."""
        try:
            await self.send(data)
        except SessionEnded:
            return False
        return True

    async def close(self, *, linger: bool = True) -> None:
        """Close the connection. With ``linger``, first shut down the sending
        side and drain what the client still sends (briefly), so that the
        last reply is not destroyed by a reset."""
        with trio.CancelScope(shield=True):
            if linger and not self.conn.peer_closed:
                with trio.move_on_after(LINGER_SECONDS):
                    try:
                        await self.stream.send_eof()
                        drained = 0
                        while drained < LINGER_BYTES:
                            chunk = await self.stream.receive_some(READ_SIZE)
                            if not chunk:
                                break
                            drained += len(chunk)
                    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        pass
            await self.stream.aclose()
