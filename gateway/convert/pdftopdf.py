"""PDF -> PDF with the job template attributes a printer cannot apply itself:
page-ranges, number-up, orientation-requested, print-scaling onto the job's
media, and collated copies.

Usage::

    python -m gateway.convert.pdftopdf INPUT OUTPUT [--media PWGNAME]
        [--margins TOP,BOTTOM,LEFT,RIGHT] [--page-ranges 1-3,7]
        [--number-up 1|2|4|6|9|16]
        [--orientation portrait|landscape|reverse-landscape|reverse-portrait|3..6]
        [--scaling auto|auto-fit|fill|fit|none] [--copies N]

Margins are IPP media-*-margin values, hundredths of millimetres (default
635 each: a quarter inch). Without ``--media`` each page keeps its own size
(number-up: the first page's). The layout rules are in
`gateway.convert.layout`.

Why pikepdf (qpdf): a page is put on the sheet as a Form XObject made from
it (qpdf's getFormXObjectForPage), so no content stream is parsed or
rewritten, and stream data is copied from the input file when the output
is written, not held. Measured on cups-filters' texttopdf output of 1,999
pages (18 MB): pikepdf 2-up in 0.85 s and 44 MB peak RSS, 1-up 1.1 s and
48 MB; pypdf 1-up 0.8 s and 87 MB, 2-up (merge_transformed_page) 56 s and
115 MB. Pages that need no change (one up, no turn, unscaled, same size)
are kept as they are, annotations and all.
"""

from __future__ import annotations

import argparse
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

import pikepdf

from gateway.convert.layout import (
    ORIENTATIONS,
    SCALINGS,
    Box,
    Margins,
    Matrix,
    Sheet,
    choose_rotation,
    number_up_cells,
    parse_page_ranges,
    place,
    resolve_scaling,
    rotation,
    selected,
)
from gateway.convert.media import hmm_to_points, media_size_points
from gateway.convert.pdfwriter import pdf_number
from gateway.convert.program import ConversionError, run

__all__ = ["SAVE", "LayoutOptions", "convert", "main", "parse_margins", "place_page"]

DEFAULT_MARGIN_HMM = 635

#: How pages are written: streams copied as they are, never decoded (a flate
#: bomb's 2 GiB image stays the 4 KB it came as, where qpdf's compression
#: pass takes 19 s to inflate and deflate it again); the streams this module
#: makes are compressed by it; no encryption.
SAVE: Final[dict[str, Any]] = {
    "stream_decode_level": pikepdf.StreamDecodeLevel.none,
    "compress_streams": False,  # True inflates and deflates a /FlateDecode /FlateDecode image
    "recompress_flate": False,
    "encryption": False,
}


class LayoutOptions(NamedTuple):
    media: str | None = None
    margins: Margins = Margins(*(hmm_to_points(DEFAULT_MARGIN_HMM),) * 4)
    page_ranges: str | None = None
    number_up: int = 1
    orientation: str | None = None
    scaling: str = "auto"
    copies: int = 1


def parse_margins(text: str) -> Margins:
    """``TOP,BOTTOM,LEFT,RIGHT`` in hundredths of millimetres (one value: all four)."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{text!r} is not TOP,BOTTOM,LEFT,RIGHT margins") from None
    if len(values) == 1:
        values *= 4
    if len(values) != 4 or min(values) < 0:
        raise ValueError(f"{text!r} is not TOP,BOTTOM,LEFT,RIGHT margins")
    return Margins(*(hmm_to_points(v) for v in values))


def _displayed(page: pikepdf.Page) -> tuple[Box, int]:
    """The page's visible box (CropBox, else MediaBox) and its /Rotate."""
    box = [float(v) for v in page.cropbox]
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    turn = int(page.obj.get("/Rotate", 0)) % 360
    return Box(x0, y0, x1 - x0, y1 - y0), turn


def _inherited(page: pikepdf.Object, key: str) -> pikepdf.Object | None:
    """A page attribute that may be inherited from the page tree (/Resources)."""
    node = page
    for _ in range(64):  # deeper than any page tree; a cycle ends here
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if parent is None:
            return None
        node = parent
    return None


