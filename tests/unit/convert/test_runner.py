"""Whole conversions with real Ghostscript and poppler: PDF to PostScript, PWG
raster, URF, PCL XL and PCL; PostScript to PDF; what is left in the job's
folder afterwards (after success, failure and cancellation); the bound on
concurrent conversions. Conversions through the gateway's own converter
programs run when those programs exist."""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway.config import ConvertConfig
from gateway.convert import runner
from gateway.convert.formats import PCL, PCLXL, PDF, POSTSCRIPT, PWG_RASTER, TEXT, URF
from gateway.convert.options import RenderOptions, render_options
from gateway.convert.raster import (
    ColorSpace,
    PwgPageHeader,
    RasterReader,
    UrfColorSpace,
    UrfDuplex,
    UrfPageHeader,
    count_pages,
)
from gateway.convert.runner import ConversionError, Converted, Converter
from gateway.convert.sandbox import Finished
from gateway.convert.sniff import sniff_file

from .support import (
    FIXTURES,
    IPPTOOL_FILES,
    files_under,
    ippeveprinter_attributes,
    own_tool,
    pdf_pages,
)

A4 = RenderOptions(media="iso_a4_210x297mm")
DEADLINE = 120


def eve_options(**job: Any) -> RenderOptions:
    return render_options(
        job,
        {},
        ippeveprinter_attributes(),
        default_media="iso_a4_210x297mm",
        title="t",
        user="u",
        pretty=False,
    )


@pytest.fixture(scope="module")
def ten_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ten-page PDF of text and a gray box on each page."""
    folder = tmp_path_factory.mktemp("ten")
    ps = folder / "ten.ps"
    ps.write_text(
        "%!PS\n/Helvetica findfont 18 scalefont setfont\n"
        "1 1 10 { /n exch def 72 720 moveto (Page ) show n 3 string cvs show\n"
        "0 1 30 { 72 exch 20 mul 60 add moveto (The quick brown fox jumps over the lazy dog)"
        " show } for 0.5 setgray 300 300 150 150 rectfill 0 setgray showpage } for\n"
    )
    pdf = folder / "ten.pdf"
    subprocess.run(
        [
            "gs",
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=pdfwrite",
            f"-sOutputFile={pdf}",
            str(ps),
        ],
        check=True,
        timeout=60,
    )
    assert pdf_pages(pdf) == 10
    return pdf


async def convert(
    source: Path,
    declared: str,
    accepted: Sequence[str] | None,
    options: RenderOptions,
    workdir: Path,
    *,
    settings: ConvertConfig | None = None,
    stem: str = "print-1",
) -> Converted | None:
    with trio.fail_after(DEADLINE):
        return await Converter(settings or ConvertConfig()).convert(
            source, declared, accepted, options, workdir, stem
        )


def in_job(job_folder: Path, source: Path) -> Path:
    """The document as the spool holds it: a copy in the job's folder."""
    copy = job_folder / "document-1"
    copy.write_bytes(source.read_bytes())
    return copy


def check_published(result: Converted, workdir: Path, source: Path) -> None:
    """The output is in place, whole, as described, and nothing else was left."""
    assert result.path.parent == workdir
    assert result.path.name.startswith("print-1.")
    data = result.path.read_bytes()
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert sorted(files_under(workdir)) == sorted([source.name, result.path.name])


def pwg_headers(path: Path) -> list[PwgPageHeader]:
    with path.open("rb") as fh:
        headers = []
        for page in RasterReader(fh).pages():
            assert isinstance(page.header, PwgPageHeader)
            headers.append(page.header)
        return headers


def urf_headers(path: Path) -> tuple[int, list[UrfPageHeader]]:
    with path.open("rb") as fh:
        reader = RasterReader(fh)
        headers = []
        for page in reader.pages():
            assert isinstance(page.header, UrfPageHeader)
            headers.append(page.header)
        return reader.declared_pages, headers


