"""Files that end with the connection are printed by default: Windows' Standard
TCP/IP port in LPR mode without "LPR byte counting" (it announces
125899906843000 bytes and closes after the data) and the CUPS lpd backend in
``mode=stream`` (no NUL; 999999999999 announced when it reads stdin). A file
with a real size that ends early is a lost connection: discarded, never
acknowledged. ``lpd.strict_byte_count`` refuses all of them but size-0 streams.

The Windows client is a raw client sending exactly what the Windows port
monitor sends (tcpmon ``CLPRJob::StartJob``, with ``LPRJOB_SPOOL_FIRST`` off):
``\\2queue``, the control file header, the control file and its NUL in one
write (``HhostPuserJdocldfA...UdfA...Ndoc``), ``\\3125899906843000 dfA...``,
the data, and the close. The CUPS backend is the real one (tests/lpd_peers.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.lpd_harness import LogWatch, document_bytes, gateway, sha256
from tests.lpd_peers import cups_lpd_backend, run
from tests.peers import require

pytestmark = pytest.mark.peer

WINDOWS_SIZE = 125899906843000
PCL = b"\x1bE\x1b&l0O" + b"Windows page\r\n" * 4000 + b"\x1bE"  # about 56 KiB
POSTSCRIPT = b"%!PS-Adobe-3.0\n" + b"(stream) show\n" * 3000 + b"showpage\n"


def windows_control(number: int, host: str, user: str, doc: str) -> bytes:
    """The control file the Windows LPR port monitor writes (``GetCFileAndName``)."""
    df = f"dfA{number:03d}{host}"
    return f"H{host}\nP{user}\nJ{doc}\nl{df}\nU{df}\nN{doc}\n".encode("ascii")


async def windows_lpr(port: int, data: bytes, *, number: int = 42, host: str = "WINPC") -> bytes:
    """One job as Windows sends it with byte counting off; the bytes the server
    sent after the data (its ack 2, usually unread by Windows)."""
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        cf = windows_control(number, host, "alice", "Quarterly.pcl")
        steps = [
            b"\x02lp\n",
            b"\x02%d cfA%03d%s\n" % (len(cf), number, host.encode()),
            cf + b"\0",  # control file and its NUL in one write, like lprmon
            b"\x03%d dfA%03d%s\n" % (WINDOWS_SIZE, number, host.encode()),
        ]
        for step in steps:
            with trio.fail_after(10):
                await stream.send_all(step)
                assert await stream.receive_some(1) == b"\0", step
        for i in range(0, len(data), 8192):
            with trio.fail_after(10):
                await stream.send_all(data[i : i + 8192])
        with trio.fail_after(10):
            await stream.send_eof()  # EndDoc: the connection ends the file
        reply = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(1024):
                reply += chunk
        return reply
    finally:
        await stream.aclose()


async def test_windows_without_byte_counting_is_printed(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Accepted by default, although far more than the spool holds is announced
    (nothing is reserved for an impossible size), and although a job limit is
    set: the limit holds on what is written."""
    gw = await gateway(nursery, tmp_path, limits={"max_job_size": 1024 * 1024})
    with LogWatch() as logs:
        reply = await windows_lpr(gw.port, PCL)
        await logs.wait_for(r"^job \d+ received ")
    assert reply == b"\0"  # ack 2, after the job was committed
    assert logs.find(r"announces 125899906843000 bytes: read until the client closes")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["requesting-user-name"] == "alice"
    assert side["job-name"] == "Quarterly.pcl"
    [doc] = side["documents"]
    assert doc["document-format"] == "application/vnd.hp-PCL"
    assert doc["sha256"] == sha256(PCL)
    assert document_bytes(gw.out, doc) == PCL
    assert gw.spool.reserved == 0


