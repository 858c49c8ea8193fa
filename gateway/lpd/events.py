"""Events produced by `gateway.lpd.protocol.Connection`.

Each event is a small frozen dataclass that validates on construction.
Operands (queue names, agents, list items, file names) arrive as bytes and are
decoded with `gateway.lpd.controlfile.decode_text`: strict UTF-8 first, then
the connection's legacy code page (default cp1252), then ISO-8859-1, which
never fails. Nothing here is ever used as a path.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Event:
    """Base class of every LPD event."""

    __slots__ = ()


# ---- daemon commands (first line of a connection, RFC 1179 section 5) ----


@dataclass(frozen=True, slots=True)
class PrintWaiting(Event):
    """``\\1 queue LF``: print any waiting jobs. RFC 1179 defines no reply;
    cups-lpd and LPRng answer ``\\0`` (`Connection.accept`), BSD nothing."""

    queue: str


@dataclass(frozen=True, slots=True)
class ReceiveJob(Event):
    """``\\2 queue LF``: receive a printer job. Answer with
    `Connection.accept` or `Connection.refuse`; subcommands follow."""

    queue: str


@dataclass(frozen=True, slots=True)
class QueueStateRequest(Event):
    """``\\3`` (short, ``long=False``) or ``\\4`` (long) ``queue [SP list] LF``.
    No ack byte: the server writes lpq text and closes. ``items`` are the
    list operands: a token starting with a digit is a job number, anything
    else a user name (RFC 1179 section 2)."""

    queue: str
    long: bool
    items: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RemoveJobs(Event):
    """``\\5 queue SP agent [SP list] LF``. ``agent`` is the requesting user
    (empty if the client omitted it). An empty ``items`` means the active job."""

    queue: str
    agent: str
    items: tuple[str, ...] = ()


# ---- receive-job subcommands (RFC 1179 section 6) ----


@dataclass(frozen=True, slots=True)
class AbortJob(Event):
    """Subcommand ``\\1 LF``: delete the files received so far in this job.
    No ack is sent; the session continues."""


@dataclass(frozen=True, slots=True)
class FileHeader(Event):
    """Base class of the two file subcommands: ``size`` (byte count) and ``name``."""

    size: int
    name: str

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must be >= 0")


@dataclass(frozen=True, slots=True)
class ControlFileHeader(FileHeader):
    """Subcommand ``\\2 count SP name LF``. Answer with ``accept()`` (ack 1)
    or ``refuse()``; after accept, `FileData` chunks and a `FileEnd` follow."""


#: Announced data-file sizes that mean "until the connection closes"
#: (reference/lpd.md 3.1 item 3): this many bytes and more (Windows' Standard
#: TCP/IP port without "LPR byte counting" announces 125899906843000, the CUPS
#: lpd backend in ``mode=stream`` 999999999999), and `OPEN_ENDED_MARKERS`. No
#: real print file comes near; a file of that size would not fit any spool.
OPEN_ENDED_SIZE: Final = 10**11
#: INT_MAX, which the CUPS backend announces for a stream without large-file support.
OPEN_ENDED_MARKERS: Final = frozenset({2**31 - 1})


@dataclass(frozen=True, slots=True)
class DataFileHeader(FileHeader):
    """Subcommand ``\\3 count SP name LF``. ``size == 0`` means "unknown":
    after ``accept()`` either a lone NUL follows (an empty file, CUPS) or the
    file streams until the client closes (LPRng ``lpr -k``). A size that is
    `open_ended` also means "until the client closes" (the bytes come as for
    any size; the file then ends `FileEndKind.SHORT`)."""

    @property
    def open_ended(self) -> bool:
        """Whether the announced size is a marker for "unknown", not a size."""
        return self.size >= OPEN_ENDED_SIZE or self.size in OPEN_ENDED_MARKERS


@dataclass(frozen=True, slots=True)
class FileData(Event):
    """A chunk of the current file's bytes, exactly as received."""

    data: bytes


class FileEndKind(enum.Enum):
    """How a file transfer ended."""

    #: all announced bytes, then the NUL trailer: answer ack 2.
    NORMAL = "normal"
    #: size-0 data file read until the client closed the connection.
    STREAMED = "streamed"
    #: clean close before the announced byte count: the end of the file when
    #: the size was `DataFileHeader.open_ended` (Windows without byte
    #: counting, CUPS ``mode=stream`` from stdin), else a lost connection.
    SHORT = "short"
    #: every announced byte arrived, then a clean close without the NUL
    #: trailer (CUPS ``mode=stream`` with a file): the server decides.
    UNTERMINATED = "unterminated"


@dataclass(frozen=True, slots=True)
class FileEnd(Event):
    """The current file is complete. ``received`` is its byte count. For
    `FileEndKind.NORMAL` answer ``accept()`` (ack 2) once the bytes are
    durable, or ``refuse()``. For the other kinds the peer has closed its
    side; an ack may still be sent but is usually not read."""

    kind: FileEndKind
    received: int

    def __post_init__(self) -> None:
        if self.received < 0:
            raise ValueError("received must be >= 0")


@dataclass(frozen=True, slots=True)
class FileAborted(Event):
    """The sender put a non-NUL byte where the trailer NUL belongs (BSD does
    when a file changed while sending): discard the file; no ack 2 is sent."""

    trailer: int
    received: int

    def __post_init__(self) -> None:
        if not 1 <= self.trailer <= 255 or self.received < 0:
            raise ValueError("trailer must be a non-NUL byte, received >= 0")


@dataclass(frozen=True, slots=True)
class EndOfJob(Event):
    """A lone NUL where a subcommand was expected (PLP's final marker)."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The peer closed cleanly at a point where that is allowed."""


# ---- client-side events (replies from an LPD server) ----


@dataclass(frozen=True, slots=True)
class Ack(Event):
    """The server's one-byte acknowledgement. ``code`` 0 is OK; any other
    byte is a NAK (1 fail, 2 no space/retry later, LPRng 3 fail; a text
    reply such as BSD's ``lpd: ...`` shows up as its first byte, e.g. 108)."""

    code: int

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 255:
            raise ValueError("an ack is one byte")

    @property
    def ok(self) -> bool:
        """Whether this is a positive acknowledgement."""
        return self.code == 0


@dataclass(frozen=True, slots=True)
class NakReason(Event):
    """The text after a NAK, up to LF or EOF (LPRng and BSD send one). When
    the NAK byte itself was printable (a plain-text error), it is included."""

    text: str


@dataclass(frozen=True, slots=True)
class ReplyData(Event):
    """A chunk of a free-form reply (queue state text, remove output,
    print-waiting reply), read until the server closes."""

    data: bytes


class Sentinel:
    """Type of the `NEED_DATA` and `PAUSED` markers."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: `next_event` result: more bytes are needed (call ``receive_data``).
NEED_DATA = Sentinel("NEED_DATA")
#: `next_event` result: the peer waits for an ack; call ``accept``/``refuse``.
PAUSED = Sentinel("PAUSED")
