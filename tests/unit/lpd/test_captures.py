"""The codecs against bytes recorded from real LPRng, CUPS and BSD peers
(see captures.py for how each was recorded)."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.translate import controlfile_to_ipp
from gateway.lpd.controlfile import parse, parse_file_name
from gateway.lpd.events import (
    NEED_DATA,
    PAUSED,
    ConnectionClosed,
    ControlFileHeader,
    DataFileHeader,
    Event,
    FileData,
    FileEnd,
    FileEndKind,
    QueueStateRequest,
    ReceiveJob,
    RemoveJobs,
)
from gateway.lpd.protocol import Connection
from gateway.lpd.status import parse_status
from tests.unit.lpd import captures as cap


@dataclass
class Received:
    kind: str  # "control" or "data"
    name: str
    data: bytes
    end: FileEndKind


def receive(wire: bytes, step: int | None = None) -> tuple[str, list[Received], list[Event]]:
    """Run a recorded client session through the server; return the queue,
    the files as stored, and the non-file events."""
    conn = Connection()
    files: list[Received] = []
    others: list[Event] = []
    queue = ""
    current: tuple[str, str] | None = None
    body = bytearray()
    step = step or len(wire)
    chunks = [wire[i : i + step] for i in range(0, len(wire), step)] + [b""]
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            if ev is PAUSED:
                conn.accept()
            elif isinstance(ev, ReceiveJob):
                queue = ev.queue
            elif isinstance(ev, ControlFileHeader | DataFileHeader):
                current = ("control" if isinstance(ev, ControlFileHeader) else "data", ev.name)
                body.clear()
            elif isinstance(ev, FileData):
                body.extend(ev.data)
            elif isinstance(ev, FileEnd):
                assert current is not None
                files.append(Received(current[0], current[1], bytes(body), ev.kind))
            else:
                assert isinstance(ev, Event)
                others.append(ev)
                if isinstance(ev, ConnectionClosed):
                    return queue, files, others
    raise AssertionError("no ConnectionClosed")


def test_lprng_plain() -> None:
    queue, files, others = receive(cap.LPRNG_PLAIN)
    assert queue == "q"
    assert [(f.kind, f.end) for f in files] == [
        ("control", FileEndKind.NORMAL),
        ("data", FileEndKind.NORMAL),
    ]
    assert files[1].data == b"hello world\n"
    cf = parse(files[0].data)
    assert cf.lprng_job_id is not None
    assert parse_file_name(files[0].name).job_number == int(cf.lprng_job_id.split("+")[1])
    ticket = controlfile_to_ipp(cf, {files[1].name: files[1].data}, peer_host="127.0.0.1")
    assert ticket.attributes == {
        "requesting-user-name": "root",
        "job-originating-host-name": "127.0.0.1",  # H is "localhost": the peer wins
        "job-name": "hello.txt",
        "job-sheets": "standard",
    }
    assert [(d.data_file, d.document_name, d.document_format) for d in ticket.documents] == [
        (files[1].name, "hello.txt", "text/plain")
    ]
    assert others == [ConnectionClosed()]


def test_lprng_collated_copies() -> None:
    _, files, _ = receive(cap.LPRNG_COPIES2_TWO_FILES)
    cf = parse(files[0].data)
    heads = {f.name: f.data for f in files[1:]}
    ticket = controlfile_to_ipp(cf, heads)
    assert ticket.attributes["copies"] == 2
    assert ticket.attributes["multiple-document-handling"] == "separate-documents-collated-copies"
    assert [(d.document_name, d.document_format) for d in ticket.documents] == [
        ("hello.txt", "text/plain"),
        ("a.ps", "application/postscript"),
    ]
    assert ticket.attributes["job-name"] == "hello.txt,a.ps"


def test_lprng_no_banner_raw_class_letter() -> None:
    _, files, _ = receive(cap.LPRNG_STDIN_L_CLASS_Z)
    assert parse_file_name(files[0].name).letter == "B"
    cf = parse(files[0].data)
    assert cf.filter_options == "duplex,media=a4"
    ticket = controlfile_to_ipp(cf, {files[1].name: files[1].data})
    assert ticket.attributes["job-sheets"] == "none"
    assert ticket.documents[0].document_format == "application/octet-stream"
    assert ticket.documents[0].document_name == "(STDIN)"


def test_lprng_k_streams_size_zero() -> None:
    _, files, _ = receive(cap.LPRNG_K_STREAM)
    assert files[1].kind == "data"
    assert files[1].end is FileEndKind.STREAMED
    assert files[1].data == b"streamed stdin\n"


def test_lprng_mixed_charset_job_name() -> None:
    _, files, _ = receive(cap.LPRNG_MIXED_CHARSET_TITLE)
    ticket = controlfile_to_ipp(parse(files[0].data), {})
    assert ticket.attributes["job-name"] == "café Ã©"  # not UTF-8 as a whole: cp1252
    assert ticket.missing_data_files == (files[1].name,)


def test_lprng_queries() -> None:
    assert receive(cap.LPRNG_LPQ)[2][0] == QueueStateRequest("q", long=True)
    assert receive(cap.LPRNG_LPQ_S_LIST)[2][0] == QueueStateRequest(
        "q", long=False, items=("alice", "12")
    )
    assert receive(cap.LPRNG_LPRM)[2][0] == RemoveJobs("q", "root", ("12",))


def test_cups_backend_default() -> None:
    _, files, _ = receive(cap.CUPS_BACKEND_DEFAULT)
    ticket = controlfile_to_ipp(parse(files[0].data), {files[1].name: files[1].data})
    assert ticket.attributes["job-name"] == "My Title"
    assert ticket.attributes["requesting-user-name"] == "alice"
    assert ticket.documents[0].document_format == "application/octet-stream"  # l, text data


def test_cups_backend_data_first_three_copies() -> None:
    _, files, _ = receive(cap.CUPS_BACKEND_DATA_FIRST_COPIES3_BANNER)
    assert [f.kind for f in files] == ["data", "control"]
    ticket = controlfile_to_ipp(parse(files[1].data), {files[0].name: files[0].data})
    assert ticket.attributes["copies"] == 3
    assert "multiple-document-handling" not in ticket.attributes
    assert ticket.attributes["job-sheets"] == "standard"
    assert ticket.documents[0].document_format == "application/postscript"
    assert ticket.documents[0].document_name == "Two"


def test_cups_backend_stream_mode_has_no_trailer() -> None:  # case 9/11
    _, files, _ = receive(cap.CUPS_BACKEND_MODE_STREAM)
    assert files[1].end is FileEndKind.UNTERMINATED
    assert files[1].data.startswith(b"%!PS-Adobe-3.0")


CLIENT_CAPTURES = [
    cap.LPRNG_PLAIN,
    cap.LPRNG_COPIES2_TWO_FILES,
    cap.LPRNG_STDIN_L_CLASS_Z,
    cap.LPRNG_K_STREAM,
    cap.CUPS_BACKEND_DEFAULT,
    cap.CUPS_BACKEND_DATA_FIRST_COPIES3_BANNER,
    cap.CUPS_BACKEND_MODE_STREAM,
]


@settings(max_examples=100)
@given(st.sampled_from(CLIENT_CAPTURES), st.integers(min_value=1, max_value=64))
def test_captures_any_chunking(wire: bytes, step: int) -> None:
    assert receive(wire, step) == receive(wire)


# ---- status text from real servers ----


def test_parse_lprng_long() -> None:
    status = parse_status(cap.LPRNG_STATUS_LONG)
    assert status.printer_state == "stopped"
    assert "paused" in status.printer_state_reasons
    assert [(j.owner, j.job_number, j.size) for j in status.jobs] == [
        ("root", 461, 12),
        ("root", 464, 72),
        ("alice", 467, 2),
        ("root", 470, 24),
    ]
    assert status.jobs[1].files == ("a.ps,hello.txt",)


def test_parse_lprng_held() -> None:
    status = parse_status(cap.LPRNG_LONG_HELD)
    held = [j for j in status.jobs if j.job_number == 467]
    assert held[0].job_state == "pending-held"
    assert held[0].rank == "hold"


def test_parse_lprng_filtered_keeps_intervening() -> None:
    (job,) = parse_status(cap.LPRNG_LONG_FILTER_NUM).jobs
    assert job.job_number == 464
    assert job.intervening == 1


def test_parse_lprng_short_summary() -> None:
    status = parse_status(cap.LPRNG_STATUS_SHORT)
    assert status.printer_state == "stopped"
    assert status.jobs == ()


def test_parse_bsd_short() -> None:
    status = parse_status(cap.BSD_STATUS_SHORT)
    assert len(status.jobs) == 13
    assert [j.rank for j in status.jobs][9:] == ["10th", "11th", "12th", "13th"]
    smith = status.jobs[-1]
    assert (smith.owner, smith.job_number, smith.files, smith.size) == (
        "smith",
        102,
        ("resume", "foo"),
        69152,
    )


def test_parse_bsd_long_with_dates() -> None:
    status = parse_status(cap.BSD_STATUS_LONG)
    assert len(status.jobs) == 13
    smith = status.jobs[-1]
    assert (smith.host, smith.copies, smith.files, smith.size) == (
        "localhost",
        2,
        ("resume", "foo"),
        34576,
    )
    alice = status.jobs[10]
    assert alice.files == ("a-really-long-file-name-that-overflows-the-column.txt",)


def test_parse_bsd_filtered() -> None:
    status = parse_status(cap.BSD_STATUS_SHORT_FILTER)
    assert [(j.job_number, j.intervening) for j in status.jobs] == [(103, 10), (102, 12)]
    assert [j.job_number for j in parse_status(cap.BSD_STATUS_LONG_FILTER).jobs] == [102]


def test_parse_bsd_down_and_off() -> None:
    status = parse_status(cap.BSD_STATUS_DOWN_OFF)
    assert status.printer_state == "stopped"
    assert status.printer_state_message == "paper jam"
    assert status.accepting_jobs is False
    assert status.jobs == ()
