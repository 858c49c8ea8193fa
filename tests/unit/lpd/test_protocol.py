"""Server-side RFC 1179 connection state machine.

The byte strings are what real clients send (reference/lpd.md 1.3, 2.3, 3.1
and the hard-case matrix 7.1; case numbers are given in the test names).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.lpd.errors import (
    NAK_FAIL,
    NAK_NO_SPACE,
    LocalProtocolError,
    LpdProtocolError,
    RemoteProtocolError,
)
from gateway.lpd.events import (
    NEED_DATA,
    PAUSED,
    AbortJob,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    EndOfJob,
    Event,
    FileAborted,
    FileData,
    FileEnd,
    FileEndKind,
    PrintWaiting,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
)
from gateway.lpd.protocol import Connection, ServerState, decode_operand

CF = b"Hclient\nPalice\nJreport.txt\nfdfA042client\nUdfA042client\nNreport.txt\n"
DF = b"hello, world\n"


def drive(
    chunks: Iterable[bytes], *, eof: bool = True, conn: Connection | None = None
) -> tuple[list[Event], bytes]:
    """Feed chunks, accept every pause, merge FileData; return (events, acks)."""
    conn = conn or Connection()
    events: list[Event] = []
    acks = bytearray()

    def pump() -> None:
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                return
            if ev is PAUSED:
                acks.extend(conn.accept())
                continue
            assert isinstance(ev, Event)
            if isinstance(ev, FileData) and events and isinstance(events[-1], FileData):
                events[-1] = FileData(events[-1].data + ev.data)
            else:
                events.append(ev)
            if isinstance(ev, ConnectionClosed):
                return

    for chunk in chunks:
        conn.receive_data(chunk)
        pump()
    if eof:
        conn.receive_data(b"")
        pump()
    return events, bytes(acks)


def job_bytes(cf: bytes = CF, df: bytes = DF, *, control_first: bool = True) -> bytes:
    c = b"\x02%d cfA042client\n" % len(cf) + cf + b"\0"
    d = b"\x03%d dfA042client\n" % len(df) + df + b"\0"
    return b"\x02lp\n" + (c + d if control_first else d + c)


def test_control_first_single_job() -> None:  # case 1
    events, acks = drive([job_bytes()])
    assert events == [
        ReceiveJob("lp"),
        ControlFileHeader(len(CF), "cfA042client"),
        FileData(CF),
        FileEnd(FileEndKind.NORMAL, len(CF)),
        DataFileHeader(len(DF), "dfA042client"),
        FileData(DF),
        FileEnd(FileEndKind.NORMAL, len(DF)),
        ConnectionClosed(),
    ]
    assert acks == b"\0" * 5  # job + 2 per file


def test_data_first() -> None:  # case 2
    events, _ = drive([job_bytes(control_first=False)])
    kinds = [type(e) for e in events]
    assert kinds[:2] == [ReceiveJob, DataFileHeader]
    assert ControlFileHeader in kinds


def test_two_jobs_one_session() -> None:  # case 3
    one = job_bytes()
    wire = one + one[len(b"\x02lp\n") :]
    events, acks = drive([wire])
    assert sum(isinstance(e, ControlFileHeader) for e in events) == 2
    assert sum(isinstance(e, DataFileHeader) for e in events) == 2
    assert acks == b"\0" * 9


def test_plp_trailing_nul() -> None:  # case 4
    events, _ = drive([job_bytes() + b"\0"])
    assert events[-2:] == [EndOfJob(), ConnectionClosed()]


def test_abort_then_new_job() -> None:  # case 5
    wire = job_bytes()
    first_file = b"\x02%d cfA042client\n" % len(CF) + CF + b"\0"
    events, _ = drive([b"\x02lp\n" + first_file + b"\x01\n" + wire[len(b"\x02lp\n") :]])
    assert AbortJob() in events
    after = events[events.index(AbortJob()) + 1 :]
    assert isinstance(after[0], ControlFileHeader)
    assert after[-1] == ConnectionClosed()


def test_eof_mid_data_is_short() -> None:  # case 6 / case 8
    events, _ = drive([b"\x02lp\n\x03100 dfA1h\n", b"x" * 40])
    assert events[-2:] == [FileEnd(FileEndKind.SHORT, 40), ConnectionClosed()]


def test_zero_size_stream_until_eof() -> None:  # case 7 (LPRng lpr -k)
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x030 dfA1h\n")
    assert conn.next_event() == ReceiveJob("lp")
    assert conn.next_event() is PAUSED
    assert conn.accept() == b"\0"
    assert conn.next_event() == DataFileHeader(0, "dfA1h")
    assert conn.accept() == b"\0"
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"stream")
    conn.receive_data(b"ed\0data")  # NULs inside a stream are data
    got = b""
    while (ev := conn.next_event()) is not NEED_DATA:
        assert isinstance(ev, FileData)
        got += ev.data
    assert got == b"streamed\0data"
    conn.receive_data(b"")
    assert conn.next_event() == FileEnd(FileEndKind.STREAMED, 13)
    assert conn.accept() == b"\0"
    assert conn.next_event() == ConnectionClosed()


def test_zero_size_then_nul_is_empty_file() -> None:  # CUPS lpd backend
    events, acks = drive([b"\x02lp\n\x030 dfA1h\n\0\x021 cfA1h\nP\0"])
    assert events[1:4] == [
        DataFileHeader(0, "dfA1h"),
        FileEnd(FileEndKind.NORMAL, 0),
        ControlFileHeader(1, "cfA1h"),
    ]
    assert acks == b"\0" * 5


def test_huge_count_stream_is_short() -> None:  # case 9 (CUPS mode=stream)
    events, _ = drive([b"\x02lp\n\x03999999999999 dfA1h\n", b"%!PS\n"])
    assert DataFileHeader(999999999999, "dfA1h") in events
    assert events[-2] == FileEnd(FileEndKind.SHORT, 5)


def test_non_nul_trailer() -> None:  # case 10
    conn = Connection()
    events, acks = drive([b"\x02lp\n\x033 dfA1h\nabc\x01\x021 cfA1h\nP\0"], conn=conn)
    assert events[3] == FileAborted(trailer=1, received=3)
    assert isinstance(events[4], ControlFileHeader)
    # ack for job, ack 1 of df, no ack 2, then two acks for the cf
    assert acks == b"\0" * 4


def test_missing_trailer() -> None:  # case 11
    events, _ = drive([b"\x02lp\n\x033 dfA1h\nabc"])
    assert events[-2] == FileEnd(FileEndKind.UNTERMINATED, 3)


@pytest.mark.parametrize(
    "header",
    [
        b"\x03-1 dfA1h\n",
        b"\x03+12 dfA1h\n",
        b"\x030x10 dfA1h\n",
        b"\x0312abc dfA1h\n",
        b"\x03 12 dfA1h\n",
        b"\x0399999999999999999999 dfA1h\n",
        b"\x0312\n",
        b"\x0312 \n",
        b"\x03dfA1h\n",
    ],
)
def test_bad_sizes_are_naked(header: bytes) -> None:  # case 12
    conn = Connection()
    conn.receive_data(b"\x02lp\n" + header)
    assert conn.next_event() == ReceiveJob("lp")
    conn.accept()
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.nak == NAK_FAIL
    assert info.value.nak_bytes() == b"\x01"
    assert conn.state is ServerState.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_sizes_beyond_4gib_and_refuse_no_space() -> None:  # cases 13, 42
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x034294967297 dfA1h\n\x033 dfA1h\nabc\0")
    assert conn.next_event() == ReceiveJob("lp")
    conn.accept()
    header = conn.next_event()
    assert header == DataFileHeader(2**32 + 1, "dfA1h")
    assert conn.refuse(NAK_NO_SPACE) == b"\x02"
    assert conn.next_event() == DataFileHeader(3, "dfA1h")  # the sender retried


def test_big_file_streams_in_chunks() -> None:  # memory stays flat
    conn = Connection()
    size = 5 * 2**20
    conn.receive_data(b"\x02lp\n\x03%d dfA1h\n" % size)
    conn.next_event()
    conn.accept()
    conn.next_event()
    conn.accept()
    chunk = b"z" * 65536
    total = 0
    for _ in range(size // len(chunk)):
        conn.receive_data(chunk)
        ev = conn.next_event()
        assert isinstance(ev, FileData)
        assert len(ev.data) == len(chunk)
        total += len(ev.data)
        assert conn.next_event() is NEED_DATA
    conn.receive_data(b"\0")
    assert conn.next_event() == FileEnd(FileEndKind.NORMAL, total)


def test_control_file_too_big() -> None:  # case 19
    conn = Connection(max_control_file_size=1000)
    conn.receive_data(b"\x02lp\n\x021001 cfA1h\n")
    conn.next_event()
    conn.accept()
    with pytest.raises(RemoteProtocolError, match="1001"):
        conn.next_event()


def test_zero_size_control_file_rejected() -> None:
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x020 cfA1h\n")
    conn.next_event()
    conn.accept()
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_file_names_kept_verbatim_with_spaces_and_slashes() -> None:  # case 15
    events, _ = drive([b"\x02lp\n\x033 ../../etc/passwd x\nabc\0"])
    assert events[1] == DataFileHeader(3, "../../etc/passwd x")


@pytest.mark.parametrize(
    ("line", "queue"),
    [
        (b"\x02lp \n", "lp"),
        (b"\x02lp\r\n", "lp"),
        (b"\x02\n", ""),
        (b"\x02lp/instance\n", "lp/instance"),
        (b"\x02caf\xe9\n", "café"),
        ("\x02café\n".encode(), "café"),
    ],
)
def test_queue_names(line: bytes, queue: str) -> None:  # case 16
    conn = Connection()
    conn.receive_data(line)
    assert conn.next_event() == ReceiveJob(queue)


def test_command_line_too_long() -> None:  # case 17
    conn = Connection(max_line_length=1024)
    conn.receive_data(b"\x02" + b"q" * 1023)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"q")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_command_line_at_limit_is_fine() -> None:
    conn = Connection(max_line_length=16)
    conn.receive_data(b"\x02" + b"q" * 15 + b"\n")
    assert conn.next_event() == ReceiveJob("q" * 15)


def test_slow_client_byte_by_byte() -> None:  # case 32: byte at a time
    wire = job_bytes()
    events, acks = drive([wire[i : i + 1] for i in range(len(wire))])
    reference, reference_acks = drive([wire])
    assert events == reference
    assert acks == reference_acks


def test_apple_repeated_receive_job_ignored() -> None:  # case 31
    events, _ = drive([b"\x02lp\n\x02lp\n\x033 dfA1h\nabc\0"])
    assert [type(e) for e in events[:2]] == [ReceiveJob, DataFileHeader]


def test_half_close_after_last_nul_still_acks() -> None:  # case 34
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x033 dfA1h\nabc\0")
    conn.receive_data(b"")
    seen = []
    while True:
        ev = conn.next_event()
        if ev is PAUSED:
            conn.accept()
            continue
        seen.append(ev)
        if isinstance(ev, FileEnd):
            assert ev.kind is FileEndKind.NORMAL
            assert conn.state is ServerState.END_ACK
            assert conn.accept() == b"\0"
        if isinstance(ev, ConnectionClosed):
            break


def test_pipelined_subcommands_wait_for_ack() -> None:  # case 35
    conn = Connection()
    conn.receive_data(job_bytes())
    assert conn.next_event() == ReceiveJob("lp")
    assert conn.next_event() is PAUSED
    assert conn.next_event() is PAUSED  # nothing is read past an unanswered ack


@pytest.mark.parametrize("code", [b"2", b"\x06", b"\x07", b"\x09", b"\x0a", b"\x00"])
def test_unknown_daemon_command(code: bytes) -> None:  # case 36
    conn = Connection()
    conn.receive_data(code + b"lp\n")
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.nak == 1


def test_unknown_subcommand() -> None:
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x04junk\n")
    conn.next_event()
    conn.accept()
    with pytest.raises(RemoteProtocolError, match="0x04"):
        conn.next_event()


def test_queue_state_requests() -> None:  # case 37
    events, acks = drive([b"\x03lp alice 12 bob 5 9999999\n"])
    assert events == [
        QueueStateRequest("lp", long=False, items=("alice", "12", "bob", "5", "9999999")),
        ConnectionClosed(),
    ]
    assert acks == b""
    events, _ = drive([b"\x04lp\n"])
    assert events[0] == QueueStateRequest("lp", long=True, items=())


def test_queue_state_tab_separated() -> None:
    events, _ = drive([b"\x03lp\talice\x0b12\x0c\n"])
    assert events[0] == QueueStateRequest("lp", long=False, items=("alice", "12"))


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (b"\x05q root\n", RemoveJobs("q", "root", ())),
        (b"\x05q -all\n", RemoveJobs("q", "-all", ())),
        (b"\x05q alice 7 bob\n", RemoveJobs("q", "alice", ("7", "bob"))),
        (b"\x05q\n", RemoveJobs("q", "", ())),
    ],
)
def test_remove_jobs(line: bytes, event: RemoveJobs) -> None:  # case 38
    events, _ = drive([line])
    assert events[0] == event


def test_print_waiting_optional_ack() -> None:
    conn = Connection()
    conn.receive_data(b"\x01lp\n")
    assert conn.next_event() == PrintWaiting("lp")
    assert conn.next_event() is PAUSED
    assert conn.accept() == b"\0"
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    assert conn.next_event() == ConnectionClosed()


def test_refuse_job_with_lprng_text() -> None:
    conn = Connection()
    conn.receive_data(b"\x02nosuch\n")
    assert conn.next_event() == ReceiveJob("nosuch")
    assert conn.refuse(1, "unknown queue\nnosuch") == b"\x01unknown queue nosuch\n"
    assert conn.state is ServerState.DONE
    conn.receive_data(b"\x021 cfA1h\n")  # ignored after a refused job
    assert conn.next_event() is NEED_DATA


def test_ack_when_none_due_is_local_error() -> None:
    conn = Connection()
    with pytest.raises(LocalProtocolError):
        conn.accept()
    conn.receive_data(b"\x03lp\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.refuse()
    with pytest.raises(LocalProtocolError):
        Connection().refuse(0)


def test_eof_inside_command_line_is_error() -> None:
    conn = Connection()
    conn.receive_data(b"\x02lp")
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_eof_inside_subcommand_line_is_error() -> None:
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x0312")
    conn.next_event()
    conn.accept()
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_data_after_eof_is_local_error() -> None:
    conn = Connection()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")


def test_errors_carry_nak_and_reason() -> None:
    err = RemoteProtocolError("bad thing", 2)
    assert err.nak_bytes() == b"\x02"
    assert err.nak_bytes(with_reason=True) == b"\x02bad thing\n"
    assert str(err) == "bad thing"
    with pytest.raises(TypeError):
        LpdProtocolError("abstract")
    with pytest.raises(ValueError):
        RemoteProtocolError("x", 0)


def test_config_validated() -> None:
    with pytest.raises(ValueError):
        Connection(max_line_length=1)
    with pytest.raises(LookupError):
        Connection(legacy_encoding="no-such-codec")


def test_decode_operand_chain() -> None:
    assert decode_operand("é".encode()) == "é"
    assert decode_operand(b"\xe9") == "é"
    assert decode_operand(b"\x80") == "€"  # cp1252
    assert decode_operand(b"\x81") == "\x81"  # undefined in cp1252: latin-1
    assert decode_operand(b"\xe9", "latin-1") == "é"


def test_linear_line_scan() -> None:
    """A 1 MiB line fed a byte at a time stays linear: the buffer never
    rescans (this would take minutes if it did)."""
    conn = Connection(max_line_length=2**20 + 10)
    conn.receive_data(b"\x02")
    for _ in range(2**16):
        conn.receive_data(b"q" * 16)
        assert conn.next_event() is NEED_DATA
    assert conn._buffer._scanned == 2**20 + 1


# ---- property-based ----


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, prev = [], 0
    for p in [*points, len(data)]:
        out.append(data[prev:p])
        prev = p
    return [c for c in out if c]


WIRES = [
    job_bytes(),
    job_bytes(control_first=False),
    job_bytes() + b"\0",
    b"\x02lp\n\x030 dfA1h\nstreamed data",
    b"\x02lp\n\x030 dfA1h\n\0\x021 cfA1h\nP\0",
    b"\x02lp\n\x033 dfA1h\nabc\x01\x01\n\x02lp\n\x033 dfA1h\nabc\0",
    b"\x02lp\n\x0310 dfA1h\nabc",
    b"\x04lp alice 12\n",
]


@settings(max_examples=300)
@given(st.sampled_from(WIRES), st.lists(st.integers(min_value=0, max_value=10_000), max_size=30))
def test_chunking_does_not_matter(wire: bytes, cuts: list[int]) -> None:
    reference = drive([wire])
    assert drive(_split(wire, cuts)) == reference


@settings(max_examples=500)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, cuts: list[int]) -> None:
    try:
        drive(_split(b"\x02lp\n" + data, cuts), conn=Connection(max_line_length=64))
    except RemoteProtocolError:
        pass
    try:
        drive(_split(data, cuts), conn=Connection(max_line_length=64))
    except RemoteProtocolError:
        pass


@pytest.mark.parametrize("size", [2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, 10**19 - 1])
def test_size_boundaries(size: int) -> None:  # case 13 (apple/cups#4351)
    conn = Connection()
    conn.receive_data(b"\x02lp\n\x03%d dfA1h\n" % size)
    conn.next_event()
    conn.accept()
    assert conn.next_event() == DataFileHeader(size, "dfA1h")
    conn.accept()
    conn.receive_data(b"abc")
    assert conn.next_event() == FileData(b"abc")
    conn.receive_data(b"")
    assert conn.next_event() == FileEnd(FileEndKind.SHORT, 3)


def test_many_data_files_any_names() -> None:  # case 25
    names = [f"{p}{chr(c)}001h" for p in ("df", "ef", "dg") for c in range(65, 91)]
    wire = b"\x02lp\n" + b"".join(b"\x031 %s\nx\0" % n.encode() for n in names)
    events, acks = drive([wire])
    headers = [e.name for e in events if isinstance(e, DataFileHeader)]
    assert headers == names
    assert acks == b"\0" * (1 + 2 * len(names))


def test_duplicate_data_file_names_reported_as_sent() -> None:  # case 24
    events, _ = drive([b"\x02lp\n\x031 dfA1h\nx\0\x031 dfA1h\ny\0"])
    assert [e for e in events if isinstance(e, DataFileHeader)] == [DataFileHeader(1, "dfA1h")] * 2
