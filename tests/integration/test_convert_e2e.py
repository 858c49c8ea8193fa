"""Conversion end to end, with real clients and real printers on both sides:
legacy hosts' text and PostScript (LPRng and BSD lpr) to an IPP Everywhere printer
that takes only PWG raster and JPEG (ippeveprinter), and what phones send (PDF,
JPEG, PWG raster, URF by ipptool) to an LPD printer that takes only PostScript, or
only PCL (LPRng). What the printer received is checked with tools that are not
the gateway's: cups-filters' rastertopdf, Ghostscript, poppler."""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import sys
from pathlib import Path

import trio

from gateway import config
from gateway.core.job import Job, JobState
from gateway.core.spool import Spool
from tests.helpers import wait_for_state
from tests.integration.test_e2e_ipp_printer import first_job, quick_printer
from tests.integration.test_harden_lpd_letters import bsd_forwarder
from tests.ipp_harness import IPPTOOL_FILES, ipptool_file, running_gateway
from tests.lpd_peers import endpoint, lprng
from tests.peers.eve import ippeveprinter
from tests.peers.lprng import lprng as lprng_daemon

#: Three pages of text: form feeds break pages, Greek and Cyrillic need the font.
REPORT = (
    "Quarterly report\n\nRevenue\t\t1,234\nΑθήνα  Москва\n\f"  # noqa: RUF001
    "Page two of the report\n\f"
    "Page three, the end\n"
).encode()
RASTER_TOOL = Path("/usr/lib/cups/filter/rastertopdf")


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    for line in info.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise AssertionError(info.stdout)


def raster_as_pdf(raster: Path, tmp: Path, content_type: str) -> Path:
    """A PWG raster or URF file decoded by cups-filters' rastertopdf (not ours)."""
    out = tmp / (raster.name + ".pdf")
    env = {
        "PATH": os.environ["PATH"],
        "CONTENT_TYPE": content_type,
        "FINAL_CONTENT_TYPE": "application/pdf",
    }
    with open(out, "wb") as fh:
        subprocess.run(
            [str(RASTER_TOOL), "1", "user", "title", "1", "", str(raster)],
            stdout=fh,
            stderr=subprocess.DEVNULL,
            env=env,
            check=True,
            timeout=60,
        )
    return out


def inked_pages(pdf: Path, tmp: Path) -> list[bool]:
    """Per page, whether it has any dark pixel (rendered by pdftoppm at 30 dpi)."""
    prefix = tmp / f"{pdf.stem}-page"
    subprocess.run(["pdftoppm", "-r", "30", "-gray", str(pdf), str(prefix)], check=True, timeout=60)
    result = []
    for page in sorted(tmp.glob(f"{prefix.name}-*.pgm")):
        data = page.read_bytes()
        # P5 header: magic, width height, maxval, then the pixels.
        fields = data.split(maxsplit=4)
        pixels = fields[4]
        result.append(min(pixels) < 128)
    return result


def ps_pages(ps: Path) -> int:
    """Pages Ghostscript renders from a PostScript file."""
    result = subprocess.run(
        ["gs", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-q", "-sDEVICE=bbox", str(ps)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stderr.count("%%BoundingBox:")  # the bbox device: one per page


async def ended(spool: Spool, job_id: int, *, handed_over: bool = False) -> Job:
    """The job once it ends, whatever the end (the assertion names the state), or
    with `handed_over` once the backend also took it (a stopped LPD queue keeps it)."""
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set())
    while True:
        job = spool.get(job_id)
        assert job is not None
        if job.state.is_terminal or (handed_over and job.backend_job_id is not None):
            return job
        await events[-1].wait()
        events.append(trio.Event())


def gateway_to(
    uri: str, tmp: Path, *, name: str = "office", lpd_host: str = "127.0.0.1"
) -> config.Config:
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp / "spool")},
            "lpd": {"listen": [f"{lpd_host}:0"]},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {name: {"backend": uri}},
        }
    )


# ---------------------------------------------------------------------------
# Legacy hosts to an IPP Everywhere printer that takes only PWG raster and JPEG


