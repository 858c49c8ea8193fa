"""reference/lpd.md 7.1, server side: each hard case against the running
gateway (raw bytes over TCP), checking the acks and what ends up in the
spool and the file backend. The test names carry the case numbers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

from gateway.core import spool as spool_module
from gateway.core.spool import NoSpace
from tests.lpd_harness import (
    STEP,
    Gateway,
    LogWatch,
    RawClient,
    control,
    gateway,
    sha256,
)

DATA = b"line of text\n" * 64
PS = b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n"


def cf_bytes(name: str, data: bytes) -> bytes:
    return b"\x02%d %s\n" % (len(data), name.encode()) + data + b"\0"


def df_bytes(name: str, data: bytes) -> bytes:
    return b"\x03%d %s\n" % (len(data), name.encode()) + data + b"\0"


async def open_job(gw: Gateway, queue: bytes = b"lp") -> RawClient:
    client = await gw.connect()
    await client.send(b"\x02" + queue + b"\n")
    assert await client.ack() == 0
    return client


def job_folders(gw: Gateway) -> list[Path]:
    """Job folders in the spool (a discarded job leaves none)."""
    return sorted(p for p in (gw.spool.root / "jobs").iterdir())


async def one_job(gw: Gateway) -> dict[str, object]:
    [job] = gw.jobs()
    return await gw.completed(job.id)


# ---------------------------------------------------------------- 1 - 4 ----


async def test_case01_control_first(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA042client", control()) == (0, 0)
    assert await client.data_file("dfA042client", DATA) == (0, 0)
    assert (await one_job(gw))["documents"][0]["sha256"] == sha256(DATA)  # type: ignore[index]


async def test_case02_data_first(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.data_file("dfA042client", DATA) == (0, 0)
    assert gw.jobs() == []
    assert await client.control_file("cfA042client", control()) == (0, 0)
    assert len(gw.jobs()) == 1  # submitted before the control file's ack 2


async def test_case03_two_jobs(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    for n in (1, 2):
        cf = control(job=f"j{n}", files=(("f", f"dfA00{n}h", None),))
        assert await client.data_file(f"dfA00{n}h", b"job %d\n" % n) == (0, 0)
        assert await client.control_file(f"cfA00{n}h", cf) == (0, 0)
        assert len(gw.jobs()) == n
    await client.aclose()
    names = [(await gw.completed(j.id))["job-name"] for j in gw.jobs()]
    assert names == ["j1", "j2"]


async def test_case04_plp_trailing_nul(nursery: trio.Nursery, tmp_path: Path) -> None:
    """PLP: data first, ``cfZ`` name, an epoch ``D`` line, then a lone NUL."""
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    cf = b"D1236370629\nHplphost\nPalice\nNdoc.txt\nJplp job\nCZ\nfdfA589plphost\n"
    assert await client.data_file("dfA589plphost", DATA) == (0, 0)
    assert await client.control_file("cfZ589plphost", cf) == (0, 0)
    await client.send(b"\0")
    await client.send_eof()
    assert await client.closed()
    side = await one_job(gw)
    assert side["job-name"] == "plp job"
    assert gw.jobs()[0].origin.lpd_job_number == 589


# ---------------------------------------------------------------- 5 - 11 ---


async def test_case05_abort_then_new_job(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    assert await client.data_file("dfX001h", b"unreferenced\n") == (0, 0)
    assert len(job_folders(gw)) == 1
    with LogWatch() as logs:
        await client.send(b"\x01\n")  # abort: no ack
        assert await client.control_file("cfA002h", control(files=(("f", "dfA002h", None),))) == (
            0,
            0,
        )
        assert logs.find("job discarded: .*aborted by the client")
    assert await client.data_file("dfA002h", DATA) == (0, 0)
    [job] = gw.jobs()
    assert job.origin.lpd_job_number == 2
    assert len(job_folders(gw)) == 1  # the aborted job's folder is gone


async def test_case06_connection_lost_mid_data(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (
            0,
            0,
        )
        await client.send(b"\x031000 dfA001h\n")
        assert await client.ack() == 0
        await client.send(b"x" * 400)
        await client.aclose()
        await logs.wait_for("job discarded")
    assert gw.jobs() == []
    assert job_folders(gw) == []


async def test_case06_lost_job_does_not_touch_earlier_job(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await gateway(nursery, tmp_path)
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (
            0,
            0,
        )
        assert await client.data_file("dfA001h", DATA) == (0, 0)
        assert await client.control_file("cfA002h", control(files=(("f", "dfA002h", None),))) == (
            0,
            0,
        )
        await client.aclose()
        await logs.wait_for("job discarded")
    [job] = gw.jobs()
    assert job.origin.lpd_job_number == 1
    assert len(job_folders(gw)) == 1


async def test_case07_zero_size_stream_until_eof(nursery: trio.Nursery, tmp_path: Path) -> None:
    """LPRng ``lpr -k``: size 0, data until the client closes; ack after EOF."""
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    await client.send(b"\x030 dfA001h\n")
    assert await client.ack() == 0
    await client.send(PS)
    await client.send_eof()
    assert await client.read_all() == b"\0"  # ack 2, after the job was submitted
    assert (await one_job(gw))["documents"][0]["sha256"] == sha256(PS)  # type: ignore[index]


async def test_case07_zero_size_then_nul_is_empty_file(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """The CUPS backend's empty file: size 0 and the NUL at once; the
    connection goes on."""
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.data_file("dfA001h", b"") == (0, 0)
    assert await client.control_file("cfA001h", control(files=(("l", "dfA001h", None),))) == (0, 0)
    side = await one_job(gw)
    assert side["documents"][0]["size"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("count", "strict", "kept"),
    [
        (125899906843000, False, True),  # Windows without "LPR byte counting"
        (125899906843000, True, False),
        (len(DATA) * 10, False, False),  # a real size cut short: a lost connection
        (len(DATA) * 10, True, False),
    ],
)
async def test_case08_count_larger_than_data(
    nursery: trio.Nursery, tmp_path: Path, count: int, strict: bool, kept: bool
) -> None:
    """A count larger than the data, then close. The impossible size Windows
    announces means "until the connection closes"; a plausible one cut short
    is a lost connection, and the file is discarded."""
    gw = await gateway(nursery, tmp_path, lpd={"strict_byte_count": strict})
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("l", "dfA001h", None),))) == (
            0,
            0,
        )
        await client.send(b"\x03%d dfA001h\n" % count)
        first = await client.ack()
        if first == 0:
            await client.send(DATA)
        await client.send_eof()
        reply = await client.read_all()
        await logs.wait_for(r"job \d+ received|job discarded")
    if kept:
        assert reply == b"\0"
        assert (await one_job(gw))["documents"][0]["sha256"] == sha256(DATA)  # type: ignore[index]
    else:
        # strict: no room for 114 TiB (NAK 2 on ack 1); else NAK 1 after the close
        assert (first, reply[:1]) in ((0, b"\x01"), (2, b"n"))
        assert gw.jobs() == []
        assert job_folders(gw) == []


@pytest.mark.parametrize("lenient", [False, True])
async def test_case09_huge_count_stream(
    nursery: trio.Nursery, tmp_path: Path, lenient: bool
) -> None:
    """CUPS ``mode=stream`` reading stdin: 999999999999, no NUL. Strict: no
    room for that size (NAK 2 on ack 1). Default: read to EOF. (The old
    ``lenient_byte_count`` is read as ``strict_byte_count = not it``.)"""
    gw = await gateway(nursery, tmp_path, lpd={"lenient_byte_count": lenient})
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("l", "dfA001h", None),))) == (0, 0)
    await client.send(b"\x03999999999999 dfA001h\n")
    if not lenient:
        assert await client.ack() == 2
        return
    assert await client.ack() == 0
    await client.send(PS)
    await client.send_eof()
    assert await client.read_all() == b"\0"
    assert (await one_job(gw))["documents"][0]["sha256"] == sha256(PS)  # type: ignore[index]


async def test_case10_non_nul_trailer(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The file is discarded, no ack 2 (BSD); the session goes on, so the
    next byte the client reads is the ack to its next subcommand."""
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    with LogWatch() as logs:
        await client.send(b"\x03%d dfA001h\n" % len(DATA))
        assert await client.ack() == 0
        await client.send(b"X" * len(DATA) + b"\x01")
        await logs.wait_for("instead of NUL")
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert (await one_job(gw))["documents"][0]["sha256"] == sha256(DATA)  # type: ignore[index]


