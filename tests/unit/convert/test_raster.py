"""The PWG Raster / URF codec (gateway.convert.raster): round trips, CUPS's
sample raster files, and what Ghostscript's pwgraster and urf devices write,
checked against cups-filters' own rastertopdf where its reading can be
compared pixel for pixel."""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.convert.raster import (
    PWG_HEADER_SIZE,
    ColorSpace,
    PwgPageHeader,
    RasterError,
    RasterReader,
    RasterWriter,
    UrfColorSpace,
    UrfDuplex,
    UrfPageHeader,
    count_pages,
    detect,
    encode_line,
)
from tests.unit.convert.support import IPPTOOL_FILES, pdf_pages

GS = shutil.which("gs")
needs_gs = pytest.mark.skipif(GS is None, reason="Ghostscript is not installed")

#: (colour space, bits per colour, colours) a PWG page may use.
PWG_KINDS = [
    (ColorSpace.K, 1, 1),
    (ColorSpace.SW, 8, 1),
    (ColorSpace.SW, 16, 1),
    (ColorSpace.SRGB, 8, 3),
    (ColorSpace.ADOBERGB, 16, 3),
    (ColorSpace.CMYK, 8, 4),
    (ColorSpace.RGB, 8, 3),
    (ColorSpace.DEVICE4, 8, 4),
]
URF_KINDS = [
    (UrfColorSpace.SGRAY, 8),
    (UrfColorSpace.SRGB, 24),
    (UrfColorSpace.CMYK, 32),
    (UrfColorSpace.ADOBERGB, 48),
]


