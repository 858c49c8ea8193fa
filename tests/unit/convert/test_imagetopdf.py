"""imagetopdf: JPEG and PNG -> one PDF page on the media, read back with
poppler (pdfimages shows how the image is stored and at what resolution it
is placed, pdfinfo the page, pdftoppm what it looks like)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from gateway.convert.imagetopdf import main
from tests.unit.convert.programs import (
    failed,
    ink_box,
    page_count,
    page_size,
    render,
    run_program,
    succeeded,
    tool,
    writes_only_its_output,
)
from tests.unit.convert.support import IPPTOOL_FILES

A4 = "iso_a4_210x297mm"
A4_POINTS = (595.276, 841.89)


def to_pdf(source: Path, out: Path, *options: str, media: str = A4) -> Path:
    assert main([str(source), str(out), f"--media={media}", *options]) == 0
    return out


def images(pdf: Path) -> list[dict[str, str]]:
    """pdfimages -list, one dict a row."""
    rows = tool("pdfimages", "-list", pdf).splitlines()
    names = rows[0].split()
    return [dict(zip(names, row.split(), strict=False)) for row in rows[2:]]


def test_a_jpeg_is_embedded_as_it_is(tmp_path: Path) -> None:
    source = IPPTOOL_FILES / "color.jpg"
    out = to_pdf(source, tmp_path / "out.pdf")
    assert page_count(out) == 1 and page_size(out) == A4_POINTS
    (image,) = images(out)
    assert image["enc"] == "jpeg"
    tool("pdfimages", "-j", out, tmp_path / "x")
    extracted = tmp_path / "x-000.jpg"
    assert (
        hashlib.sha256(extracted.read_bytes()).digest()
        == hashlib.sha256(source.read_bytes()).digest()
    )


def test_auto_prints_a_small_image_at_its_size_centred(tmp_path: Path) -> None:
    source = IPPTOOL_FILES / "color.jpg"  # 512 x 768 pixels at 180 dpi: 2.8 x 4.3 in
    with Image.open(source) as im:
        assert im.size == (512, 768) and round(im.info["dpi"][0]) == 180
    out = to_pdf(source, tmp_path / "out.pdf")
    (image,) = images(out)
    assert (image["x-ppi"], image["y-ppi"]) == ("180", "180")  # not scaled
    left, top, right, bottom = ink_box(render(out, 1, 72, tmp_path), threshold=250) or (0,) * 4
    assert abs((left + right) / 2 - 595.276 / 2) <= 2 and abs((top + bottom) / 2 - 841.89 / 2) <= 2


def test_fit_and_fill_scale_to_the_printable_area(tmp_path: Path) -> None:
    source = IPPTOOL_FILES / "color.jpg"
    fit = to_pdf(source, tmp_path / "fit.pdf", "--scaling=fit")
    (image,) = images(fit)
    # 841.89 - 2 x 18 pt (6.35 mm) of height for 768 pixels
    assert int(image["y-ppi"]) == round(768 / ((841.89 - 36) / 72))
    fill = to_pdf(source, tmp_path / "fill.pdf", "--scaling=fill")
    (image,) = images(fill)
    assert int(image["x-ppi"]) == round(512 / ((595.276 - 36) / 72))  # width fills, height cropped
    box = ink_box(render(fill, 1, 72, tmp_path), threshold=250)
    assert box is not None and box[0] <= 19 and box[1] <= 19


def test_a_large_image_is_fit_and_none_keeps_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000), (0, 0, 255)).save(big, dpi=(100, 100))  # 30 x 20 in
    auto = to_pdf(big, tmp_path / "auto.pdf")
    (image,) = images(auto)
    assert int(image["x-ppi"]) > 100  # shrunk to fit
    none = to_pdf(big, tmp_path / "none.pdf", "--scaling=none")
    (image,) = images(none)
    assert image["x-ppi"] == "100"


def test_a_landscape_image_is_turned_on_portrait_paper(tmp_path: Path) -> None:
    wide = tmp_path / "wide.png"
    Image.new("L", (1600, 400), 0).save(wide, dpi=(100, 100))  # 16 x 4 in, black
    out = to_pdf(wide, tmp_path / "out.pdf")
    left, top, right, bottom = ink_box(render(out, 1, 20, tmp_path)) or (0,) * 4
    assert bottom - top > 2 * (right - left)  # turned: taller than wide
    upright = to_pdf(wide, tmp_path / "upright.pdf", "--orientation=portrait")
    left, top, right, bottom = ink_box(render(upright, 1, 20, tmp_path)) or (0,) * 4
    assert right - left > 2 * (bottom - top)


def test_png_transparency_is_flattened_on_white(tmp_path: Path) -> None:
    source = tmp_path / "alpha.png"
    Image.new("RGBA", (200, 200), (255, 0, 0, 128)).save(source, dpi=(72, 72))
    out = to_pdf(source, tmp_path / "out.pdf")
    (image,) = images(out)
    assert image["color"] == "rgb"
    assert len(images(out)) == 1  # no soft mask
    tool("pdftoppm", "-r", "72", "-singlefile", out, tmp_path / "rgb")
    with Image.open(tmp_path / "rgb.ppm") as page:
        red, green, blue = page.convert("RGB").getpixel((page.width // 2, page.height // 2))
    assert red >= 250 and 120 <= green <= 135 and 120 <= blue <= 135


def _png_bomb(path: Path, side: int) -> None:
    """A PNG whose header claims side x side gray pixels, in a few KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = zlib.compress(b"\x00" * (side + 1) * 16, 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", rows)
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [10_000, 20_000])  # 1.1 and 4.5 x Pillow's MAX_IMAGE_PIXELS
def test_a_decompression_bomb_is_refused(tmp_path: Path, side: int) -> None:
    bomb, out = tmp_path / "bomb.png", tmp_path / "out.pdf"
    _png_bomb(bomb, side)
    result = run_program("imagetopdf", bomb, out, f"--media={A4}")
    line = failed(result)
    assert line.startswith("imagetopdf: ") and "pixels" in line
    assert not out.exists()
    assert result.peak_rss_kib < 200_000  # refused before decoding


def test_what_is_not_a_jpeg_or_png(tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    assert "not a JPEG or PNG" in failed(
        run_program("imagetopdf", IPPTOOL_FILES / "testfile.txt", out, f"--media={A4}")
    )
    gif = tmp_path / "a.gif"
    Image.new("P", (10, 10)).save(gif)
    assert "GIF" in failed(run_program("imagetopdf", gif, out, f"--media={A4}"))
    assert "media" in failed(
        run_program("imagetopdf", IPPTOOL_FILES / "gray.jpg", out, "--media=nonsense")
    )


def test_the_program_contract(tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    result = run_program(
        "imagetopdf", IPPTOOL_FILES / "gray.jpg", out, "--media=na_index-4x6_4x6in"
    )
    assert succeeded(result) == 1
    assert page_size(out) == (288.0, 432.0)
    (image,) = images(out)
    assert image["enc"] == "jpeg"


def test_it_writes_nothing_but_its_output(tmp_path: Path) -> None:
    writes_only_its_output(
        "imagetopdf", IPPTOOL_FILES / "color.jpg", tmp_path / "job", "--media=iso_a4_210x297mm"
    )