async def test_windows_stream_over_the_job_limit_is_refused(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """The limit an open-ended size could not be checked against holds while
    the bytes come: NAK 2 with the reason, nothing kept."""
    gw = await gateway(nursery, tmp_path, limits={"max_job_size": 20_000})
    with LogWatch() as logs:
        try:
            reply = await windows_lpr(gw.port, PCL)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            reply = b""  # the gateway hung up while the client was still sending
        await logs.wait_for(r"file refused: .*larger than the limit")
    assert reply[:1] in (b"\x02", b"")
    assert gw.jobs() == []


async def test_strict_refuses_windows(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With lpd.strict_byte_count the impossible size is taken at its word: no
    room for it, NAK 2 at ack 1."""
    gw = await gateway(nursery, tmp_path, lpd={"strict_byte_count": True})
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream("127.0.0.1", gw.port)
    cf = windows_control(42, "WINPC", "alice", "x")
    with trio.fail_after(10):
        await stream.send_all(b"\x02lp\n")
        assert await stream.receive_some(1) == b"\0"
        await stream.send_all(b"\x02%d cfA042WINPC\n" % len(cf))
        assert await stream.receive_some(1) == b"\0"
        await stream.send_all(cf + b"\0")
        assert await stream.receive_some(1) == b"\0"
        await stream.send_all(b"\x03%d dfA042WINPC\n" % WINDOWS_SIZE)
        assert (await stream.receive_some(1))[:1] == b"\x02"
    await stream.aclose()
    assert gw.jobs() == []


async def test_a_real_size_cut_short_is_a_lost_connection(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """What is lost when a connection drops mid-file: the job, which was never
    acknowledged (NAK 1, nothing in the spool, no folder left)."""
    gw = await gateway(nursery, tmp_path)
    with LogWatch() as logs:
        client = await gw.connect()
        await client.send(b"\x02lp\n")
        assert await client.ack() == 0
        cf = windows_control(7, "WINPC", "alice", "x")
        assert await client.control_file("cfA007WINPC", cf) == (0, 0)
        await client.send(b"\x03%d dfA007WINPC\n" % len(PCL))
        assert await client.ack() == 0
        await client.send(PCL[: len(PCL) // 2])
        await client.send_eof()
        reply = await client.read_all()
        await logs.wait_for("job discarded")
    assert reply[:1] == b"\x01"
    assert logs.find("the connection was lost mid-file")
    assert gw.jobs() == []
    assert list((gw.spool.root / "jobs").iterdir()) == []


@pytest.mark.parametrize("strict", [False, True])
async def test_cups_backend_mode_stream_file(
    nursery: trio.Nursery, tmp_path: Path, strict: bool
) -> None:
    """The real CUPS lpd backend, ``mode=stream`` with a file: the real size,
    the data, no NUL, close (and it does not wait for ack 2)."""
    gw = await gateway(nursery, tmp_path, lpd={"strict_byte_count": strict})
    path = tmp_path / "s.ps"
    path.write_bytes(POSTSCRIPT)
    with LogWatch() as logs:
        result = await cups_lpd_backend(
            gw.port,
            job_id=61,
            user="erin",
            title="Streamed",
            copies=1,
            file=path,
            uri_options="snmp=off&mode=stream",
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        await logs.wait_for(r"^job \d+ received |job discarded")
    if strict:
        assert gw.jobs() == []
        assert logs.find(r"\(unterminated\): lpd.strict_byte_count is on")
        return
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["documents"][0]["sha256"] == sha256(POSTSCRIPT)


async def test_cups_backend_mode_stream_stdin(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The real CUPS lpd backend, ``mode=stream`` reading stdin: it announces
    999999999999 and closes after the data."""
    gw = await gateway(nursery, tmp_path)
    backend = str(require("lpd", "cups"))
    env = {
        "DEVICE_URI": f"lpd://127.0.0.1:{gw.port}/lp?snmp=off&mode=stream",
        "CUPS_SERVERBIN": str(Path(backend).parent.parent),
    }
    with LogWatch() as logs:
        # As cupsd runs it: the back channel (fd 3) and side channel (fd 4) open.
        script = 'exec "$0" 62 erin "Streamed stdin" 1 "" 3</dev/null 4</dev/null'
        result = await run(["sh", "-c", script, backend], stdin=POSTSCRIPT, env=env)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        await logs.wait_for(r"^job \d+ received ")
    assert logs.find(r"announces 999999999999 bytes: read until the client closes")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["job-name"] == "Streamed stdin"
    assert side["documents"][0]["sha256"] == sha256(POSTSCRIPT)


async def test_old_lenient_key_is_read_and_named_deprecated(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """``lpd.lenient_byte_count = false`` (the old default, written out) keeps
    its old meaning, strict, with one warning line at start."""
    with LogWatch() as logs:
        gw = await gateway(nursery, tmp_path, lpd={"lenient_byte_count": False})
    assert gw.running.context.config.lpd.strict_byte_count is True
    assert logs.find(r"lpd.lenient_byte_count is deprecated .*strict_byte_count = true")
