"""texttopdf, its typesetting (textlayout) and its font subsetting (truetype),
read back with poppler (pdftotext, pdfinfo, pdffonts), Ghostscript
(txtwrite, rendering) and fontTools."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from gateway.convert.textlayout import Layout, Span, paginate
from gateway.convert.texttopdf import DEFAULT_FONT, TextOptions, convert, main, page_geometry
from gateway.convert.truetype import FontError, TrueTypeFont
from tests.unit.convert.programs import (
    failed,
    ink_box,
    page_count,
    page_size,
    pdftotext,
    render,
    run_program,
    succeeded,
    tool,
    writes_only_its_output,
)
from tests.unit.convert.support import IPPTOOL_FILES

needs_font = pytest.mark.skipif(
    not DEFAULT_FONT.exists(), reason="fonts-dejavu-core is not installed"
)
pytestmark = needs_font

A4 = "iso_a4_210x297mm"
LETTER = "na_letter_8.5x11in"

GREEK = "Η γρήγορη καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο"  # noqa: RUF001
CYRILLIC = "Съешь же ещё этих мягких французских булок, да выпей чаю"


def typeset(tmp_path: Path, text: bytes | str, *options: str, media: str = A4) -> Path:
    """The PDF of `text` (a new file each call), made by texttopdf's main()."""
    typeset.calls += 1  # type: ignore[attr-defined]
    source = tmp_path / "in.txt"
    out = tmp_path / f"out-{typeset.calls}.pdf"  # type: ignore[attr-defined]
    source.write_bytes(text.encode() if isinstance(text, str) else text)
    assert main([str(source), str(out), f"--media={media}", *options]) == 0
    return out


typeset.calls = 0  # type: ignore[attr-defined]


def lines_of(path: Path, page: int | None = None) -> list[str]:
    """pdftotext -layout: the rows as printed (plain pdftotext finds columns
    in monospace text and reads them one after the other)."""
    return [line.strip() for line in pdftotext(path, "-layout", page=page).splitlines()]


def pages_of(
    text: bytes, columns: int = 20, lines: int = 5, **kw: object
) -> list[tuple[object, ...]]:
    layout = Layout(columns=columns, lines=lines, **kw)  # type: ignore[arg-type]
    return [page.rows for page in paginate(io.BytesIO(text), layout)]


# ----------------------------------------------------------------------
# The PDF, read back by independent tools


def test_text_comes_back_from_pdftotext_including_greek_and_cyrillic(tmp_path: Path) -> None:
    out = typeset(tmp_path, f"Hello, printer.\n{GREEK}\n{CYRILLIC}\nŁódź, Ærø, naïve\n")
    text = pdftotext(out)
    for line in ("Hello, printer.", GREEK, CYRILLIC, "Łódź, Ærø, naïve"):
        assert line in text
    assert page_count(out) == 1
    assert page_size(out) == (595.276, 841.89)


