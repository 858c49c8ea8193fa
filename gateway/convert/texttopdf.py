"""text/plain -> PDF, as a line printer would print it.

Usage::

    python -m gateway.convert.texttopdf INPUT OUTPUT --media PWGNAME
        [--font TTF] [--title T] [--user U] [--date TEXT] [--header]
        [--width COLS] [--indent N] [--orientation portrait|landscape]
        [--lines N] [--legacy-charset CODEPAGE]

Typesetting rules (form feeds, tabs, overstrike, wrapping, the pr-style
header of the LPD ``p`` letter) are in `gateway.convert.textlayout`.

The page: the media's size, margins of 36 pt (0.5 in, as CUPS's texttopdf,
inside the unprintable border of common printers), a 10 pt monospace font,
66 rows where they fit at 1.09 x the font size apart (letter, A4, legal),
else as many as fit. ``--width`` (LPD ``W``) makes that many columns fit,
shrinking the font if it must; ``--lines`` sets the rows a page. Landscape
lays the text out across the long side of the same sheet: the page keeps
the media's portrait MediaBox and its content is turned 90 degrees
counter-clockwise (IPP orientation-requested 4), so a printer or Ghostscript
needs no /Rotate handling.

The font (default DejaVu Sans Mono, Debian's fonts-dejavu-core: Latin, Greek
and Cyrillic) is embedded as a subset (CIDFontType2, Identity-H, with a
ToUnicode map, so text can be searched and copied). Bold overstrikes use the
bold face beside it (``...-Bold.ttf``), or a stroked outline when there is
none. Characters the font lacks print as its .notdef box.

Memory: one page of rows, and the offsets of the objects written; pages go
to the file as they are made (`gateway.convert.pdfwriter`).
"""

from __future__ import annotations

import argparse
import re
import time
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple

from gateway.convert.media import media_size_points
from gateway.convert.pdfwriter import PdfWriter, pdf_number, pdf_text
from gateway.convert.program import ConversionError, run
from gateway.convert.textlayout import Layout, Page, Span, paginate
from gateway.convert.truetype import TrueTypeFont

__all__ = ["DEFAULT_FONT", "TextOptions", "convert", "main", "page_geometry"]

_ASCII_RUNS: Final = re.compile("[\x00-\x7f]+")

DEFAULT_FONT: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
MARGIN: Final = 36.0
FONT_SIZE: Final = 10.0
DEFAULT_LINES: Final = 66
#: Baseline to baseline, as a multiple of the font size, below which rows are
#: not packed (66 rows on letter at 10 pt are 1.0897 apart).
MIN_LEADING: Final = 1.08
#: Line width of the stroke that makes a bold face when the font has none.
FAKE_BOLD_STROKE: Final = 0.03  # of the font size


class TextOptions(NamedTuple):
    media: str = "iso_a4_210x297mm"
    font: Path = DEFAULT_FONT
    title: str = ""
    user: str = ""
    date: str = ""
    header: bool = False
    width: int | None = None
    indent: int = 0
    orientation: str = "portrait"
    lines: int | None = None
    legacy_charset: str = "cp1252"


class Geometry(NamedTuple):
    """Where rows go on the page, in points, in the text's own upright frame
    (landscape: the sheet turned)."""

    sheet: tuple[float, float]  # MediaBox width, height (portrait media)
    frame: tuple[float, float]  # the upright frame's width, height
    size: float  # font size
    leading: float
    columns: int  # cells a row after the indent
    lines: int
    left: float  # x of column 0 after the indent
    top: float  # baseline of the first row
    advance: float  # width of one cell