@pytest.mark.parametrize("lenient", [False, True])
async def test_case11_missing_trailer(nursery: trio.Nursery, tmp_path: Path, lenient: bool) -> None:
    """Every announced byte, then close without the NUL (CUPS mode=stream
    with a file): kept unless strict."""
    gw = await gateway(nursery, tmp_path, lpd={"strict_byte_count": not lenient})
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (
            0,
            0,
        )
        await client.send(b"\x03%d dfA001h\n" % len(DATA) + DATA)
        assert await client.ack() == 0
        await client.send_eof()
        await client.read_all()
        await logs.wait_for(r"job \d+ received|job discarded")
    assert len(gw.jobs()) == (1 if lenient else 0)


# --------------------------------------------------------------- 12 - 19 ---


@pytest.mark.parametrize(
    "count",
    [b"99999999999999999999", b"-12", b"+12", b"0x10", b"12abc", b" 12", b""],
)
async def test_case12_malformed_counts(nursery: trio.Nursery, tmp_path: Path, count: bytes) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    with LogWatch() as logs:
        await client.send(b"\x03" + count + b" dfA001h\n")
        reply = await client.read_all()  # NAK, reason, close
        assert logs.find("protocol error")
    assert reply[:1] == b"\x01"


async def test_case12_double_space_is_fine(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    await client.send(b"\x03%d  dfA001h\n" % len(DATA))
    assert await client.ack() == 0


@pytest.mark.parametrize("size", [2**31, 2**32, 2**20 + 1])
async def test_case13_size_over_limit(nursery: trio.Nursery, tmp_path: Path, size: int) -> None:
    """NAK 2 on ack 1 ("no space": BSD senders retry later); the session
    goes on and a file within the limit is taken."""
    gw = await gateway(nursery, tmp_path, limits={"max_job_size": 2**20})
    client = await open_job(gw)
    await client.send(b"\x03%d dfA001h\n" % size)
    reply = await client.ack()
    assert reply == 2
    assert b"larger than the limit" in await client.read_line()  # LPRng shows the reason
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    assert len(gw.jobs()) == 1


async def test_case13_job_total_counts(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The limit is per job: the second file may not push the job over it."""
    gw = await gateway(nursery, tmp_path, limits={"max_job_size": 1000})
    client = await open_job(gw)
    assert await client.data_file("dfA001h", b"x" * 600) == (0, 0)
    await client.send(b"\x03600 dfB001h\n")
    assert await client.ack() == 2


async def test_case14_disk_full_during_write(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = await gateway(nursery, tmp_path)
    real_write = spool_module.DocumentWriter.write

    async def full_after_first_chunk(self: spool_module.DocumentWriter, data: bytes) -> None:
        if self.size > 0:
            raise NoSpace("no space left in the spool")
        await real_write(self, data)

    monkeypatch.setattr(spool_module.DocumentWriter, "write", full_after_first_chunk)
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (
            0,
            0,
        )
        big = 4 * 1024 * 1024
        await client.send(b"\x03%d dfA001h\n" % big)
        assert await client.ack() == 0
        chunk = b"y" * 65536
        reply = b""
        with trio.move_on_after(STEP):
            try:
                for _ in range(big // len(chunk)):
                    await client.stream.send_all(chunk)
            except trio.BrokenResourceError:
                pass
        try:
            reply = await client.read(1)
        except trio.BrokenResourceError:
            reply = b"\x02"  # reset before we read it: the log says what happened
        await logs.wait_for("file refused")
    assert reply == b"\x02"
    assert gw.jobs() == []
    assert job_folders(gw) == []


@pytest.mark.parametrize(
    ("cf_name", "df_name"),
    [
        ("cfA001../../etc/passwd", "../../etc/passwd"),
        ("cf/tmp/x", "df/tmp/x"),
        ("cf", "df"),
        ("cfA001" + "h" * 300, "dfA001" + "h" * 300),
        ("cfA001h\x00x", "dfA001h\x00y"),
    ],
)
async def test_case15_file_names_are_never_paths(
    nursery: trio.Nursery, tmp_path: Path, cf_name: str, df_name: str
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    cf = b"Hh\nPalice\nf" + df_name.encode() + b"\n"
    assert await client.control_file(cf_name, cf) == (0, 0) or "\x00" in df_name
    if "\x00" in df_name:
        return  # a NUL in a print line's data file name: the control file is refused
    assert await client.data_file(df_name, DATA) == (0, 0)
    [job] = gw.jobs()
    assert job.origin.lpd_control_file == cf_name
    for doc in job.documents:
        assert doc.path.startswith("jobs/") and doc.path.rsplit("/", 1)[1].startswith("doc-")
    assert not (tmp_path / "etc").exists()
    assert not Path("/tmp/x").exists() or Path("/tmp/x").stat().st_size != len(DATA)


async def test_case15_empty_file_name_is_refused(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    await client.send(b"\x0312 \n")
    assert (await client.read_all())[:1] == b"\x01"


@pytest.mark.parametrize(
    ("line", "accepted"),
    [
        (b"\x02lp\n", True),
        (b"\x02lp \n", True),
        (b"\x02lp\r\n", True),
        (b"\x02LP\n", True),
        (b"\x02../x\n", False),
        (b"\x02\n", False),
        (b"\x02" + b"q" * 1000 + b"\n", False),
        (b"\x02l\xe9p\n", False),
        (b"\x02lp/instance\n", False),
    ],
)
async def test_case16_queue_names(
    nursery: trio.Nursery, tmp_path: Path, line: bytes, accepted: bool
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(line)
    reply = await client.ack()
    assert (reply == 0) is accepted


async def test_case17_command_line_too_long(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    with LogWatch() as logs:
        await client.send(b"\x03lp " + b"a" * 5000)
        reply = await client.read_all()
        assert logs.find("protocol error: line longer than")
    assert reply[:1] == b"\x01"


async def test_case18_long_control_lines(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    long_j = "J" * 1000
    cf = control(job=long_j, files=(("f", "dfA001h", "N" * 2000),))
    assert await client.control_file("cfA001h", cf) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    side = await one_job(gw)
    assert side["job-name"] == "J" * 255
    assert side["documents"][0]["document-name"] == "N" * 255  # type: ignore[index]


async def test_case19_control_file_too_big(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"max_control_file": "16KiB"})
    client = await open_job(gw)
    await client.send(b"\x02%d cfA001h\n" % (16 * 1024 + 1))
    assert (await client.read_all())[:1] == b"\x01"
    assert gw.jobs() == []


# --------------------------------------------------------------- 20 - 31 ---


async def test_case20_crlf(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(b"\x02lp\r\n")
    assert await client.ack() == 0
    cf = b"Hwinhost\r\nPBOB\r\nJcrlf job\r\nldfA001winhost\r\nNdoc\r\n"
    assert await client.control_file("cfA001winhost", cf) == (0, 0)
    assert await client.data_file("dfA001winhost", DATA) == (0, 0)
    side = await one_job(gw)
    assert side["job-name"] == "crlf job"
    assert side["requesting-user-name"] == "BOB"
    assert side["job-originating-host-name"] == "winhost"


@pytest.mark.parametrize(
    ("lines", "user", "host"),
    [
        (b"fdfA001h\n", "anonymous", "127.0.0.1"),
        (b"Hlocalhost\nP-oFoo\nfdfA001h\n", "_oFoo", "127.0.0.1"),
        (b"H\nP \nfdfA001h\n", "anonymous", "127.0.0.1"),
    ],
)
async def test_case21_missing_or_odd_user_and_host(
    nursery: trio.Nursery, tmp_path: Path, lines: bytes, user: str, host: str
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", lines) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    side = await one_job(gw)
    assert side["requesting-user-name"] == user
    assert side["job-originating-host-name"] == host


async def test_case22_injection_lines_are_inert(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    cf = (
        b"H() { :;}; /bin/touch /tmp/lpd-shellshock\nPalice\nJ$(touch /tmp/lpd-inject)\n"
        b"M-oQ/tmp/x\nU/etc/passwd\nfdfA001h\nUdfA001h\n"
    )
    assert await client.control_file("cfA001h", cf) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    side = await one_job(gw)
    assert side["job-name"] == "$(touch /tmp/lpd-inject)"
    assert not Path("/tmp/lpd-shellshock").exists() and not Path("/tmp/lpd-inject").exists()


async def test_case22_print_a_server_file_is_never_read(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """``f/etc/passwd`` names a data file the client never sends: the job
    is incomplete and discarded; the server's file is never read."""
    gw = await gateway(nursery, tmp_path)
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", b"Hh\nPalice\nf/etc/passwd\n") == (0, 0)
        await client.send_eof()
        await client.read_all()
        line = await logs.wait_for("job discarded")
    assert "/etc/passwd" in line and "never sent" in line
    assert gw.jobs() == []


async def test_case23_missing_and_orphan_data_files(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    # Orphan (never referenced) data file: ignored; the job prints the rest.
    assert await client.data_file("dfZ999h", b"orphan\n") == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    side = await one_job(gw)
    assert len(side["documents"]) == 1  # type: ignore[arg-type]
    assert side["documents"][0]["sha256"] == sha256(DATA)  # type: ignore[index]


async def test_case24_duplicate_data_file_last_wins(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.data_file("dfA001h", b"first copy\n") == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    assert (await one_job(gw))["documents"][0]["sha256"] == sha256(DATA)  # type: ignore[index]


def data_file_names(count: int) -> list[str]:
    """BSD lpr's names: dfA..dfZ, dfa..dfz, then efA.. (lpr.c nfile)."""
    letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)] + [
        chr(c) for c in range(ord("a"), ord("z") + 1)
    ]
    names = []
    for i in range(count):
        prefix = "d" if i < 52 else chr(ord("e") + (i - 52) // 52)
        names.append(f"{prefix}f{letters[i % 52]}001h")
    return names


async def test_case25_more_than_100_data_files(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    names = data_file_names(120)
    client = await open_job(gw)
    cf = control(files=tuple(("f", n, n) for n in names))
    wire = b"".join(df_bytes(n, n.encode() + b"\n") for n in names) + cf_bytes("cfA001h", cf)
    await client.send(wire)
    assert await client.read(2 * 121) == b"\0" * 242
    side = await one_job(gw)
    assert [d["document-name"] for d in side["documents"]] == names  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("cfB123h", 123),
        ("cfZ589h", 589),
        ("cfA123456host", 123456),
        ("cfA123192.168.1.5", 123),
        ("cfA12", 12),
        ("cfAhost", None),
    ],
)
async def test_case26_control_file_names(
    nursery: trio.Nursery, tmp_path: Path, name: str, number: int | None
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert await client.control_file(name, control(files=(("f", "dfA001h", None),))) == (0, 0)
    [job] = gw.jobs()
    assert job.origin.lpd_control_file == name
    assert job.origin.lpd_job_number == number


@pytest.mark.parametrize(
    ("letter", "data", "mime"),
    [
        ("o", b"not sniffed\n", "application/postscript"),
        ("p", DATA, "text/plain"),
        ("r", DATA, "text/plain"),
        ("x", PS, "application/postscript"),
        ("l", b"%PDF-1.7\n", "application/pdf"),
        ("f", b"\x1bE\x1b&l1O", "application/vnd.hp-PCL"),
    ],
)
async def test_case27_format_letters(
    nursery: trio.Nursery, tmp_path: Path, letter: str, data: bytes, mime: str
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    cf = control(files=((letter, "dfA001h", None),), extra=b"Qfoo\nZopts\n5Tunknown\nAodd\n")
    assert await client.control_file("cfA001h", cf) == (0, 0)
    assert await client.data_file("dfA001h", data) == (0, 0)
    assert (await one_job(gw))["documents"][0]["document-format"] == mime  # type: ignore[index]


@pytest.mark.parametrize("letter", ["k", "z"])
async def test_case27_unprintable_letter_refused(
    nursery: trio.Nursery, tmp_path: Path, letter: str
) -> None:
    """The reserved letters (Kerberos, Palladium): the control file gets NAK 1
    and the job (with its data already received) is discarded. (c g n t v are
    printed: tests/integration/test_harden_lpd_letters.py.)"""
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    first, second = await client.control_file(
        "cfA001h", control(files=((letter, "dfA001h", None),))
    )
    assert (first, second) == (0, 1)
    assert gw.jobs() == []
    assert job_folders(gw) == []


async def test_case28_n_before_and_after(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    lprng_order = b"Hh\nPalice\nNfirst.txt\nfdfA001h\nNsecond.txt\nfdfB001h\n"
    bsd_order = b"Hh\nPalice\nfdfA002h\nUdfA002h\nNthird.txt\nfdfB002h\nUdfB002h\nN \n"
    assert await client.control_file("cfA001h", lprng_order) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert await client.data_file("dfB001h", DATA) == (0, 0)
    assert await client.control_file("cfA002h", bsd_order) == (0, 0)
    assert await client.data_file("dfA002h", DATA) == (0, 0)
    assert await client.data_file("dfB002h", DATA) == (0, 0)
    one, two = gw.jobs()
    names1 = [d["document-name"] for d in (await gw.completed(one.id))["documents"]]
    names2 = [d["document-name"] for d in (await gw.completed(two.id))["documents"]]
    assert names1 == ["first.txt", "second.txt"]
    assert names2 == ["third.txt", "(standard input)"]


@pytest.mark.parametrize(
    ("order", "handling"),
    [
        ((b"A", b"A", b"A", b"B", b"B", b"B"), "separate-documents-uncollated-copies"),
        ((b"A", b"B", b"A", b"B", b"A", b"B"), "separate-documents-collated-copies"),
    ],
)
async def test_case29_repeated_format_lines(
    nursery: trio.Nursery, tmp_path: Path, order: Sequence[bytes], handling: str
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    cf = b"Hh\nPalice\n" + b"".join(b"fdf" + x + b"001h\n" for x in order)
    assert await client.control_file("cfA001h", cf) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert await client.data_file("dfB001h", PS) == (0, 0)
    side = await one_job(gw)
    assert side["copies"] == 3
    assert side["multiple-document-handling"] == handling
    assert len(side["documents"]) == 2  # type: ignore[arg-type]


async def test_case30_charsets(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    cf = b"Hh\nPren\xe9\nJcaf\xc3\xa9 \xe2\x82\xac\nfdfA001h\nNna\xefve\x00.txt\n"
    assert await client.control_file("cfA001h", cf) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    side = await one_job(gw)
    assert side["requesting-user-name"] == "ren\u00e9"  # cp1252
    assert side["job-name"] == "caf\u00e9 \u20ac"  # UTF-8
    assert side["documents"][0]["document-name"] == "na\u00efve.txt"  # type: ignore[index]


async def test_case31_apple_repeated_receive_job_line(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    await client.send(b"\x02lp\n")  # ignored, no ack
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    assert len(gw.jobs()) == 1


# --------------------------------------------------------------- 32 - 44 ---


async def test_case32_idle_timeout(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"idle_timeout": 0.3})
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (
            0,
            0,
        )
        await client.send(b"\x03100 dfA001h\n")
        assert await client.ack() == 0
        await client.send(b"x" * 10)  # then nothing
        assert await client.read_all() == b""  # the gateway hangs up
        await logs.wait_for("job discarded")
        assert logs.find("lpd.idle_timeout")
    assert gw.jobs() == []
    assert job_folders(gw) == []


async def test_case32_idle_before_command(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"idle_timeout": 0.2})
    client = await gw.connect()
    assert await client.read_all() == b""


async def test_case32_slowloris_hits_the_job_deadline(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """One byte every 50 ms never trips the 1 s idle timeout, but the
    whole-job deadline (0.5 s) ends the connection."""
    gw = await gateway(nursery, tmp_path, lpd={"idle_timeout": 1.0, "job_timeout": 0.5})
    with LogWatch() as logs:
        client = await open_job(gw)
        await client.send(b"\x031000 dfA001h\n")
        assert await client.ack() == 0
        with trio.fail_after(STEP):
            try:
                for _ in range(1000):
                    await client.stream.send_all(b"x")
                    await trio.sleep(0.05)  # the attack's pacing, not synchronisation
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
        await logs.wait_for("lpd.job_timeout")
    assert gw.jobs() == []


async def test_case33_connection_limit(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With max_connections = 2 a third client waits in the backlog until a
    slot frees; it is then served normally."""
    gw = await gateway(nursery, tmp_path, lpd={"max_connections": 2})
    with LogWatch() as logs:
        one = await open_job(gw)
        two = await open_job(gw)
        three = await gw.connect()
        await three.send(b"\x02lp\n")
        await logs.wait_for("connection slots in use")
        with trio.move_on_after(0.2):
            assert await three.read(1) == b"", "served beyond the limit"
        await one.aclose()
        assert await three.ack() == 0
        await two.aclose()


async def test_case33_many_parallel_connections(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"max_connections": 16})
    replies: list[bytes] = []

    async def lpq() -> None:
        client = await gw.connect()
        await client.send(b"\x03lp\n")
        replies.append(await client.read_all())

    async with trio.open_nursery() as inner:
        for _ in range(200):
            inner.start_soon(lpq)
    assert len(replies) == 200
    assert all(b"no entries" in r for r in replies)


async def test_case34_half_close_after_last_nul(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    await client.send(df_bytes("dfA001h", DATA))
    await client.send_eof()
    assert await client.read_all() == b"\0\0"
    assert len(gw.jobs()) == 1


async def test_case35_one_byte_at_a_time(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    cf = control(files=(("f", "dfA001h", None),))
    wire = b"\x02lp\n" + cf_bytes("cfA001h", cf) + df_bytes("dfA001h", b"tiny\n")
    for i in range(len(wire)):
        await client.stream.send_all(wire[i : i + 1])
    await client.send_eof()
    assert await client.read_all() == b"\0" * 5
    assert len(gw.jobs()) == 1


@pytest.mark.parametrize("line", [b"2lp\n", b"\x06lp\n", b"\x07lp 100\n", b"\x09lp\n", b"\x0alp\n"])
async def test_case36_unknown_commands(nursery: trio.Nursery, tmp_path: Path, line: bytes) -> None:
    gw = await gateway(nursery, tmp_path)
    client = await gw.connect()
    await client.send(line)
    assert (await client.read_all())[:1] == b"\x01"


async def test_case40_no_reverse_dns(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The peer's address text is used as is; no lookup can stall a client."""
    import socket

    def no_lookup(*args: object, **kwargs: object) -> object:
        raise AssertionError("reverse DNS lookup")

    gw = await gateway(nursery, tmp_path)
    monkeypatch.setattr(socket, "gethostbyaddr", no_lookup)
    monkeypatch.setattr(socket, "getnameinfo", no_lookup)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", b"Hlocalhost\nPalice\nfdfA001h\n") == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    [job] = gw.jobs()
    assert job.attributes["job-originating-host-name"] == "127.0.0.1"


async def test_case41_ipv6_peer(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"listen": ["[::1]:0"]})
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    assert await client.control_file("cfA001h", b"Hlocalhost\nPalice\nfdfA001h\n") == (0, 0)
    assert await client.data_file("dfA001h", DATA) == (0, 0)
    [job] = gw.jobs()
    assert job.origin.peer == "::1"
    assert (await gw.completed(job.id))["job-originating-host-name"] == "::1"


async def test_case42_large_streamed_file(nursery: trio.Nursery, tmp_path: Path) -> None:
    """64 MiB through the whole path (the 5 GiB run is the benchmark)."""
    gw = await gateway(nursery, tmp_path)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("l", "dfA001h", None),))) == (0, 0)
    block = bytes(range(256)) * 4096  # 1 MiB
    total = 64
    await client.send(b"\x03%d dfA001h\n" % (len(block) * total))
    assert await client.ack() == 0
    import hashlib

    digest = hashlib.sha256()
    with trio.fail_after(60):
        for _ in range(total):
            await client.stream.send_all(block)
            digest.update(block)
        await client.stream.send_all(b"\0")
    assert await client.ack() == 0
    [job] = gw.jobs()
    assert job.documents[0].size == len(block) * total
    # Streamed documents are not hashed on the way in; the spool file is exact.
    assert job.documents[0].sha256 == ""
    spooled = hashlib.sha256(gw.spool.document_path(job.documents[0]).read_bytes())
    assert spooled.hexdigest() == digest.hexdigest()


async def test_case44_ordinals_with_many_jobs(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(
        nursery, tmp_path, queues={"lp": {"backend": (tmp_path / "out").as_uri(), "enabled": False}}
    )
    client = await open_job(gw)
    for n in range(1, 14):
        assert await client.data_file(f"dfA{n:03d}h", b"%d\n" % n) == (0, 0)
        cf = control(user=f"u{n}", files=(("f", f"dfA{n:03d}h", f"f{n}"),))
        assert await client.control_file(f"cfA{n:03d}h", cf) == (0, 0)
    await client.aclose()
    lpq = await gw.connect()
    await lpq.send(b"\x03lp\n")
    text = (await lpq.read_all()).decode()
    ranks = [line.split()[0] for line in text.splitlines() if line[:1].isdigit()]
    assert ranks[10:13] == ["11th", "12th", "13th"]
    assert ranks[:3] == ["1st", "2nd", "3rd"]


# ------------------------------------------------------------ durability ---


async def test_last_ack_only_after_submit(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = await gateway(nursery, tmp_path)
    release = trio.Event()
    entered = trio.Event()
    real_submit = gw.spool.submit

    async def slow_submit(*args: object, **kwargs: object) -> object:
        entered.set()
        await release.wait()
        return await real_submit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gw.spool, "submit", slow_submit)
    client = await open_job(gw)
    assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (0, 0)
    await client.send(df_bytes("dfA001h", DATA))
    assert await client.ack() == 0  # ack 1
    with trio.fail_after(STEP):
        await entered.wait()
    with trio.move_on_after(0.2):
        assert await client.read(1) == b"", "ack 2 before the job was committed"
    release.set()
    assert await client.ack() == 0
    assert len(gw.jobs()) == 1


async def test_ack2_only_after_fsync(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = await gateway(nursery, tmp_path)
    release = trio.Event()
    entered = trio.Event()
    real_finish = spool_module.DocumentWriter.finish

    async def slow_finish(self: spool_module.DocumentWriter) -> spool_module.StagedFile:
        entered.set()
        await release.wait()
        return await real_finish(self)

    monkeypatch.setattr(spool_module.DocumentWriter, "finish", slow_finish)
    client = await open_job(gw)
    await client.send(df_bytes("dfA001h", DATA))
    assert await client.ack() == 0
    with trio.fail_after(STEP):
        await entered.wait()
    with trio.move_on_after(0.2):
        assert await client.read(1) == b"", "ack 2 before fsync"
    release.set()
    assert await client.ack() == 0


async def test_internal_error_is_one_warning_and_a_nak(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = await gateway(nursery, tmp_path)

    async def broken_submit(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(gw.spool, "submit", broken_submit)
    with LogWatch() as logs:
        client = await open_job(gw)
        assert await client.control_file("cfA001h", control(files=(("f", "dfA001h", None),))) == (
            0,
            0,
        )
        first, second = await client.data_file("dfA001h", DATA)
        assert (first, second) == (0, 1)
        assert b"Traceback" not in await client.read_all()
        await logs.wait_for("internal error: RuntimeError: boom")
    assert job_folders(gw) == []
    assert gw.jobs() == []
