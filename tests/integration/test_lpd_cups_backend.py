"""The real CUPS ``lpd`` backend (cups package, unpacked under PEERS_ROOT),
run as cupsd runs it, printing to the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.lpd_harness import LogWatch, document_bytes, gateway, sha256
from tests.lpd_peers import cups_lpd_backend

pytestmark = pytest.mark.peer

PCL = b"\x1bE\x1b&l0O" + b"PCL page\r\n" * 40 + b"\x1bE"
POSTSCRIPT = b"%!PS-Adobe-3.0\n/Times-Roman findfont 10 scalefont setfont\nshowpage\n"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


async def test_default_options(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Control first, format ``l``, title in J and N; the data is sniffed."""
    gw = await gateway(nursery, tmp_path)
    result = await cups_lpd_backend(
        gw.port,
        job_id=42,
        user="alice",
        title="Quarterly report",
        copies=1,
        file=write(tmp_path, "q.pcl", PCL),
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["requesting-user-name"] == "alice"
    assert side["job-name"] == "Quarterly report"
    assert side["job-sheets"] == "none"
    [doc] = side["documents"]
    assert doc["document-name"] == "Quarterly report"
    assert doc["document-format"] == "application/vnd.hp-PCL"
    assert doc["sha256"] == sha256(PCL)
    assert document_bytes(gw.out, doc) == PCL


async def test_data_first_repeated_format_lines(nursery: trio.Nursery, tmp_path: Path) -> None:
    """``order=data,control&manual_copies=off``: three ``l`` lines -> copies 3."""
    gw = await gateway(nursery, tmp_path)
    result = await cups_lpd_backend(
        gw.port,
        job_id=43,
        user="bob",
        title="Three",
        copies=3,
        file=write(tmp_path, "a.ps", POSTSCRIPT),
        uri_options="snmp=off&order=data,control&manual_copies=off&banner=on",
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["copies"] == 3
    assert side["job-sheets"] == "standard"
    [doc] = side["documents"]
    assert doc["document-format"] == "application/postscript"
    assert doc["sha256"] == sha256(POSTSCRIPT)


async def test_manual_copies_concatenated(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Default ``manual_copies=on``: one data file holding the copies."""
    gw = await gateway(nursery, tmp_path)
    result = await cups_lpd_backend(
        gw.port,
        job_id=44,
        user="carol",
        title="Two",
        copies=2,
        file=write(tmp_path, "b.ps", POSTSCRIPT),
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["copies"] == 1
    assert side["documents"][0]["sha256"] == sha256(POSTSCRIPT * 2)


async def test_empty_file(nursery: trio.Nursery, tmp_path: Path) -> None:
    """An empty file is announced with size 0 and followed at once by the NUL."""
    gw = await gateway(nursery, tmp_path)
    result = await cups_lpd_backend(
        gw.port,
        job_id=45,
        user="dave",
        title="Empty",
        copies=1,
        file=write(tmp_path, "empty.txt", b""),
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["documents"][0]["size"] == 0


@pytest.mark.parametrize("lenient", [True, False])
async def test_mode_stream(nursery: trio.Nursery, tmp_path: Path, lenient: bool) -> None:
    """``mode=stream``: no NUL after the data, then close. Kept by default;
    refused with ``lpd.strict_byte_count``."""
    gw = await gateway(nursery, tmp_path, lpd={} if lenient else {"strict_byte_count": True})
    with LogWatch() as logs:
        result = await cups_lpd_backend(
            gw.port,
            job_id=46,
            user="erin",
            title="Streamed",
            copies=1,
            file=write(tmp_path, "s.ps", POSTSCRIPT),
            uri_options="snmp=off&mode=stream",
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        # The backend does not wait for the last ack: wait for the gateway's verdict.
        if lenient:
            await logs.wait_for(r"^job \d+ received ")
        else:
            await logs.wait_for(r"job discarded: .*unterminated")
    if lenient:
        [job] = gw.jobs()
        side = await gw.completed(job.id)
        assert side["documents"][0]["sha256"] == sha256(POSTSCRIPT)
    else:
        assert gw.jobs() == []
