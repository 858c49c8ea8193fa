"""Every gateway queue is an IPP Everywhere printer: CUPS's ipp-everywhere.test
(PWG 5100.14, with the ipp-2.0 and ipp-1.1 tests it includes) against a
``file://`` queue, an ``lpd://`` queue with LPRng behind it (configured as a
PostScript printer: ``formats = application/postscript,text/plain``) and an
``ipp://`` queue in front of ippeveprinter, which itself fails three of them
(it answers Create-Job with server-error-busy while printing, and takes no
PWG raster).

The suite runs as reference/ipp.md section 4.5 says: the .test files copied
next to CUPS's sample documents, ``ipptool -t -I -V 2.0 -f testfile.pdf``.
ipp-everywhere.test then ends at its first PWG raster sample file (Debian
ships none; ipptool stops reading the file there), after its required
attributes test; the PWG raster path is exercised by the Print-Job tests of
`print_job_test` below instead, with a raster Ghostscript made.

A second file (`print_job_test`) sends Validate-Job and Print-Job with every
job template attribute a queue advertises (media-col, print-quality,
print-color-mode, sides, number-up, page-ranges, orientation-requested,
print-scaling, print-rendering-intent) with ipp-attribute-fidelity, so a value
advertised but refused fails, and a PWG raster document, plain and gzip.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import trio

from gateway import app, config
from tests import peers
from tests.ipp_harness import (
    IpptoolResult,
    ipptool_workdir,
    printer_uri,
    run_ipptool,
    running_gateway,
)
from tests.peers.eve import ippeveprinter
from tests.peers.lprng import lprng

pytestmark = pytest.mark.peer

EVERYWHERE = "ipp-everywhere.test"
REQUIRED = "PWG 5100.14 section 5.1/5.2 - Required Operations and Attributes"
#: Tests that pass, at least, of those that run for each queue (ipp-1.1 skips
#: what a queue does not advertise: ippeveprinter has no 2-up and no draft).
PASSED_FILE = 56
PASSED_LPD = 52
PASSED_IPP = 46
LPD_FORMATS = "application/postscript,text/plain"


def failed_tests(result: IpptoolResult) -> list[str]:
    """The names of the tests ipptool marked [FAIL], with what it expected."""
    names = []
    lines = result.output.splitlines()
    for index, line in enumerate(lines):
        if line.rstrip().endswith("[FAIL]"):
            expected = [
                text.strip()
                for text in lines[index + 1 : index + 12]
                if text.strip().startswith(("EXPECTED", "GOT"))
            ]
            names.append(line.replace("[FAIL]", "").strip() + " " + "; ".join(expected))
    return names


def passed(result: IpptoolResult, name: str) -> bool:
    return bool(re.search(re.escape(name) + r"\s*\[PASS\]", result.output))


def gateway(
    tmp_path: Path, backend: str, options: dict[str, object] | None = None
) -> config.Config:
    """A gateway with queue ``office`` (and file queue ``lp``) on loopback."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    office: dict[str, object] = {"backend": backend}
    if options:
        office["backend_options"] = options
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": []},
            "ipp": {"listen": ["127.0.0.1:0"]},
            "queues": {"lp": {"backend": out.as_uri()}, "office": office},
        }
    )


