"""Scenario 9, conversion: the gateway's converter chains against cups-filters
doing the same conversion on the same input, in the same run.

- text -> PDF -> PWG raster (300 dpi, 8-bit gray, A4): the gateway's
  texttopdf and Ghostscript's pwgraster device in limited processes (what
  `gateway.convert.runner.Converter` runs for a legacy host printing to an IPP
  Everywhere printer), against cups-filters' texttopdf then gstoraster;
- PDF -> PostScript: the gateway (Ghostscript ps2write) against poppler's
  pdftops (cups-filters' pdftops filter without the pstops pass, which needs
  cupsd's filter folder, not installed here).

Each chain runs in a fresh child process, so its peak memory is the largest
resident set of any process of the chain (RUSAGE_CHILDREN of that child), at 10
and at 1,000 pages: "flat" means the 1,000-page figure stays near the 10-page
one. Pages per second = pages of the input / wall time of the whole chain.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import trio

from gateway.config import ConvertConfig
from gateway.convert.options import render_options
from gateway.convert.runner import Converter
from tests.bench.common import Figure, MiB

from .scenarios import Settings, at_least, say

CUPS_FILTERS = Path("/usr/lib/cups/filter")
#: Lines per page that every text converter here fits on A4 (cups' texttopdf
#: makes two pages of 66 lines), then a form feed.
LINES = 50


def text_document(path: Path, pages: int) -> None:
    line = "the quick brown fox jumps over the lazy dog, line {:>2} of page {:>4}"
    with open(path, "w", encoding="utf-8") as fh:
        for page in range(1, pages + 1):
            fh.write("\n".join(line.format(n, page) for n in range(1, LINES + 1)))
            fh.write("\n\f" if page < pages else "\n")


def _child(kind: str, who: str, source: Path, work: Path) -> dict[str, float]:
    """Run one chain in this (child) process; its wall time and peak RSS."""
    start = time.perf_counter()
    if who == "gateway":
        trio.run(_gateway_chain, kind, source, work)
    else:
        _cups_chain(kind, source, work)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"wall": wall, "peak": float(peak)}


async def _gateway_chain(kind: str, source: Path, work: Path) -> None:
    converter = Converter(ConvertConfig())
    options = render_options(
        {"print-color-mode": "monochrome"},
        {},
        {
            "pwg-raster-document-resolution-supported": ["300dpi"],
            "pwg-raster-document-type-supported": ["sgray_8"],
        },
        default_media="iso_a4_210x297mm",
        title="bench",
        user="bench",
        pretty=False,
    )
    if kind == "text-pwg":
        declared, accepted = "text/plain", ["image/pwg-raster"]
    else:
        declared, accepted = "application/pdf", ["application/postscript"]
    done = await converter.convert(source, declared, accepted, options, work, "out")
    assert done is not None and done.size > 0


def _cups_chain(kind: str, source: Path, work: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "CHARSET": "utf-8",
        "LANG": "C.UTF-8",
    }
    if kind == "text-pwg":
        pdf = work / "cups.pdf"
        with open(pdf, "wb") as out:
            subprocess.run(
                [str(CUPS_FILTERS / "texttopdf"), "1", "bench", "bench", "1", "", str(source)],
                stdout=out,
                stderr=subprocess.DEVNULL,
                env={**env, "CONTENT_TYPE": "text/plain"},
                check=True,
            )
        options = (
            "Resolution=300dpi PageSize=A4 ColorModel=Gray cupsColorSpace=18 cupsBitsPerColor=8"
        )
        with open(work / "cups.pwg", "wb") as out:
            subprocess.run(
                [str(CUPS_FILTERS / "gstoraster"), "1", "bench", "bench", "1", options, str(pdf)],
                stdout=out,
                stderr=subprocess.DEVNULL,
                env={
                    **env,
                    "CONTENT_TYPE": "application/pdf",
                    "FINAL_CONTENT_TYPE": "image/pwg-raster",
                },
                check=True,
            )
    else:
        subprocess.run(["pdftops", str(source), str(work / "cups.ps")], check=True)


async def _measure(kind: str, who: str, source: Path, work: Path) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "tests.bench.conversion", kind, who, str(source), str(work)]
    result = await trio.run_process(argv, capture_stdout=True, cwd=Path(__file__).parents[2])
    figures: dict[str, float] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    return figures


async def conversion(s: Settings, work: Path, out: list[Figure]) -> None:
    """Scenario 9 (see the module doc)."""
    folder = work / "conversion"
    folder.mkdir()
    sizes = (10, 100) if s.runs == 1 and s.ingest_jobs < 100 else (10, 1000)
    for pages in sizes:
        text = folder / f"text-{pages}.txt"
        text_document(text, pages)
        pdf = folder / f"doc-{pages}.pdf"
        # One PDF both sides convert: the text set by cups-filters' texttopdf.
        with open(pdf, "wb") as fh:
            subprocess.run(
                [str(CUPS_FILTERS / "texttopdf"), "1", "b", "b", "1", "", str(text)],
                stdout=fh,
                stderr=subprocess.DEVNULL,
                env={"PATH": os.environ["PATH"], "CHARSET": "utf-8"},
                check=True,
            )
        pdf_pages = int(
            next(
                line.split()[1]
                for line in subprocess.run(
                    ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
                ).stdout.splitlines()
                if line.startswith("Pages:")
            )
        )
        for kind, source, count, label in (
            ("text-pwg", text, pages, "text -> PDF -> PWG raster 300 dpi gray"),
            ("pdf-ps", pdf, pdf_pages, "PDF -> PostScript"),
        ):
            speed = Figure(
                "9 conversion",
                f"{label}, {count} pages",
                "pages/s",
                True,
                target=">= 1x cups-filters",
                check=at_least(1.0),
                versus="cups-filters",
            )
            memory = Figure(
                "9 conversion",
                f"{label}, {count} pages: peak RSS of a converter",
                "MiB",
                False,
                versus="cups-filters",
                note="flat: 1,000 pages near 10 pages",
            )
            for run in range(s.runs):
                for who in ("gateway", "cups-filters"):
                    say(f"conversion {kind} {pages} pages: {who}, run {run + 1}")
                    got = await _measure(kind, who, source, folder / f"{kind}-{who}-{run}")
                    rate = count / got["wall"]
                    if who == "gateway":
                        speed.gateway.append(rate)
                        memory.gateway.append(got["peak"] / MiB)
                    else:
                        speed.peer(who).append(rate)
                        memory.peer(who).append(got["peak"] / MiB)
            out += [speed, memory]


if __name__ == "__main__":
    kind, who, source, workdir = sys.argv[1:5]
    print(json.dumps(_child(kind, who, Path(source), Path(workdir))))
