"""Properties every network-facing parser must keep, whatever the bytes.

Why: the hypothesis tests in this folder and the atheris harnesses in
``tests/fuzz/`` check the same things, so the checks live once, here. Each
``check_*`` function drives one codec the way the gateway does and raises
`PropertyViolation` (or lets an unexpected exception escape) when a property
breaks; the only exception a codec may raise on bad input is its documented
one (`IppDecodeError`, `RemoteProtocolError`; none for control files and lpq
text), and that one is caught here.

Chunking and the LPD ack decisions come from a small ``random.Random`` seeded
by the caller, so a failing input replays exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.ipp import (
    IppDecodeError,
    Message,
    MessageParser,
    ParserLimits,
    StatusCode,
    check_request,
    decode,
    encode,
)
from gateway.lpd.controlfile import ControlFile, parse, parse_file_name, serialise
from gateway.lpd.errors import RemoteProtocolError
from gateway.lpd.events import (
    NEED_DATA,
    PAUSED,
    Ack,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    Event,
    FileAborted,
    FileData,
    FileEnd,
    NakReason,
    PrintWaiting,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
    ReplyData,
)
from gateway.lpd.protocol import ClientConnection, ClientState, Connection, ServerState
from gateway.lpd.status import parse_status

#: Small limits that the fuzzers can actually reach, next to the defaults.
SMALL_IPP_LIMITS = ParserLimits(
    max_header_bytes=600, max_attributes=8, max_values=24, max_depth=3, max_value_length=200
)
LENIENT_IPP_LIMITS = ParserLimits(strict_keywords=False)

#: Bound on how many events one input may produce (a loop guard, not a limit).
MAX_STEPS = 100_000


class PropertyViolation(AssertionError):
    """A fuzz property broke (the message says which)."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise PropertyViolation(message)


def chunks(data: bytes, rng: random.Random, max_chunk: int) -> Iterator[bytes]:
    """Split `data` into random non-empty pieces of at most `max_chunk` bytes."""
    pos = 0
    while pos < len(data):
        size = rng.randint(1, max_chunk)
        yield data[pos : pos + size]
        pos += size


# ---------------------------------------------------------------------------
# IPP
# ---------------------------------------------------------------------------


def _outcome(
    result: tuple[Message, bytes] | IppDecodeError,
) -> tuple[object, ...]:
    if isinstance(result, IppDecodeError):
        return ("error", result.status, result.http_status)
    message, tail = result
    return ("ok", message, tail)


def ipp_whole(data: bytes, limits: ParserLimits) -> tuple[Message, bytes] | IppDecodeError:
    """`decode` the body in one piece; the documented error is returned, not raised."""
    try:
        return decode(data, limits)
    except IppDecodeError as exc:
        _check_ipp_error(exc)
        return exc


def _check_ipp_error(exc: IppDecodeError) -> None:
    _require((exc.status is None) != (exc.http_status is None), "status xor http_status")
    str(exc)  # must render
    # The server answers every decode error; building that answer must work.
    if exc.status is not None:
        response = Message.response(
            None, exc.status, version=exc.version, request_id=exc.request_id
        )
        encode(response)


def ipp_chunked(
    data: bytes, limits: ParserLimits, rng: random.Random, max_chunk: int
) -> tuple[Message, bytes] | IppDecodeError:
    """Feed the body in random pieces as the IPP server does; check the bounds."""
    parser = MessageParser(limits)
    fed = 0
    tail = bytearray()
    message: Message | None = None
    try:
        for piece in chunks(data, rng, max_chunk):
            if parser.done:
                tail += piece  # the rest of the body is the caller's
                continue
            fed += len(piece)
            message = parser.feed(piece)
            _require(
                parser.header_bytes <= limits.max_header_bytes,
                f"header_bytes {parser.header_bytes} > max {limits.max_header_bytes}",
            )
            _require(parser.header_bytes <= fed, "header_bytes counts bytes never fed")
            if message is None:
                # What waits for the rest of an item: never past the limit,
                # but for the up to 2 bytes read before a name length is known.
                held = parser.header_bytes + len(parser._buffer)
                _require(
                    held <= limits.max_header_bytes + 2,
                    f"{held} bytes held > max_header_bytes {limits.max_header_bytes} + 2",
                )
            if message is not None:
                _require(parser.done and parser.message is message, "done/message mismatch")
                _require(
                    parser.header_bytes + len(parser.tail) == fed,
                    "header_bytes + tail != bytes fed",
                )
                tail += parser.tail
        if message is None:
            message = parser.close()
            _require(message is not None, "close() returned None")
    except IppDecodeError as exc:
        _check_ipp_error(exc)
        # After an error every call raises the same error again.
        for again in (lambda: parser.feed(b"\x00"), parser.close):
            try:
                again()
            except IppDecodeError as repeat:
                _require(repeat is exc, "a later call raised a different error")
            else:
                raise PropertyViolation("parser accepted input after an error") from None
        return exc
    return message, bytes(tail)


