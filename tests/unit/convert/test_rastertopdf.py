"""rastertopdf: PWG Raster and URF -> PDF. The pages are compared pixel for
pixel with what cups-filters' own rastertopdf makes of the same raster, both
rendered by Ghostscript; the PDF structure is checked by qpdf and poppler."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from gateway.convert.pdfwriter import PdfWriter, pdf_name, pdf_text
from gateway.convert.raster import (
    ColorSpace,
    PwgPageHeader,
    RasterWriter,
    UrfColorSpace,
    UrfPageHeader,
)
from gateway.convert.rastertopdf import convert, main
from tests.unit.convert.programs import (
    failed,
    page_count,
    page_size,
    run_program,
    succeeded,
    tool,
    writes_only_its_output,
)
from tests.unit.convert.support import IPPTOOL_FILES, pdf_pages

GS = shutil.which("gs")
CUPS_RASTERTOPDF = Path("/usr/lib/cups/filter/rastertopdf")
needs_gs = pytest.mark.skipif(GS is None, reason="Ghostscript is not installed")
needs_cups = pytest.mark.skipif(
    not CUPS_RASTERTOPDF.exists(), reason="cups-filters is not installed"
)


def ghostscript(*argv: str | Path) -> None:
    assert GS is not None
    subprocess.run(
        [GS, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", *map(str, argv)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def raster_of(tmp_path: Path, device: str, *options: str, resolution: int = 50) -> Path:
    out = tmp_path / f"{device}.raster"
    ghostscript(
        f"-sDEVICE={device}",
        f"-r{resolution}",
        *options,
        f"-sOutputFile={out}",
        IPPTOOL_FILES / "document-a4.pdf",
    )
    return out


def rendered(pdf: Path, tmp_path: Path, resolution: int, name: str) -> list[Image.Image]:
    pattern = tmp_path / f"{name}-%d.ppm"
    ghostscript("-sDEVICE=ppmraw", f"-r{resolution}", f"-sOutputFile={pattern}", pdf)
    images = []
    for n in range(1, page_count(pdf) + 1):
        with Image.open(tmp_path / f"{name}-{n}.ppm") as image:
            images.append(image.convert("RGB").copy())
    return images


def cups_rastertopdf(raster: Path, out: Path) -> Path:
    env = {
        "PATH": "/usr/bin:/bin",
        "CONTENT_TYPE": "image/pwg-raster",
        "FINAL_CONTENT_TYPE": "application/pdf",
    }
    with out.open("wb") as stream:
        subprocess.run(
            [str(CUPS_RASTERTOPDF), "1", "user", "title", "1", "", str(raster)],
            stdout=stream,
            stderr=subprocess.DEVNULL,
            env=env,
            check=True,
            timeout=120,
        )
    return out


def largest_difference(a: Image.Image, b: Image.Image) -> int:
    assert a.size == b.size
    extrema = ImageChops.difference(a, b).getextrema()
    return max(high for _, high in extrema)


@needs_gs
@needs_cups
@pytest.mark.parametrize(
    ("options", "tolerance"),
    [
        ((), 0),  # 1-bit black
        (("-dcupsColorSpace=19", "-dcupsBitsPerColor=8"), 0),  # sRGB
        (("-dcupsColorSpace=6", "-dcupsBitsPerColor=8"), 0),  # CMYK
        # sGray: cups-filters puts it through a gray ICC profile, this
        # converter as DeviceGray; they differ by a few levels, no more.
        (("-dcupsColorSpace=18", "-dcupsBitsPerColor=8"), 12),
    ],
)
def test_pages_are_what_cups_filters_makes_of_the_raster(
    tmp_path: Path, options: tuple[str, ...], tolerance: int
) -> None:
    raster = raster_of(tmp_path, "pwgraster", *options)
    ours = tmp_path / "ours.pdf"
    assert succeeded(run_program("rastertopdf", raster, ours)) == pdf_pages(
        IPPTOOL_FILES / "document-a4.pdf"
    )
    theirs = cups_rastertopdf(raster, tmp_path / "cups.pdf")
    assert page_count(ours) == page_count(theirs)
    assert page_size(ours) == page_size(theirs)
    for mine, cups in zip(
        rendered(ours, tmp_path, 50, "ours"), rendered(theirs, tmp_path, 50, "cups"), strict=True
    ):
        assert largest_difference(mine, cups) <= tolerance


@needs_gs
def test_urf_pages_are_the_same_as_pwg_pages_of_the_same_document(tmp_path: Path) -> None:
    for options in ((), ("-dcupsColorSpace=19", "-dcupsBitsPerColor=8")):
        pwg = raster_of(tmp_path, "pwgraster", *options)
        urf = raster_of(tmp_path, "urf", *options)
        from_pwg, from_urf = tmp_path / "pwg.pdf", tmp_path / "urf.pdf"
        main([str(pwg), str(from_pwg)])
        main([str(urf), str(from_urf)])
        a = rendered(from_pwg, tmp_path, 50, "p")
        b = rendered(from_urf, tmp_path, 50, "u")
        assert len(a) == len(b) == 4
        assert all(largest_difference(x, y) == 0 for x, y in zip(a, b, strict=True))
        # a document page is mostly white: 1-bit URF is black where the bit is set
        assert ImageStat.Stat(a[0].convert("L")).mean[0] > 150  # inverted, it is about 70


@needs_gs
def test_the_page_is_the_raster_pixel_for_pixel(tmp_path: Path) -> None:
    """Render the PDF back at the raster's resolution: the same pixels."""
    raster = raster_of(
        tmp_path, "pwgraster", "-dcupsColorSpace=19", "-dcupsBitsPerColor=8", resolution=40
    )
    pdf = tmp_path / "out.pdf"
    main([str(raster), str(pdf)])
    from gateway.convert.raster import RasterReader

    with raster.open("rb") as stream:
        pages = [(p.header, b"".join(p.lines())) for p in RasterReader(stream).pages()]
    for (header, pixels), image in zip(pages, rendered(pdf, tmp_path, 40, "back"), strict=True):
        assert image.size == (header.width, header.height)
        assert image.tobytes() == pixels


