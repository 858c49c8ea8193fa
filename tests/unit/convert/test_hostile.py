"""Hostile documents: each is stopped at its limit, aborts its own conversion
with a reason a user can read, reads nothing outside the job's folder, and
the converter goes on with the next document."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from gateway.config import ConvertConfig
from gateway.convert.formats import PDF, POSTSCRIPT, PWG_RASTER
from gateway.convert.options import RenderOptions
from gateway.convert.raster import PwgPageHeader, RasterReader
from gateway.convert.runner import ConversionError, Converter
from gateway.convert.sandbox import Limits, run_limited

from .support import FIXTURES, files_under, own_tool

A4 = RenderOptions(media="iso_a4_210x297mm")

ENDLESS_LOOP = b"%!PS\n{} loop\n"
READ_PASSWD = b"""%!PS
/Courier findfont 10 scalefont setfont
/f (/etc/passwd) (r) file def
/line 256 string def
72 720 moveto f line readline pop show
showpage
"""
#: 1000 strings of 10 MB kept in an array: 10 GB of PostScript VM.
MEMORY_HOG = b"%!PS\n/a 1000 array def 0 1 999 { a exch 10000000 string put } for showpage\n"


def document(job_folder: Path, data: bytes) -> Path:
    path = job_folder / "document-1"
    path.write_bytes(data)
    return path


async def still_converts(converter: Converter, job_folder: Path) -> None:
    """The same converter, right after: the queue goes on."""
    source = job_folder / "next.pdf"
    source.write_bytes((FIXTURES / "two-pages.pdf").read_bytes())
    with trio.fail_after(60):
        done = await converter.convert(source, PDF, [PWG_RASTER], A4, job_folder, "print-next")
    assert done is not None
    assert done.pages == 2


async def test_an_endless_postscript_loop_meets_the_time_limit(job_folder: Path) -> None:
    converter = Converter(ConvertConfig(time_limit=2, cpu_limit=60))
    source = document(job_folder, ENDLESS_LOOP)
    start = trio.current_time()
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await converter.convert(source, POSTSCRIPT, [PWG_RASTER], A4, job_folder, "print-1")
    assert trio.current_time() - start < 10
    assert caught.value.kind == "time"
    assert caught.value.reason == "Ghostscript was stopped after its time limit of 2 s"
    assert files_under(job_folder) == {"document-1": len(ENDLESS_LOOP)}
    await still_converts(converter, job_folder)


async def test_an_endless_postscript_loop_meets_the_cpu_limit(job_folder: Path) -> None:
    converter = Converter(ConvertConfig(time_limit=60, cpu_limit=1))
    source = document(job_folder, ENDLESS_LOOP)
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await converter.convert(source, POSTSCRIPT, [PDF], A4, job_folder, "print-1")
    assert caught.value.kind == "cpu"
    assert caught.value.reason == "Ghostscript exceeded its CPU time limit of 1 s"
    await still_converts(converter, job_folder)


@pytest.mark.parametrize("target", [PDF, PWG_RASTER])
async def test_postscript_cannot_read_etc_passwd(job_folder: Path, target: str) -> None:
    secret = Path("/etc/passwd").read_text().splitlines()[0]
    converter = Converter(ConvertConfig())
    source = document(job_folder, READ_PASSWD)
    with trio.fail_after(60), pytest.raises(ConversionError) as caught:
        await converter.convert(source, POSTSCRIPT, [target], A4, job_folder, "print-1")
    reason = caught.value.reason
    assert caught.value.kind == "failed"
    assert reason == (
        "Ghostscript could not read the document: /invalidfileaccess in --file-- "
        "(the document tried to open a file it may not read)"
    )
    assert "/etc" not in reason
    # Nothing of the file reached any file in the job's folder.
    assert files_under(job_folder) == {"document-1": len(READ_PASSWD)}
    await still_converts(converter, job_folder)
    for path in job_folder.iterdir():
        assert secret.encode() not in path.read_bytes()


async def test_a_postscript_memory_hog_meets_the_memory_limit(job_folder: Path) -> None:
    converter = Converter(ConvertConfig(memory_limit=256 * 1024**2))
    source = document(job_folder, MEMORY_HOG)
    with trio.fail_after(60), pytest.raises(ConversionError) as caught:
        await converter.convert(source, POSTSCRIPT, [PDF], A4, job_folder, "print-1")
    assert caught.value.kind == "memory"
    assert caught.value.reason == "Ghostscript ran out of memory (limit 256 MiB)"
    await still_converts(converter, job_folder)


async def test_a_flate_bomb_meets_the_time_limit(job_folder: Path) -> None:
    """4 KB whose image inflates to 2 GiB: Ghostscript streams it (memory stays
    flat) but would take ten seconds of CPU; it is stopped at its limit."""
    converter = Converter(ConvertConfig(time_limit=2, cpu_limit=60))
    source = document(job_folder, (FIXTURES / "flate-bomb-2gib.pdf").read_bytes())
    with trio.fail_after(30), pytest.raises(ConversionError) as caught:
        await converter.convert(source, PDF, [PWG_RASTER], A4, job_folder, "print-1")
    assert caught.value.kind == "time"
    assert caught.value.reason == "Ghostscript was stopped after its time limit of 2 s"
    assert sorted(files_under(job_folder)) == ["document-1"]
    await still_converts(converter, job_folder)


@own_tool("pdftopdf")
async def test_a_flate_bomb_through_pdftopdf(job_folder: Path) -> None:
    """The PDF pass (pypdf) with the bomb: stopped by a limit or refused, in
    one readable line, whichever comes first."""
    converter = Converter(ConvertConfig(time_limit=5, cpu_limit=5, memory_limit=512 * 1024**2))
    options = RenderOptions(media="iso_a4_210x297mm", number_up=2, applied=frozenset({"number-up"}))
    source = document(job_folder, (FIXTURES / "flate-bomb-2gib.pdf").read_bytes())
    with trio.fail_after(60):
        try:
            done = await converter.convert(source, PDF, [PDF], options, job_folder, "print-1")
        except ConversionError as exc:
            assert exc.kind in ("memory", "time", "cpu", "size", "failed")
            assert exc.reason.startswith("pdftopdf ")
            assert "\n" not in exc.reason
        else:
            # Within its limits it wrote a PDF of megabytes, not the 2 GiB
            # the image inflates to.
            assert done is not None
            assert done.size < 64 * 1024**2
    await still_converts(converter, job_folder)


async def test_a_200_inch_page_is_rendered_at_the_size_of_the_paper(job_folder: Path) -> None:
    """Rendered at its own size at 600 dpi it is a 451 MB raster and 98 s of
    Ghostscript (tests/fixtures/convert/README.md); the gateway fits it to
    the sheet, so it costs what an A4 page costs."""
    converter = Converter(ConvertConfig(time_limit=30))
    options = RenderOptions(media="iso_a4_210x297mm", resolution=(600, 600))
    source = document(job_folder, (FIXTURES / "page-200x200in.pdf").read_bytes())
    with trio.fail_after(60):
        done = await converter.convert(source, PDF, [PWG_RASTER], options, job_folder, "print-1")
    assert done is not None
    assert done.size < 2 * 1024**2
    with done.path.open("rb") as fh:
        headers = [page.header for page in RasterReader(fh).pages()]
    assert len(headers) == 1
    header = headers[0]
    assert isinstance(header, PwgPageHeader)
    assert header.page_size == (595, 842)
    assert (header.width, header.height) == (4961, 7016)


async def test_a_200_inch_page_at_its_own_size_meets_the_output_limit(job_folder: Path) -> None:
    """Without the fixed page size (a Ghostscript line the gateway never
    builds), the raster passes the output size limit and is stopped there."""
    work = job_folder / "work"
    work.mkdir()
    argv = [
        "gs",
        "-dSAFER",
        "-dBATCH",
        "-dNOPAUSE",
        "-dQUIET",
        "-sDEVICE=pwgraster",
        "-r600",
        "-dcupsColorSpace=19",
        "-dcupsBitsPerColor=8",
        f"-sOutputFile={work / 'out.pwg'}",
        str(FIXTURES / "page-200x200in.pdf"),
    ]
    limits = Limits(wall_time=120, output_size=20 * 1024**2)
    with trio.fail_after(150), pytest.raises(ConversionError) as caught:
        await run_limited(
            argv, cwd=work, stdin=None, stdout=None, limits=limits, name="Ghostscript"
        )
    assert caught.value.kind == "size"
    assert caught.value.reason == "Ghostscript's output passed its size limit of 20 MiB"
    assert (work / "out.pwg").stat().st_size <= 20 * 1024**2