async def lpr_to_a_raster_printer(tmp_path: Path, document: Path, client: str) -> tuple[Path, Job]:
    """`document` by LPRng's or BSD's lpr (through a BSD lpd forwarder) to a gateway
    queue in front of ippeveprinter taking only PWG raster and JPEG: the file the
    printer kept and the completed job."""
    bsd = client == "bsd"
    # The BSD forwarder sends its jobs to queue lp at 127.0.0.2.
    cfg_queue, host = ("lp", "127.0.0.2") if bsd else ("office", "127.0.0.1")
    with trio.fail_after(180):
        async with (
            ippeveprinter(
                tmp_path / "eve",
                formats=("image/pwg-raster", "image/jpeg"),
                command=quick_printer(tmp_path),
            ) as eve,
            running_gateway(
                gateway_to(eve.uri, tmp_path, name=cfg_queue, lpd_host=host)
            ) as running,
        ):
            spool = running.context.spool
            port = running.lpd[0][1]
            async with contextlib.AsyncExitStack() as stack:
                if bsd:  # the forwarder runs until the job is printed
                    forwarder = await stack.enter_async_context(bsd_forwarder(port, host=host))
                    await forwarder.lpr(str(document))
                else:
                    args = ["-P", endpoint(port, cfg_queue), "-J", "report", str(document)]
                    await lprng("lpr", args, tmp_path)
                job = await first_job(spool)
                done = await wait_for_state(spool, job.id, JobState.COMPLETED)
    (kept,) = eve.files()
    return kept, done


async def test_lprng_lpr_text_reaches_a_raster_only_printer_as_pwg_raster(tmp_path: Path) -> None:
    document = tmp_path / "report.txt"
    document.write_bytes(REPORT)
    kept, done = await lpr_to_a_raster_printer(tmp_path, document, "lprng")
    head = kept.read_bytes()[:4]
    assert head == b"RaS2", head
    decoded = raster_as_pdf(kept, tmp_path, "image/pwg-raster")
    assert pdf_pages(decoded) == 3
    assert inked_pages(decoded, tmp_path) == [True, True, True]
    (doc,) = done.documents
    assert doc.print_format == "image/pwg-raster" and doc.pages == 3
    assert done.pages == 3
    # The PDF the chain goes through (made again by the same program, the runner
    # removes it) gives the text back, Greek and Cyrillic included.
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            sys.executable, "-m", "gateway.convert.texttopdf", str(document), str(pdf),
            "--media=na_letter_8.5x11in",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Quarterly report" in text and "Αθήνα" in text and "Москва" in text
    assert text.count("\f") >= 3


async def test_bsd_lpr_text_reaches_a_raster_only_printer_as_pwg_raster(tmp_path: Path) -> None:
    document = tmp_path / "report.txt"
    document.write_bytes(REPORT)
    kept, done = await lpr_to_a_raster_printer(tmp_path, document, "bsd")
    assert kept.read_bytes()[:4] == b"RaS2"
    decoded = raster_as_pdf(kept, tmp_path, "image/pwg-raster")
    assert pdf_pages(decoded) == 3 and inked_pages(decoded, tmp_path) == [True, True, True]
    assert done.pages == 3


async def test_bsd_lpr_postscript_reaches_a_raster_only_printer_as_pwg_raster(
    tmp_path: Path,
) -> None:
    document = tmp_path / "document.ps"
    document.write_bytes((IPPTOOL_FILES / "document-a4.ps").read_bytes())
    kept, done = await lpr_to_a_raster_printer(tmp_path, document, "bsd")
    assert kept.read_bytes()[:4] == b"RaS2"
    expected = ps_pages(document)
    decoded = raster_as_pdf(kept, tmp_path, "image/pwg-raster")
    assert pdf_pages(decoded) == expected
    assert all(inked_pages(decoded, tmp_path))
    assert done.pages == expected


# ---------------------------------------------------------------------------
# What phones send, to an LPD printer that takes only PostScript (or only PCL)


def print_test(name: str, document: str, mime: str) -> str:
    return f"""{{
    NAME "Print-Job {name}"
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR naturalLanguage attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name phone
    ATTR name job-name "{name}"
    ATTR mimeMediaType document-format {mime}
    FILE {document}
    STATUS successful-ok
    EXPECT job-id OF-TYPE integer
}}
"""


