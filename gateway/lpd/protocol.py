"""RFC 1179 connection state machines, sans-I/O: server and client roles.

Theory of operation
-------------------
One `Connection` object follows one TCP connection from the server's side.
The I/O layer feeds it every byte it reads with `Connection.receive_data`
(``b""`` when the peer closed its side) and pulls events with
`Connection.next_event` until it returns `NEED_DATA` (read more) or `PAUSED`
(the peer waits for an acknowledgement). Acknowledgements are produced by
`Connection.accept` (``b"\\0"``) and `Connection.refuse` (a NAK byte, optionally
with an LPRng-style text line); the I/O layer writes the returned bytes.

There is a single small machine, `ServerState`. The daemon command (first
line) is read in ``COMMAND``. Only ``\\2`` (receive job) leads anywhere but
``DONE``: it enters the subcommand loop, where each file is a header line
(``HEADER_ACK`` waits for ack 1), a body framed by its byte count (``BODY``)
or, for a size-0 data file, by a probe of the next byte (``ZERO_PROBE``: a
NUL means an empty file, anything else a stream until EOF, ``STREAM``), a
trailer byte (``TRAILER``) and ack 2 (``END_ACK``). Every ack-taking state and
what ``accept``/``refuse`` lead to are in one table, `_ACK_TRANSITIONS`.

Framing is strictly by LF and byte counts, never by how the bytes arrived, so
a client that pipelines the next subcommand before reading an ack works, and
so does one that sends a byte at a time. The receive buffer remembers how far
it has already searched for LF, so a slow client cannot make line parsing
quadratic; command lines are bounded (``max_line_length``). File bodies are
handed out as `FileData` chunks of whatever is buffered, never accumulated,
so memory stays flat whatever the file size. Sizes are Python ints, so files
above 4 GiB are no special case.

Errors: a peer that breaks the protocol gets a `RemoteProtocolError` carrying
the NAK byte to send; the connection is then in ``ERROR`` and should be closed.
Calling ``accept``/``refuse`` at the wrong time raises `LocalProtocolError`.

`ClientConnection` is the other side (used by the LPD backend): methods named
after the RFC's commands return bytes to write, and the server's replies come
back as `Ack` (any non-zero byte is a NAK), `NakReason` (the rest of the line
after a NAK), `ReplyData` (queue state or remove text until EOF) and
`ConnectionClosed`. It has its own small machine, `ClientState`.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from gateway.lpd.controlfile import decode_text
from gateway.lpd.errors import (
    NAK_FAIL,
    LocalProtocolError,
    RemoteProtocolError,
)
from gateway.lpd.events import (
    NEED_DATA,
    PAUSED,
    AbortJob,
    Ack,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    EndOfJob,
    Event,
    FileAborted,
    FileData,
    FileEnd,
    FileEndKind,
    NakReason,
    PrintWaiting,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
    ReplyData,
    Sentinel,
)

__all__ = [
    "DEFAULT_MAX_CONTROL_FILE_SIZE",
    "DEFAULT_MAX_LINE_LENGTH",
    "ClientConnection",
    "ClientState",
    "Connection",
    "ServerConnection",
    "ServerState",
    "decode_operand",
]

DEFAULT_MAX_LINE_LENGTH: Final = 1024
DEFAULT_MAX_CONTROL_FILE_SIZE: Final = 64 * 1024

# Daemon command codes (RFC 1179 section 5) and receive-job subcommands (6).
CMD_PRINT_WAITING: Final = 1
CMD_RECEIVE_JOB: Final = 2
CMD_SEND_QUEUE_STATE_SHORT: Final = 3
CMD_SEND_QUEUE_STATE_LONG: Final = 4
CMD_REMOVE_JOBS: Final = 5
SUB_ABORT_JOB: Final = 1
SUB_RECEIVE_CONTROL_FILE: Final = 2
SUB_RECEIVE_DATA_FILE: Final = 3

# RFC 1179 white space: SP, HT, VT, FF. A count is 1..19 ASCII digits only
# (no sign, no hex, no leading blank): reference/lpd.md 7.1 case 12.
_WS: Final = b" \t\x0b\x0c"
_FILE_HEADER_RE: Final = re.compile(rb"([0-9]{1,19})[ \t\x0b\x0c]+(.*)", re.DOTALL)


def decode_operand(data: bytes, legacy_encoding: str = "cp1252") -> str:
    """Decode a queue name, agent, list item or file name.

    Strict UTF-8 first, then ``legacy_encoding``, then ISO-8859-1 (which
    cannot fail). The same chain as control-file text (`decode_text`).
    """
    return decode_text(data, legacy_encoding)


class ServerState(enum.Enum):
    """States of the server side of one LPD connection."""

    COMMAND = "command"  # waiting for the daemon command line
    JOB_ACK = "job-ack"  # ReceiveJob emitted; the caller must ack it
    SUBCOMMAND = "subcommand"  # in the receive-job loop, between files
    HEADER_ACK = "header-ack"  # a file header was emitted; ack 1 pending
    BODY = "body"  # reading a file of known size
    ZERO_PROBE = "zero-probe"  # size-0 data file: NUL = empty, else a stream
    STREAM = "stream"  # size-0 data file streamed until EOF
    TRAILER = "trailer"  # waiting for the NUL after the file
    END_ACK = "end-ack"  # FileEnd emitted; ack 2 pending
    PRINT_WAITING_ACK = "print-waiting-ack"  # optional \0 after \1 queue
    DONE = "done"  # one-shot command handled; only EOF is expected
    CLOSED = "closed"  # ConnectionClosed emitted
    ERROR = "error"  # the peer broke the protocol


#: (state, ack accepted?) -> next state. ``None`` for BODY/ZERO_PROBE is
#: resolved from the header's size (see `Connection._after_header_ack`).
_ACK_TRANSITIONS: Final[dict[tuple[ServerState, bool], ServerState | None]] = {
    (ServerState.JOB_ACK, True): ServerState.SUBCOMMAND,
    (ServerState.JOB_ACK, False): ServerState.DONE,
    (ServerState.HEADER_ACK, True): None,
    (ServerState.HEADER_ACK, False): ServerState.SUBCOMMAND,  # BSD senders retry
    (ServerState.END_ACK, True): ServerState.SUBCOMMAND,
    (ServerState.END_ACK, False): ServerState.SUBCOMMAND,
    (ServerState.PRINT_WAITING_ACK, True): ServerState.DONE,
    (ServerState.PRINT_WAITING_ACK, False): ServerState.DONE,
}


class _ReceiveBuffer:
    """A byte buffer that never rescans what it has already searched.

    ``_scanned`` is how many leading bytes are known to hold no LF; a slow
    client feeding a long line byte by byte costs O(n), not O(n^2).
    Removing a prefix of a bytearray is O(1) amortised in CPython.
    """

    __slots__ = ("_data", "_scanned")

    def __init__(self) -> None:
        self._data = bytearray()
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._data)

    def append(self, data: bytes) -> None:
        self._data += data

    def clear(self) -> None:
        del self._data[:]
        self._scanned = 0

    def first_byte(self) -> int:
        return self._data[0]

    def take(self, n: int) -> bytes:
        """Remove and return at most ``n`` leading bytes."""
        if n >= len(self._data):
            out = bytes(self._data)
            self._data.clear()
        else:
            out = bytes(self._data[:n])
            del self._data[:n]
        self._scanned = max(0, self._scanned - len(out))
        return out

    def take_line(self, max_length: int) -> bytes | None:
        """Remove and return one line without its LF (and a CR before it),
        or ``None`` if no complete line is buffered yet. Raises if more than
        ``max_length`` bytes arrive without a LF."""
        index = self._data.find(b"\n", self._scanned)
        if index < 0:
            self._scanned = len(self._data)
            if self._scanned > max_length:
                raise RemoteProtocolError(f"line longer than {max_length} bytes", NAK_FAIL)
            return None
        if index > max_length:
            raise RemoteProtocolError(f"line longer than {max_length} bytes", NAK_FAIL)
        line = bytes(self._data[:index])
        del self._data[: index + 1]
        self._scanned = 0
        if line.endswith(b"\r"):
            line = line[:-1]
        return line


class Connection:
    """The server side of one RFC 1179 connection (see the module docstring).

    ``max_line_length`` bounds the command and subcommand lines (without LF);
    ``max_control_file_size`` bounds a control file's announced size;
    ``legacy_encoding`` is the code page tried after UTF-8 for operands.
    """

    def __init__(
        self,
        *,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        max_control_file_size: int = DEFAULT_MAX_CONTROL_FILE_SIZE,
        legacy_encoding: str = "cp1252",
    ) -> None:
        if max_line_length < 2:
            raise ValueError("max_line_length must be at least 2")
        if max_control_file_size < 1:
            raise ValueError("max_control_file_size must be positive")
        "".encode(legacy_encoding)  # LookupError now, not in the middle of a job
        self.max_line_length = max_line_length
        self.max_control_file_size = max_control_file_size
        self.legacy_encoding = legacy_encoding
        self._buffer = _ReceiveBuffer()
        self._eof = False
        self._state = ServerState.COMMAND
        self._remaining = 0  # bytes of the current file still to come
        self._received = 0  # bytes of the current file handed out so far
        self._header: ControlFileHeader | DataFileHeader | None = None

    # ---- inspection ----

    @property
    def state(self) -> ServerState:
        """The current `ServerState`."""
        return self._state

    @property
    def current_file(self) -> ControlFileHeader | DataFileHeader | None:
        """The header of the file being received, if any."""
        return self._header

    @property
    def peer_closed(self) -> bool:
        """Whether ``receive_data(b"")`` has been called."""
        return self._eof

    # ---- input ----

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the peer; ``b""`` means the peer closed."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after end of file", NAK_FAIL)
        if self._state in (ServerState.DONE, ServerState.CLOSED):
            return  # one command per connection: ignore anything after it
        self._buffer.append(data)

    def next_event(self) -> Event | Sentinel:
        """Return the next event, `NEED_DATA` or `PAUSED`.

        Raises `RemoteProtocolError` (and enters ``ERROR``) when the peer
        broke the protocol.
        """
        if self._state is ServerState.ERROR:
            raise RemoteProtocolError("connection is in the error state", NAK_FAIL)
        try:
            return self._next_event()
        except RemoteProtocolError:
            self._state = ServerState.ERROR
            raise

    # ---- acknowledgements ----

    def accept(self) -> bytes:
        """Positive ack (``\\0``) for the event that paused the connection:
        `ReceiveJob`, a file header (ack 1), `FileEnd` (ack 2) or
        `PrintWaiting`."""
        self._ack(accepted=True)
        return b"\0"

    def refuse(self, code: int = NAK_FAIL, message: str = "") -> bytes:
        """Negative ack: ``code`` (1 = fail, 2 = no space / retry later) and,
        if ``message`` is given, that text and LF (LPRng clients show it).

        Refusing `ReceiveJob` ends the connection (``DONE``); refusing a file
        header or a file end returns to the subcommand loop, since BSD
        senders retry after ``\\2``.
        """
        if not 1 <= code <= 255:
            raise LocalProtocolError(f"a NAK byte must be 1..255, not {code}", NAK_FAIL)
        self._ack(accepted=False)
        if not message:
            return bytes([code])
        text = message.replace("\r", " ").replace("\n", " ")
        return bytes([code]) + text.encode("utf-8", "replace") + b"\n"

    def _ack(self, *, accepted: bool) -> None:
        key = (self._state, accepted)
        if key not in _ACK_TRANSITIONS:
            raise LocalProtocolError(
                f"no acknowledgement is due in state {self._state.value}", NAK_FAIL
            )
        target = _ACK_TRANSITIONS[key]
        if target is None:
            target = self._after_header_ack()
        if self._state is ServerState.END_ACK or (
            self._state is ServerState.HEADER_ACK and not accepted
        ):
            self._header = None
        self._state = target

    def _after_header_ack(self) -> ServerState:
        assert self._header is not None
        self._received = 0
        self._remaining = self._header.size
        if self._header.size == 0:
            return ServerState.ZERO_PROBE
        return ServerState.BODY

    # ---- the reader ----

    def _next_event(self) -> Event | Sentinel:
        while True:
            state = self._state
            buf = self._buffer
            if state is ServerState.COMMAND:
                line = buf.take_line(self.max_line_length)
                if line is None:
                    if self._eof:
                        if len(buf):
                            raise RemoteProtocolError("connection closed inside the command line")
                        self._state = ServerState.CLOSED
                        return ConnectionClosed()
                    return NEED_DATA
                return self._parse_command(line)

            if state is ServerState.SUBCOMMAND:
                if not len(buf):
                    if self._eof:
                        self._state = ServerState.CLOSED
                        return ConnectionClosed()
                    return NEED_DATA
                code = buf.first_byte()
                if code == 0:
                    buf.take(1)
                    return EndOfJob()
                if code not in (SUB_ABORT_JOB, SUB_RECEIVE_CONTROL_FILE, SUB_RECEIVE_DATA_FILE):
                    raise RemoteProtocolError(f"unknown receive-job subcommand 0x{code:02x}")
                line = buf.take_line(self.max_line_length)
                if line is None:
                    if self._eof:
                        raise RemoteProtocolError("connection closed inside a subcommand line")
                    return NEED_DATA
                event = self._parse_subcommand(line)
                if event is None:
                    continue  # an ignored line (Apple's repeated \2queue)
                return event

            if state is ServerState.BODY:
                if self._remaining == 0:
                    self._state = ServerState.TRAILER
                    continue
                if len(buf):
                    return self._file_data(buf.take(self._remaining))
                if self._eof:
                    return self._file_end(FileEndKind.SHORT)
                return NEED_DATA

            if state is ServerState.TRAILER:
                if not len(buf):
                    if self._eof:
                        return self._file_end(FileEndKind.UNTERMINATED)
                    return NEED_DATA
                trailer = buf.take(1)[0]
                if trailer == 0:
                    return self._file_end(FileEndKind.NORMAL)
                self._state = ServerState.SUBCOMMAND
                self._header = None
                return FileAborted(trailer=trailer, received=self._received)

            if state is ServerState.ZERO_PROBE:
                if not len(buf):
                    if self._eof:
                        return self._file_end(FileEndKind.STREAMED)
                    return NEED_DATA
                if buf.first_byte() == 0:
                    buf.take(1)
                    return self._file_end(FileEndKind.NORMAL)
                self._state = ServerState.STREAM
                continue

            if state is ServerState.STREAM:
                if len(buf):
                    return self._file_data(buf.take(len(buf)))
                if self._eof:
                    return self._file_end(FileEndKind.STREAMED)
                return NEED_DATA

            if state in (ServerState.DONE, ServerState.CLOSED):
                buf.clear()
                if self._eof:
                    self._state = ServerState.CLOSED
                    return ConnectionClosed()
                return NEED_DATA

            # JOB_ACK, HEADER_ACK, END_ACK, PRINT_WAITING_ACK
            return PAUSED

    def _file_data(self, data: bytes) -> FileData:
        if self._state is ServerState.BODY:
            self._remaining -= len(data)
        self._received += len(data)
        return FileData(data)

    def _file_end(self, kind: FileEndKind) -> FileEnd:
        self._state = ServerState.END_ACK
        return FileEnd(kind=kind, received=self._received)

    def _decode(self, data: bytes) -> str:
        return decode_text(data, self.legacy_encoding)

    def _parse_command(self, line: bytes) -> Event:
        if not line:
            raise RemoteProtocolError("empty command line")
        code = line[0]
        rest = line[1:]
        if code in (CMD_PRINT_WAITING, CMD_RECEIVE_JOB):
            # cups-lpd takes the whole rest of the line; trailing blanks are
            # trimmed (reference/lpd.md 3.1 item 11, 7.1 case 16).
            queue = self._decode(rest.strip(_WS + b"\r"))
            if code == CMD_PRINT_WAITING:
                self._state = ServerState.PRINT_WAITING_ACK
                return PrintWaiting(queue)
            self._state = ServerState.JOB_ACK
            return ReceiveJob(queue)
        tokens = [self._decode(t) for t in rest.split()]
        queue = tokens[0] if tokens else ""
        if code in (CMD_SEND_QUEUE_STATE_SHORT, CMD_SEND_QUEUE_STATE_LONG):
            self._state = ServerState.DONE
            return QueueStateRequest(
                queue=queue, long=code == CMD_SEND_QUEUE_STATE_LONG, items=tuple(tokens[1:])
            )
        if code == CMD_REMOVE_JOBS:
            self._state = ServerState.DONE
            agent = tokens[1] if len(tokens) > 1 else ""
            return RemoveJobs(queue=queue, agent=agent, items=tuple(tokens[2:]))
        raise RemoteProtocolError(f"unknown daemon command 0x{code:02x}")

    def _parse_subcommand(self, line: bytes) -> Event | None:
        code = line[0]
        rest = line[1:]
        if code == SUB_ABORT_JOB:
            self._header = None
            return AbortJob()
        match = _FILE_HEADER_RE.fullmatch(rest)
        if match is None:
            stripped = rest.strip(_WS)
            if (
                code == SUB_RECEIVE_CONTROL_FILE
                and stripped
                and not stripped[:1].isdigit()
                and not any(c in stripped for c in _WS)
            ):
                # Apple Desktop Printing re-sends "\2queue" inside the session;
                # LPRng ignores it (reference/lpd.md 3.1 item 6, 7.1 case 31).
                return None
            raise RemoteProtocolError(f"malformed file header {line[:64]!r}")
        size = int(match.group(1))
        raw_name = match.group(2).rstrip(_WS)
        if not raw_name:
            raise RemoteProtocolError("file header without a file name")
        name = self._decode(raw_name)
        header: ControlFileHeader | DataFileHeader
        if code == SUB_RECEIVE_CONTROL_FILE:
            if size == 0:
                raise RemoteProtocolError("control file of size 0")
            if size > self.max_control_file_size:
                raise RemoteProtocolError(
                    f"control file of {size} bytes exceeds {self.max_control_file_size}"
                )
            header = ControlFileHeader(size=size, name=name)
        else:
            header = DataFileHeader(size=size, name=name)
        self._header = header
        self._state = ServerState.HEADER_ACK
        return header


# ===========================================================================
# Client role
# ===========================================================================


#: The h11-style name of the server role.
ServerConnection = Connection


class ClientState(enum.Enum):
    """States of the client side of one LPD connection."""

    IDLE = "idle"  # nothing sent yet
    JOB_ACK = "job-ack"  # sent \2queue; waiting for the ack
    IN_JOB = "in-job"  # between files: may send a header or abort
    HEADER_ACK = "header-ack"  # sent a file header; waiting for ack 1
    SENDING = "sending"  # sending a file body of known size
    STREAMING = "streaming"  # size-0 data file: any amount, then close
    END_ACK = "end-ack"  # sent the NUL (or closed a stream); waiting for ack 2
    NAK_REASON = "nak-reason"  # got a NAK; reading its text line, if any
    FAILED = "failed"  # after a NAK: only closing is left
    REPLY = "reply"  # one-shot command sent; reading the reply until EOF
    CLOSED = "closed"  # the server closed


class ClientConnection:
    """The client side of one RFC 1179 connection, sans-I/O.

    Methods named after the RFC's commands return the bytes to write;
    `receive_data` / `next_event` turn the server's bytes into `Ack`,
    `NakReason`, `ReplyData` and `ConnectionClosed` events. Any non-zero
    ack byte is a NAK; the rest of its line (if the server sends one) comes
    as `NakReason`, after which the connection is ``FAILED``: close it and
    retry on a new one (BSD senders do so after ``\\2``, no space).

    A server that closes while an ack is due yields `ConnectionClosed`; the
    caller decides (CUPS counts a close before ack 2 as success).
    """

    def __init__(self, *, max_reply_size: int = 2**20, max_reason_length: int = 1024) -> None:
        if max_reply_size < 1 or max_reason_length < 1:
            raise ValueError("limits must be positive")
        self.max_reply_size = max_reply_size
        self.max_reason_length = max_reason_length
        self._state = ClientState.IDLE
        self._after_ack = ClientState.IN_JOB
        self._buffer = _ReceiveBuffer()
        self._eof = False
        self._remaining = 0
        self._streamed = 0
        self._reply_size = 0
        self._nak_printable = b""

    @property
    def state(self) -> ClientState:
        """The current `ClientState`."""
        return self._state

    @property
    def awaiting_ack(self) -> bool:
        """Whether the server owes an acknowledgement."""
        return self._state in (ClientState.JOB_ACK, ClientState.HEADER_ACK, ClientState.END_ACK)

    # ---- commands ----

    def _require(self, *states: ClientState) -> None:
        if self._state not in states:
            wanted = ", ".join(s.value for s in states)
            raise LocalProtocolError(f"not allowed in state {self._state.value} (need {wanted})")

    @staticmethod
    def _operand(text: str) -> bytes:
        raw = text.encode("utf-8")
        if not raw or any(c in raw for c in b" \t\x0b\x0c\r\n\0"):
            raise LocalProtocolError(f"bad LPD operand {text!r}")
        return raw

    def print_waiting(self, queue: str) -> bytes:
        """``\\1 queue LF``. The reply (``\\0``, nothing, or text) comes as
        `ReplyData` until the server closes."""
        self._require(ClientState.IDLE)
        out = b"\x01" + self._operand(queue) + b"\n"
        self._state = ClientState.REPLY
        return out

    def receive_job(self, queue: str) -> bytes:
        """``\\2 queue LF``; an `Ack` follows."""
        self._require(ClientState.IDLE)
        out = b"\x02" + self._operand(queue) + b"\n"
        self._state = ClientState.JOB_ACK
        return out

    def send_queue_state(self, queue: str, items: tuple[str, ...] = (), *, long: bool) -> bytes:
        """``\\3`` or ``\\4 queue [SP list] LF``; text follows as `ReplyData`."""
        self._require(ClientState.IDLE)
        code = b"\x04" if long else b"\x03"
        out = code + b" ".join([self._operand(queue), *map(self._operand, items)]) + b"\n"
        self._state = ClientState.REPLY
        return out

    def remove_jobs(self, queue: str, agent: str, items: tuple[str, ...] = ()) -> bytes:
        """``\\5 queue SP agent [SP list] LF``; the reply (text, or
        cups-lpd's single status byte) follows as `ReplyData`."""
        self._require(ClientState.IDLE)
        words = [self._operand(queue), self._operand(agent), *map(self._operand, items)]
        self._state = ClientState.REPLY
        return b"\x05" + b" ".join(words) + b"\n"

    # ---- receive-job subcommands ----

    def _header(self, code: bytes, size: int, name: str) -> bytes:
        self._require(ClientState.IN_JOB)
        if size < 0:
            raise LocalProtocolError("size must be >= 0")
        out = code + str(size).encode() + b" " + self._operand(name) + b"\n"
        self._remaining = size
        self._streamed = 0
        self._state = ClientState.HEADER_ACK
        return out

    def control_file(self, size: int, name: str) -> bytes:
        """Subcommand ``\\2 count SP name LF`` (ack 1 follows)."""
        if size == 0:
            raise LocalProtocolError("a control file cannot be empty")
        return self._header(b"\x02", size, name)

    def data_file(self, size: int, name: str) -> bytes:
        """Subcommand ``\\3 count SP name LF`` (ack 1 follows). ``size`` 0
        streams: send any amount, then `end_stream` and close."""
        return self._header(b"\x03", size, name)

    def file_data(self, data: bytes) -> bytes:
        """Body bytes of the current file (returned unchanged)."""
        if self._state is ClientState.STREAMING:
            self._streamed += len(data)
            return data
        self._require(ClientState.SENDING)
        if len(data) > self._remaining:
            raise LocalProtocolError("more bytes than the announced file size")
        self._remaining -= len(data)
        return data

    def end_of_file(self) -> bytes:
        """The NUL after a complete file (ack 2 follows). For a size-0 data
        file, only if nothing was streamed (an empty file, as CUPS sends)."""
        if self._state is ClientState.STREAMING and self._streamed == 0:
            self._state = ClientState.END_ACK
            self._after_ack = ClientState.IN_JOB
            return b"\0"
        self._require(ClientState.SENDING)
        if self._remaining:
            raise LocalProtocolError(f"{self._remaining} announced bytes not sent yet")
        self._state = ClientState.END_ACK
        self._after_ack = ClientState.IN_JOB
        return b"\0"

    def end_stream(self) -> bytes:
        """End a size-0 streamed file: returns ``b""``; the caller then
        shuts down its sending side. An ack may or may not follow."""
        self._require(ClientState.STREAMING)
        self._state = ClientState.END_ACK
        self._after_ack = ClientState.IN_JOB
        return b""

    def abort_job(self) -> bytes:
        """Subcommand ``\\1 LF``: the server deletes this job's files."""
        self._require(ClientState.IN_JOB)
        return b"\x01\n"

    # ---- input ----

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the server; ``b""`` means it closed."""
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after end of file")
        self._buffer.append(data)

    def next_event(self) -> Event | Sentinel:
        """The next `Ack`, `NakReason`, `ReplyData` or `ConnectionClosed`,
        else `NEED_DATA`."""
        state = self._state
        buf = self._buffer
        if state in (ClientState.JOB_ACK, ClientState.HEADER_ACK, ClientState.END_ACK):
            if not len(buf):
                return self._closed() if self._eof else NEED_DATA
            code = buf.take(1)[0]
            if code == 0:
                if state is ClientState.JOB_ACK:
                    self._state = ClientState.IN_JOB
                elif state is ClientState.HEADER_ACK:
                    self._state = (
                        ClientState.STREAMING if self._remaining == 0 else ClientState.SENDING
                    )
                else:
                    self._state = self._after_ack
                return Ack(0)
            self._state = ClientState.NAK_REASON
            # A printable "NAK byte" is the start of a text error (BSD).
            self._nak_printable = bytes([code]) if 0x20 <= code < 0x7F else b""
            return Ack(code)
        if state is ClientState.NAK_REASON:
            try:
                line = buf.take_line(self.max_reason_length)
            except RemoteProtocolError:
                line = buf.take(self.max_reason_length)
            if line is None:
                if not self._eof:
                    return NEED_DATA
                line = buf.take(len(buf))
            self._state = ClientState.FAILED
            text = (self._nak_printable + line).rstrip(b"\r\n")
            return NakReason(decode_text(text))
        if state is ClientState.REPLY:
            if len(buf):
                data = buf.take(len(buf))
                self._reply_size += len(data)
                if self._reply_size > self.max_reply_size:
                    raise RemoteProtocolError(f"reply longer than {self.max_reply_size} bytes")
                return ReplyData(data)
            return self._closed() if self._eof else NEED_DATA
        if self._eof and not len(buf):
            return self._closed()
        if len(buf) and state not in (ClientState.FAILED, ClientState.CLOSED):
            raise RemoteProtocolError(f"unexpected bytes from the server in state {state.value}")
        buf.clear()
        return self._closed() if self._eof else NEED_DATA

    def _closed(self) -> ConnectionClosed:
        self._state = ClientState.CLOSED
        return ConnectionClosed()
