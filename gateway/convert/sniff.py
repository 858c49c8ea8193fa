"""What a document is, from its first bytes.

Clients mislabel documents all the time: IPP clients send
``application/octet-stream``, BSD lpr and LPRng send PostScript and PDF as LPD
``f`` (formatted text) files, Windows drivers wrap PCL and PDF in a PJL job
header. The conversion stage (`gateway.convert.runner`) needs the real format
to plan its chain, so it looks at the bytes, the way CUPS's mime.types rules
and ippeveprinter's format detection do:

- PDF: ``%PDF-`` anywhere in the first KiB (PDF 2.0 section 7.5.2 lets a
  reader accept leading junk; drivers put a PJL header or a ``^D`` there);
- PostScript: ``%!`` or ``^D%!``;
- PJL (HP's Printer Job Language): the UEL ``ESC%-12345X`` then ``@PJL`` lines;
  the format is the language named by ``@PJL ENTER LANGUAGE=...``, or what
  follows the PJL lines;
- PCL XL: the stream header ``) HP-PCL XL;``;
- PCL 5: ``ESC E`` (printer reset) or another PCL escape sequence;
- PWG raster (PWG 5102.4): the sync word ``RaS2``;
- Apple raster: ``UNIRAST\\0``;
- JPEG, PNG: their signatures;
- text: valid UTF-8, or mostly printable 8-bit text in a legacy code page,
  with no NUL bytes.

Everything here is pure except `sniff_file`, which reads the first `HEAD_SIZE`
bytes of a file (blocking: call it in a worker thread).
"""

from __future__ import annotations

import re
from pathlib import Path

from gateway.convert.formats import (
    JPEG,
    OCTET_STREAM,
    PCL,
    PCLXL,
    PDF,
    PNG,
    POSTSCRIPT,
    PWG_RASTER,
    TEXT,
    URF,
    base,
)

#: How much of a file `sniff_file` reads: room for a long PJL job header.
HEAD_SIZE = 8192
#: How far into a file a PDF header may start (what Acrobat accepts).
PDF_HEADER_WINDOW = 1024

UEL = b"\x1b%-12345X"
#: The share of characters in a text sample that may be control characters
#: other than the usual layout ones (tab, newline, form feed, ...).
MAX_CONTROL_SHARE = 0.05

#: ``@PJL ENTER LANGUAGE = <name>`` -> format (PJL Technical Reference, ch. 6).
PJL_LANGUAGES = {
    "POSTSCRIPT": POSTSCRIPT,
    "PCL": PCL,
    "PCLXL": PCLXL,
    "PDF": PDF,
}

_PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
_ENTER_LANGUAGE = re.compile(rb"@PJL[ \t]+ENTER[ \t]+LANGUAGE[ \t]*=[ \t]*([A-Za-z0-9]+)", re.I)
#: ESC followed by a parameterised-sequence character and a group character
#: (PCL 5 Technical Reference, ch. 2), e.g. ``ESC & l 0 O`` or ``ESC ( s 10 H``;
#: ``ESC ( 8 U``/``ESC ( 10 U`` select symbol sets; ``ESC % 0 B`` enters HP-GL/2.
_PCL_ESCAPE = re.compile(rb"\x1b(?:E|[&*()][`-~0-9]|%-?[0-9]+[AB])")
#: Control characters that appear in text files: BS, TAB, LF, VT, FF, CR, ESC
#: (some text carries printer escapes), SUB (a DOS end of file).
_TEXT_CONTROLS = frozenset(b"\x08\t\n\x0b\x0c\r\x1a\x1b")


def sniff(head: bytes) -> str | None:
    """The format of a document that starts with `head`, or None when the
    bytes are none of the formats the gateway knows. Never raises."""
    if not head:
        return None
    if head.startswith(UEL):
        return _sniff_pjl(head)
    found = _sniff_page_language(head) or _sniff_signature(head) or _sniff_late_pdf(head)
    if found is None and _looks_like_text(head):
        return TEXT
    return found


