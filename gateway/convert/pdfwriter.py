"""A PDF writer that appends objects to the file as they are made.

Why not a library: the converters must keep memory flat with the number of
pages, and every well-kept Python PDF writer (fpdf2, reportlab, pypdf,
pikepdf, borb) builds the whole document in memory and writes it at the end
(figures in the conversion notes of texttopdf and rastertopdf). PDF itself
needs no such thing: objects may be written in any order and a stream's
length may be an indirect object written after the stream, so a page is on
disk as soon as it is made. What stays in memory is one offset per object
and one object number per page.

Only what the gateway's own converters need is here: objects, streams
compressed on the fly (zlib, as FlateDecode), a flat page tree, the
document information dictionary, the cross-reference table and trailer
(ISO 32000-1 section 7.5).
"""

from __future__ import annotations

import os
import time
import zlib
from array import array
from collections.abc import Iterable
from types import TracebackType
from typing import BinaryIO, Final

__all__ = ["PdfStream", "PdfWriter", "pdf_name", "pdf_number", "pdf_text"]

_HEADER: Final = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def pdf_number(value: float) -> str:
    """A PDF number with at most 4 decimals and no exponent."""
    if value == int(value):
        return str(int(value))
    return f"{value:.4f}".rstrip("0").rstrip(".")


def pdf_text(text: str) -> str:
    """A PDF text string: PDFDocEncoding-safe ASCII as a literal string,
    anything else as UTF-16BE with a byte order mark (ISO 32000-1 7.9.2.2)."""
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return f"({escaped})"
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def pdf_name(name: str) -> str:
    """A PDF name object: ``/`` and the name, with characters outside the
    regular set written as #xx (ISO 32000-1 7.3.5)."""
    out = []
    for byte in name.encode("utf-8"):
        char = chr(byte)
        if 0x21 <= byte <= 0x7E and char not in "#/()<>[]{}%":
            out.append(char)
        else:
            out.append(f"#{byte:02X}")
    return "/" + "".join(out)


class PdfWriter:
    """Writes a PDF to `out` object by object.

    Object numbers come from `reserve` (when another object must refer to it
    before it is written) or from `add`. `finish` writes the page tree, the
    cross-reference table and the trailer; every reserved object must have
    been written by then.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._offsets = array("q", [0])  # object number -> offset; 0 = not written
        self._pos = 0
        self._pages = array("q")
        self._write(_HEADER)
        #: The page tree root, which every page names as its /Parent.
        self.pages_root = self.reserve()

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def reserve(self) -> int:
        """A new object number, to be written later."""
        self._offsets.append(0)
        return len(self._offsets) - 1

    def write(self, number: int, body: str | bytes) -> None:
        """Write object `number` with `body` (its PDF syntax)."""
        if self._offsets[number]:
            raise ValueError(f"object {number} is written already")
        self._offsets[number] = self._pos
        data = body.encode("latin-1") if isinstance(body, str) else body
        self._write(b"%d 0 obj\n" % number + data + b"\nendobj\n")

    def add(self, body: str | bytes) -> int:
        """Write a new object; its number."""
        number = self.reserve()
        self.write(number, body)
        return number

    def stream(
        self, entries: str = "", number: int | None = None, *, compress: bool = True, level: int = 6
    ) -> PdfStream:
        """A stream object, written as its data comes (`PdfStream.write`);
        `entries` are the stream dictionary's other keys."""
        return PdfStream(
            self, self.reserve() if number is None else number, entries, compress, level
        )

    def add_stream(
        self, data: bytes, entries: str = "", *, compress: bool = True, level: int = 6
    ) -> int:
        """A whole stream at once; its object number."""
        with self.stream(entries, compress=compress, level=level) as stream:
            stream.write(data)
        return stream.number

    def add_page(self, body: str) -> int:
        """A page object: `body` holds the keys of its dictionary besides
        /Type and /Parent. Pages are numbered in the order they are added."""
        number = self.add(f"<< /Type /Page /Parent {self.pages_root} 0 R {body} >>")
        self._pages.append(number)
        return number

    def finish(self, info: dict[str, str] | None = None) -> None:
        """Write the page tree, the document catalog, the information
        dictionary (already PDF-encoded values: see `pdf_text`), the
        cross-reference table and the trailer."""
        kids = " ".join(f"{n} 0 R" for n in self._pages)
        self.write(self.pages_root, f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>")
        catalog = self.add(f"<< /Type /Catalog /Pages {self.pages_root} 0 R >>")
        info = dict(info or {})
        info.setdefault("Producer", pdf_text("lpd-ipp-gateway"))
        info.setdefault("CreationDate", pdf_text(time.strftime("D:%Y%m%d%H%M%SZ", time.gmtime())))
        info_number = self.add(
            "<< " + " ".join(f"{pdf_name(k)} {v}" for k, v in info.items()) + " >>"
        )
        missing = [n for n in range(1, len(self._offsets)) if not self._offsets[n]]
        if missing:
            raise ValueError(f"objects {missing[:5]} were reserved and never written")
        xref = self._pos
        size = len(self._offsets)
        lines = [b"xref\n0 %d\n0000000000 65535 f \n" % size]
        lines.extend(b"%010d 00000 n \n" % self._offsets[n] for n in range(1, size))
        self._write(b"".join(lines))
        ident = os.urandom(16).hex()
        self._write(
            (
                f"trailer\n<< /Size {size} /Root {catalog} 0 R /Info {info_number} 0 R "
                f"/ID [<{ident}> <{ident}>] >>\nstartxref\n{xref}\n%%EOF\n"
            ).encode("ascii")
        )

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)


class PdfStream:
    """A stream being written; its /Length is an indirect object written
    after ``endstream``, so nothing of the stream is kept."""

    def __init__(
        self, writer: PdfWriter, number: int, entries: str, compress: bool, level: int
    ) -> None:
        self.number = number
        self._writer = writer
        self._length_number = writer.reserve()
        self._compressor = zlib.compressobj(level) if compress else None
        self._length = 0
        flate = " /Filter /FlateDecode" if compress else ""
        writer._offsets[number] = writer._pos
        writer._write(
            (
                f"{number} 0 obj\n<< {entries}{flate} /Length {self._length_number} 0 R >>\n"
                "stream\n"
            ).encode("latin-1")
        )
        self._closed = False

    def write(self, data: bytes) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data)
        if data:
            self._writer._write(data)
            self._length += len(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compressor is not None:
            tail = self._compressor.flush()
            self._writer._write(tail)
            self._length += len(tail)
        self._writer._write(b"\nendstream\nendobj\n")
        self._writer.write(self._length_number, str(self._length))

    def __enter__(self) -> PdfStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