def pwg_raster(work: Path) -> Path:
    """A one-page A4 PWG raster (sGray 8 bit, 300 dpi), made by Ghostscript from
    CUPS's sample PDF: what an IPP Everywhere client sends."""
    out = work / "onepage-a4-sgray-8-300dpi.pwg"
    subprocess.run(
        [
            str(peers.require("gs")),
            "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pwgraster",
            "-r300", "-dcupsColorSpace=18", "-dcupsBitsPerColor=8",
            f"-sOutputFile={out}", str(work / "onepage-a4.pdf"),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )  # fmt: skip
    assert out.read_bytes()[:4] == b"RaS2"
    return out


def print_job_test(work: Path, *, sides: str, color_mode: str) -> str:
    """A .test file: Validate-Job and Print-Job with the job template attributes
    IPP Everywhere clients send, then PWG raster plain and gzip."""
    raster = pwg_raster(work).name
    template = f"""
    GROUP job-attributes-tag
    ATTR collection media-col {{
        MEMBER collection media-size {{
            MEMBER integer x-dimension 21000
            MEMBER integer y-dimension 29700
        }}
        MEMBER keyword media-source auto
        MEMBER keyword media-type stationery
    }}
    ATTR enum print-quality 5
    ATTR keyword print-color-mode {color_mode}
    ATTR keyword sides {sides}
    ATTR integer number-up 1
    ATTR rangeOfInteger page-ranges 1-1
    ATTR enum orientation-requested 3
    ATTR keyword print-scaling auto
    ATTR keyword print-rendering-intent auto
    ATTR integer copies 1
"""
    operation = """
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR naturalLanguage attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name $user
    ATTR boolean ipp-attribute-fidelity true
"""
    pdf = "application/pdf"
    tests = [
        ("Validate-Job with the IPP Everywhere template", "Validate-Job", pdf, "", ""),
        ("Print-Job PDF with the IPP Everywhere template", "Print-Job", pdf, "", "testfile.pdf"),
        ("Print-Job PWG raster", "Print-Job", "image/pwg-raster", "", raster),
        ("Print-Job PWG raster, gzip", "Print-Job", "image/pwg-raster", "gzip", raster),
    ]
    text = []
    for name, op, fmt, compression, file in tests:
        body = operation + f"    ATTR mimeMediaType document-format {fmt}\n"
        if compression:
            body += f"    ATTR keyword compression {compression}\n"
        body += template
        if compression:
            body += f"    COMPRESSION {compression}\n"
        if file:
            body += f"    FILE {file}\n"
        text.append(
            f'{{\n    NAME "{name}"\n    OPERATION {op}\n{body}    STATUS successful-ok\n}}\n'
        )
    path = work / "everywhere-print.test"
    path.write_text("\n".join(text))
    return path.name


async def run_file(work: Path, uri: str, test: str) -> IpptoolResult:
    """``ipptool -t -I -V 2.0 URI TEST`` in `work`."""
    return await run_ipptool(peers.require("ipptool"), work, uri, test, "2.0")


def check(result: IpptoolResult, *, at_least: int) -> None:
    failures = failed_tests(result)
    assert result.failed == 0, f"{result.failed} failed: {failures}\n{result.output}"
    assert result.passed >= at_least, result.output


async def everywhere(
    running: app.Running, work: Path, *, at_least: int, sides: str, color: str
) -> None:
    """ipp-everywhere.test, then `print_job_test`, against queue ``office``."""
    uri = printer_uri(running, "/printers/office")
    result = await run_file(work, uri, EVERYWHERE)
    print(f"\n{EVERYWHERE}: {result.passed} passed, {result.failed} failed")
    check(result, at_least=at_least)
    assert passed(result, REQUIRED), result.output
    prints = await run_file(work, uri, print_job_test(work, sides=sides, color_mode=color))
    check(prints, at_least=4)


async def test_file_queue_is_an_ipp_everywhere_printer(tmp_path: Path) -> None:
    work = ipptool_workdir(tmp_path)
    with trio.fail_after(400):
        async with running_gateway(gateway(tmp_path, (tmp_path / "out").as_uri())) as running:
            await everywhere(
                running, work, at_least=PASSED_FILE, sides="two-sided-long-edge", color="color"
            )


async def test_lpd_queue_is_an_ipp_everywhere_printer(tmp_path: Path) -> None:
    work = ipptool_workdir(tmp_path)
    with trio.fail_after(400):
        async with lprng() as peer:
            cfg = gateway(tmp_path, peer.uri(), {"formats": LPD_FORMATS})
            async with running_gateway(cfg) as running:
                await everywhere(
                    running, work, at_least=PASSED_LPD, sides="one-sided", color="monochrome"
                )
            assert list(peer.spool().glob("df*")), "LPRng received no job"


async def test_ipp_queue_in_front_of_ippeveprinter_is_an_ipp_everywhere_printer(
    tmp_path: Path,
) -> None:
    work = ipptool_workdir(tmp_path)
    with trio.fail_after(500):
        async with (
            ippeveprinter(tmp_path / "eve") as eve,
            running_gateway(gateway(tmp_path, eve.uri)) as running,
        ):
            await everywhere(
                running, work, at_least=PASSED_IPP, sides="one-sided", color="monochrome"
            )