def sniff_file(path: Path) -> str | None:
    """`sniff` on the first `HEAD_SIZE` bytes of the file at `path` (blocking)."""
    with path.open("rb") as fh:
        return sniff(fh.read(HEAD_SIZE))


def declared_or_sniffed(path: Path, declared: str) -> str:
    """The format the conversion stage goes by (blocking: it may read the file).

    A document declared as nothing, ``application/octet-stream`` or
    ``text/plain`` is sniffed: those are what clients send when they do not
    know (IPP auto-sense) or cannot say (LPD ``f`` and ``l`` files; BSD lpr
    and LPRng send PostScript and PDF as ``f``). Any other declared format is
    kept: a client that names one usually knows. When sniffing finds nothing
    the declared format stands (empty: ``application/octet-stream``).
    """
    declared = base(declared)
    if declared not in ("", OCTET_STREAM, TEXT):
        return declared
    return sniff_file(path) or declared or OCTET_STREAM


def _sniff_pjl(head: bytes) -> str | None:
    """A job that starts with a Universal Exit Language and PJL commands."""
    rest = head
    while rest.startswith(UEL):
        rest = rest[len(UEL) :]
    match = _ENTER_LANGUAGE.search(rest)
    if match is not None:
        language = PJL_LANGUAGES.get(match.group(1).decode("ascii").upper())
        after = rest[match.end() :].lstrip(b" \t\r\n")
        # What follows ENTER LANGUAGE is the document itself; trust it first.
        return _sniff_page_language(after) or language or _sniff_late_pdf(after)
    # No ENTER LANGUAGE: the printer auto-switches on what follows the PJL lines.
    lines = rest.split(b"\n")
    for index, line in enumerate(lines):
        stripped = line.strip(b"\r\t ")
        if stripped and not stripped.upper().startswith(b"@PJL"):
            after = b"\n".join(lines[index:])
            after = after.lstrip(b"\r\n")
            return _sniff_page_language(after) or _sniff_late_pdf(after)
    return None


def _sniff_page_language(head: bytes) -> str | None:
    """The page description languages, which may also follow a PJL header."""
    if head.startswith((b"%!", b"\x04%!")):
        return POSTSCRIPT
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b") HP-PCL XL;"):
        return PCLXL
    if _PCL_ESCAPE.match(head):
        return PCL
    return None


def _sniff_late_pdf(head: bytes) -> str | None:
    """A PDF header after leading junk; tried after every signature at offset 0,
    so that a JPEG or a raster whose first KiB happens to hold ``%PDF-`` stays
    what it is."""
    if _PDF_HEADER.search(head[:PDF_HEADER_WINDOW]):
        return PDF
    return None


def _sniff_signature(head: bytes) -> str | None:
    """Formats that are never wrapped in PJL."""
    if head.startswith(b"RaS2"):
        return PWG_RASTER
    if head.startswith(b"UNIRAST\x00"):
        return URF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def _looks_like_text(head: bytes) -> bool:
    """Valid UTF-8 (a character cut at the end of the sample is fine), or 8-bit
    text in a legacy code page; either way with no NUL and few control bytes."""
    if b"\x00" in head:
        return False
    sample = head.removeprefix(b"\xef\xbb\xbf")
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3 or exc.reason != "unexpected end of data":
            # Not UTF-8: judge the bytes as a legacy 8-bit code page, where
            # every byte from 0x80 up may be a letter (Latin-1, CP437, KOI8-R...).
            controls = sum(1 for b in sample if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
            return controls <= MAX_CONTROL_SHARE * len(sample)
        text = sample[: exc.start].decode("utf-8")
    if not text:
        return False
    controls = sum(
        1
        for ch in text
        if (ord(ch) < 0x20 and ord(ch) not in _TEXT_CONTROLS) or 0x7F <= ord(ch) < 0xA0
    )
    return controls <= MAX_CONTROL_SHARE * len(text)