def page_geometry(options: TextOptions, font: TrueTypeFont) -> Geometry:
    """The font size, rows and columns for the media and options."""
    sheet = media_size_points(options.media)
    frame = sheet if options.orientation == "portrait" else (sheet[1], sheet[0])
    width = frame[0] - 2 * MARGIN
    height = frame[1] - 2 * MARGIN
    if width <= 0 or height <= 0:
        raise ConversionError(f"{options.media} is too small for text with 0.5 in margins")
    em_advance = round(font.advance_1000(font.glyph(ord("M")))) / 1000 or 0.6
    extent = (font.metrics.ascent - font.metrics.descent) / font.units_per_em
    size = FONT_SIZE
    if options.width:
        size = min(size, width / (options.width * em_advance))
    if options.lines:
        lines = options.lines
        if lines > 1:
            size = min(size, height / (extent + (lines - 1) * MIN_LEADING))
    else:
        usable = height - size * extent
        if usable / (DEFAULT_LINES - 1) >= MIN_LEADING * size:
            lines = DEFAULT_LINES
        else:
            lines = max(1, int(usable / (MIN_LEADING * size)) + 1)
    usable = height - size * extent
    leading = usable / (lines - 1) if lines > 1 else size
    advance = em_advance * size
    total_columns = options.width or max(1, int(width / advance + 1e-6))
    indent = min(options.indent, total_columns - 1)
    return Geometry(
        sheet=sheet,
        frame=frame,
        size=size,
        leading=leading,
        columns=max(1, total_columns - indent),
        lines=lines,
        left=MARGIN + indent * advance,
        top=frame[1] - MARGIN - size * font.metrics.ascent / font.units_per_em,
        advance=advance,
    )


class _Face:
    """One embedded font and the characters shown with it.

    Character codes are the text's own UTF-16 code units (every character is
    in the Basic Multilingual Plane: see textlayout), used as CIDs, and a
    CIDToGIDMap stream maps them to the font's glyphs. So a row becomes a PDF
    string with one C call (``str.encode``), and the ToUnicode map is the
    identity over the codes used.
    """

    __slots__ = ("ascii", "font", "number", "resource", "used")

    def __init__(self, font: TrueTypeFont, resource: str, number: int) -> None:
        self.font = font
        self.resource = resource
        self.number = number
        self.used: set[str] = set()
        self.ascii = False

    def hex(self, text: str) -> str:
        self.note(text)
        return text.encode("utf-16-be").hex()

    def note(self, text: str) -> None:
        """Remember the characters of `text` as used (for the subset): all
        of printable ASCII at once (cheaper than looking at each character,
        and a few KB of font), and of the rest what is not ASCII."""
        if not self.ascii:
            self.ascii = True
            self.used.update(map(chr, range(0x20, 0x7F)))
        if not text.isascii():
            self.used.update(_ASCII_RUNS.sub("", text))


