"""JPEG or PNG -> one PDF page on the job's media.

Usage::

    python -m gateway.convert.imagetopdf INPUT OUTPUT --media PWGNAME
        [--margins TOP,BOTTOM,LEFT,RIGHT]
        [--scaling auto|auto-fit|fill|fit|none]
        [--orientation portrait|landscape|reverse-landscape|reverse-portrait|3..6]

The image becomes a page of its own size (its resolution, else 96 dpi) with
img2pdf, which embeds a JPEG as it is (no decoding, no loss, the file's
bytes in the PDF) and a PNG's compressed data as it is where PDF can take
it; that page is then put on the media with the same placement as pdftopdf
(`gateway.convert.layout`): print-scaling as PWG 5100.13 defines it, where
an image "fits" when it fits the printable area; turned 90 degrees when it
is landscape on portrait paper (or the other way) unless an orientation is
given; EXIF orientation applied.

PNG with transparency is flattened on white with Pillow first (PDF soft
masks are not something every printer's PDF interpreter gets right).
Decompression bombs are refused: an image with more than Pillow's
MAX_IMAGE_PIXELS is an error, not a warning.
"""

from __future__ import annotations

import argparse
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import img2pdf  # type: ignore[import-untyped]
import pikepdf
from PIL import Image, UnidentifiedImageError

from gateway.convert.layout import ORIENTATIONS, SCALINGS, Margins, Sheet
from gateway.convert.media import hmm_to_points, media_size_points
from gateway.convert.pdftopdf import DEFAULT_MARGIN_HMM, SAVE, parse_margins, place_page
from gateway.convert.program import ConversionError, run

__all__ = ["ImageOptions", "convert", "main"]

_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG"}


class ImageOptions(NamedTuple):
    media: str = "iso_a4_210x297mm"
    margins: Margins = Margins(*(hmm_to_points(DEFAULT_MARGIN_HMM),) * 4)
    scaling: str = "auto"
    orientation: str | None = None


def _check(data: bytes) -> tuple[str, bool]:
    """The image's format and whether it has transparency; ConversionError
    for anything that is not a JPEG or PNG Pillow can open, or a bomb."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind = _FORMATS.get(image.format or "")
                if kind is None:
                    raise ConversionError(f"a {image.format} image is not JPEG or PNG")
                transparent = image.mode in ("RGBA", "LA", "PA") or (
                    image.mode in ("P", "L", "RGB", "I;16") and "transparency" in image.info
                )
                return kind, transparent
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ConversionError(
            f"the image has more pixels than the {Image.MAX_IMAGE_PIXELS} a conversion decodes"
        ) from None
    except UnidentifiedImageError:
        raise ConversionError("the file is not a JPEG or PNG image") from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ConversionError):
            raise
        raise ConversionError(f"the image cannot be read: {error}") from None


def _flatten(data: bytes) -> bytes:
    """A PNG with its transparency composited on white (RGB, or L for gray).
    Pasting through the alpha channel onto a white canvas holds the image
    about twice, not four times as alpha_composite does; the PNG written
    back is compressed fast (level 1), as it is read again at once."""
    with Image.open(io.BytesIO(data)) as image:
        gray = image.mode in ("LA", "L", "I;16")
        dpi = image.info.get("dpi", (96, 96))
        rgba = image.convert("LA" if gray else "RGBA")
    canvas = Image.new("L" if gray else "RGB", rgba.size, 255 if gray else (255, 255, 255))
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    del rgba
    out = io.BytesIO()
    canvas.save(out, "PNG", dpi=dpi, compress_level=1)
    return out.getvalue()


def convert(source: Path, output: Path, options: ImageOptions) -> int:
    """Put the image in `source` on one page of `options.media`; 1."""
    if options.scaling not in SCALINGS:
        raise ConversionError(f"{options.scaling!r} is not a print-scaling value")
    data = source.read_bytes()
    kind, transparent = _check(data)
    if kind == "PNG" and transparent:
        data = _flatten(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            page_pdf = img2pdf.convert(
                data, rotation=img2pdf.Rotation.ifvalid, first_frame_only=True, nodate=True
            )
    except img2pdf.AlphaChannelError:
        page_pdf = img2pdf.convert(
            _flatten(data), rotation=img2pdf.Rotation.ifvalid, first_frame_only=True, nodate=True
        )
    except (img2pdf.ImageOpenError, img2pdf.JpegColorspaceError, ValueError, OSError) as error:
        raise ConversionError(f"the image cannot be put in a PDF: {error}") from None
    assert isinstance(page_pdf, bytes)
    width, height = media_size_points(options.media)
    sheet = Sheet(width, height, options.margins)
    requested = ORIENTATIONS[options.orientation] if options.orientation else None
    with pikepdf.open(io.BytesIO(page_pdf)) as pdf:
        page = pdf.pages[0]
        placed = place_page(pdf, page, sheet, options.scaling, requested, room_is_printable=True)
        if placed is not page.obj:
            del pdf.pages[:]
            pdf.pages.append(pikepdf.Page(placed))
        with output.open("wb") as stream:
            pdf.save(stream, **SAVE)
    return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imagetopdf", description="A JPEG or PNG image to PDF.")
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("output", type=Path, metavar="OUTPUT")
    p.add_argument("--media", required=True, help="PWG media name, e.g. iso_a4_210x297mm")
    p.add_argument(
        "--margins", default=str(DEFAULT_MARGIN_HMM), help="TOP,BOTTOM,LEFT,RIGHT, 1/100 mm"
    )
    p.add_argument("--scaling", choices=SCALINGS, default="auto")
    p.add_argument("--orientation", choices=sorted(ORIENTATIONS))
    return p


def _convert(args: argparse.Namespace) -> int:
    options = ImageOptions(
        media=args.media,
        margins=parse_margins(args.margins),
        scaling=args.scaling,
        orientation=args.orientation,
    )
    media_size_points(options.media)
    return convert(args.input, args.output, options)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _convert, argv)


if __name__ == "__main__":
    raise SystemExit(main())
