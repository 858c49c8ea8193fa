"""The format sniffer on real files (CUPS's samples, Ghostscript output, PJL
jobs as drivers send them) and on whatever bytes hypothesis makes up."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.convert import sniff as sniff_module
from gateway.convert.formats import (
    JPEG,
    KNOWN,
    OCTET_STREAM,
    PCL,
    PCLXL,
    PDF,
    PNG,
    POSTSCRIPT,
    PWG_RASTER,
    TEXT,
    URF,
)
from gateway.convert.sniff import HEAD_SIZE, declared_or_sniffed, sniff, sniff_file

from .support import FIXTURES, IPPTOOL_FILES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("testfile.pdf", PDF),
        ("onepage-a4.pdf", PDF),
        ("document-letter.pdf", PDF),
        ("testfile.ps", POSTSCRIPT),
        ("document-a4.ps", POSTSCRIPT),
        ("testfile.pcl", PCL),
        ("testfile.txt", TEXT),
        ("testfile.jpg", JPEG),
        ("color.jpg", JPEG),
        ("gray.jpg", JPEG),
    ],
)
def test_cups_sample_documents(name: str, expected: str) -> None:
    assert sniff_file(IPPTOOL_FILES / name) == expected


@pytest.mark.parametrize("name", ["onepage-a4-300-black-1.pwg", "onepage-letter-300-black-1.pwg"])
def test_pwg_raster_samples_once_inflated(name: str, tmp_path: Path) -> None:
    # ipptool's samples are stored gzip-compressed (it sends them with
    # compression=gzip); the IPP front-end inflates such a body before the
    # spool, so the raster itself is what the sniffer sees.
    compressed = IPPTOOL_FILES / name
    assert sniff_file(compressed) is None
    raw = tmp_path / "raster.pwg"
    with gzip.open(compressed, "rb") as src, raw.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    assert sniff_file(raw) == PWG_RASTER


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("two-pages.pdf", PDF),
        ("two-pages.ps", POSTSCRIPT),
        ("two-pages-100dpi-w8.urf", URF),
        ("two-pages-100dpi-sgray8.pwg", PWG_RASTER),
        ("two-pages-pjl.pxl", PCLXL),
        ("page-20dpi.png", PNG),
        ("two-pages-pjl-pdf.prn", PDF),
        ("two-pages-pjl-ps.prn", POSTSCRIPT),
        ("two-pages-pjl-auto.prn", POSTSCRIPT),
        ("flate-bomb-2gib.pdf", PDF),
        ("page-200x200in.pdf", PDF),
    ],
)
def test_fixtures(name: str, expected: str) -> None:
    assert sniff_file(FIXTURES / name) == expected


def test_pcl_xl_without_its_pjl_header() -> None:
    data = (FIXTURES / "two-pages-pjl.pxl").read_bytes()
    assert b"@PJL ENTER LANGUAGE = PCLXL" in data
    bare = data[data.index(b") HP-PCL XL;") :]
    assert sniff(bare[:HEAD_SIZE]) == PCLXL


def test_pjl_language_is_what_follows_enter_language() -> None:
    pdf = (FIXTURES / "two-pages.pdf").read_bytes()
    uel = b"\x1b%-12345X"
    # A driver that says PCL but sends PDF: the bytes win over the label.
    mislabelled = uel + b"@PJL ENTER LANGUAGE=PCL\r\n" + pdf
    assert sniff(mislabelled) == PDF
    # A language named but unreadable content: the named language.
    named = uel + b"@PJL ENTER LANGUAGE = PCLXL\n" + bytes(range(0x80, 0x100))
    assert sniff(named) == PCLXL
    assert sniff(uel + b"@PJL ENTER LANGUAGE=HPGL2\n" + bytes(64)) is None
    assert sniff(uel + b"@PJL JOB\r\n@PJL ENTER LANGUAGE=PCL\r\n\x1bE\x1b&l0O") == PCL
    # Several UELs and lower case, as some drivers write them.
    assert sniff(uel + uel + b"@pjl enter language=postscript\n%!PS\n") == POSTSCRIPT


def test_pdf_after_leading_junk_within_the_first_kib() -> None:
    pdf = (FIXTURES / "two-pages.pdf").read_bytes()
    assert sniff(b"\x04" + pdf) == PDF
    assert sniff(b"\r\n\r\n" + pdf) == PDF
    assert sniff(b"garbage " * 100 + pdf) == PDF  # 800 bytes of junk
    assert sniff(b"x" * 1024 + pdf) != PDF  # too far in: Acrobat gives up too
    # A JPEG whose EXIF happens to say %PDF- stays a JPEG.
    jpeg = (IPPTOOL_FILES / "testfile.jpg").read_bytes()
    assert sniff(jpeg[:20] + b"%PDF-1.4" + jpeg[28:HEAD_SIZE]) == JPEG


def test_postscript_after_ctrl_d_and_pcl_escapes() -> None:
    assert sniff(b"\x04%!PS-Adobe-3.0\n") == POSTSCRIPT
    assert sniff(b"%!\n/a 1 def\n") == POSTSCRIPT
    assert sniff(b"\x1bE\x1b&l1O") == PCL
    assert sniff(b"\x1b&l0O\x1b(s10H") == PCL
    assert sniff(b"\x1b(10U text") == PCL
    assert sniff(b"\x1b%0BIN;") == PCL  # HP-GL/2 in PCL
    # ANSI terminal colors are not PCL; text with them is still text.
    assert sniff(b"\x1b[31mred\x1b[0m plain\n") == TEXT


@pytest.mark.parametrize(
    "text",
    [
        "plain ASCII text\r\nwith CRLF\r\n\x0cnext page\n",
        "Grüße aus Köln, naïve café, Ελληνικά, 日本語\n",
        "\ufeffa UTF-8 text with a byte order mark\n",
    ],
)
def test_utf8_text(text: str) -> None:
    assert sniff(text.encode("utf-8")) == TEXT


@pytest.mark.parametrize("encoding", ["latin-1", "cp437", "koi8-r", "cp1252"])
def test_legacy_8bit_text(encoding: str) -> None:
    text = "Grüße, Straße, façade " if encoding != "koi8-r" else "Привет, мир "
    data = (text * 50 + "\n").encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert sniff(data) == TEXT


def test_text_cut_inside_a_character_at_the_end_of_the_head(tmp_path: Path) -> None:
    text = "a" * (HEAD_SIZE - 1) + "€ and more\n"  # the euro sign straddles the end
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    assert sniff_file(path) == TEXT


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x01\x02\x03",
        b"text with a NUL\x00 inside\n",
        bytes(range(0x00, 0x20)) * 10,
        b"\x1f\x8b\x08\x00" + bytes(32),  # gzip
        b"PK\x03\x04" + bytes(32),  # zip
        b"GIF89a" + bytes(32),
    ],
)
def test_unknown(data: bytes) -> None:
    assert sniff(data) is None


def test_sniff_file_reads_only_the_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.pdf"
    with path.open("wb") as fh:
        fh.write((FIXTURES / "two-pages.pdf").read_bytes())
        fh.truncate(64 * 1024 * 1024)
    reads: list[int] = []
    real_open = Path.open

    class Counting:
        def __init__(self, fh: IO[bytes]) -> None:
            self.fh = fh

        def read(self, size: int = -1) -> bytes:
            data = self.fh.read(size)
            reads.append(len(data))
            return data

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        return Counting(real_open(self, *args, **kwargs))

    monkeypatch.setattr(Path, "open", spy)
    assert sniff_module.sniff_file(path) == PDF
    assert sum(reads) == HEAD_SIZE


def test_declared_or_sniffed(tmp_path: Path) -> None:
    ps = IPPTOOL_FILES / "testfile.ps"
    pdf = IPPTOOL_FILES / "testfile.pdf"
    text = IPPTOOL_FILES / "testfile.txt"
    garbage = tmp_path / "garbage"
    garbage.write_bytes(bytes(range(256)) * 4)
    # What clients say when they do not know: sniffed.
    assert declared_or_sniffed(pdf, OCTET_STREAM) == PDF
    assert declared_or_sniffed(pdf, "") == PDF
    # BSD lpr and LPRng send PostScript and PDF as LPD f (text/plain).
    assert declared_or_sniffed(ps, "text/plain") == POSTSCRIPT
    assert declared_or_sniffed(ps, "text/plain; charset=us-ascii") == POSTSCRIPT
    assert declared_or_sniffed(text, "text/plain") == TEXT
    # Any other label is kept, even a wrong one.
    assert declared_or_sniffed(ps, "application/pdf") == PDF
    assert declared_or_sniffed(pdf, "Application/PDF") == PDF
    assert declared_or_sniffed(text, "image/jpeg") == JPEG
    # Nothing sniffed: the label stands.
    assert declared_or_sniffed(garbage, "") == OCTET_STREAM
    assert declared_or_sniffed(garbage, OCTET_STREAM) == OCTET_STREAM
    assert declared_or_sniffed(garbage, "text/plain") == TEXT


@given(st.binary(max_size=HEAD_SIZE))
def test_sniff_never_raises(data: bytes) -> None:
    assert sniff(data) in (*KNOWN, None)


@given(
    st.sampled_from(
        [
            b"\x1b%-12345X",
            b"\x1b%-12345X@PJL ENTER LANGUAGE=",
            b"\x1b%-12345X@PJL\r\n",
            b"%PDF-1.",
            b"%!",
            b"\x04",
            b"\x1b",
            b"RaS2",
            b"UNIRAST\x00",
            b"\xef\xbb\xbf",
            b") HP-PCL XL;",
        ]
    ),
    st.binary(max_size=2048),
)
def test_sniff_never_raises_on_near_misses(prefix: bytes, rest: bytes) -> None:
    assert sniff(prefix + rest) in (*KNOWN, None)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1))
def test_printable_unicode_is_text(text: str) -> None:
    data = text.encode("utf-8")
    found = sniff(data)
    # Text that starts like a page description is that language, not text.
    if not data.startswith((b"%!", b"%PDF-", b") HP-PCL XL;", b"RaS2", b"UNIRAST")):
        assert found in (TEXT, PDF)