def test_cups_sample_files_and_their_sizes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, size in (
        ("onepage-a4-300-black-1.pwg", (594.96, 841.92)),
        ("onepage-letter-300-black-1.pwg", (612.0, 792.0)),
    ):
        out = tmp_path / f"{name}.pdf"
        assert main([str(IPPTOOL_FILES / name), str(out)]) == 0  # gzip-compressed input
        assert capsys.readouterr().out.splitlines()[-1] == "pages=1"
        assert page_count(out) == 1
        assert page_size(out) == size
        images = tool("pdfimages", "-list", out)
        assert "2479" in images or "2550" in images


def test_image_structure_seen_by_poppler(tmp_path: Path) -> None:
    raster = tmp_path / "mixed.pwg"
    with raster.open("wb") as stream:
        writer = RasterWriter(stream, "pwg")
        for space, bits, colors in (
            (ColorSpace.K, 1, 1),
            (ColorSpace.SRGB, 8, 3),
            (ColorSpace.CMYK, 8, 4),
            (ColorSpace.SW, 16, 1),
        ):
            header = PwgPageHeader(
                width=144,
                height=72,
                bits_per_color=bits,
                bits_per_pixel=bits * colors,
                color_space=space,
                hw_resolution=(144, 144),
            )
            line = (bytes(range(256)) * (header.bytes_per_line // 256 + 1))[: header.bytes_per_line]
            writer.write_page(header, [line] * 72)
    out = tmp_path / "mixed.pdf"
    assert main([str(raster), str(out)]) == 0
    listing = tool("pdfimages", "-list", out).splitlines()[2:]
    kinds = [(row.split()[5], row.split()[7]) for row in listing]  # color, bpc
    assert kinds == [("gray", "1"), ("rgb", "8"), ("cmyk", "8"), ("gray", "16")]
    assert all(page_size(out, n) == (72.0, 36.0) for n in range(1, 5))
    assert "No syntax or stream encoding errors" in tool("qpdf", "--check", out)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "neither PWG Raster"),
        (b"%PDF-1.4\n1 0 obj\n", "neither PWG Raster"),
        (b"RaS2", "no pages"),
        (b"RaS2" + bytes(100), "page header"),
    ],
)
def test_bad_input_is_one_line_and_no_output(tmp_path: Path, data: bytes, message: str) -> None:
    source, out = tmp_path / "in.pwg", tmp_path / "out.pdf"
    source.write_bytes(data)
    line = failed(run_program("rastertopdf", source, out))
    assert line.startswith("rastertopdf: ") and message in line
    assert not out.exists()


