"""A trio LPD client: the I/O around the sans-I/O `ClientConnection`.

Why it looks like this
----------------------
The LPD backend needs four things from a remote LPD server: submit a job
(``\\2`` with control and data files), read its queue (``\\3``/``\\4``),
remove a job (``\\5``) and, rarely, kick the queue (``\\1``). RFC 1179 allows
one command per connection, so every call opens its own connection, drives
one `ClientConnection` and closes it; nothing is pooled or reused.

Every network phase has a deadline: ``connect_timeout`` for the TCP connect,
``timeout`` for each acknowledgement, each chunk written and the whole of a
reply (CUPS's ``timeout`` option: SO_RCVTIMEO/SO_SNDTIMEO). Data files are
streamed from an async chunk source, so a job is never held in memory.

Source ports (`Reserve`): RFC 1179 asks clients to use ports 721-731, BSD
lpd insists on 512-1023 from remote hosts, most servers do not care. Binding
them needs root or CAP_NET_BIND_SERVICE; `ReservedPortError` says so. Busy
ports (EADDRINUSE, or EADDRNOTAVAIL when the same 4-tuple is still in
TIME_WAIT) are skipped; the ranges are exact (no drift below 512, unlike
old CUPS: OpenPrinting/cups#743, #741).

Replies: any non-zero first byte is a NAK, and the rest of its line is kept
as the reason (`LpdNak`), so BSD's plain-text errors (``lpd: ...``, first
byte ``'l'``) and LPRng's ``<code>text LF`` both read well.
"""

from __future__ import annotations

import enum
import errno
import os
import random
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import trio

from gateway.lpd.errors import LpdProtocolError
from gateway.lpd.events import (
    NEED_DATA,
    Ack,
    ConnectionClosed,
    Event,
    NakReason,
    ReplyData,
    Sentinel,
)
from gateway.lpd.protocol import ClientConnection

__all__ = [
    "LPD_PORT",
    "RESERVED_PORTS",
    "DataFile",
    "LpdClient",
    "LpdClientError",
    "LpdConnectError",
    "LpdConnectionLost",
    "LpdNak",
    "LpdTimeout",
    "Reserve",
    "ReservedPortError",
    "can_bind_reserved_ports",
]

LPD_PORT: Final = 515
RECEIVE_SIZE: Final = 65536


class Reserve(enum.StrEnum):
    """Which source ports to bind before connecting (CUPS's ``reserve``)."""

    NONE = "none"
    RFC1179 = "rfc1179"  # 721-731, as RFC 1179 section 3.1 says
    ANY = "any"  # 512-1023, what BSD lpd checks (and CUPS's default as root)


#: The exact source-port ranges of each `Reserve` mode.
RESERVED_PORTS: Final[dict[Reserve, range]] = {
    Reserve.RFC1179: range(721, 732),
    Reserve.ANY: range(512, 1024),
}


class LpdClientError(Exception):
    """Talking to the LPD server failed; ``message`` says how."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LpdConnectError(LpdClientError):
    """No connection: refused, unreachable, name unknown or connect timed out."""


class LpdTimeout(LpdClientError):
    """Connected, but the server did not answer (or read) within the timeout."""


class LpdConnectionLost(LpdClientError):
    """The server reset or closed the connection while a reply was due."""


class ReservedPortError(LpdClientError):
    """A reserved source port could not be bound. ``busy`` is True when all
    ports of the range were in use, False when we may not bind them at all."""

    def __init__(self, message: str, *, busy: bool) -> None:
        super().__init__(message)
        self.busy = busy


class LpdNak(LpdClientError):
    """The server refused: ``code`` is the NAK byte, ``reason`` the text that
    came with it (may be empty), ``stage`` what was refused
    (``receive-job``, ``control-file``, ``data-file``)."""

    def __init__(self, code: int, reason: str, stage: str, name: str = "") -> None:
        what = f"{stage} {name}".strip()
        detail = f": {reason}" if reason else ""
        super().__init__(f"the LPD server refused the {what} (NAK {code}){detail}")
        self.code = code
        self.reason = reason
        self.stage = stage


@dataclass(frozen=True, slots=True)
class DataFile:
    """One data file to send: its name, its exact size, and a factory of an
    async iterator of its bytes (called once per send)."""

    name: str
    size: int
    chunks: Callable[[], AsyncIterator[bytes]]


def can_bind_reserved_ports(ports: range) -> bool:
    """Whether this process may bind ports in ``ports``: root, or
    CAP_NET_BIND_SERVICE, or a sysctl ``ip_unprivileged_port_start`` that
    already lets anyone bind them."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding="ascii") as fh:
            if int(fh.read().strip()) <= ports.start:
                return True
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 10))
    except (OSError, ValueError):
        pass
    return False


_RETRY_PORT_ERRNOS: Final = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL})
_PERMISSION_ERRNOS: Final = frozenset({errno.EACCES, errno.EPERM})


