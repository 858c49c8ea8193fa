"""PWG Raster or URF -> PDF: each raster page becomes one PDF page holding
it as an image, at the raster's resolution and page size.

What phones send (PWG Raster from Android and IPP Everywhere clients, URF
from iOS) reaches LPD and PostScript printers this way: PDF here, then
poppler's pdftops for PostScript (`pdftops` in gateway/convert/chains.py).

Usage::

    python -m gateway.convert.rastertopdf INPUT OUTPUT [--level 0-9]

Lines go from the raster decoder through zlib into the PDF file as they are
decoded (`gateway.convert.pdfwriter`), so memory is one line and a read
buffer, whatever the number or size of pages. Pixels are kept as they are:
1-bit, gray, RGB and CMYK at 8 or 16 bits per colour, Lab, with no
resampling. Input compressed with gzip (as ipptool's test files are) is
read through it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, cast

from gateway.convert.pdfwriter import PdfWriter, pdf_number
from gateway.convert.program import ConversionError, run
from gateway.convert.raster import ColorSpace, RasterReader

__all__ = ["convert", "main", "pdf_color_space"]

_GRAY = (ColorSpace.W, ColorSpace.SW, ColorSpace.DEVICE1)
_RGB = (ColorSpace.RGB, ColorSpace.SRGB, ColorSpace.ADOBERGB, ColorSpace.DEVICE3)
_CMYK = (ColorSpace.CMYK, ColorSpace.DEVICE4)

#: CIE L*a*b* as CUPS and URF write it: L* 0..100 and a*, b* -128..127 over
#: 0..255 (or 0..65535), D65 white (ISO 32000-1 8.6.5.4).
_LAB = "[/Lab << /WhitePoint [0.9505 1 1.089] /Range [-128 127 -128 127] >>]"

#: Lines compressed at once: fewer calls into zlib without holding much.
_BATCH = 32


def pdf_color_space(space: ColorSpace, bits_per_color: int) -> str:
    """The image dictionary entries for a raster colour space (ColorSpace
    and, where the raster's numbers run the other way, Decode)."""
    if bits_per_color not in (1, 2, 4, 8, 16):
        raise ConversionError(f"{bits_per_color} bits per colour cannot be put in a PDF")
    if space == ColorSpace.K:
        return "/ColorSpace /DeviceGray /Decode [1 0]"
    if space in _GRAY:
        return "/ColorSpace /DeviceGray"
    if space in _RGB:
        return "/ColorSpace /DeviceRGB"
    if space in _CMYK:
        return "/ColorSpace /DeviceCMYK"
    if space == ColorSpace.CIELAB:
        return f"/ColorSpace {_LAB} /Decode [0 100 -128 127 -128 127]"
    raise ConversionError(f"raster colour space {space.name} cannot be put in a PDF")


def convert(source: BinaryIO, out: BinaryIO, level: int = 1) -> int:
    """Write `source` (PWG Raster or URF) to `out` as PDF; the page count."""
    reader = RasterReader(source)
    pdf = PdfWriter(out)
    for page in reader.pages():
        header = page.header
        width_pt, height_pt = header.page_size_points
        entries = (
            f"/Type /XObject /Subtype /Image /Width {header.width} /Height {header.height} "
            f"{pdf_color_space(header.pwg_color_space, header.bits_per_color)} "
            f"/BitsPerComponent {header.bits_per_color}"
        )
        with pdf.stream(entries, level=level) as image:
            batch: list[bytes] = []
            for line in page.lines():
                batch.append(line)
                if len(batch) == _BATCH:
                    image.write(b"".join(batch))
                    batch.clear()
            image.write(b"".join(batch))
        w, h = pdf_number(width_pt), pdf_number(height_pt)
        content = pdf.add_stream(f"q {w} 0 0 {h} 0 0 cm /Im0 Do Q".encode("ascii"))
        pdf.add_page(
            f"/MediaBox [0 0 {w} {h}] /Resources << /XObject << /Im0 {image.number} 0 R >> >> "
            f"/Contents {content} 0 R"
        )
    if pdf.page_count == 0:
        raise ConversionError("the raster file has no pages")
    pdf.finish()
    return pdf.page_count


def _convert(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        source: BinaryIO = stack.enter_context(args.input.open("rb"))
        if source.read(2) == b"\x1f\x8b":  # gzip, as ipptool's sample files are stored
            source.seek(0)
            unzipped = stack.enter_context(gzip.GzipFile(fileobj=source, mode="rb"))
            source = cast(BinaryIO, unzipped)
        else:
            source.seek(0)
        out = stack.enter_context(args.output.open("wb"))
        return convert(source, out, args.level)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rastertopdf", description="PWG Raster or URF to PDF, one image per page."
    )
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("output", type=Path, metavar="OUTPUT")
    p.add_argument(
        "--level", type=int, choices=range(10), default=1, help="zlib level (default 1: fast)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _convert, argv)


if __name__ == "__main__":
    raise SystemExit(main())