def ghostscript_pages(path: Path) -> int:
    """Pages Ghostscript renders of a PostScript or PDF file (bbox device)."""
    result = subprocess.run(
        ["gs", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-q", "-sDEVICE=bbox", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return len(re.findall(r"^%%BoundingBox:", result.stderr, re.M))


async def test_pdf_to_postscript(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.pdf")
    result = await convert(source, PDF, [POSTSCRIPT], A4, job_folder)
    assert result is not None
    assert result.format == POSTSCRIPT
    assert result.path.suffix == ".ps"
    assert sniff_file(result.path) == POSTSCRIPT
    assert result.pages == 8
    assert ghostscript_pages(result.path) == 8
    assert result.applied == frozenset()
    check_published(result, job_folder, source)


async def test_pdf_to_pwg_raster_at_the_printers_resolution_and_type(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "document-a4.pdf")
    options = eve_options(**{"sides": "two-sided-long-edge", "print-color-mode": "color"})
    assert (options.resolution, options.pwg_raster_type) == ((300, 300), "srgb_8")
    result = await convert(source, "application/octet-stream", [PWG_RASTER], options, job_folder)
    assert result is not None
    assert result.format == PWG_RASTER
    assert result.pages == pdf_pages(source) == 4
    headers = pwg_headers(result.path)
    assert len(headers) == 4 == count_pages(result.path)
    for header in headers:
        assert header.media_class == "PwgRaster"
        assert header.hw_resolution == (300, 300)
        assert header.page_size == (612, 792)  # the printer's media-default, US letter
        assert header.page_size_name == "na_letter_8.5x11in"
        assert (header.width, header.height) == (2550, 3300)
        assert header.color_space == ColorSpace.SRGB
        assert (header.bits_per_color, header.bits_per_pixel) == (8, 24)
        assert header.duplex
        assert not header.tumble
    # The same fields read straight from the bytes (PWG 5102.4 table 4.3 offsets).
    raw = result.path.read_bytes()[4 : 4 + 1796]
    assert struct.unpack(">II", raw[276:284]) == (300, 300)  # HWResolution
    assert struct.unpack(">II", raw[352:360]) == (612, 792)  # PageSize
    assert struct.unpack(">I", raw[400:404]) == (19,)  # ColorSpace sRGB
    check_published(result, job_folder, source)


async def test_pdf_to_gray_pwg_raster_for_a_gray_job(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "two-pages.pdf")
    options = eve_options(
        **{"print-color-mode": "monochrome", "print-quality": 5, "media": "iso_a4_210x297mm"}
    )
    result = await convert(source, PDF, [PWG_RASTER], options, job_folder)
    assert result is not None
    headers = pwg_headers(result.path)
    assert [h.hw_resolution for h in headers] == [(600, 600)] * 2
    assert {h.color_space for h in headers} == {ColorSpace.SW}
    assert {(h.width, h.height) for h in headers} == {(4961, 7016)}  # A4 at 600 dpi
    assert {h.page_size for h in headers} == {(595, 842)}


async def test_pdf_to_urf(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "two-pages.pdf")
    options = eve_options(**{"sides": "two-sided-short-edge", "media": "iso_a4_210x297mm"})
    result = await convert(
        source, "", ["image/urf", "application/octet-stream"], options, job_folder
    )
    assert result is not None
    assert result.format == URF
    assert result.path.suffix == ".urf"
    declared, headers = urf_headers(result.path)
    assert result.pages == 2
    # Ghostscript writes 0 (unknown) as the file's page count; the gateway sets it.
    assert declared == 2
    for header in headers:
        assert header.resolution_dpi == 600  # RS600
        assert header.color_space == UrfColorSpace.SRGB
        assert header.bits_per_pixel == 24
        assert header.duplex == UrfDuplex.SHORT_EDGE
        assert (header.width, header.height) == (4961, 7016)
    check_published(result, job_folder, source)


async def test_pdf_to_pcl_xl(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.pdf")
    result = await convert(source, PDF, [PCLXL], A4, job_folder)
    assert result is not None
    assert result.format == PCLXL
    assert sniff_file(result.path) == PCLXL
    head = result.path.read_bytes()[:400]
    assert b"@PJL ENTER LANGUAGE = PCLXL" in head
    assert b") HP-PCL XL;" in head
    assert result.pages == 8
    check_published(result, job_folder, source)


async def test_pdf_to_pcl(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.pdf")
    result = await convert(source, PDF, ["application/vnd.hp-PCL"], A4, job_folder)
    assert result is not None
    assert result.format == PCL
    assert result.path.suffix == ".pcl"
    data = result.path.read_bytes()
    assert data.startswith(b"\x1bE")
    # Each page: start raster graphics (ESC * r 0 F) ... end raster, form feed.
    assert data.count(b"\x1b*r0F") == 8
    assert data.count(b"\x1b*rB\x0c") == 8
    assert result.pages == 8


async def test_postscript_to_pdf(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "two-pages.ps")
    result = await convert(source, POSTSCRIPT, [PDF], A4, job_folder)
    assert result is not None
    assert result.format == PDF
    assert result.pages == pdf_pages(result.path) == 2
    check_published(result, job_folder, source)


async def test_postscript_sent_as_lpd_text(job_folder: Path) -> None:
    """BSD lpr sends PostScript as an ``f`` file: sniffed, it is converted as
    PostScript, not printed as its source code."""
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.ps")
    result = await convert(source, TEXT, [PDF, TEXT], A4, job_folder)
    assert result is not None
    assert result.format == PDF
    assert result.pages == 1


async def test_postscript_to_pwg_raster_counts_the_raster(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "two-pages.ps")
    result = await convert(source, POSTSCRIPT, [PWG_RASTER], A4, job_folder)
    assert result is not None
    assert result.pages == 2 == len(pwg_headers(result.path))


async def test_ten_pages_to_pwg_raster(job_folder: Path, ten_pages: Path) -> None:
    source = in_job(job_folder, ten_pages)
    result = await convert(source, PDF, [PWG_RASTER], A4, job_folder)
    assert result is not None
    assert result.pages == 10 == count_pages(result.path)


async def test_nothing_to_do(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.pdf")
    # A folder backend takes anything; a PDF printer takes the PDF.
    assert await convert(source, PDF, None, A4, job_folder) is None
    assert await convert(source, "", [PDF, POSTSCRIPT], A4, job_folder) is None
    assert files_under(job_folder) == {"document-1": source.stat().st_size}


async def test_no_route_names_the_format_and_what_the_printer_takes(job_folder: Path) -> None:
    source = job_folder / "document-1"
    source.write_bytes(b"GIF89a" + bytes(64))
    with pytest.raises(ConversionError) as caught:
        await convert(source, "image/gif", ["application/postscript", "text/plain"], A4, job_folder)
    assert caught.value.kind == "unsupported"
    assert caught.value.reason == (
        "cannot print image/gif on this printer, which takes application/postscript, text/plain"
    )
    garbage = job_folder / "document-2"
    garbage.write_bytes(bytes(range(256)) * 8)
    # A printer that senses formats itself gets what the gateway cannot tell.
    assert await convert(garbage, "", ["application/octet-stream", PDF], A4, job_folder) is None
    with pytest.raises(ConversionError) as caught:
        await convert(garbage, "", [PDF], A4, job_folder)
    assert caught.value.reason == (
        "cannot print this document (its format is not one the gateway recognises) "
        "on this printer, which takes application/pdf"
    )


async def test_a_failed_step_leaves_nothing_behind(job_folder: Path) -> None:
    source = job_folder / "document-1"
    source.write_bytes(b"%!PS\n/Helvetica findfont 12 scalefont setfont\n72 72 moveto\n(x) show\n")
    with source.open("ab") as fh:
        fh.write(b"foo-bar-baz\nshowpage\n")
    with pytest.raises(ConversionError) as caught:
        await convert(source, POSTSCRIPT, [PWG_RASTER], A4, job_folder)
    assert caught.value.kind == "failed"
    assert caught.value.reason.startswith("Ghostscript could not read the document: /undefined in ")
    assert files_under(job_folder) == {"document-1": source.stat().st_size}


async def test_a_pdf_ghostscript_cannot_open(job_folder: Path) -> None:
    """Ghostscript exits 0 on it and writes nothing; its complaint is the reason."""
    source = job_folder / "document-1"
    source.write_bytes(b"%PDF-1.4\ngarbage and more garbage\n")
    with pytest.raises(ConversionError) as caught:
        await convert(source, PDF, [PWG_RASTER], A4, job_folder)
    assert caught.value.kind == "failed"
    assert caught.value.reason == (
        "Ghostscript could not read the document: Couldn't initialise file."
    )
    assert files_under(job_folder) == {"document-1": source.stat().st_size}


async def test_a_document_without_pages(job_folder: Path) -> None:
    source = job_folder / "document-1"
    source.write_bytes(b"%!PS\n% nothing is ever shown\n")
    with pytest.raises(ConversionError) as caught:
        await convert(source, POSTSCRIPT, [PWG_RASTER], A4, job_folder)
    assert caught.value.reason == "Ghostscript found no pages to print in the document"
    assert files_under(job_folder) == {"document-1": source.stat().st_size}


async def test_cancellation_kills_the_converter_and_cleans_up(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "flate-bomb-2gib.pdf")
    settings = ConvertConfig(time_limit=600, cpu_limit=600)
    started = trio.Event()
    real = runner.run_limited

    async def spy(*args: Any, **kwargs: Any) -> Finished:
        if kwargs.get("name") == "Ghostscript":
            started.set()
        return await real(*args, **kwargs)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            cancel = trio.CancelScope()

            async def run() -> None:
                with cancel:
                    await Converter(settings).convert(
                        source, PDF, [PWG_RASTER], A4, job_folder, "print-1"
                    )

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(runner, "run_limited", spy)
                nursery.start_soon(run)
                await started.wait()
                cancel.cancel()
    assert cancel.cancelled_caught
    assert files_under(job_folder) == {"document-1": source.stat().st_size}
    # No Ghostscript is left working in the job's folder.
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cwd = (proc / "cwd").readlink()
            except OSError:
                continue
            assert not str(cwd).startswith(str(job_folder)), proc.name


async def test_at_most_max_concurrent_conversions(
    job_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active = 0
    most = 0
    real = runner.run_limited

    async def counting(*args: Any, **kwargs: Any) -> Finished:
        nonlocal active, most
        active += 1
        most = max(most, active)
        try:
            return await real(*args, **kwargs)
        finally:
            active -= 1

    monkeypatch.setattr(runner, "run_limited", counting)
    source = in_job(job_folder, FIXTURES / "two-pages.ps")
    converter = Converter(ConvertConfig(max_concurrent=1))
    assert converter.limiter.total_tokens == 1
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            for n in range(4):
                nursery.start_soon(
                    converter.convert,
                    source,
                    POSTSCRIPT,
                    [PWG_RASTER],
                    A4,
                    job_folder,
                    f"print-{n}",
                )
    assert most == 1
    assert len(list(job_folder.glob("print-*.pwg"))) == 4
    assert Converter(ConvertConfig()).limiter.total_tokens == os.cpu_count()


async def test_a_second_conversion_replaces_the_first(job_folder: Path) -> None:
    """A retry after a crash converts again into the same name."""
    source = in_job(job_folder, FIXTURES / "two-pages.pdf")
    first = await convert(source, PDF, [POSTSCRIPT], A4, job_folder)
    second = await convert(source, PDF, [POSTSCRIPT], A4, job_folder)
    assert first is not None and second is not None
    assert first.path == second.path
    check_published(second, job_folder, source)


async def test_a_relative_work_folder_gives_a_relative_path(
    job_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(job_folder.parent)
    source = in_job(job_folder, FIXTURES / "two-pages.pdf")
    relative = Path(job_folder.name)
    result = await convert(Path(relative, source.name), PDF, [POSTSCRIPT], A4, relative)
    assert result is not None
    assert result.path == relative / "print-1.ps"
    assert result.path.exists()


def test_a_stem_is_the_gateways_own(job_folder: Path) -> None:
    converter = Converter(ConvertConfig())
    for stem in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(ValueError, match="stem"):
            trio.run(
                converter.convert,
                FIXTURES / "two-pages.pdf",
                PDF,
                [POSTSCRIPT],
                A4,
                job_folder,
                stem,
            )


# ----------------------------------------------------------------------
# Through the gateway's own converters


@own_tool("rastertopdf")
async def test_pwg_raster_to_pdf(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "two-pages-100dpi-sgray8.pwg")
    result = await convert(source, "application/octet-stream", [PDF], A4, job_folder)
    assert result is not None
    assert result.format == PDF
    assert result.pages == pdf_pages(result.path) == 2


@own_tool("rastertopdf")
async def test_urf_to_postscript(job_folder: Path) -> None:
    source = in_job(job_folder, FIXTURES / "two-pages-100dpi-w8.urf")
    result = await convert(source, URF, [POSTSCRIPT], A4, job_folder)
    assert result is not None
    assert result.format == POSTSCRIPT
    assert result.pages == 2 == ghostscript_pages(result.path)


@own_tool("texttopdf")
async def test_text_to_pdf(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.txt")
    options = RenderOptions(
        media="iso_a4_210x297mm", title="testfile.txt", user="alice", header=True
    )
    result = await convert(source, TEXT, [PDF, POSTSCRIPT], options, job_folder)
    assert result is not None
    assert result.format == PDF
    assert result.pages == pdf_pages(result.path)
    text = subprocess.run(
        ["pdftotext", str(result.path), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "testfile.txt" in text  # the pr-style header


@own_tool("imagetopdf")
async def test_jpeg_to_pwg_raster(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "testfile.jpg")
    result = await convert(source, "image/jpeg", [PWG_RASTER], A4, job_folder)
    assert result is not None
    assert result.pages == 1 == count_pages(result.path)


@own_tool("pdftopdf")
async def test_number_up_applied_for_a_printer_that_cannot(job_folder: Path) -> None:
    source = in_job(job_folder, IPPTOOL_FILES / "document-a4.pdf")
    options = eve_options(**{"number-up": 2, "media": "iso_a4_210x297mm"})
    assert options.applied == frozenset({"number-up"})
    result = await convert(source, PDF, [PDF, PWG_RASTER], options, job_folder)
    assert result is not None
    assert result.format == PDF
    assert result.applied == frozenset({"number-up"})
    assert result.pages == pdf_pages(result.path) == 2


@own_tool("pdftopdf")
async def test_copies_made_for_a_printer_that_cannot(job_folder: Path) -> None:
    from gateway.ipp.attributes import Attribute
    from gateway.ipp.tags import ValueTag
    from gateway.ipp.values import RangeOfInteger

    printer = ippeveprinter_attributes()
    printer["copies-supported"] = Attribute.of(
        "copies-supported", ValueTag.RANGE_OF_INTEGER, RangeOfInteger(1, 1)
    )
    options = render_options(
        {"copies": 3},
        {},
        printer,
        default_media="iso_a4_210x297mm",
        title="",
        user="",
        pretty=False,
    )
    source = in_job(job_folder, FIXTURES / "two-pages.pdf")
    result = await convert(source, PDF, [PWG_RASTER], options, job_folder)
    assert result is not None
    assert result.applied == frozenset({"copies"})
    assert result.pages == 6 == count_pages(result.path)