class _Session:
    """One connection and its `ClientConnection`, with deadlines."""

    def __init__(self, stream: trio.SocketStream, timeout: float, where: str) -> None:
        self.stream = stream
        self.conn = ClientConnection()
        self.timeout = timeout
        self.where = where

    async def send(self, data: bytes) -> None:
        if not data:
            return
        try:
            with trio.fail_after(self.timeout):
                await self.stream.send_all(data)
        except trio.TooSlowError:
            raise LpdTimeout(f"{self.where} did not read our data for {self.timeout:g}s") from None
        except (trio.BrokenResourceError, OSError) as exc:
            raise LpdConnectionLost(f"{self.where} closed the connection: {exc}") from exc

    async def _receive(self) -> None:
        try:
            with trio.fail_after(self.timeout):
                data = await self.stream.receive_some(RECEIVE_SIZE)
        except trio.TooSlowError:
            raise LpdTimeout(f"{self.where} did not answer within {self.timeout:g}s") from None
        except (trio.BrokenResourceError, OSError) as exc:
            raise LpdConnectionLost(f"{self.where} reset the connection: {exc}") from exc
        self.conn.receive_data(data)

    def _next_event(self) -> Event | Sentinel:
        """The codec's next event; a reply it cannot frame loses the connection."""
        try:
            return self.conn.next_event()
        except LpdProtocolError as exc:
            raise LpdConnectionLost(f"{self.where}: {exc.reason}") from exc

    async def expect_ack(self, stage: str, name: str = "") -> None:
        """Wait for the acknowledgement due now; `LpdNak` if it is a NAK."""
        nak: int | None = None
        while True:
            event = self._next_event()
            if event is NEED_DATA:
                await self._receive()
                continue
            if isinstance(event, Ack):
                if event.code == 0:
                    return
                nak = event.code
                continue
            if isinstance(event, NakReason):
                raise LpdNak(nak or 1, event.text.strip(), stage, name)
            if isinstance(event, ConnectionClosed):
                if nak is not None:
                    raise LpdNak(nak, "", stage, name)
                raise LpdConnectionLost(
                    f"{self.where} closed the connection instead of acknowledging the {stage}"
                )
            raise LpdConnectionLost(f"{self.where}: unexpected {event!r}")

    async def read_reply(self) -> bytes:
        """Everything the server sends until it closes (bounded in size and time)."""
        out = bytearray()
        try:
            with trio.fail_after(self.timeout):
                while True:
                    event = self._next_event()
                    if event is NEED_DATA:
                        try:
                            data = await self.stream.receive_some(RECEIVE_SIZE)
                        except (trio.BrokenResourceError, OSError) as exc:
                            if out:  # some servers reset after writing their reply
                                return bytes(out)
                            raise LpdConnectionLost(
                                f"{self.where} reset the connection: {exc}"
                            ) from exc
                        self.conn.receive_data(data)
                    elif isinstance(event, ReplyData):
                        out += event.data
                    elif isinstance(event, ConnectionClosed):
                        return bytes(out)
        except trio.TooSlowError:
            raise LpdTimeout(
                f"{self.where} did not finish its reply within {self.timeout:g}s"
            ) from None

    async def send_file(self, header: bytes, stage: str, name: str, body: DataFile | bytes) -> None:
        """Header, ack 1, body, NUL, ack 2."""
        await self.send(header)
        await self.expect_ack(stage, name)
        if isinstance(body, bytes):
            await self.send(self.conn.file_data(body))
        else:
            sent = 0
            async for chunk in body.chunks():
                if sent + len(chunk) > body.size:
                    raise LpdClientError(f"{name}: the spool file grew beyond {body.size} bytes")
                sent += len(chunk)
                await self.send(self.conn.file_data(chunk))
            if sent != body.size:
                # Closing without the NUL makes the server discard the file.
                raise LpdClientError(f"{name}: the spool file has {sent} bytes, not {body.size}")
        await self.send(self.conn.end_of_file())
        await self.expect_ack(stage, name)

    async def stream_file(self, name: str, body: DataFile) -> None:
        """A size-0 data file: header, ack 1, the bytes, then half-close. An
        ack 2 is read if the server sends one; a close counts as success."""
        await self.send(self.conn.data_file(0, name))
        await self.expect_ack("data-file", name)
        async for chunk in body.chunks():
            await self.send(self.conn.file_data(chunk))
        self.conn.end_stream()
        try:
            await self.stream.send_eof()
        except (trio.BrokenResourceError, OSError) as exc:
            raise LpdConnectionLost(f"{self.where} closed the connection: {exc}") from exc
        try:
            await self.expect_ack("data-file", name)
        except LpdConnectionLost:
            pass  # LPRng and printers close without an ack after a stream