def _check_ipp_message(message: Message, limits: ParserLimits) -> None:
    """What the server does with a parsed request must not blow up either."""
    check_request(message)
    response = Message.response(message, StatusCode.SUCCESSFUL_OK)
    encode(response)
    if not limits.strict_keywords:
        return  # lenient keywords may be refused by the (strict) encoder
    wire = encode(message)
    again, tail = decode(wire, ParserLimits(max_header_bytes=len(wire) + 1))
    _require(tail == b"", "re-encoded message has a tail")
    _require(again == message, "decode(encode(message)) != message")


IPP_LIMITS = (ParserLimits(), SMALL_IPP_LIMITS, LENIENT_IPP_LIMITS)


def check_ipp(data: bytes, seed: int = 0) -> None:
    """The IPP properties for one body: documented error only, bounds, chunking
    independence, and a decoded message re-encodes to itself. `seed` picks
    the limits (``seed % 3``) and the chunking."""
    rng = random.Random(seed)
    limits = IPP_LIMITS[seed % len(IPP_LIMITS)]
    whole = ipp_whole(data, limits)
    max_chunk = rng.choice((1, 2, 3, 7, 64, 4096))
    chunked = ipp_chunked(data, limits, rng, max_chunk)
    _require(
        _outcome(whole) == _outcome(chunked),
        f"chunked parse differs from whole parse: {_outcome(whole)!r:.300} "
        f"vs {_outcome(chunked)!r:.300}",
    )
    if not isinstance(whole, IppDecodeError):
        _check_ipp_message(whole[0], limits)


# ---------------------------------------------------------------------------
# LPD server connection
# ---------------------------------------------------------------------------


@dataclass
class ServerRun:
    """What driving a server `Connection` produced."""

    events: list[Event]
    error: RemoteProtocolError | None
    acks: bytes


def drive_server(
    data: bytes,
    rng: random.Random,
    *,
    max_chunk: int = 4096,
    refuse_rate: float = 0.1,
    eof: bool = True,
    max_line_length: int = 1024,
    max_control_file_size: int = 64 * 1024,
) -> ServerRun:
    """Drive a server `Connection` as the LPD front-end does: feed pieces,
    pull events until NEED_DATA, answer PAUSED with accept() (or, at random,
    refuse()), stop at the first `RemoteProtocolError`. Checks the bounds."""
    conn = Connection(max_line_length=max_line_length, max_control_file_size=max_control_file_size)
    events: list[Event] = []
    acks = bytearray()
    fed = 0
    handed_out = 0  # FileData bytes over the whole connection
    file_bytes = 0  # FileData bytes of the current file
    header: ControlFileHeader | DataFileHeader | None = None
    steps = 0

    def pump() -> None:
        nonlocal handed_out, file_bytes, header, steps
        while True:
            steps += 1
            _require(steps < MAX_STEPS, "too many events (a loop?)")
            event = conn.next_event()
            if event is NEED_DATA:
                if conn.state in (ServerState.COMMAND, ServerState.SUBCOMMAND):
                    # A line in progress is bounded by max_line_length (+ its CR).
                    buffered = len(conn._buffer)
                    _require(
                        buffered <= max_line_length + 1,
                        f"{buffered} bytes buffered for a line (max {max_line_length})",
                    )
                elif conn.state in (ServerState.BODY, ServerState.STREAM, ServerState.TRAILER):
                    _require(len(conn._buffer) == 0, "NEED_DATA with a body byte buffered")
                return
            if event is PAUSED:
                if rng.random() < refuse_rate:
                    acks.extend(conn.refuse(rng.choice((1, 2)), rng.choice(("", "no"))))
                else:
                    acks.extend(conn.accept())
                continue
            _require(isinstance(event, Event), f"next_event returned {event!r}")
            assert isinstance(event, Event)
            events.append(event)
            _check_server_event(event, conn, max_line_length, max_control_file_size)
            if isinstance(event, ControlFileHeader | DataFileHeader):
                header, file_bytes = event, 0
            elif isinstance(event, FileData):
                _require(len(event.data) > 0, "empty FileData")
                _require(header is not None, "FileData outside a file")
                handed_out += len(event.data)
                file_bytes += len(event.data)
                _require(handed_out <= fed, "FileData carries more bytes than were fed")
                assert header is not None
                if header.size:
                    _require(file_bytes <= header.size, "FileData past the announced size")
            elif isinstance(event, FileEnd | FileAborted):
                _require(event.received == file_bytes, "received != FileData bytes")
            if isinstance(event, ConnectionClosed):
                return

    try:
        for piece in chunks(data, rng, max_chunk):
            if conn.state is ServerState.CLOSED:
                break
            fed += len(piece)
            conn.receive_data(piece)
            pump()
        if eof and conn.state is not ServerState.CLOSED:
            conn.receive_data(b"")
            pump()
            _require(
                conn.state is ServerState.CLOSED,
                f"after EOF the connection is still in {conn.state}",
            )
    except RemoteProtocolError as exc:
        _require(conn.state is ServerState.ERROR, "RemoteProtocolError outside ERROR state")
        _require(1 <= exc.nak <= 255, "bad NAK byte")
        exc.nak_bytes(with_reason=True)
        return ServerRun(events, exc, bytes(acks))
    return ServerRun(events, None, bytes(acks))