def ghostscript(device: str, source: Path, output: Path, *options: str) -> Path:
    assert GS is not None
    subprocess.run(
        [
            *(GS, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", f"-sDEVICE={device}", *options),
            *(f"-sOutputFile={output}", str(source)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return output


def decode_all(data: bytes) -> list[tuple[object, list[bytes]]]:
    reader = RasterReader(io.BytesIO(data))
    return [(page.header, list(page.lines())) for page in reader.pages()]


@st.composite
def pages(draw: st.DrawFn, fmt: str) -> tuple[object, list[bytes]]:
    width = draw(st.integers(1, 40))
    height = draw(st.integers(1, 300))
    if fmt == "pwg":
        space, bits, colors = draw(st.sampled_from(PWG_KINDS))
        header: PwgPageHeader | UrfPageHeader = PwgPageHeader(
            width=width,
            height=height,
            bits_per_color=bits,
            bits_per_pixel=bits * colors,
            color_space=space,
            hw_resolution=(draw(st.sampled_from([72, 150, 300, 600])),) * 2,
            duplex=draw(st.booleans()),
            tumble=draw(st.booleans()),
            total_page_count=draw(st.integers(0, 10)),
            print_quality=draw(st.sampled_from([0, 3, 4, 5])),
            media_type=draw(st.sampled_from(["", "stationery", "photographic-glossy"])),
            page_size_name=draw(st.sampled_from(["", "iso_a4_210x297mm"])),
            vendor_data=draw(st.binary(max_size=20)),
            image_box=(0, 0, width, height),
        )
    else:
        space_u, bpp = draw(st.sampled_from(URF_KINDS))
        header = UrfPageHeader(
            width=width,
            height=height,
            bits_per_pixel=bpp,
            color_space=space_u,
            resolution_dpi=draw(st.sampled_from([150, 300])),
            duplex=draw(st.sampled_from(list(UrfDuplex))),
            quality=draw(st.sampled_from([0, 3, 4, 5])),
        )
    size = header.bytes_per_line
    # Few distinct lines, and pixels from a small palette, so that both line
    # repeats and runs of repeated pixels (up to and past 128) occur.
    palette = draw(st.lists(st.binary(min_size=size, max_size=size), min_size=1, max_size=4))
    bpp_bytes = max(1, header.bits_per_pixel // 8)
    pixel = st.binary(min_size=bpp_bytes, max_size=bpp_bytes)
    runs = draw(st.lists(pixel, min_size=1, max_size=3))
    palette.append((runs[0] * size)[:size])
    lines = draw(st.lists(st.sampled_from(palette), min_size=height, max_size=height))
    return header, lines


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["pwg", "urf"]).flatmap(
        lambda f: st.tuples(st.just(f), st.lists(pages(f), min_size=1, max_size=3))
    )
)
def test_encode_then_decode_is_the_identity(
    case: tuple[str, list[tuple[object, list[bytes]]]],
) -> None:
    fmt, document = case
    out = io.BytesIO()
    writer = RasterWriter(out, fmt, page_count=len(document))  # type: ignore[arg-type]
    for header, lines in document:
        writer.write_page(header, lines)  # type: ignore[arg-type]
    data = out.getvalue()
    assert detect(data[:8]) == fmt
    assert decode_all(data) == document


@given(st.binary(min_size=1, max_size=600), st.sampled_from([1, 3, 4, 6]))
def test_one_line_round_trips_for_any_pixel_size(raw: bytes, bpp: int) -> None:
    line = raw[: len(raw) - len(raw) % bpp] or bytes(bpp)
    encoded = encode_line(line, bpp)
    assert 128 not in _codes(encoded, bpp)  # never the code readers disagree on
    header = PwgPageHeader(
        width=len(line) // bpp,
        height=1,
        bits_per_color=8,
        bits_per_pixel=8 * bpp,
        color_space=_space_for(bpp),
    )
    data = b"RaS2" + header.pack() + b"\x00" + encoded
    assert decode_all(data) == [(header, [line])]


def _space_for(bpp: int) -> ColorSpace:
    return {1: ColorSpace.SW, 3: ColorSpace.SRGB, 4: ColorSpace.CMYK, 6: ColorSpace.DEVICE6}[bpp]


def _codes(encoded: bytes, bpp: int) -> list[int]:
    codes, at = [], 0
    while at < len(encoded):
        code = encoded[at]
        codes.append(code)
        at += 1 + ((257 - code) * bpp if code > 128 else bpp)
    return codes


def test_runs_at_their_limits() -> None:
    line = b"\x01" * 128 + bytes(range(128)) + b"\x02" * 129
    encoded = encode_line(line, 1)
    assert encoded[0] == 127  # 128 repeats
    assert encoded[2] == 257 - 128  # 128 literals
    header = PwgPageHeader(width=len(line), height=1, bits_per_color=8, bits_per_pixel=8)
    assert decode_all(b"RaS2" + header.pack() + b"\x00" + encoded) == [(header, [line])]


@pytest.mark.parametrize(("space", "white"), [(ColorSpace.SRGB, 0xFF), (ColorSpace.CMYK, 0x00)])
def test_code_128_fills_the_rest_of_the_line_with_white(space: ColorSpace, white: int) -> None:
    colors = 3 if space == ColorSpace.SRGB else 4
    header = PwgPageHeader(
        width=4, height=3, bits_per_color=8, bits_per_pixel=8 * colors, color_space=space
    )
    pixel = bytes(range(1, colors + 1))
    data = b"RaS2" + header.pack() + b"\x02" + b"\x00" + pixel + b"\x80"
    ((_, lines),) = decode_all(data)
    assert lines == [pixel + bytes([white]) * (3 * colors)] * 3


def test_the_pwg_header_fields_are_where_pwg_5102_4_puts_them() -> None:
    header = PwgPageHeader(
        width=2479,
        height=3508,
        bits_per_color=1,
        bits_per_pixel=1,
        color_space=ColorSpace.K,
        hw_resolution=(300, 300),
        page_size=(595, 842),
        page_size_name="iso_a4_210x297mm",
        duplex=True,
        total_page_count=7,
        print_quality=5,
    )
    raw = header.pack()
    assert len(raw) == PWG_HEADER_SIZE
    assert raw[:9] == b"PwgRaster"
    assert struct.unpack_from(">I", raw, 272) == (1,)  # Duplex
    assert struct.unpack_from(">II", raw, 276) == (300, 300)  # HWResolution
    assert struct.unpack_from(">II", raw, 352) == (595, 842)  # PageSize
    assert struct.unpack_from(">II", raw, 372) == (2479, 3508)  # Width, Height
    assert struct.unpack_from(">IIIII", raw, 384) == (1, 1, 310, 0, 3)
    assert struct.unpack_from(">I", raw, 420) == (1,)  # NumColors
    assert struct.unpack_from(">I", raw, 452) == (7,)  # TotalPageCount
    assert struct.unpack_from(">I", raw, 484) == (5,)  # PrintQuality
    assert raw[1732:1748] == b"iso_a4_210x297mm"
    assert PwgPageHeader.unpack(raw) == header


@pytest.mark.parametrize(
    ("name", "size", "media"),
    [
        ("onepage-a4-300-black-1.pwg", (2479, 3508), "iso_a4_210x297mm"),
        ("onepage-letter-300-black-1.pwg", (2550, 3300), "na_letter_8.5x11in"),
    ],
)
def test_cups_sample_raster_files(
    tmp_path: Path, name: str, size: tuple[int, int], media: str
) -> None:
    path = tmp_path / "page.pwg"
    path.write_bytes(gzip.decompress((IPPTOOL_FILES / name).read_bytes()))  # stored gzipped
    assert count_pages(path) == 1
    with path.open("rb") as stream:
        reader = RasterReader(stream)
        assert reader.format == "pwg"
        (page,) = list(_pages_with_lines(reader))
    header, lines = page
    assert isinstance(header, PwgPageHeader)
    assert (header.width, header.height) == size
    assert header.hw_resolution == (300, 300)
    assert header.color_space == ColorSpace.K and header.bits_per_pixel == 1
    assert header.page_size_name == media
    assert len(lines) == size[1]
    inked = sum(1 for line in lines if any(line))
    assert 100 < inked < size[1]  # text on a white page


def _pages_with_lines(reader: RasterReader) -> list[tuple[object, list[bytes]]]:
    return [(page.header, list(page.lines())) for page in reader.pages()]


@needs_gs
@pytest.mark.parametrize(
    ("device", "options", "fmt", "bits"),
    [
        ("pwgraster", (), "pwg", 1),
        ("pwgraster", ("-dcupsColorSpace=19", "-dcupsBitsPerColor=8"), "pwg", 24),
        ("pwgraster", ("-dcupsColorSpace=18", "-dcupsBitsPerColor=16"), "pwg", 16),
        ("pwgraster", ("-dcupsColorSpace=6", "-dcupsBitsPerColor=8"), "pwg", 32),
        ("urf", (), "urf", 1),
        ("urf", ("-dcupsColorSpace=19", "-dcupsBitsPerColor=8"), "urf", 24),
    ],
)
def test_what_ghostscript_writes(
    tmp_path: Path, device: str, options: tuple[str, ...], fmt: str, bits: int
) -> None:
    source = IPPTOOL_FILES / "document-letter.pdf"
    raster = ghostscript(device, source, tmp_path / f"out.{fmt}", "-r36", *options)
    assert detect(raster.read_bytes()[:8]) == fmt
    assert count_pages(raster) == pdf_pages(source)
    with raster.open("rb") as stream:
        document = _pages_with_lines(RasterReader(stream))
    for header, lines in document:
        assert (header.width, header.height) == (306, 396)  # letter at 36 dpi
        assert header.bits_per_pixel == bits  # type: ignore[attr-defined]
        assert header.page_size_points == (612.0, 792.0)  # type: ignore[attr-defined]
        assert len(lines) == 396
    # and what the codec writes, it reads back the same
    again = io.BytesIO()
    writer = RasterWriter(again, fmt, page_count=len(document))  # type: ignore[arg-type]
    for header, lines in document:
        writer.write_page(header, lines)  # type: ignore[arg-type]
    assert decode_all(again.getvalue()) == document


@needs_gs
def test_ghostscript_urf_declares_no_page_count_but_the_pages_are_counted(tmp_path: Path) -> None:
    raster = ghostscript("urf", IPPTOOL_FILES / "document-a4.pdf", tmp_path / "a.urf", "-r20")
    with raster.open("rb") as stream:
        assert RasterReader(stream).declared_pages == 0
    assert count_pages(raster) == pdf_pages(IPPTOOL_FILES / "document-a4.pdf")


def test_detect() -> None:
    assert detect(b"RaS2" + bytes(10)) == "pwg"
    assert detect(b"UNIRAST\x00\x00\x00\x00\x01") == "urf"
    assert detect(b"%PDF-1.7") is None
    assert detect(b"RaSt") is None  # CUPS raster v1 is not PWG Raster
    assert detect(b"") is None


def _one_page(**fields: object) -> bytes:
    header = PwgPageHeader(width=4, height=2, bits_per_color=8, bits_per_pixel=8)
    return b"RaS2" + header.pack()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.4\n", "neither PWG Raster"),
        (b"UNIRASX\x00", "UNIRAST"),
        (_one_page()[:900], "page header"),
        (_one_page(), "ends inside a page"),
        (_one_page() + b"\x00\x00\x07", "ends inside"),
        (_one_page() + b"\x00\x05\x07", "passes the end of its line"),
        (_one_page() + b"\x05\x03\x07", "line repeat passes the end of its page"),
        (_one_page() + b"\x00\xfc\x01\x02\x03", "passes the end of its line"),
    ],
)
def test_broken_files_raise_one_readable_error(data: bytes, message: str) -> None:
    with pytest.raises(RasterError, match=message):
        decode_all(data)


def test_a_header_that_contradicts_itself_is_refused() -> None:
    good = PwgPageHeader(
        width=10, height=10, bits_per_color=8, bits_per_pixel=24, color_space=ColorSpace.SRGB
    ).pack()
    bad = bytearray(good)
    struct.pack_into(">I", bad, 392, 31)  # BytesPerLine for 10 pixels of 24 bits is 30
    with pytest.raises(RasterError, match="bytes per line"):
        PwgPageHeader.unpack(bytes(bad))
    struct.pack_into(">I", bad, 392, 30)
    struct.pack_into(">I", bad, 400, 99)  # no such colour space
    with pytest.raises(RasterError, match="colour space"):
        PwgPageHeader.unpack(bytes(bad))
    with pytest.raises(RasterError, match="pixels"):
        PwgPageHeader(width=0, height=10)
    with pytest.raises(RasterError, match="resolution"):
        UrfPageHeader(width=10, height=10, resolution_dpi=0)


def test_lines_are_read_once_and_skipped_pages_do_not_stop_the_next() -> None:
    out = io.BytesIO()
    writer = RasterWriter(out, "urf", page_count=2)
    first = UrfPageHeader(width=3, height=4, bits_per_pixel=8, color_space=UrfColorSpace.SGRAY)
    writer.write_page(first, [b"\x01\x02\x03"] * 4)
    writer.write_page(first, [b"\x09\x09\x09"] * 4)
    reader = RasterReader(io.BytesIO(out.getvalue()))
    assert reader.declared_pages == 2
    seen = []
    for page in reader.pages():
        lines = page.lines()
        seen.append(next(lines))  # read one line of each page, leave the rest
        with pytest.raises(RasterError):
            page.lines()
    assert seen == [b"\x01\x02\x03", b"\x09\x09\x09"]
