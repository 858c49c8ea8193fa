"""The real LPRng lpr, lpq and lprm (Debian lprng), and rlpr, against the gateway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio

from gateway.core.job import JobState
from tests.lpd_harness import Gateway, LogWatch, document_bytes, gateway, sha256
from tests.lpd_peers import endpoint, lprng

pytestmark = pytest.mark.peer

TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 50
POSTSCRIPT = b"%!PS-Adobe-3.0\n/Helvetica findfont 12 scalefont setfont\nshowpage\n"


def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    (folder / "report.txt").write_bytes(TEXT)
    (folder / "figure.ps").write_bytes(POSTSCRIPT)
    return folder


async def held_gateway(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    """A gateway whose queue does not forward (jobs stay for lpq and lprm)."""
    return await gateway(
        nursery,
        tmp_path,
        queues={"lp": {"backend": (tmp_path / "out").as_uri(), "enabled": False}},
    )


async def test_lpr_prints_a_file(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    folder = docs(tmp_path)
    await lprng(
        "lpr",
        ["-P", endpoint(gw.port), "-U", "alice", "-J", "Quarterly report", "report.txt"],
        tmp_path,
        cwd=folder,
    )
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["requesting-user-name"] == "alice"
    assert side["job-name"] == "Quarterly report"
    assert side["job-sheets"] == "standard"  # LPRng sends L unless -h
    assert job.origin.host  # LPRng's H line (this machine's name)
    assert job.origin.lpd_control_file is not None
    assert job.origin.lpd_control_file.startswith("cf")
    [doc] = side["documents"]
    assert doc["document-name"] == "report.txt"
    assert doc["document-format"] == "text/plain"
    assert doc["sha256"] == sha256(TEXT)
    assert document_bytes(gw.out, doc) == TEXT


async def test_lpr_two_files(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Two documents in one job, in order, each sniffed. (LPRng's default
    printcap allows one copy, so copies are covered by the raw-byte tests.)"""
    gw = await gateway(nursery, tmp_path)
    folder = docs(tmp_path)
    await lprng(
        "lpr",
        ["-P", endpoint(gw.port), "-U", "bob", "-h", "report.txt", "figure.ps"],
        tmp_path,
        cwd=folder,
    )
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["copies"] == 1
    assert side["job-sheets"] == "none"
    assert [d["document-name"] for d in side["documents"]] == ["report.txt", "figure.ps"]
    assert [d["document-format"] for d in side["documents"]] == [
        "text/plain",
        "application/postscript",
    ]
    assert [d["sha256"] for d in side["documents"]] == [sha256(TEXT), sha256(POSTSCRIPT)]


async def test_lpr_stream_k_from_stdin(nursery: trio.Nursery, tmp_path: Path) -> None:
    """``lpr -k``: the data file is announced with size 0 and streamed to EOF."""
    gw = await gateway(nursery, tmp_path)
    with LogWatch() as logs:
        await lprng(
            "lpr", ["-P", endpoint(gw.port), "-U", "carol", "-k"], tmp_path, stdin=POSTSCRIPT
        )
        # lpr may exit before the last ack, which comes after its EOF: wait for the job.
        await logs.wait_for(r"^job \d+ received ")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    [doc] = side["documents"]
    assert doc["sha256"] == sha256(POSTSCRIPT)
    assert doc["document-format"] == "application/postscript"
    assert side["requesting-user-name"] == "carol"