def _check_server_event(
    event: Event, conn: Connection, max_line_length: int, max_control_file_size: int
) -> None:
    if isinstance(event, PrintWaiting | ReceiveJob):
        _require(len(event.queue) <= max_line_length, "queue longer than a line")
    elif isinstance(event, QueueStateRequest | RemoveJobs):
        total = len(event.queue) + sum(len(i) for i in event.items)
        _require(total <= max_line_length, "operands longer than a line")
    elif isinstance(event, ControlFileHeader):
        _require(0 < event.size <= max_control_file_size, "control file size out of bounds")
        _require(len(event.name) <= max_line_length, "file name longer than a line")
    elif isinstance(event, DataFileHeader):
        _require(len(event.name) <= max_line_length, "file name longer than a line")
    _require(conn.state is not ServerState.ERROR, "an event in the ERROR state")


def check_lpd_server(data: bytes, seed: int = 0) -> None:
    """Drive the server connection with two configurations; chunking must not
    change the events (FileData merged) when no ack is refused."""
    rng = random.Random(seed)
    small = drive_server(
        data,
        rng,
        max_chunk=rng.choice((1, 2, 5, 64)),
        refuse_rate=0.2,
        max_line_length=rng.choice((2, 16, 80)),
        max_control_file_size=rng.choice((1, 40, 300)),
    )
    del small
    whole = drive_server(data, random.Random(seed), max_chunk=len(data) or 1, refuse_rate=0.0)
    pieces = drive_server(data, rng, max_chunk=rng.choice((1, 3, 17)), refuse_rate=0.0)
    _require(
        _merged(whole) == _merged(pieces),
        f"events depend on chunking: {_merged(whole)!r:.300} vs {_merged(pieces)!r:.300}",
    )


def _merged(run: ServerRun) -> tuple[object, ...]:
    out: list[object] = []
    for event in run.events:
        if isinstance(event, FileData) and out and isinstance(out[-1], FileData):
            out[-1] = FileData(out[-1].data + event.data)
        else:
            out.append(event)
    error = None if run.error is None else (type(run.error), run.error.nak)
    return (tuple(out), error, run.acks)


# ---------------------------------------------------------------------------
# LPD client connection (replies from remote servers)
# ---------------------------------------------------------------------------


