"""Receive job (``\\2``) against the running gateway: acks, durability, jobs
in the spool and in the file backend. Case numbers are reference/lpd.md 7.1."""

from __future__ import annotations

from pathlib import Path

import trio

from gateway.core.job import Frontend, JobState
from tests.lpd_harness import control, document_bytes, gateway, sha256

DATA = b"hello, printer\n" * 100


async def test_control_first_single_job(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Case 1: control file first; the job keeps user, host, name, document."""
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    cf = control(banner=True)
    assert await client.control_file("cfA042client", cf) == (0, 0)
    assert gw.jobs() == []  # nothing is queued before its data file
    assert await client.data_file("dfA042client", DATA) == (0, 0)
    # The last ack comes only after submit: the job is already in the spool.
    [job] = gw.jobs()
    assert job.origin.frontend is Frontend.LPD
    assert job.origin.peer == "127.0.0.1"
    assert job.origin.host == "client"
    assert job.origin.user == "alice"
    assert job.origin.lpd_control_file == "cfA042client"
    assert job.origin.lpd_job_number == 42
    await client.send_eof()
    assert await client.closed()
    side = await gw.completed(job.id)
    assert side["requesting-user-name"] == "alice"
    assert side["job-originating-host-name"] == "client"
    assert side["job-name"] == "report"
    assert side["job-sheets"] == "standard"
    [doc] = side["documents"]
    assert doc["document-name"] == "report.txt"
    assert doc["document-format"] == "text/plain"
    assert doc["sha256"] == sha256(DATA)
    assert document_bytes(gw.out, doc) == DATA


async def test_data_first_single_job(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Case 2: BSD lpd forwarding order; submitted when the control file lands."""
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    assert await client.data_file("dfA001client", b"%!PS-Adobe-3.0\nshowpage\n") == (0, 0)
    assert gw.jobs() == []
    cf = control(files=(("f", "dfA001client", "a.ps"),))
    assert await client.control_file("cfA001client", cf) == (0, 0)
    [job] = gw.jobs()
    await client.aclose()
    side = await gw.completed(job.id)
    assert side["documents"][0]["document-format"] == "application/postscript"
    assert side["job-sheets"] == "none"


async def test_two_jobs_one_connection(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Case 3: cf, df, cf, df on one connection are two jobs."""
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    for n, text in ((1, b"first\n"), (2, b"second\n")):
        cf = control(job=f"job{n}", files=(("l", f"dfA00{n}client", None),))
        assert await client.control_file(f"cfA00{n}client", cf) == (0, 0)
        assert await client.data_file(f"dfA00{n}client", text) == (0, 0)
    await client.aclose()
    first, second = gw.jobs()
    assert (await gw.completed(first.id))["job-name"] == "job1"
    assert (await gw.completed(second.id))["job-name"] == "job2"
    assert first.origin.lpd_job_number == 1 and second.origin.lpd_job_number == 2


async def test_pipelined_client(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Case 35: everything in one write before reading any ack."""
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    cf = control()
    wire = (
        b"\x02lp\n"
        + b"\x02%d cfA042client\n" % len(cf)
        + cf
        + b"\0"
        + b"\x03%d dfA042client\n" % len(DATA)
        + DATA
        + b"\0"
    )
    await client.send(wire)
    await client.send_eof()
    assert await client.read_all() == b"\0" * 5
    [job] = gw.jobs()
    assert (await gw.completed(job.id))["documents"][0]["sha256"] == sha256(DATA)


async def test_unknown_queue_is_refused(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02nosuchqueue\n")
    reply = await client.read_all()
    assert reply[:1] == b"\x01"
    assert b"unknown queue" in reply


async def test_not_accepting_queue_is_refused(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(
        nursery,
        tmp_path,
        queues={"lp": {"backend": (tmp_path / "out").as_uri(), "accepting": False}},
    )
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    reply = await client.read_all()
    assert reply[:1] == b"\x01"
    assert gw.jobs() == []


async def test_queue_name_case_insensitive_and_trailing_blank(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Case 16: ``LP `` finds queue ``lp``."""
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02LP \r\n")
    assert await client.ack() == 0


async def test_job_state_after_submit_is_pending_or_later(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    assert await client.control_file("cfA042client", control()) == (0, 0)
    assert await client.data_file("dfA042client", DATA) == (0, 0)
    [job] = gw.jobs()
    assert job.state in (JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED)