async def test_lpq_shows_the_queue(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held_gateway(nursery, tmp_path)
    folder = docs(tmp_path)
    for user, name in (("alice", "report.txt"), ("bob", "figure.ps")):
        await lprng("lpr", ["-P", endpoint(gw.port), "-U", user, name], tmp_path, cwd=folder)
    first, second = gw.jobs()

    # Default lpq: the long form (\4).
    out = (await lprng("lpq", ["-P", endpoint(gw.port)], tmp_path)).stdout.decode()
    assert "lp is down" in out or "Warning" in out  # the queue is stopped (enabled = false)
    assert re.search(rf"^alice: 1st\s+\[job {first.id:03d} \S+\]$", out, re.M), out
    assert re.search(rf"^bob: 2nd\s+\[job {second.id:03d} \S+\]$", out, re.M), out
    assert re.search(rf"^\treport\.txt\s+{len(TEXT)} bytes$", out, re.M), out

    # lpq -s: the short form (\3), BSD columns.
    out = (await lprng("lpq", ["-s", "-P", endpoint(gw.port)], tmp_path)).stdout.decode()
    assert re.search(r"^Rank\s+Owner\s+Job\s+Files\s+Total Size$", out, re.M), out
    assert re.search(rf"^1st\s+alice\s+{first.id}\s+report\.txt\s+{len(TEXT)} bytes$", out, re.M), (
        out
    )
    assert re.search(
        rf"^2nd\s+bob\s+{second.id}\s+figure\.ps\s+{len(POSTSCRIPT)} bytes$", out, re.M
    ), out

    # Filtered by user name and by job number.
    out = (await lprng("lpq", ["-s", "-P", endpoint(gw.port), "bob"], tmp_path)).stdout.decode()
    assert "bob" in out and "alice" not in out, out
    out = (
        await lprng("lpq", ["-s", "-P", endpoint(gw.port), str(first.id)], tmp_path)
    ).stdout.decode()
    assert "alice" in out and "bob" not in out, out


async def test_lpq_empty_queue(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    out = (await lprng("lpq", ["-P", endpoint(gw.port)], tmp_path)).stdout.decode()
    assert "lp is ready" in out
    assert "no entries" in out


async def test_lprm_by_job_id(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held_gateway(nursery, tmp_path)
    folder = docs(tmp_path)
    for _ in range(2):
        await lprng(
            "lpr", ["-P", endpoint(gw.port), "-U", "alice", "report.txt"], tmp_path, cwd=folder
        )
    first, second = gw.jobs()
    result = await lprng("lprm", ["-P", endpoint(gw.port), "-U", "alice", str(second.id)], tmp_path)
    assert "dequeued" in result.stdout.decode(), result.stdout
    assert gw.spool.get(second.id).state == JobState.CANCELED  # type: ignore[union-attr]
    assert gw.spool.get(first.id).state == JobState.PENDING  # type: ignore[union-attr]
    out = (await lprng("lpq", ["-s", "-P", endpoint(gw.port)], tmp_path)).stdout.decode()
    assert re.search(rf"^1st\s+alice\s+{first.id}\s", out, re.M), out
    assert not re.search(rf"^\S+\s+alice\s+{second.id}\s", out, re.M), out


async def test_lprm_by_client_job_number(nursery: trio.Nursery, tmp_path: Path) -> None:
    """``lprm N`` with the number from the client's own cfA name."""
    gw = await held_gateway(nursery, tmp_path)
    await lprng("lpr", ["-P", endpoint(gw.port), "-U", "alice"], tmp_path, stdin=TEXT)
    [job] = gw.jobs()
    number = job.origin.lpd_job_number
    assert number is not None and number != job.id
    await lprng("lprm", ["-P", endpoint(gw.port), "-U", "alice", str(number)], tmp_path)
    assert gw.spool.get(job.id).state == JobState.CANCELED  # type: ignore[union-attr]


async def test_lprm_other_users_job_is_denied(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held_gateway(nursery, tmp_path)
    await lprng("lpr", ["-P", endpoint(gw.port), "-U", "alice"], tmp_path, stdin=TEXT)
    [job] = gw.jobs()
    await lprng("lprm", ["-P", endpoint(gw.port), "-U", "mallory", str(job.id)], tmp_path)
    assert gw.spool.get(job.id).state == JobState.PENDING  # type: ignore[union-attr]


async def test_lprm_all_as_root_from_trusted_host(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held_gateway(nursery, tmp_path)
    for user in ("alice", "bob"):
        await lprng("lpr", ["-P", endpoint(gw.port), "-U", user], tmp_path, stdin=TEXT)
    await lprng("lprm", ["-P", endpoint(gw.port), "all"], tmp_path)  # agent root
    assert [j.state for j in gw.jobs()] == [JobState.CANCELED, JobState.CANCELED]
    out = (await lprng("lpq", ["-P", endpoint(gw.port)], tmp_path)).stdout.decode()
    assert "no entries" in out


async def test_lprm_without_arguments_removes_the_users_job(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await held_gateway(nursery, tmp_path)
    for user in ("bob", "alice", "alice"):
        await lprng("lpr", ["-P", endpoint(gw.port), "-U", user], tmp_path, stdin=TEXT)
    bob, first, second = gw.jobs()
    await lprng("lprm", ["-P", endpoint(gw.port), "-U", "alice"], tmp_path)
    states = [gw.spool.get(j.id).state for j in (bob, first, second)]  # type: ignore[union-attr]
    assert states == [JobState.PENDING, JobState.CANCELED, JobState.PENDING]


async def test_rlpr_prints_a_file(nursery: trio.Nursery, tmp_path: Path) -> None:
    """rlpr (a BSD-style client that talks to any host and port)."""
    from tests.lpd_peers import run
    from tests.peers import require

    gw = await gateway(nursery, tmp_path)
    folder = docs(tmp_path)
    rlpr = str(require("rlpr"))
    result = await run(
        [rlpr, "-H", "127.0.0.1", f"--port={gw.port}", "-P", "lp", "-U", "dave", "report.txt"],
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    [job] = gw.jobs()
    side = await gw.completed(job.id)
    assert side["requesting-user-name"] == "dave"
    assert side["documents"][0]["sha256"] == sha256(TEXT)
