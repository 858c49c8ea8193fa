"""pdftopdf and its layout arithmetic (gateway.convert.layout): page-ranges,
number-up, orientation-requested, print-scaling and copies, read back with
poppler (pdfinfo, pdftotext with word boxes, pdftoppm) and qpdf."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gateway.convert.layout import (
    Box,
    Margins,
    Sheet,
    choose_rotation,
    number_up_cells,
    parse_page_ranges,
    place,
    resolve_scaling,
    selected,
)
from gateway.convert.pdftopdf import main, parse_margins
from gateway.convert.texttopdf import DEFAULT_FONT
from gateway.convert.texttopdf import main as texttopdf
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

A4 = (595.276, 841.89)
A4_AREA = Box(0, 0, *A4)
DOCUMENT = IPPTOOL_FILES / "document-a4.pdf"  # 4 pages


def words(pdf: Path, page: int) -> dict[str, tuple[float, float, float, float]]:
    """Word -> (xMin, yMin, xMax, yMax), y down from the top (pdftotext -bbox)."""
    xml = tool("pdftotext", "-bbox", "-f", str(page), "-l", str(page), pdf, "-")
    return {
        m.group(5): tuple(float(m.group(i)) for i in range(1, 5))  # type: ignore[misc]
        for m in re.finditer(
            r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]+)<', xml
        )
    }


def numbered_pages(tmp_path: Path, count: int) -> Path:
    """A PDF whose page N says only PAGE<N> (made by texttopdf)."""
    if not DEFAULT_FONT.exists():
        pytest.skip("fonts-dejavu-core is not installed")
    source, out = tmp_path / "pages.txt", tmp_path / "pages.pdf"
    source.write_text("\f".join(f"PAGE{n}" for n in range(1, count + 1)) + "\n")
    assert texttopdf([str(source), str(out), "--media=iso_a4_210x297mm"]) == 0
    return out


def lay_out(tmp_path: Path, source: Path, *options: str, name: str = "out.pdf") -> Path:
    out = tmp_path / name
    assert main([str(source), str(out), *options]) == 0
    return out


# ----------------------------------------------------------------------
# The arithmetic


def test_two_up_turns_portrait_pages_into_landscape_cells_read_left_to_right() -> None:
    turn, cells = number_up_cells(2, A4_AREA, A4, None)
    assert turn == 90
    first, second = cells
    # The content is turned counter-clockwise: the reader turns the sheet
    # clockwise, so the sheet's bottom half is on the left.
    assert first == pytest.approx(Box(0, 0, A4[0], A4[1] / 2))
    assert second == pytest.approx(Box(0, A4[1] / 2, A4[0], A4[1] / 2))


def test_four_nine_sixteen_up_keep_pages_upright_left_to_right_top_to_bottom() -> None:
    turn, cells = number_up_cells(4, A4_AREA, A4, None)
    assert turn == 0
    w, h = A4[0] / 2, A4[1] / 2
    expected = [Box(0, h, w, h), Box(w, h, w, h), Box(0, 0, w, h), Box(w, 0, w, h)]
    assert [tuple(c) for c in cells] == [pytest.approx(tuple(e)) for e in expected]
    for n in (9, 16):
        turn, cells = number_up_cells(n, A4_AREA, A4, None)
        side = int(n**0.5)
        assert turn == 0 and len(cells) == n
        assert cells[0].y == pytest.approx(A4[1] - A4[1] / side)  # top left first
        assert cells[side - 1].x == pytest.approx(A4[0] - A4[0] / side)  # then across


def test_six_up_is_three_by_two_turned() -> None:
    turn, cells = number_up_cells(6, A4_AREA, A4, None)
    assert turn == 90
    assert {round(c.width, 2) for c in cells} == {round(A4[0] / 2, 2)}
    assert {round(c.height, 2) for c in cells} == {round(A4[1] / 3, 2)}
    # reading order as the reader holds the turned sheet: up the left column, then the right
    assert [(round(c.x), round(c.y)) for c in cells] == [
        (0, 0),
        (0, 281),
        (0, 561),
        (298, 0),
        (298, 281),
        (298, 561),
    ]


def test_landscape_pages_two_up_stay_upright_top_then_bottom() -> None:
    turn, cells = number_up_cells(2, A4_AREA, (A4[1], A4[0]), None)
    assert turn == 0
    assert cells[0].y > cells[1].y


def test_place_fit_fill_none_and_turns() -> None:
    letter = Box(0, 0, 612, 792)
    area = Sheet(*A4, Margins(18, 18, 18, 18)).printable
    m = place(letter, 0, area, "fit")
    fitted = m.bounds(letter)
    assert fitted.width == pytest.approx(area.width) and fitted.height < area.height
    assert fitted.y + fitted.height / 2 == pytest.approx(A4[1] / 2)
    filled = place(letter, 0, area, "fill").bounds(letter)
    assert filled.height == pytest.approx(area.height) and filled.width > area.width
    natural = place(letter, 0, area, "none", center=A4_AREA).bounds(letter)
    assert (natural.width, natural.height) == (612, 792)
    assert natural.x == pytest.approx((A4[0] - 612) / 2)
    turned = place(Box(10, 20, 100, 50), 90, Box(0, 0, 50, 100), "fit").bounds(Box(10, 20, 100, 50))
    assert turned == pytest.approx(Box(0, 0, 50, 100))


def test_print_scaling_auto_and_auto_fit() -> None:
    assert resolve_scaling("auto", (612, 792), A4, borderless=False) == "fit"  # letter is taller
    assert resolve_scaling("auto", (612, 792), A4, borderless=True) == "fill"
    assert resolve_scaling("auto-fit", (612, 792), A4, borderless=True) == "fit"
    assert resolve_scaling("auto", A4, A4, borderless=False) == "none"
    assert resolve_scaling("auto-fit", (100, 100), A4, borderless=False) == "none"
    for explicit in ("fit", "fill", "none"):
        assert resolve_scaling(explicit, (1, 1), A4, borderless=False) == explicit
    with pytest.raises(ValueError):
        resolve_scaling("stretch", (1, 1), A4, borderless=False)
    assert choose_rotation((842, 595), A4_AREA, None) == 90
    assert choose_rotation((842, 595), A4_AREA, 0) == 0
    assert choose_rotation(A4, A4_AREA, None) == 0


def test_page_ranges() -> None:
    assert parse_page_ranges("1-3,7") == [(1, 3), (7, 7)]
    assert parse_page_ranges("2-") == [(2, 2**31 - 1)]
    assert selected(5, parse_page_ranges("1-2,4-")) == [0, 1, 3, 4]
    assert selected(3, None) == [0, 1, 2]
    for bad in ("", "0", "3-1", "a", "1-3,2", "5,3"):
        with pytest.raises(ValueError):
            parse_page_ranges(bad)
    assert parse_margins("635") == Margins(18.0, 18.0, 18.0, 18.0)
    assert parse_margins("0,0,0,0").borderless


# ----------------------------------------------------------------------
# The program


def test_page_ranges_select_pages_in_order(tmp_path: Path) -> None:
    source = numbered_pages(tmp_path, 5)
    out = lay_out(tmp_path, source, "--page-ranges=2-3,5")
    assert page_count(out) == 3
    assert [pdftotext(out, page=n).strip() for n in (1, 2, 3)] == ["PAGE2", "PAGE3", "PAGE5"]


def test_page_ranges_that_select_nothing(tmp_path: Path) -> None:
    line = failed(run_program("pdftopdf", DOCUMENT, tmp_path / "o.pdf", "--page-ranges=9-12"))
    assert "select none of the 4 pages" in line
    assert not (tmp_path / "o.pdf").exists()
    assert "page range" in failed(
        run_program("pdftopdf", DOCUMENT, tmp_path / "o.pdf", "--page-ranges=3-1")
    )


@pytest.mark.parametrize(("number_up", "sheets"), [(2, 3), (4, 2), (6, 1), (9, 1), (16, 1)])
def test_number_up_page_counts_and_sizes(tmp_path: Path, number_up: int, sheets: int) -> None:
    source = numbered_pages(tmp_path, 5)
    out = lay_out(tmp_path, source, f"--number-up={number_up}", "--media=na_letter_8.5x11in")
    assert page_count(out) == sheets
    assert all(page_size(out, n) == (612.0, 792.0) for n in range(1, sheets + 1))
    found = [w for n in range(1, sheets + 1) for w in words(out, n)]
    assert sorted(found) == sorted(f"PAGE{n}" for n in range(1, 6))


def test_two_up_puts_the_first_page_in_the_bottom_half_turned(tmp_path: Path) -> None:
    source = numbered_pages(tmp_path, 3)
    out = lay_out(tmp_path, source, "--number-up=2", "--margins=0")
    first = words(out, 1)
    assert first["PAGE1"][1] > A4[1] / 2 > first["PAGE2"][3]  # bottom half, then top half
    x_min, y_min, x_max, y_max = first["PAGE1"]
    assert y_max - y_min > x_max - x_min  # turned: the word runs up the page
    # the last sheet has one page, in the first cell only
    image = render(out, 2, 20, tmp_path)
    box = ink_box(image)
    assert box is not None and box[1] > image.height / 2


def test_copies_are_collated(tmp_path: Path) -> None:
    source = numbered_pages(tmp_path, 2)
    out = lay_out(tmp_path, source, "--copies=3")
    assert page_count(out) == 6
    assert [pdftotext(out, page=n).strip() for n in range(1, 7)] == ["PAGE1", "PAGE2"] * 3
    assert "No syntax or stream encoding errors" in tool("qpdf", "--check", out)


def test_orientation_turns_the_page_on_the_same_media(tmp_path: Path) -> None:
    source = numbered_pages(tmp_path, 1)
    out = lay_out(tmp_path, source, "--orientation=landscape", "--media=iso_a4_210x297mm")
    assert page_size(out) == pytest.approx(A4, abs=0.01)
    x_min, y_min, x_max, y_max = words(out, 1)["PAGE1"]
    assert y_max - y_min > x_max - x_min
    out = lay_out(tmp_path, source, "--orientation=reverse-portrait", name="r.pdf")
    x_min, y_min, _, _ = words(out, 1)["PAGE1"]
    assert y_min > A4[1] / 2  # upside down: the top line is now at the bottom


def test_scaling_onto_other_media(tmp_path: Path) -> None:
    out = lay_out(tmp_path, DOCUMENT, "--scaling=fit", "--media=na_index-4x6_4x6in")
    assert page_count(out) == 4
    assert page_size(out) == (288.0, 432.0)
    box = ink_box(render(out, 1, 72, tmp_path))
    assert box is not None and box[0] >= 17 and box[2] <= 288 - 17  # inside the 6.35 mm margins
    natural = lay_out(
        tmp_path, DOCUMENT, "--scaling=none", "--media=na_letter_8.5x11in", name="n.pdf"
    )
    assert page_size(natural) == (612.0, 792.0)


def test_pages_that_need_nothing_are_kept_as_they_are(tmp_path: Path) -> None:
    out = lay_out(tmp_path, DOCUMENT)
    assert page_count(out) == 4
    for n in range(1, 5):
        assert pdftotext(out, page=n) == pdftotext(DOCUMENT, page=n)

    def expanded(pdf: Path) -> bytes:
        return subprocess.run(
            ["qpdf", "--qdf", "--object-streams=disable", str(pdf), "-"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout

    assert b"/P0 Do" not in expanded(out)  # the pages themselves, not drawn as forms
    assert b"/P0 Do" in expanded(lay_out(tmp_path, DOCUMENT, "--scaling=fit", name="f.pdf"))


def test_protected_and_broken_pdfs(tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    subprocess.run(
        ["qpdf", "--encrypt", "user", "owner", "256", "--", str(DOCUMENT), str(locked)],
        check=True,
        timeout=60,
    )
    assert "password" in failed(run_program("pdftopdf", locked, tmp_path / "o.pdf"))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not a PDF\n")
    line = failed(run_program("pdftopdf", broken, tmp_path / "o.pdf"))
    assert line.startswith("pdftopdf: ")
    assert not (tmp_path / "o.pdf").exists()


def test_the_program_contract_and_memory(tmp_path: Path) -> None:
    peaks = {}
    for pages in (10, 1000):
        source = tmp_path / f"in{pages}.txt"
        source.write_text("\f".join(f"PAGE{n}\n" + "text line\n" * 60 for n in range(pages)))
        pdf = tmp_path / f"in{pages}.pdf"
        assert texttopdf([str(source), str(pdf), "--media=iso_a4_210x297mm"]) == 0
        result = run_program(
            "pdftopdf",
            pdf,
            tmp_path / "o.pdf",
            "--number-up=2",
            "--media=iso_a4_210x297mm",
            deadline=300,
        )
        assert succeeded(result) == pages // 2
        peaks[pages] = result.peak_rss_kib
    # qpdf keeps one object table entry per page object: about 10 KB a page,
    # bounded, not flat (see the module docstring for the figures).
    assert peaks[1000] < peaks[10] + 20_000, peaks


BOMB = Path(__file__).resolve().parents[2] / "fixtures" / "convert" / "flate-bomb-2gib.pdf"


def test_a_flate_bomb_image_is_copied_not_inflated(tmp_path: Path) -> None:
    """4 KB whose image is 2 GiB inflated (/FlateDecode twice): drawn 2-up,
    the image stream is copied as it is stored."""
    out = tmp_path / "out.pdf"
    result = run_program("pdftopdf", BOMB, out, "--number-up=2", "--media=iso_a4_210x297mm")
    assert succeeded(result) == 1
    assert result.cpu_seconds < 5 and out.stat().st_size < 64 * 1024
    assert "/FlateDecode /FlateDecode" in tool("qpdf", "--show-object=5", BOMB)
    images = [line for line in tool("pdfimages", "-list", out).splitlines()[2:]]
    assert len(images) == 1 and "46341" in images[0]


def test_a_page_with_rotate_is_turned_back_upright_onto_portrait_media(tmp_path: Path) -> None:
    source = numbered_pages(tmp_path, 1)
    turned = tmp_path / "turned.pdf"
    subprocess.run(["qpdf", "--rotate=+90:1", str(source), str(turned)], check=True, timeout=60)
    x_min, y_min, x_max, y_max = words(turned, 1)["PAGE1"]
    assert y_max - y_min > x_max - x_min  # shown turned
    kept = lay_out(tmp_path, turned, name="kept.pdf")  # no media: kept as it is
    assert page_size(kept) == pytest.approx(A4, abs=0.01)
    assert re.search(r"^Page rot: +90$", tool("pdfinfo", kept), re.M)
    upright = lay_out(tmp_path, turned, "--media=iso_a4_210x297mm", name="upright.pdf")
    x_min, y_min, x_max, y_max = words(upright, 1)["PAGE1"]
    assert x_max - x_min > y_max - y_min  # the page's own turn and the fit turn cancel
    assert re.search(r"^Page rot: +0$", tool("pdfinfo", upright), re.M)


def test_it_writes_nothing_but_its_output(tmp_path: Path) -> None:
    writes_only_its_output(
        "pdftopdf", DOCUMENT, tmp_path / "job", "--number-up=2", "--media=iso_a4_210x297mm"
    )