def phone_documents(work: Path) -> dict[str, tuple[str, str]]:
    """name -> (file in `work`, document-format): a PDF, a JPEG, a PWG raster
    (the shared sample, un-gzipped) and a URF made by Ghostscript."""
    for name in ("testfile.pdf", "testfile.jpg"):
        (work / name).write_bytes((IPPTOOL_FILES / name).read_bytes())
    raw = (IPPTOOL_FILES / "onepage-a4-300-black-1.pwg").read_bytes()
    (work / "page.pwg").write_bytes(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    subprocess.run(
        [
            "gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=urf", "-r300",
            f"-sOutputFile={work / 'page.urf'}", str(IPPTOOL_FILES / "onepage-a4.pdf"),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return {
        "pdf": ("testfile.pdf", "application/pdf"),
        "jpeg": ("testfile.jpg", "image/jpeg"),
        "pwg": ("page.pwg", "image/pwg-raster"),
        "urf": ("page.urf", "image/urf"),
    }


async def _phone_jobs_to_lprng(tmp_path: Path, formats: str) -> tuple[list[Job], list[Path]]:
    """Each phone document by ipptool to a gateway queue in front of LPRng whose
    printer takes `formats`; the ended jobs and LPRng's data files, in order."""
    work = tmp_path / "work"
    work.mkdir()
    documents = phone_documents(work)
    jobs: list[Job] = []
    with trio.fail_after(300):
        async with lprng_daemon() as daemon:
            await daemon.lpc("stop")  # keep what arrives in the spool, to read it
            uri = daemon.uri("lp", f"formats={formats}")
            async with running_gateway(gateway_to(uri, tmp_path)) as running:
                spool = running.context.spool
                for name, (file, mime) in documents.items():
                    (work / f"{name}.test").write_text(print_test(name, file, mime))
                    await ipptool_file(running, "/printers/office", work, f"{name}.test")
                    job = max(spool.jobs(), key=lambda j: j.id)
                    jobs.append(await ended(spool, job.id, handed_over=True))
            files = sorted(daemon.spool("lp").glob("df*"), key=lambda p: p.stat().st_mtime)
            kept = tmp_path / "received"
            kept.mkdir()
            data = []
            for index, file in enumerate(files):  # LPRng's folder goes when it stops
                data.append(kept / f"{index + 1}-{file.name}")
                data[-1].write_bytes(file.read_bytes())
    return jobs, data


async def test_phone_formats_reach_a_postscript_only_lpd_printer_as_postscript(
    tmp_path: Path,
) -> None:
    jobs, data = await _phone_jobs_to_lprng(tmp_path, "application/postscript")
    assert [j.backend_job_id is not None for j in jobs] == [True] * 4, [
        j.state_message for j in jobs
    ]
    assert len(data) == 4
    sources = [
        tmp_path / "work" / "testfile.pdf",
        None,
        None,
        None,
    ]
    for job, stored, source in zip(jobs, data, sources, strict=True):
        assert stored.read_bytes()[:4] == b"%!PS", (job.documents[0].format, stored)
        rendered = ps_pages(stored)
        assert rendered == job.pages, (job.documents[0].format, rendered, job.pages)
        if source is not None:
            assert rendered == pdf_pages(source)
        else:
            assert rendered == 1


async def test_phone_formats_reach_a_pcl_only_lpd_printer_as_pcl(tmp_path: Path) -> None:
    jobs, data = await _phone_jobs_to_lprng(tmp_path, "application/vnd.hp-pcl")
    assert [j.backend_job_id is not None for j in jobs] == [True] * 4, [
        j.state_message for j in jobs
    ]
    for stored in data:
        head = stored.read_bytes()[:64]
        assert head.startswith(b"\x1bE") or b"\x1b%-12345X" in head, head


# ---------------------------------------------------------------------------
# Hostile documents: each stopped at its limit, its job aborted with the reason,
# and the queue goes on

LOOP = b"%!PS\n{} loop\n"
PASSWD = b"%!PS\n(/etc/passwd) (r) file 100 string readstring pop == showpage\n"
FINE = b"%!PS\n/Helvetica findfont 24 scalefont setfont 72 700 moveto (fine) show showpage\n"


async def test_hostile_documents_abort_their_job_and_the_next_job_prints(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name, data in (("loop.ps", LOOP), ("passwd.ps", PASSWD), ("fine.ps", FINE)):
        (work / name).write_bytes(data)
    results: list[Job] = []
    with trio.fail_after(240):
        async with lprng_daemon() as daemon:
            cfg = config.from_mapping(
                {
                    "gateway": {"spool_dir": str(tmp_path / "spool")},
                    "lpd": {"listen": []},
                    "ipp": {"listen": ["127.0.0.1:0"]},
                    "convert": {"time_limit": "3s", "cpu_limit": "3s"},
                    "queues": {"office": {"backend": daemon.uri("lp", "formats=application/pdf")}},
                }
            )
            async with running_gateway(cfg) as running:
                spool = running.context.spool
                for name in ("loop", "passwd", "fine"):
                    test = print_test(name, f"{name}.ps", "application/postscript")
                    (work / f"{name}.test").write_text(test)
                    await ipptool_file(running, "/printers/office", work, f"{name}.test")
                    job = max(spool.jobs(), key=lambda j: j.id)
                    results.append(await ended(spool, job.id, handed_over=True))
    loop, passwd, fine = results
    assert loop.state == JobState.ABORTED
    assert "time limit of 3 s" in loop.state_message or "CPU time limit" in loop.state_message
    assert passwd.state == JobState.ABORTED
    assert "may not read" in passwd.state_message, passwd.state_message
    assert fine.backend_job_id is not None and fine.documents[0].print_format == "application/pdf"
    secret = Path("/etc/passwd").read_bytes()[:40]
    for path in (tmp_path / "spool").rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
