"""Client role, and h11-style ConnectionPair tests joining a client and a
server by an in-memory wire, so every exchange exercises both directions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.lpd.errors import LocalProtocolError, RemoteProtocolError
from gateway.lpd.events import (
    NEED_DATA,
    PAUSED,
    AbortJob,
    Ack,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    Event,
    FileData,
    FileEnd,
    FileEndKind,
    NakReason,
    PrintWaiting,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
    ReplyData,
)
from gateway.lpd.protocol import ClientConnection, ClientState, Connection, ServerState
from gateway.lpd.status import StatusEntry, parse_status, render_status


class ConnectionPair:
    """A client and a server joined by an in-memory wire."""

    def __init__(self) -> None:
        self.client = ClientConnection()
        self.server = Connection()

    def to_server(self, data: bytes) -> list[Event]:
        """Deliver client bytes; return the server events up to a pause."""
        self.server.receive_data(data)
        return self._drain_server()

    def _drain_server(self) -> list[Event]:
        out: list[Event] = []
        while True:
            ev = self.server.next_event()
            if ev is NEED_DATA or ev is PAUSED:
                return out
            assert isinstance(ev, Event)
            out.append(ev)
            if isinstance(ev, ConnectionClosed):
                return out

    def to_client(self, data: bytes) -> list[Event]:
        """Deliver server bytes; return the client events."""
        self.client.receive_data(data)
        out: list[Event] = []
        while True:
            ev = self.client.next_event()
            if ev is NEED_DATA:
                return out
            assert isinstance(ev, Event)
            out.append(ev)
            if isinstance(ev, ConnectionClosed):
                return out

    def send_file(self, kind: str, name: str, body: bytes) -> list[Event]:
        """One whole file with both acks given by the server."""
        header = self.client.control_file if kind == "cf" else self.client.data_file
        events = self.to_server(header(len(body), name))
        assert self.to_client(self.server.accept()) == [Ack(0)]
        events += self.to_server(self.client.file_data(body))
        events += self.to_server(self.client.end_of_file())
        assert self.to_client(self.server.accept()) == [Ack(0)]
        return events


def test_whole_job_both_ways() -> None:
    pair = ConnectionPair()
    assert pair.to_server(pair.client.receive_job("lp")) == [ReceiveJob("lp")]
    assert pair.to_client(pair.server.accept()) == [Ack(0)]
    cf = b"Hgw\nPalice\nldfA001gw\nUdfA001gw\nNdoc\n"
    assert pair.send_file("cf", "cfA001gw", cf) == [
        ControlFileHeader(len(cf), "cfA001gw"),
        FileData(cf),
        FileEnd(FileEndKind.NORMAL, len(cf)),
    ]
    body = bytes(range(256)) * 10
    assert pair.send_file("df", "dfA001gw", body) == [
        DataFileHeader(len(body), "dfA001gw"),
        FileData(body),
        FileEnd(FileEndKind.NORMAL, len(body)),
    ]
    pair.server.receive_data(b"")
    assert pair.server.next_event() == ConnectionClosed()
    assert pair.client.state is ClientState.IN_JOB


def test_abort_job_pair() -> None:
    pair = ConnectionPair()
    pair.to_server(pair.client.receive_job("lp"))
    pair.to_client(pair.server.accept())
    assert pair.to_server(pair.client.abort_job()) == [AbortJob()]


def test_streamed_data_file_pair() -> None:
    pair = ConnectionPair()
    pair.to_server(pair.client.receive_job("lp"))
    pair.to_client(pair.server.accept())
    assert pair.to_server(pair.client.data_file(0, "dfA1h")) == [DataFileHeader(0, "dfA1h")]
    assert pair.to_client(pair.server.accept()) == [Ack(0)]
    assert pair.client.state is ClientState.STREAMING
    events = pair.to_server(pair.client.file_data(b"abc"))
    events += pair.to_server(pair.client.file_data(b"\0def"))
    assert pair.client.end_stream() == b""
    events += pair.to_server(b"")
    assert b"".join(e.data for e in events if isinstance(e, FileData)) == b"abc\0def"
    assert events[-1] == FileEnd(FileEndKind.STREAMED, 7)
    assert pair.client.awaiting_ack


def test_empty_file_with_size_zero_pair() -> None:
    pair = ConnectionPair()
    pair.to_server(pair.client.receive_job("lp"))
    pair.to_client(pair.server.accept())
    pair.to_server(pair.client.data_file(0, "dfA1h"))
    pair.to_client(pair.server.accept())
    assert pair.to_server(pair.client.end_of_file()) == [FileEnd(FileEndKind.NORMAL, 0)]
    assert pair.to_client(pair.server.accept()) == [Ack(0)]


def test_refused_job_with_reason_pair() -> None:
    pair = ConnectionPair()
    pair.to_server(pair.client.receive_job("nosuch"))
    events = pair.to_client(pair.server.refuse(1, "unknown queue nosuch"))
    assert events == [Ack(1), NakReason("unknown queue nosuch")]
    assert not events[0].ok  # type: ignore[attr-defined]
    assert pair.client.state is ClientState.FAILED
    with pytest.raises(LocalProtocolError):
        pair.client.control_file(1, "cfA1h")


def test_no_space_on_header_pair() -> None:
    pair = ConnectionPair()
    pair.to_server(pair.client.receive_job("lp"))
    pair.to_client(pair.server.accept())
    pair.to_server(pair.client.data_file(2**33, "dfA1h"))
    assert pair.server.state is ServerState.HEADER_ACK
    assert pair.to_client(pair.server.refuse(2)) == [Ack(2)]
    # a bare NAK: the reason ends at EOF
    assert pair.to_client(b"") == [NakReason(""), ConnectionClosed()]


def test_bsd_text_error_is_a_nak_with_reason() -> None:
    client = ClientConnection()
    client.receive_job("lp")
    client.receive_data(b"lpd [@h]: connected from invalid port (1023)\n")
    assert client.next_event() == Ack(ord("l"))
    assert client.next_event() == NakReason("lpd [@h]: connected from invalid port (1023)")


def test_nak_reason_needs_lf_or_eof() -> None:
    client = ClientConnection()
    client.receive_job("lp")
    client.receive_data(b"\x03spooling")
    assert client.next_event() == Ack(3)
    assert client.next_event() is NEED_DATA
    client.receive_data(b" disabled\r\n")
    assert client.next_event() == NakReason("spooling disabled")


def test_close_before_ack_is_reported() -> None:
    client = ClientConnection()
    client.receive_job("lp")
    assert client.awaiting_ack
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed()


def test_queue_state_pair() -> None:
    pair = ConnectionPair()
    assert pair.to_server(pair.client.send_queue_state("lp", ("alice", "12"), long=False)) == [
        QueueStateRequest("lp", long=False, items=("alice", "12"))
    ]
    text = render_status(
        ["lp is ready and printing"],
        [StatusEntry("alice", 12, ("a.txt",), 100, rank_active=True)],
        long=False,
        items=("alice", "12"),
    )
    events = pair.to_client(text[:10]) + pair.to_client(text[10:]) + pair.to_client(b"")
    assert events[-1] == ConnectionClosed()
    reply = b"".join(e.data for e in events if isinstance(e, ReplyData))
    status = parse_status(reply)
    assert [(j.owner, j.job_number) for j in status.jobs] == [("alice", 12)]


def test_remove_and_print_waiting_pair() -> None:
    pair = ConnectionPair()
    assert pair.to_server(pair.client.remove_jobs("lp", "alice", ("7", "bob"))) == [
        RemoveJobs("lp", "alice", ("7", "bob"))
    ]
    assert pair.to_client(b"\0") == [ReplyData(b"\0")]  # cups-lpd style
    pair = ConnectionPair()
    assert pair.to_server(pair.client.print_waiting("lp")) == [PrintWaiting("lp")]
    assert pair.to_client(pair.server.accept()) == [ReplyData(b"\0")]
    assert pair.to_client(b"") == [ConnectionClosed()]


def test_reply_size_is_capped() -> None:
    client = ClientConnection(max_reply_size=10)
    client.send_queue_state("lp", long=True)
    client.receive_data(b"x" * 11)
    with pytest.raises(RemoteProtocolError):
        client.next_event()


def test_client_api_misuse() -> None:
    client = ClientConnection()
    with pytest.raises(LocalProtocolError):
        client.control_file(10, "cfA1h")  # no job yet
    with pytest.raises(LocalProtocolError):
        client.receive_job("has space")
    with pytest.raises(LocalProtocolError):
        client.receive_job("")
    client.receive_job("lp")
    client.receive_data(b"\0")
    assert client.next_event() == Ack(0)
    with pytest.raises(LocalProtocolError):
        client.control_file(0, "cfA1h")
    client.data_file(3, "dfA1h")
    with pytest.raises(LocalProtocolError):
        client.file_data(b"abc")  # ack 1 not yet received
    client.receive_data(b"\0")
    client.next_event()
    with pytest.raises(LocalProtocolError):
        client.file_data(b"abcd")
    client.file_data(b"ab")
    with pytest.raises(LocalProtocolError):
        client.end_of_file()


def test_unexpected_server_bytes() -> None:
    client = ClientConnection()
    client.receive_job("lp")
    client.receive_data(b"\0\0")
    assert client.next_event() == Ack(0)
    with pytest.raises(RemoteProtocolError):
        client.next_event()


@given(st.binary(max_size=200), st.sampled_from(["job", "query", "header"]))
def test_client_never_raises_foreign_errors(data: bytes, start: str) -> None:
    client = ClientConnection(max_reply_size=100)
    if start == "job":
        client.receive_job("lp")
    elif start == "query":
        client.send_queue_state("lp", long=False)
    else:
        client.receive_job("lp")
        client.receive_data(b"\0")
        client.next_event()
        client.data_file(5, "dfA1h")
    try:
        for i in range(0, len(data), 7):
            client.receive_data(data[i : i + 7])
            while client.next_event() is not NEED_DATA:
                if client.state is ClientState.CLOSED:
                    break
        client.receive_data(b"")
        for _ in range(3):
            client.next_event()
    except RemoteProtocolError:
        pass