class _Renderer:
    """Pages of rows -> PDF page objects, each written as it is made."""

    def __init__(self, pdf: PdfWriter, options: TextOptions, level: int = 1) -> None:
        self.pdf = pdf
        self.level = level
        self.options = options
        font = TrueTypeFont(options.font)
        self.geometry = page_geometry(options, font)
        self.regular = _Face(font, "F1", pdf.reserve())
        self._bold: _Face | None = None
        self.resources = pdf.reserve()
        g = self.geometry
        w, h = g.sheet
        self.media_box = f"[0 0 {pdf_number(w)} {pdf_number(h)}]"
        turn = "" if options.orientation == "portrait" else f"0 1 -1 0 {pdf_number(w)} 0 cm\n"
        self.prologue = (
            f"{turn}BT\n/F1 {pdf_number(g.size)} Tf\n{pdf_number(g.leading)} TL\n"
            f"{pdf_number(g.left)} {pdf_number(g.top)} Td\n"
        )

    def bold(self) -> _Face:
        if self._bold is None:
            path = self.options.font
            candidate = path.with_name(f"{path.stem}-Bold{path.suffix}")
            if candidate.is_file():
                self._bold = _Face(TrueTypeFont(candidate), "F2", self.pdf.reserve())
            else:  # no bold face: the regular one, stroked (see _span)
                self._bold = self.regular
        return self._bold

    def page(self, page: Page) -> None:
        g = self.geometry
        size = pdf_number(g.size)
        parts = [self.prologue]
        underlines: list[tuple[float, float, int]] = []
        plain: list[str] = []
        for index, row in enumerate(page.rows):
            if isinstance(row, str):
                plain.append(row)
                continue
            if plain:
                parts.append(self._plain_rows(plain))
                plain = []
            y = g.top - index * g.leading
            for span in row:
                parts.append(self._span(span, y, size))
                if span.underline:
                    underlines.append((g.left + span.column * g.advance, y, len(span.text)))
            next_y = pdf_number(g.top - (index + 1) * g.leading)
            parts.append(f"1 0 0 1 {pdf_number(g.left)} {next_y} Tm\n")
        if plain:
            parts.append(self._plain_rows(plain))
        parts.append("ET\n")
        if underlines:
            thickness = pdf_number(g.size * 0.05)
            for x, y, cells in underlines:
                parts.append(
                    f"{pdf_number(x)} {pdf_number(y - g.size * 0.15)} "
                    f"{pdf_number(cells * g.advance)} {thickness} re f\n"
                )
        content = self.pdf.add_stream("".join(parts).encode("ascii"), level=self.level)
        self.pdf.add_page(
            f"/MediaBox {self.media_box} /Resources {self.resources} 0 R /Contents {content} 0 R"
        )

    def _plain_rows(self, rows: list[str]) -> str:
        """Consecutive plain rows: ``<codes>Tj T*`` each, the codes being the
        row's UTF-16 code units in hex (two C calls a row)."""
        self.regular.note("".join(rows))
        return "".join(
            [f"<{row.encode('utf-16-be').hex()}>Tj T*\n" if row else "T*\n" for row in rows]
        )

    def _span(self, span: Span, y: float, size: str) -> str:
        g = self.geometry
        x = pdf_number(g.left + span.column * g.advance)
        move = f"1 0 0 1 {x} {pdf_number(y)} Tm "
        if not span.bold:
            return f"{move}<{self.regular.hex(span.text)}>Tj\n"
        face = self.bold()
        if face is self.regular:
            stroke = pdf_number(FAKE_BOLD_STROKE * g.size)
            return f"{move}2 Tr {stroke} w <{face.hex(span.text)}>Tj 0 Tr\n"
        return f"{move}/{face.resource} {size} Tf <{face.hex(span.text)}>Tj /F1 {size} Tf\n"

    def finish(self) -> None:
        faces = [self.regular]
        if self._bold is not None and self._bold is not self.regular:
            faces.append(self._bold)
        fonts = " ".join(f"/{f.resource} {f.number} 0 R" for f in faces)
        self.pdf.write(self.resources, f"<< /Font << {fonts} >> >>")
        for face in faces:
            _embed(self.pdf, face)


def _subset_tag(codes: Iterable[int]) -> str:
    """Six capitals naming the subset (ISO 32000-1 9.6.4), from its codes."""
    value = zlib.crc32(repr(sorted(codes)).encode())
    letters = []
    for _ in range(6):
        value, letter = divmod(value, 26)
        letters.append(chr(ord("A") + letter))
    return "".join(letters)


def _embed(pdf: PdfWriter, face: _Face) -> None:
    """Type0 font, CIDFontType2 with the subset program, its CIDToGIDMap,
    descriptor and ToUnicode map (ISO 32000-1 9.7, 9.10.3)."""
    font = face.font
    codes = sorted({ord(c) for c in face.used if c >= " "} | {0x20})
    replacement = font.glyph(0xFFFD)
    glyphs = {code: font.glyph(code) or replacement for code in codes}
    name = f"/{_subset_tag(codes)}+{font.postscript_name}"
    program = font.subset(glyphs.values())
    file_number = pdf.add_stream(program, f"/Length1 {len(program)}")
    cid_to_gid = bytearray(2 * (codes[-1] + 1))
    for code, glyph in glyphs.items():
        cid_to_gid[2 * code : 2 * code + 2] = glyph.to_bytes(2, "big")
    map_number = pdf.add_stream(bytes(cid_to_gid))
    m = font.metrics
    scale = 1000.0 / font.units_per_em
    bbox = " ".join(pdf_number(v * scale) for v in m.bbox)
    flags = (1 if m.fixed_pitch else 0) | 32
    descriptor = pdf.add(
        f"<< /Type /FontDescriptor /FontName {name} /Flags {flags} /FontBBox [{bbox}] "
        f"/ItalicAngle 0 /Ascent {pdf_number(m.ascent * scale)} "
        f"/Descent {pdf_number(m.descent * scale)} /CapHeight {pdf_number(m.cap_height * scale)} "
        f"/StemV {80 if m.weight < 600 else 140} /FontFile2 {file_number} 0 R >>"
    )
    # Widths as integers: poppler reads a real /DW as 1000.
    default = round(font.advance_1000(glyphs[0x20]))
    widths = " ".join(
        f"{code} [{round(font.advance_1000(glyph))}]"
        for code, glyph in glyphs.items()
        if round(font.advance_1000(glyph)) != default
    )
    cid_font = pdf.add(
        f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont {name} "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        f"/FontDescriptor {descriptor} 0 R /DW {default} /W [{widths}] "
        f"/CIDToGIDMap {map_number} 0 R >>"
    )
    to_unicode = pdf.add_stream(_to_unicode(codes).encode("ascii"))
    pdf.write(
        face.number,
        f"<< /Type /Font /Subtype /Type0 /BaseFont {name} /Encoding /Identity-H "
        f"/DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>",
    )