def _form(pdf: pikepdf.Pdf, page: pikepdf.Page) -> tuple[pikepdf.Object, Box]:
    """The page as a Form XObject and the box it covers where it is drawn.

    A single content stream is copied as it is stored (compressed, filters
    and all: nothing is decoded); several are joined, which decodes them.
    The page's /Rotate (clockwise) becomes the form's /Matrix."""
    box, turn = _displayed(page)
    form = pdf.make_stream(b"")
    contents = page.obj.get("/Contents")
    if isinstance(contents, pikepdf.Stream):
        form.write(
            contents.read_raw_bytes(),
            filter=cast("pikepdf.Name | pikepdf.Array | None", contents.get("/Filter")),
            decode_parms=cast(
                "pikepdf.Dictionary | pikepdf.Array | None", contents.get("/DecodeParms")
            ),
        )
    elif isinstance(contents, pikepdf.Array):
        data = b"\n".join(bytes(part.read_bytes()) for part in contents)
        form.write(zlib.compress(data), filter=pikepdf.Name.FlateDecode)
    form.Type = pikepdf.Name.XObject
    form.Subtype = pikepdf.Name.Form
    form.BBox = pikepdf.Array([box.x, box.y, box.x + box.width, box.y + box.height])
    resources = _inherited(page.obj, "/Resources")
    if resources is not None:
        form.Resources = resources
    matrix = rotation(-turn)
    if turn:
        form.Matrix = pikepdf.Array(list(matrix))
    return form, matrix.bounds(box)


def _cm(m: Matrix) -> str:
    return " ".join(pdf_number(v) for v in m) + " cm"


def _clip(box: Box) -> str:
    numbers = " ".join(pdf_number(v) for v in box)
    return f"{numbers} re W n"


def convert(source: Path, output: Path, options: LayoutOptions) -> int:
    """Lay out `source` into `output`; the number of pages written."""
    if options.copies < 1:
        raise ConversionError("copies must be at least 1")
    ranges = parse_page_ranges(options.page_ranges) if options.page_ranges else None
    requested = ORIENTATIONS[options.orientation] if options.orientation else None
    if options.scaling not in SCALINGS:
        raise ConversionError(f"{options.scaling!r} is not a print-scaling value")
    try:
        pdf = pikepdf.open(source)
    except pikepdf.PasswordError:
        raise ConversionError("the PDF is protected by a password") from None
    except pikepdf.PdfError as error:
        raise ConversionError(f"not a PDF that can be read: {error}") from None
    with pdf:
        originals = list(pdf.pages)
        indexes = selected(len(originals), ranges)
        if not indexes:
            raise ConversionError(
                f"page-ranges {options.page_ranges} select none of the {len(originals)} pages"
            )
        chosen = [originals[i] for i in indexes]
        if _may_transform(options) and any("/Annots" in page.obj for page in chosen):
            pdf.flatten_annotations("print")  # form fields and stamps become page content
        sheets = _lay_out(pdf, chosen, options, requested)
        del pdf.pages[:]
        written = 0
        for copy in range(options.copies):
            for sheet in sheets:
                page = sheet
                if copy:  # a page object is in the page tree once: a new one, same content
                    page = pdf.make_indirect(
                        pikepdf.Dictionary({k: v for k, v in sheet.items() if k != "/Parent"})
                    )
                pdf.pages.append(pikepdf.Page(page))
                written += 1
        with output.open("wb") as stream:  # the one file written, by us (qpdf makes no temporary)
            pdf.save(stream, **SAVE)
    return written


def _may_transform(options: LayoutOptions) -> bool:
    """Whether any page may be drawn as a form (and so lose its annotations)."""
    return bool(
        options.number_up > 1
        or options.media
        or options.orientation
        or options.scaling in ("fit", "fill")
    )


def _lay_out(
    pdf: pikepdf.Pdf, pages: list[pikepdf.Page], options: LayoutOptions, requested: int | None
) -> list[pikepdf.Object]:
    """The output page objects, one copy's worth."""
    if options.number_up == 1:
        return [_one_up(pdf, page, options, requested) for page in pages]
    first, turn = _displayed(pages[0])
    first_size = (first.height, first.width) if turn % 180 else (first.width, first.height)
    sheet = _sheet(options, first_size)
    area = sheet.printable
    scaling = "fill" if options.scaling == "fill" else "fit"
    rotate, cells = number_up_cells(options.number_up, area, first_size, requested)
    out: list[pikepdf.Object] = []
    for start in range(0, len(pages), options.number_up):
        xobjects = pikepdf.Dictionary()
        drawn = []
        for slot, page in enumerate(pages[start : start + options.number_up]):
            form, covers = _form(pdf, page)
            name = f"/P{slot}"
            xobjects[name] = form
            m = place(covers, rotate, cells[slot], scaling)
            drawn.append(f"q {_clip(cells[slot])} {_cm(m)} {name} Do Q")
        out.append(_new_page(pdf, sheet, xobjects, drawn))
    return out