def test_a_colour_space_pdf_has_none_for_is_refused(tmp_path: Path) -> None:
    source, out = tmp_path / "in.pwg", tmp_path / "out.pdf"
    with source.open("wb") as stream:
        header = PwgPageHeader(
            width=2, height=1, bits_per_color=8, bits_per_pixel=16, color_space=ColorSpace.DEVICE2
        )
        RasterWriter(stream, "pwg").write_page(header, [b"\x00" * 4])
    assert "DEVICE2" in failed(run_program("rastertopdf", source, out))


def _synthetic(path: Path, pages: int) -> None:
    """Letter pages at 100 dpi, 8-bit gray, each a little different."""
    with path.open("wb") as stream:
        writer = RasterWriter(stream, "urf", page_count=pages)
        header = UrfPageHeader(
            width=850,
            height=1100,
            bits_per_pixel=8,
            color_space=UrfColorSpace.SGRAY,
            resolution_dpi=100,
        )
        white = b"\xff" * 850
        for n in range(pages):
            mark = (b"\xff" * (n % 800) + b"\x00" * 50 + white)[:850]
            writer.write_page(header, [white] * 500 + [mark] * 100 + [white] * 500)


def test_memory_stays_flat_from_10_to_1000_pages(tmp_path: Path) -> None:
    peaks = {}
    for pages in (10, 1000):
        source, out = tmp_path / f"{pages}.urf", tmp_path / f"{pages}.pdf"
        _synthetic(source, pages)
        result = run_program("rastertopdf", source, out, deadline=300)
        assert succeeded(result) == pages
        assert page_count(out) == pages
        peaks[pages] = result.peak_rss_kib
    assert peaks[1000] < peaks[10] + 4096, peaks  # KiB: not growing with the pages


def test_pdfwriter_output_passes_qpdf_check(tmp_path: Path) -> None:
    out = io.BytesIO()
    pdf = PdfWriter(out)
    content = pdf.add_stream(b"0 0 m 100 100 l S")
    pdf.add_page(f"/MediaBox [0 0 200 200] /Contents {content} 0 R")
    gray = "/ColorSpace /DeviceGray /BitsPerComponent 8"
    with pdf.stream(f"/Type /XObject /Subtype /Image /Width 1 /Height 1 {gray}") as image:
        image.write(b"\x80")
    pdf.finish({"Title": pdf_text("Grüße (test)"), "Author": pdf_text("a\\b")})
    path = tmp_path / "w.pdf"
    path.write_bytes(out.getvalue())
    assert "No syntax or stream encoding errors" in tool("qpdf", "--check", path)
    info = tool("pdfinfo", path)
    assert "Grüße (test)" in info and "a\\b" in info
    assert pdf_name("a b/c") == "/a#20b#2Fc"


def test_convert_as_a_function(tmp_path: Path) -> None:
    data = io.BytesIO()
    header = PwgPageHeader(width=8, height=8, bits_per_color=8, bits_per_pixel=8)
    RasterWriter(data, "pwg").write_page(header, [bytes(8)] * 8)
    out = io.BytesIO()
    assert convert(io.BytesIO(data.getvalue()), out) == 1
    assert out.getvalue().startswith(b"%PDF-1.7")


def test_it_writes_nothing_but_its_output(tmp_path: Path) -> None:
    writes_only_its_output(
        "rastertopdf", IPPTOOL_FILES / "onepage-a4-300-black-1.pwg", tmp_path / "job"
    )