def _to_unicode(codes: Sequence[int]) -> str:
    """CID -> Unicode: the identity over `codes`, as bfchar entries (100 a
    block, ISO 32000-1 9.10.3). Not bfrange: Ghostscript's text extraction
    reads some identity ranges wrongly."""
    entries = [code for code in codes if code >= 0x20]
    blocks = []
    for start in range(0, len(entries), 100):
        chunk = entries[start : start + 100]
        lines = "\n".join(f"<{code:04X}> <{code:04X}>" for code in chunk)
        blocks.append(f"{len(chunk)} beginbfchar\n{lines}\nendbfchar")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )


def convert(source: BinaryIO, out: BinaryIO, options: TextOptions) -> int:
    """Typeset the text read from `source` into a PDF written to `out`; the
    number of pages (0 for an empty document: a PDF with no pages)."""
    pdf = PdfWriter(out)
    renderer = _Renderer(pdf, options)
    g = renderer.geometry
    layout = Layout(
        columns=g.columns,
        lines=g.lines,
        header=options.header,
        title=options.title,
        date=options.date or time.strftime("%Y-%m-%d %H:%M"),
        legacy_encoding=options.legacy_charset,
    )
    for page in paginate(source, layout):
        renderer.page(page)
    renderer.finish()
    info = {"Creator": pdf_text("lpd-ipp-gateway texttopdf")}
    if options.title:
        info["Title"] = pdf_text(options.title)
    if options.user:
        info["Author"] = pdf_text(options.user)
    pdf.finish(info)
    return pdf.page_count


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="texttopdf", description="Plain text to PDF.")
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("output", type=Path, metavar="OUTPUT")
    p.add_argument("--media", required=True, help="PWG media name, e.g. iso_a4_210x297mm")
    p.add_argument("--font", type=Path, default=DEFAULT_FONT, help="a monospace TrueType font")
    p.add_argument("--title", help="header title (default: the input's file name)")
    p.add_argument("--user", default="", help="the job's user (PDF Author)")
    p.add_argument("--date", default="", help="header date text (default: now)")
    p.add_argument("--header", action="store_true", help="pr-style page headers (LPD p)")
    p.add_argument("--width", type=_positive, help="columns a row (LPD W)")
    p.add_argument("--indent", type=int, default=0, help="columns of indent (LPD I)")
    p.add_argument("--orientation", choices=("portrait", "landscape"), default="portrait")
    p.add_argument("--lines", type=_positive, help="rows a page")
    p.add_argument("--legacy-charset", default="cp1252", help="for lines that are not UTF-8")
    return p


def _convert(args: argparse.Namespace) -> int:
    options = TextOptions(
        media=args.media,
        font=args.font,
        title=args.input.name if args.title is None else args.title,
        user=args.user,
        date=args.date,
        header=args.header,
        width=args.width,
        indent=max(0, args.indent),
        orientation=args.orientation,
        lines=args.lines,
        legacy_charset=args.legacy_charset,
    )
    if options.header and options.lines is not None and options.lines < 3:
        raise ConversionError("a page with a header needs at least 3 lines")
    with args.input.open("rb") as source, args.output.open("wb") as out:
        return convert(source, out, options)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parser(), _convert, argv)


if __name__ == "__main__":
    raise SystemExit(main())