def drive_client(data: bytes, rng: random.Random, *, max_chunk: int = 4096) -> list[Event]:
    """Drive a `ClientConnection` through one scripted exchange, the server's
    answers being `data`: a job (control file, data file, abort) or a one-shot
    command. Only `RemoteProtocolError` may escape the codec."""
    client = ClientConnection(max_reply_size=rng.choice((1, 100, 2**20)), max_reason_length=64)
    script = rng.choice(("job", "job", "lpq", "lprm", "print"))
    cf_size, df_size = rng.randint(1, 50), rng.choice((0, 0, 5))
    if script == "job":
        client.receive_job("q")
    elif script == "lpq":
        client.send_queue_state("q", ("1", "alice"), long=rng.random() < 0.5)
    elif script == "lprm":
        client.remove_jobs("q", "root", ("12",))
    else:
        client.print_waiting("q")
    files_sent = 0
    sending = 0
    events: list[Event] = []
    fed = 0
    reply = 0

    def advance() -> None:
        """After a positive ack: send what comes next in the script."""
        nonlocal files_sent, sending
        state = client.state
        if state is ClientState.IN_JOB:
            if files_sent == 0:
                client.control_file(cf_size, "cfA001h")
                sending = cf_size
            elif files_sent == 1:
                client.data_file(df_size, "dfA001h")
                sending = df_size
            else:
                client.abort_job()
            files_sent += 1
        elif state is ClientState.SENDING:
            client.file_data(b"x" * sending)
            client.end_of_file()
        elif state is ClientState.STREAMING:
            if rng.random() < 0.5:
                client.end_of_file()  # an empty file, as CUPS sends it
            else:
                client.file_data(b"streamed")
                client.end_stream()

    def pump() -> None:
        nonlocal reply
        for _ in range(MAX_STEPS):
            event = client.next_event()
            if event is NEED_DATA:
                return
            _require(isinstance(event, Event), f"next_event returned {event!r}")
            assert isinstance(event, Event)
            events.append(event)
            if isinstance(event, Ack) and event.ok:
                advance()
            elif isinstance(event, NakReason):
                _require(len(event.text) <= client.max_reason_length + 1, "NakReason too long")
            elif isinstance(event, ReplyData):
                reply += len(event.data)
                _require(reply <= fed, "ReplyData carries more bytes than were fed")
                _require(reply <= client.max_reply_size, "reply over max_reply_size")
            elif isinstance(event, ConnectionClosed):
                return
        raise PropertyViolation("too many client events (a loop?)")

    try:
        for piece in chunks(data, rng, max_chunk):
            if client.state is ClientState.CLOSED:
                break
            fed += len(piece)
            client.receive_data(piece)
            pump()
        if client.state is not ClientState.CLOSED:
            client.receive_data(b"")
            pump()
            _require(client.state is ClientState.CLOSED, f"after EOF: {client.state}")
    except RemoteProtocolError as exc:
        exc.nak_bytes(with_reason=True)
    return events


def check_lpd_client(data: bytes, seed: int = 0) -> None:
    """A few scripted client exchanges against `data` as the server's bytes."""
    rng = random.Random(seed)
    for _ in range(3):
        drive_client(data, rng, max_chunk=rng.choice((1, 2, 9, 4096)))


# ---------------------------------------------------------------------------
# Control files and lpq text
# ---------------------------------------------------------------------------


def read_control_file(cf: ControlFile) -> None:
    """Every accessor the translator uses; none may raise."""
    for code in "CHIJLMNPSTUW1234ADQRZ":
        cf.get(code)
        cf.get_all(code)
        cf.text(code)
        cf.text(code, "cp437")
    for accessor in (
        "host",
        "user",
        "job_name",
        "class_name",
        "banner_user",
        "mail_user",
        "title",
        "indent",
        "width",
        "unlink_files",
        "source_names",
        "lprng_job_id",
        "submit_date",
        "filter_options",
        "sun_features",
    ):
        getattr(cf, accessor)
    cf.requests("cp1252")
    cf.requests("utf-8")
    for request in cf.print_requests:
        parse_file_name(request.data_file)
    for name in cf.data_files:
        parse_file_name(name)
    for line in cf.lines:
        line.text()
        _require(line.is_print_request == ("a" <= line.code <= "z"), "is_print_request")


def check_controlfile(data: bytes) -> None:
    """parse never raises, keeps every non-blank line, and round-trips."""
    cf = parse(data)
    read_control_file(cf)
    wire = serialise(cf)
    _require(len(wire) <= len(data) + 1, "serialised control file grew")
    _require(parse(wire) == cf, "parse(serialise(cf)) != cf")
    _require(serialise(parse(wire)) == wire, "serialise is not stable")
    for line in cf.lines:
        _require(b"\n" not in line.value and b"\r" not in line.value, "CR/LF in an operand")


def check_status(data: bytes) -> None:
    """parse_status never raises, for bytes and for str, and stays bounded."""
    lines = data.count(b"\n") + data.count(b"\r") + 1
    for text in (data, data.decode("latin-1")):
        status = parse_status(text)
        _require(len(status.jobs) + len(status.status_lines) <= lines, "more items than lines")
        _require(status.printer_state in ("idle", "processing", "stopped"), "bad printer_state")
        for job in status.jobs:
            _require(job.intervening >= 0, "negative intervening")
    # A max_size that cuts the input anywhere (inside a UTF-8 sequence, a line).
    parse_status(data, max_size=max(1, len(data) // 2))