class LpdClient:
    """Talks to one LPD server (``host``, ``port``); one connection per call."""

    def __init__(
        self,
        host: str,
        port: int = LPD_PORT,
        *,
        reserve: Reserve = Reserve.NONE,
        timeout: float = 300.0,
        connect_timeout: float = 30.0,
    ) -> None:
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.host = host
        self.port = port
        self.reserve = reserve
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"

    # ------------------------------------------------------------------
    # Connecting

    async def _resolve(self) -> list[tuple[int, int, int, object]]:
        try:
            with trio.fail_after(self.connect_timeout):
                infos = await trio.socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except trio.TooSlowError:
            raise LpdConnectError(f"cannot resolve {self.host}: timed out") from None
        except OSError as exc:
            raise LpdConnectError(f"cannot resolve {self.host}: {exc}") from exc
        return [(family, type_, proto, addr) for family, type_, proto, _, addr in infos]

    async def _connect_one(
        self, family: int, type_: int, proto: int, addr: object, port: int | None
    ) -> trio.SocketStream:
        sock = trio.socket.socket(family, type_, proto)
        try:
            if port is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
                await sock.bind((wildcard, port))
            with trio.fail_after(self.connect_timeout):
                await sock.connect(addr)
        except BaseException:
            sock.close()
            raise
        stream = trio.SocketStream(sock)
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return stream

    async def _open(self) -> trio.SocketStream:
        """A connected stream, from a reserved source port when configured."""
        errors: list[str] = []
        for family, type_, proto, addr in await self._resolve():
            ports: list[int | None] = [None]
            if self.reserve is not Reserve.NONE:
                span = RESERVED_PORTS[self.reserve]
                start = random.randrange(len(span))
                ports = [span[(start + i) % len(span)] for i in range(len(span))]
            for port in ports:
                try:
                    return await self._connect_one(family, type_, proto, addr, port)
                except trio.TooSlowError:
                    errors.append(f"{addr}: no answer within {self.connect_timeout:g}s")
                    break
                except OSError as exc:
                    if port is not None and exc.errno in _PERMISSION_ERRNOS:
                        span = RESERVED_PORTS[self.reserve]
                        raise ReservedPortError(
                            f"reserve={self.reserve.value} needs source ports "
                            f"{span.start}-{span.stop - 1}, which only root or a process with "
                            "CAP_NET_BIND_SERVICE may bind; run the gateway as root, grant it "
                            "CAP_NET_BIND_SERVICE, or set reserve=none",
                            busy=False,
                        ) from exc
                    if port is not None and exc.errno in _RETRY_PORT_ERRNOS:
                        continue
                    errors.append(f"{addr}: {exc.strerror or exc}")
                    break
            else:
                if self.reserve is not Reserve.NONE:
                    span = RESERVED_PORTS[self.reserve]
                    raise ReservedPortError(
                        f"all source ports {span.start}-{span.stop - 1} (reserve="
                        f"{self.reserve.value}) are in use; try again later",
                        busy=True,
                    )
        raise LpdConnectError(
            f"cannot connect to {self.where}: {'; '.join(errors) or 'no address'}"
        )

    async def _session(self) -> _Session:
        return _Session(await self._open(), self.timeout, self.where)

    # ------------------------------------------------------------------
    # Commands

    async def send_job(
        self,
        queue: str,
        control_file_name: str,
        control_file: bytes,
        data_files: Sequence[DataFile],
        *,
        data_first: bool = False,
        stream_last: bool = False,
    ) -> None:
        """``\\2 queue``, then the control file and the data files in the
        order asked for, each acknowledged twice. ``stream_last`` sends the
        last data file with size 0 and closes (control file first, then)."""
        session = await self._session()
        async with session.stream:
            conn = session.conn
            await session.send(conn.receive_job(queue))
            await session.expect_ack("receive-job")

            async def control() -> None:
                header = conn.control_file(len(control_file), control_file_name)
                await session.send_file(header, "control-file", control_file_name, control_file)

            counted = list(data_files)
            streamed: DataFile | None = None
            if stream_last and counted:
                streamed = counted.pop()
                data_first = False
            if not data_first:
                await control()
            for data in counted:
                header = conn.data_file(data.size, data.name)
                await session.send_file(header, "data-file", data.name, data)
            if data_first:
                await control()
            if streamed is not None:
                await session.stream_file(streamed.name, streamed)

    async def queue_state(
        self, queue: str, items: Sequence[str] = (), *, long: bool = True
    ) -> bytes:
        """``\\3`` (short) or ``\\4`` (long) queue state: the text until EOF."""
        session = await self._session()
        async with session.stream:
            await session.send(session.conn.send_queue_state(queue, tuple(items), long=long))
            return await session.read_reply()

    async def remove_jobs(self, queue: str, agent: str, items: Sequence[str] = ()) -> bytes:
        """``\\5 queue agent items``: the server's reply (text, or one byte)."""
        session = await self._session()
        async with session.stream:
            await session.send(session.conn.remove_jobs(queue, agent, tuple(items)))
            return await session.read_reply()

    async def print_waiting(self, queue: str) -> bytes:
        """``\\1 queue``: whatever the server answers (often ``\\0`` or nothing)."""
        session = await self._session()
        async with session.stream:
            await session.send(session.conn.print_waiting(queue))
            return await session.read_reply()