def _sheet(options: LayoutOptions, size: tuple[float, float]) -> Sheet:
    if options.media:
        width, height = media_size_points(options.media)
    else:
        width, height = size
    return Sheet(width, height, options.margins)


def _one_up(
    pdf: pikepdf.Pdf, page: pikepdf.Page, options: LayoutOptions, requested: int | None
) -> pikepdf.Object:
    box, turn = _displayed(page)
    size = (box.height, box.width) if turn % 180 else (box.width, box.height)
    return place_page(pdf, page, _sheet(options, size), options.scaling, requested)


def place_page(
    pdf: pikepdf.Pdf,
    page: pikepdf.Page,
    sheet: Sheet,
    scaling: str,
    requested: int | None,
    *,
    room_is_printable: bool = False,
) -> pikepdf.Object:
    """One page on one sheet: turned (as requested, else when it fits
    better turned) and scaled by print-scaling. For auto and auto-fit the
    page prints unscaled when it fits on the sheet (a PDF page carries its
    own margins), or within the printable area when `room_is_printable`
    (an image, which has none). A page that needs nothing is returned as it
    is."""
    box, turn = _displayed(page)
    size = (box.height, box.width) if turn % 180 else (box.width, box.height)
    area = sheet.printable
    rotate = choose_rotation(size, area, requested)
    turned = (size[1], size[0]) if rotate % 180 else size
    room = (area.width, area.height) if room_is_printable else (sheet.width, sheet.height)
    resolved = resolve_scaling(scaling, turned, room, sheet.margins.borderless)
    same_size = abs(size[0] - sheet.width) <= 1 and abs(size[1] - sheet.height) <= 1
    if rotate == 0 and resolved == "none" and same_size:
        return page.obj  # as it is, /Rotate and annotations included
    form, covers = _form(pdf, page)
    whole = Box(0, 0, sheet.width, sheet.height)
    m = place(covers, rotate, area, resolved, center=whole if resolved == "none" else None)
    clip = _clip(whole if resolved == "none" else area)
    return _new_page(pdf, sheet, pikepdf.Dictionary({"/P0": form}), [f"q {clip} {_cm(m)} /P0 Do Q"])


def _new_page(
    pdf: pikepdf.Pdf, sheet: Sheet, xobjects: pikepdf.Dictionary, drawn: list[str]
) -> pikepdf.Object:
    content = pdf.make_stream(b"")
    content.write(zlib.compress("\n".join(drawn).encode("ascii")), filter=pikepdf.Name.FlateDecode)
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=pikepdf.Array([0, 0, sheet.width, sheet.height]),
            Resources=pikepdf.Dictionary(XObject=xobjects),
            Contents=content,
        )
    )


def _number_up(text: str) -> int:
    value = int(text)
    if value not in (1, 2, 4, 6, 9, 16):
        raise argparse.ArgumentTypeError(f"number-up {value} is not 1, 2, 4, 6, 9 or 16")
    return value


def _copies(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"copies {value} is not a positive number")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdftopdf", description="Lay out PDF pages for printing.")
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("output", type=Path, metavar="OUTPUT")
    p.add_argument("--media", help="PWG media name (default: each page's own size)")
    p.add_argument(
        "--margins", default=str(DEFAULT_MARGIN_HMM), help="TOP,BOTTOM,LEFT,RIGHT, 1/100 mm"
    )
    p.add_argument("--page-ranges", help="IPP page-ranges, e.g. 1-3,7")
    p.add_argument("--number-up", type=_number_up, default=1)
    p.add_argument("--orientation", choices=sorted(ORIENTATIONS))
    p.add_argument("--scaling", choices=SCALINGS, default="auto")
    p.add_argument("--copies", type=_copies, default=1, help="collated copies")
    return p


def _convert(args: argparse.Namespace) -> int:
    options = LayoutOptions(
        media=args.media,
        margins=parse_margins(args.margins),
        page_ranges=args.page_ranges,
        number_up=args.number_up,
        orientation=args.orientation,
        scaling=args.scaling,
        copies=args.copies,
    )
    if options.media:
        media_size_points(options.media)  # a bad name fails before any work
    return convert(args.input, args.output, options)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _convert, argv)


if __name__ == "__main__":
    raise SystemExit(main())
