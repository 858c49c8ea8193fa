"""The status page in a real headless browser (Debian chromium): it renders, and
lists the jobs just printed by LPRng lpr and by ipptool with their state. The
screenshot is kept next to the test's temporary files (and checked to be a PNG
of the page, not an error)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import trio

from gateway import config
from gateway.core.job import JobState
from tests.helpers import wait_for_state
from tests.ipp_harness import ipptool_file, running_gateway
from tests.lpd_peers import endpoint, lprng
from tests.peers import require

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,800",
]


async def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(90):
        result: subprocess.CompletedProcess[bytes] = await trio.run_process(
            [str(require("chromium")), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    return result


async def test_status_page_lists_lpr_and_ipptool_jobs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": ["127.0.0.1:0"]},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {"lp": {"backend": out.as_uri()}},
        }
    )
    document = tmp_path / "minutes.txt"
    document.write_text("minutes of the meeting\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "note.txt").write_text("a note\n")
    (work / "print.test").write_text(
        """{
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR naturalLanguage attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name ipp-user
    ATTR name job-name "Sent by ipptool"
    ATTR mimeMediaType document-format text/plain
    FILE note.txt
    STATUS successful-ok
}
"""
    )
    with trio.fail_after(180):
        async with running_gateway(cfg) as running:
            spool = running.context.spool
            await lprng(
                "lpr",
                [
                    "-P",
                    endpoint(running.lpd[0][1]),
                    "-U",
                    "lpr-user",
                    "-J",
                    "Sent by lpr",
                    str(document),
                ],
                tmp_path,
            )
            await ipptool_file(running, "/printers/lp", work)
            jobs = list(spool.jobs())
            assert len(jobs) == 2
            for job in jobs:
                await wait_for_state(spool, job.id, JobState.COMPLETED)
            host, port = running.ipp[0]
            page = f"http://{host}:{port}/"
            shot = tmp_path / "status.png"
            dom = await chromium(
                ["--virtual-time-budget=5000", "--dump-dom", page], tmp_path / "profile1"
            )
            picture = await chromium([f"--screenshot={shot}", page], tmp_path / "profile2")
    html = dom.stdout.decode("utf-8", "replace")
    assert dom.returncode == 0, dom.stderr.decode()
    assert "Print gateway" in html
    for job, name, owner in (
        (jobs[0], "Sent by lpr", "lpr-user"),
        (jobs[1], "Sent by ipptool", "ipp-user"),
    ):
        row = next(line for line in html.split("<tr>") if f">{name}<" in line)
        assert f'<td class="num">{job.id}</td>' in row
        assert f">{owner}<" in row
        assert "completed" in row
    assert picture.returncode == 0, picture.stderr.decode()
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


async def test_a_fleet_page_keeps_its_filter_and_page_when_it_refreshes(tmp_path: Path) -> None:
    out = (tmp_path / "out").as_uri()
    names = [f"shop-{i}" for i in range(60)] + [f"office-{i}" for i in range(60)]
    cfg = config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {name: {"backend": out} for name in names},
        }
    )
    with trio.fail_after(120):
        async with running_gateway(cfg) as running:
            host, port = running.ipp[0]
            # Past the first refresh (every 3 s): the rows are those of the page asked for.
            dom = await chromium(
                [
                    "--virtual-time-budget=5000",
                    "--dump-dom",
                    f"http://{host}:{port}/?q=office&page=2",
                ],
                tmp_path / "profile",
            )
    html = dom.stdout.decode("utf-8", "replace")
    assert dom.returncode == 0, dom.stderr.decode()
    body = html.split('<tbody id="queues">', 1)[1].split("</tbody>", 1)[0]
    shown = re.findall(r'<a href="/printers/([^"]+)">', body)
    assert shown == [f"office-{i}" for i in range(50, 60)]
    assert "51-60 of 60" in html and "page 2 of 2" in html
    assert 'href="/?q=office&amp;page=1"' in html