def test_ghostscript_renders_it_and_reads_the_same_text(tmp_path: Path) -> None:
    gs = shutil.which("gs")
    assert gs is not None
    out = typeset(tmp_path, f"first line\n{GREEK}\n{CYRILLIC}\n")
    txt = subprocess.run(
        [
            gs,
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=txtwrite",
            "-sOutputFile=-",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "first line" in txt and GREEK in txt and CYRILLIC in txt
    box = ink_box(render(out, 1, 50, tmp_path))
    assert box is not None  # the page is not blank
    left, top, _, _ = box
    assert 20 <= left <= 30 and 20 <= top <= 35  # at the 0.5 in margin (25 px at 50 dpi)


def test_the_font_is_embedded_as_a_subset_with_unicode(tmp_path: Path) -> None:
    out = typeset(tmp_path, f"plain\nb\bbo\bol\bld\bd\n{GREEK}\n")
    fonts = tool("pdffonts", out).splitlines()[2:]
    rows = {row.split()[0].split("+")[1]: row.split() for row in fonts}
    assert set(rows) == {"DejaVuSansMono", "DejaVuSansMono-Bold"}
    for row in rows.values():
        assert row[1:4] == ["CID", "TrueType", "Identity-H"]
        assert row[4:7] == ["yes", "yes", "yes"]  # embedded, subset, ToUnicode
    assert out.stat().st_size < 80_000  # a subset, not the 340 KB font twice


def test_letter_and_a4_hold_66_lines(tmp_path: Path) -> None:
    for media in (A4, LETTER):
        out = typeset(tmp_path, "".join(f"line {n}\n" for n in range(1, 133)), media=media)
        assert page_count(out) == 2
        assert lines_of(out, 1)[65] == "line 66"
        assert lines_of(out, 2)[0] == "line 67"


def test_form_feeds_make_page_breaks(tmp_path: Path) -> None:
    out = typeset(tmp_path, "one\fand two\n\f\fthree after a blank page\n\f")
    assert page_count(out) == 4
    assert lines_of(out, 1)[0] == "one"
    assert lines_of(out, 2)[0] == "and two"
    assert pdftotext(out, page=3).strip() == ""
    assert lines_of(out, 4)[0] == "three after a blank page"


def _word_x(out: Path, page: int = 1) -> dict[str, float]:
    xml = tool("pdftotext", "-bbox", "-f", str(page), "-l", str(page), out, "-")
    return {
        m.group(2): float(m.group(1)) for m in re.finditer(r'xMin="([\d.]+)"[^>]*>([^<]+)<', xml)
    }


def test_tabs_stop_every_8_columns(tmp_path: Path) -> None:
    out = typeset(tmp_path, "a\tB\nabcdefghij\tC\n\tD\n")
    x = _word_x(out)
    cell = x["B"] - x["a"]
    assert cell == pytest.approx(8 * 6.02, abs=0.2)  # 8 cells of 10 pt DejaVu Sans Mono
    assert x["C"] - x["a"] == pytest.approx(2 * cell, abs=0.2)
    assert x["D"] - x["a"] == pytest.approx(cell, abs=0.2)


def test_backspace_overstrike_bold_appears_once_and_underline(tmp_path: Path) -> None:
    out = typeset(tmp_path, "b\bbo\bol\bld\bd text\n_\bu_\bn_\bd_\be_\br\n")
    rows = lines_of(out)
    assert rows[:2] == ["bold text", "under"]  # each overstruck letter once
    assert "_" not in pdftotext(out)
    # the underline is drawn: ink below the baseline of the second row
    image = render(out, 1, 150, tmp_path)
    plain = render(typeset(tmp_path, "bold text\nunder\n"), 1, 150, tmp_path)
    assert ink_box(image) != ink_box(plain)


def test_other_overstrikes_show_both_glyphs_in_one_cell(tmp_path: Path) -> None:
    struck = typeset(tmp_path, "a\b/Z\n")
    text = pdftotext(struck)
    assert "a" in text and "/" in text and "Z" in text
    plain = render(typeset(tmp_path, "aZ\n"), 1, 100, tmp_path)
    both = render(struck, 1, 100, tmp_path)
    struck_box, plain_box = ink_box(both), ink_box(plain)
    assert struck_box is not None and plain_box is not None
    # the same cells across: the slash is inside the "a" cell
    assert (struck_box[0], struck_box[2]) == (plain_box[0], plain_box[2])
    assert sum(both.histogram()[:128]) > sum(plain.histogram()[:128])  # and it is drawn


def test_the_header_of_the_lpd_p_letter(tmp_path: Path) -> None:
    lines = "".join(f"row {n}\n" for n in range(1, 101))
    out = typeset(
        tmp_path, lines, "--header", "--title=Quarterly report", "--date=2026-12-02 10:00"
    )
    assert page_count(out) == 2  # 64 rows of text a page under the header
    for page in (1, 2):
        rows = lines_of(out, page)
        assert " ".join(rows[0].split()) == f"2026-12-02 10:00 Quarterly report Page {page}"
        assert rows[1] == ""
    assert lines_of(out, 1)[65] == "row 64"
    assert lines_of(out, 2)[2] == "row 65"


def test_the_title_defaults_to_the_file_name(tmp_path: Path) -> None:
    out = typeset(tmp_path, "x\n", "--header", "--date=today")
    assert " ".join(lines_of(out)[0].split()) == "today in.txt Page 1"
    assert "Title:" in tool("pdfinfo", out) and "in.txt" in tool("pdfinfo", out)


def test_crlf_legacy_bytes_and_control_characters(tmp_path: Path) -> None:
    out = typeset(
        tmp_path, b"dos line\r\ncaf\xe9 cr\xe8me\r\n\x1b[1mbold?\x1b[0m\x00\n\xc3\xa9t\xc3\xa9\n"
    )
    assert lines_of(out)[:4] == ["dos line", "café crème", "[1mbold?[0m", "été"]


def test_long_lines_wrap_and_width_fits_columns(tmp_path: Path) -> None:
    out = typeset(tmp_path, "x" * 200 + "\n")
    assert lines_of(out)[:3] == ["x" * 86, "x" * 86, "x" * 28]  # A4 holds 86 columns
    wide = typeset(tmp_path, "y" * 132 + "\n", "--width=132")
    assert lines_of(wide)[0] == "y" * 132


def test_lines_and_indent(tmp_path: Path) -> None:
    out = typeset(tmp_path, "".join(f"{n}\n" for n in range(100)), "--lines=20")
    assert page_count(out) == 5
    indented = typeset(tmp_path, "a\n", "--indent=10")
    plain = typeset(tmp_path, "a\n")
    assert _word_x(indented)["a"] - _word_x(plain)["a"] == pytest.approx(60.2, abs=0.3)


def test_landscape_turns_the_text_on_the_same_sheet(tmp_path: Path) -> None:
    out = typeset(
        tmp_path, "".join(f"wide row {n}\n" for n in range(60)), "--orientation=landscape"
    )
    assert page_size(out) == (595.276, 841.89)  # the media, portrait, as printers get it
    assert page_count(out) == 2  # fewer rows across the long side
    assert lines_of(out)[0] == "wide row 0"
    one_row = typeset(tmp_path, "W" * 100 + "\n", "--orientation=landscape")
    left, top, right, bottom = ink_box(render(one_row, 1, 30, tmp_path)) or (0, 0, 0, 0)
    # turned 90 degrees counter-clockwise: the row runs up the sheet from the
    # bottom margin, along the left margin
    assert right - left < 10 and bottom - top == pytest.approx(100 * 6.02 / 72 * 30, abs=3)
    assert 13 <= left <= 25 and 330 <= bottom <= 337


def test_an_empty_document_has_no_pages(tmp_path: Path) -> None:
    source, out = tmp_path / "empty.txt", tmp_path / "out.pdf"
    source.write_bytes(b"")
    assert succeeded(run_program("texttopdf", source, out, f"--media={A4}")) == 0
    assert "No syntax or stream encoding errors" in tool("qpdf", "--check", out)


def test_the_program_contract(tmp_path: Path) -> None:
    source, out = tmp_path / "in.txt", tmp_path / "out.pdf"
    source.write_text("hello\n" * 70)
    assert succeeded(run_program("texttopdf", source, out, f"--media={LETTER}")) == 2
    assert page_size(out) == (612.0, 792.0)
    line = failed(run_program("texttopdf", source, out, "--media=no-such-paper"))
    assert line.startswith("texttopdf: ") and "no-such-paper" in line
    assert not out.exists()
    assert "No such file" in failed(
        run_program("texttopdf", tmp_path / "missing", out, f"--media={A4}")
    )
    bad_font = tmp_path / "font.ttf"
    bad_font.write_bytes(b"not a font at all")
    assert "TrueType" in failed(
        run_program("texttopdf", source, out, f"--media={A4}", f"--font={bad_font}")
    )


def test_memory_stays_flat_from_10_to_1000_pages(tmp_path: Path) -> None:
    peaks = {}
    for pages in (10, 1000):
        source, out = tmp_path / f"{pages}.txt", tmp_path / f"{pages}.pdf"
        with source.open("w") as stream:
            for page in range(pages):
                stream.writelines(f"{page} {GREEK[:30]} {CYRILLIC[:30]} {n}\n" for n in range(66))
        result = run_program("texttopdf", source, out, f"--media={LETTER}", deadline=300)
        assert succeeded(result) == pages
        peaks[pages] = result.peak_rss_kib
    assert peaks[1000] < peaks[10] + 4096, peaks


# ----------------------------------------------------------------------
# Typesetting rules, without a PDF


def test_layout_rules() -> None:
    assert pages_of(b"") == []
    assert pages_of(b"abc\n") == [("abc",)]
    assert pages_of(b"a\n\n") == [("a", "")]
    assert pages_of(b"1\n2\n3\n4\n5\n6\n") == [("1", "2", "3", "4", "5"), ("6",)]
    assert pages_of(b"1\n2\n3\n4\n5\n\f6\n") == [("1", "2", "3", "4", "5"), ("6",)]
    assert pages_of(b"\fa\f\fb\f") == [("a",), (), ("b",)]
    assert pages_of(b"a" * 45 + b"\n") == [("a" * 20, "a" * 20, "a" * 5)]
    assert pages_of(b"x\ty\n") == [("x       y",)]
    assert pages_of(b"\t\t\tz\n") == [("", "z")]  # a tab past the last column wraps


def test_overstrike_cells() -> None:
    ((row,),) = pages_of(b"b\bb_\bu\n")
    assert row == (Span(0, "b", bold=True), Span(1, "u", underline=True))
    ((row,),) = pages_of(b"a\b/\n")
    assert row == (Span(0, "a"), Span(0, "/"))
    ((row,),) = pages_of("e\u0301\n".encode())  # a combining mark composes
    assert row == "é"
    ((row,),) = pages_of(b"abc\rx\n")  # CR: back to the start of the row
    assert row == (Span(0, "abc"), Span(0, "x"))
    ((row,),) = pages_of(b"abc\rxbc\n")  # the same letters again: bold
    assert row == (Span(0, "a"), Span(1, "bc", bold=True), Span(0, "x"))


def test_a_line_without_newline_longer_than_the_read_limit() -> None:
    text = ("é" * 70_000).encode() + b"\n"  # cut between characters, not inside one
    rows = [row for page in pages_of(text, columns=1000, lines=100) for row in page]
    assert "".join(rows) == "é" * 70_000  # type: ignore[arg-type]


def test_header_rows() -> None:
    (page,) = pages_of(b"body\n", columns=40, lines=5, header=True, title="T", date="D")
    assert page[0].startswith("D") and page[0].endswith("Page 1") and "T" in page[0]
    assert page[1:] == ("", "body")


def test_geometry() -> None:
    font = TrueTypeFont(DEFAULT_FONT)
    letter = page_geometry(TextOptions(media=LETTER), font)
    assert (letter.lines, letter.columns, letter.size) == (66, 89, 10.0)
    a5 = page_geometry(TextOptions(media="iso_a5_148x210mm"), font)
    assert a5.lines < 66 and a5.leading >= 10.8
    wide = page_geometry(TextOptions(media=LETTER, width=132), font)
    assert wide.columns == 132 and wide.size < 7
    landscape = page_geometry(TextOptions(media=LETTER, orientation="landscape"), font)
    assert landscape.frame == (792.0, 612.0) and landscape.columns > letter.columns


# ----------------------------------------------------------------------
# The font subset, checked with fontTools


def test_the_subset_keeps_the_outlines_and_ids_of_the_glyphs_used() -> None:
    font = TrueTypeFont(DEFAULT_FONT)
    reference = TTFont(str(DEFAULT_FONT))
    best = reference.getBestCmap()
    text = "Az09" + GREEK + CYRILLIC + "Å"
    for char in text:
        assert font.glyph(ord(char)) == reference.getGlyphID(best[ord(char)])
    glyphs = {font.glyph(ord(c)) for c in text}
    subset = TTFont(io.BytesIO(font.subset(glyphs)))
    order, kept = reference.getGlyphOrder(), subset.getGlyphOrder()
    assert len(kept) == len(order)  # glyph ids unchanged
    for glyph in glyphs:
        original = reference["glyf"][order[glyph]].getCoordinates(reference["glyf"])[0]
        copied = subset["glyf"][kept[glyph]].getCoordinates(subset["glyf"])[0]
        assert list(original) == list(copied)
    unused = font.glyph(ord("Ж")) if "Ж" not in text else None
    if unused is not None:
        assert subset["glyf"][kept[unused]].numberOfContours == 0
    assert font.advance(font.glyph(ord("W"))) == reference["hmtx"][best[ord("W")]][0]


def test_the_character_map_is_the_one_fonttools_reads() -> None:
    font = TrueTypeFont(DEFAULT_FONT)
    reference = TTFont(str(DEFAULT_FONT))
    expected = {code: reference.getGlyphID(name) for code, name in reference.getBestCmap().items()}
    assert font.cmap == expected
    assert font.glyph(0x4E00) == 0  # no CJK in a Latin/Greek/Cyrillic font


def test_not_a_truetype_font(tmp_path: Path) -> None:
    path = tmp_path / "x.ttf"
    path.write_bytes(b"OTTO" + bytes(100))
    with pytest.raises(FontError, match="CFF"):
        TrueTypeFont(path)
    path.write_bytes(b"hello")
    with pytest.raises(FontError):
        TrueTypeFont(path)


def test_convert_as_a_function() -> None:
    out = io.BytesIO()
    assert convert(io.BytesIO(b"a\fb\n"), out, TextOptions(media=A4, date="x")) == 2
    assert out.getvalue().startswith(b"%PDF-1.7")


def test_it_writes_nothing_but_its_output(tmp_path: Path) -> None:
    writes_only_its_output(
        "texttopdf",
        IPPTOOL_FILES / "testfile.txt",
        tmp_path / "job",
        "--media=iso_a4_210x297mm",
        "--header",
    )
