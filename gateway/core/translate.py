"""RFC 2569 translation between LPD control files and IPP attributes.

Pure functions, no I/O. The LPD -> IPP half is `controlfile_to_ipp`; the
IPP -> LPD half, `ipp_to_controlfile`, is at the end of the module with its
own theory of operation.

Theory of operation (LPD -> IPP)
--------------------------------
Every control-file letter the gateway knows is a row of `LINE_RULES`: which
IPP attribute it feeds, how the operand converts, and the lossy rule written
beside it (reference/lpd.md 2.2, 5.2, 5.7). Print-request letters have their
own table, `FORMAT_RULES` (document-format per letter, and whether content
sniffing may override it). Each document remembers the letter it came with
(`LPD_LETTER_ATTRIBUTE`), so that a job forwarded to an LPD printer keeps the
letters whose meaning no document-format carries (`KEPT_LETTERS`: CIF, plot,
ditroff, troff, raster, DVI, pr, FORTRAN). Only the reserved letters (Kerberos
``k``, Palladium ``z``) cannot be printed: they are in `UNPRINTABLE_LETTERS`;
their requests come back in `JobTicket.rejected`, so the server can NAK the
job with a reason.

Text operands are decoded by one chain (strict UTF-8, then the configured
legacy code page, default cp1252, then ISO-8859-1: never failing), stripped
of control characters and truncated to IPP name(MAX) = 255 octets on a
character boundary.

Copies (reference/lpd.md 2.4): copies(file) = number of print lines naming it.
When every file has the same count c > 1 and the lines are either each file
repeated consecutively (BSD: uncollated) or the whole sequence repeated
(LPRng: collated), the ticket has one document per file plus ``copies = c``
and ``multiple-document-handling``. Any other pattern falls back to one
document per print line, in order (cups-lpd's behaviour), without ``copies``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from gateway.core.job import Job
from gateway.lpd.controlfile import (
    DEFAULT_HOST,
    MAX_NAMED_DATA_FILES,
    PRINT_LETTERS,
    ControlFile,
    ControlLine,
    PrintRequest,
    ascii_fold,
    control_file_name,
    data_file_name,
    decode_text,
    lpd_user_name,
    make_line,
    no_leading_dash,
    truncate,
)

__all__ = [
    "COPIES_RULE",
    "FORMAT_RULES",
    "KEPT_LETTERS",
    "LETTER_RULES",
    "LINE_RULES",
    "LPD_CHARSETS",
    "LPD_FORMAT_LETTERS",
    "LPD_LETTER_ATTRIBUTE",
    "LPD_MAX_COPIES",
    "LPD_POSTSCRIPT_LETTERS",
    "UNPRINTABLE_LETTERS",
    "DocumentTicket",
    "FormatRule",
    "JobTicket",
    "LineRule",
    "LpdDataFile",
    "LpdJobTicket",
    "LpdOutputOptions",
    "controlfile_to_ipp",
    "ipp_to_controlfile",
    "lpd_charset",
    "lpd_format_letter",
    "lpd_letter",
    "lpd_postscript_letter",
    "sniff_document_format",
]

JSON: TypeAlias = Any

NAME_MAX: Final = 255  # IPP name(MAX) / text(MAX) for these attributes, in octets

OCTET_STREAM: Final = "application/octet-stream"
POSTSCRIPT: Final = "application/postscript"
PDF: Final = "application/pdf"
PCL: Final = "application/vnd.hp-PCL"
TEXT: Final = "text/plain"


# ---------------------------------------------------------------------------
# Document formats
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormatRule:
    """How one print-request letter becomes a document-format."""

    letter: str
    document_format: str  # used when sniffing finds nothing (or is not allowed)
    sniff: bool  # whether content sniffing may override it
    rule: str  # the lossy rule, in words


FORMAT_RULES: Final[Mapping[str, FormatRule]] = {
    r.letter: r
    for r in (
        FormatRule(
            "f",
            TEXT,
            True,
            "'formatted' text per RFC 1179, but used for everything (PS, PCL, PDF): "
            "sniff; plain text when nothing matches. RFC 2569 says octet-stream.",
        ),
        FormatRule(
            "l",
            OCTET_STREAM,
            True,
            "'literal'/raw (Windows and CUPS default): sniff; octet-stream otherwise.",
        ),
        FormatRule("o", POSTSCRIPT, False, "PostScript (Windows NT), RFC 2569 4.3."),
        FormatRule(
            "p",
            TEXT,
            False,
            "print through pr: the pr header and pagination are lost (cups-lpd: prettyprint).",
        ),
        FormatRule(
            "r",
            TEXT,
            False,
            "FORTRAN carriage control: the control column is printed as text (lossy).",
        ),
        FormatRule("d", "application/x-dvi", False, "TeX DVI (reference/lpd.md 2.2)."),
        # RFC 2569 says reject these (no MIME type is registered for them);
        # cups-lpd accepts them. The letter is kept (KEPT_LETTERS), so an LPD
        # printer behind the gateway gets it unchanged; an IPP printer gets the
        # x- type below and takes it only if it knows it.
        FormatRule("c", "application/x-cif", False, "CIF plot (BSD lpr -c)."),
        FormatRule("g", "application/x-plot", False, "Berkeley plot(3) data (BSD lpr -g)."),
        FormatRule("n", "application/x-ditroff", False, "ditroff output (BSD lpr -n)."),
        FormatRule(
            "t",
            "application/x-troff",
            False,
            "troff output for the C/A/T phototypesetter (BSD lpr -t), not troff source.",
        ),
        FormatRule(
            "v",
            "image/x-sun-raster",
            False,
            "Sun raster (BSD lpr -v; the common name of the type, none is registered).",
        ),
    )
}

#: The reserved letters, Kerberos ``k`` and Palladium ``z``: nothing to print.
#: Jobs using them are rejected.
UNPRINTABLE_LETTERS: Final = frozenset("kz")

#: The document attribute that remembers a document's print letter (LPD jobs).
LPD_LETTER_ATTRIBUTE: Final = "lpd-format-letter"

#: Letters whose meaning the document-format does not carry (a filter the LPD
#: server runs, or a format with no registered type): forwarded to an LPD
#: printer as they came, while the document still has that letter's format.
KEPT_LETTERS: Final = frozenset("cdgnprtv")

#: Any other lowercase letter (``x`` from unknown clients) is treated as raw.
_UNKNOWN_LETTER_RULE: Final = FormatRule("?", OCTET_STREAM, True, "unknown letter: raw, sniffed")

_SNIFFERS: Final[tuple[tuple[bytes, str], ...]] = (
    (b"%PDF-", PDF),
    (b"%!PS", POSTSCRIPT),
    (b"\x04%!PS", POSTSCRIPT),  # Windows PostScript drivers start with ^D
    (b"\x1b%-12345X", PCL),  # PJL universal exit language (PJL-wrapped PCL or PS)
    (b"\x1bE", PCL),  # PCL printer reset
)


def sniff_document_format(head: bytes) -> str | None:
    """Identify a document by its first bytes; ``None`` if unknown.

    ``%PDF-`` -> PDF, ``%!PS`` -> PostScript, PJL UEL or PCL reset -> PCL.
    A UTF-8 byte-order mark is skipped first.
    """
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    for magic, mime in _SNIFFERS:
        if head.startswith(magic):
            return mime
    return None


# ---------------------------------------------------------------------------
# Control lines -> job attributes
# ---------------------------------------------------------------------------


def _clean_name(text: str) -> str | None:
    """Control characters removed, cut to name(MAX) on a character boundary."""
    text = "".join(c for c in text if c.isprintable()).strip()
    if not text:
        return None
    return truncate(text, NAME_MAX).decode("utf-8")


def _user(text: str) -> str | None:
    name = _clean_name(text)
    return None if name is None else no_leading_dash(name)


def _host(text: str) -> str | None:
    name = _clean_name(text)
    if name is None or name.lower() == "localhost" or " " in name:
        return None  # FreeBSD replaces these with the peer's name
    return name


def _int_in(allowed: frozenset[int]) -> Callable[[str], JSON]:
    def convert(text: str) -> JSON:
        text = text.strip()
        if text.isdigit() and int(text) in allowed:
            return int(text)
        return None

    return convert


_KEYWORD_RE: Final = re.compile(r"^[a-z][a-z0-9._-]{0,62}$")


def _keyword_map(mapping: Mapping[str, str]) -> Callable[[str], JSON]:
    def convert(text: str) -> JSON:
        key = text.strip().lower().replace("_", "-")
        if key in mapping:
            return mapping[key]
        return key if _KEYWORD_RE.match(key) else None

    return convert


def _sides(text: str) -> JSON:
    key = text.strip().lower()
    if "tumble" in key or "short" in key:
        return "two-sided-short-edge"
    if key in ("2", "duplex") or "two" in key or "long" in key or "duplex" in key:
        return "two-sided-long-edge"
    if key in ("1", "simplex") or "one" in key or "simplex" in key:
        return "one-sided"
    return None


def _orientation(text: str) -> JSON:
    return {
        "portrait": 3,
        "landscape": 4,
        "reverse-landscape": 5,
        "reverse-portrait": 6,
    }.get(text.strip().lower().replace("_", "-"))


def _page_ranges(text: str) -> JSON:
    ranges: list[list[int]] = []
    for part in text.replace(" ", "").split(","):
        match = re.fullmatch(r"(\d{1,9})(?:-(\d{1,9}))?", part)
        if match is None:
            return None
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if low < 1 or high < low:
            return None
        ranges.append([low, high])
    return ranges or None


def _priority(text: str) -> JSON:
    text = text.strip()
    if not text.isdigit() or int(text) > 39:
        return None
    return 100 - (int(text) * 99) // 39


@dataclass(frozen=True, slots=True)
class LineRule:
    """One control-file code: the IPP attribute it feeds and how.

    ``code`` is the line's character, or ``5x`` for a Sun feature line.
    ``convert`` maps the decoded operand to a JSON value (``None`` = drop);
    rules with ``convert=None`` are documentation of letters handled
    specially (copies, names, formats) or deliberately ignored.
    """

    code: str
    attribute: str | None
    convert: Callable[[str], JSON] | None
    rule: str


LINE_RULES: Final[tuple[LineRule, ...]] = (
    LineRule(
        "P",
        "requesting-user-name",
        _user,
        "user; 'anonymous' when missing or blank (cups-lpd); a leading '-' becomes '_'.",
    ),
    LineRule(
        "H",
        "job-originating-host-name",
        _host,
        "claimed host; blank, 'localhost' or containing spaces -> the peer's address "
        "(FreeBSD). Only the first H counts.",
    ),
    LineRule(
        "J",
        "job-name",
        None,
        "job-name; falls back to the first non-blank N, then T. Truncated to 255 octets.",
    ),
    LineRule(
        "L",
        "job-sheets",
        None,
        "'standard' when L is present, 'none' when absent (RFC 2569 4.2). The banner "
        "user name itself is lost.",
    ),
    LineRule("N", "document-name", None, "per document, from the N nearest its print line."),
    LineRule("T", "job-name", None, "only a job-name fallback; pr titles are lost."),
    LineRule("G", "number-up", _int_in(frozenset({1, 2, 4, 6, 9, 16})), "DEC number-up."),
    LineRule("K", "sides", _sides, "DEC sides/plex words -> IPP sides keywords."),
    LineRule(
        "<",
        "media-source",
        _keyword_map({"upper": "top", "lower": "bottom", "lcf": "large-capacity"}),
        "DEC input tray; other names passed on as keywords when keyword-shaped.",
    ),
    LineRule(
        ">",
        "output-bin",
        _keyword_map({"upper": "top", "lower": "bottom", "facedown": "face-down"}),
        "DEC output bin; other names passed on as keywords when keyword-shaped.",
    ),
    LineRule(
        "O",
        "orientation-requested",
        _orientation,
        "OSF orientation word; a Sun option list (anything else) is ignored.",
    ),
    LineRule("5P", "page-ranges", _page_ranges, "Sun page list '1-3,7'; malformed -> ignored."),
    LineRule("5q", "job-priority", _priority, "Sun priority 0 (high)..39 (low) -> 100..1 (lossy)."),
    LineRule("5T", "document-format", None, "Sun content type: applied per document."),
    LineRule("C", None, None, "banner class: no IPP equivalent (RFC 2569 App. C)."),
    LineRule("I", None, None, "indent: lost."),
    LineRule("W", None, None, "width: lost."),
    LineRule("M", None, None, "mail: never acted on (no notification mapping here)."),
    LineRule("S", None, None, "symlink data: ignored."),
    LineRule("U", None, None, "unlink: ignored, never used as a path."),
    LineRule("1", None, None, "troff fonts 1-4: lost."),
    LineRule("A", None, None, "LPRng job id: kept only in the control file."),
    LineRule("D", None, None, "submit date: informational, ignored."),
    LineRule("Q", None, None, "LPRng queue name: ignored (the queue is the connection's)."),
    LineRule("R", None, None, "accounting: ignored."),
    LineRule("Z", None, None, "filter options: ignored (an allowlist may map them later)."),
    LineRule("E", None, None, "environment: ignored (dangerous)."),
)

_SUN_CONTENT_TYPES: Final[Mapping[str, str]] = {
    "postscript": POSTSCRIPT,
    "simple": TEXT,
    "text": TEXT,
    "pcl": PCL,
    "pdf": PDF,
}


# ---------------------------------------------------------------------------
# The ticket
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentTicket:
    """One document to print: the data file (name as the client sent it),
    its document-name (``None`` if the client gave none), document-format,
    and any per-document attributes."""

    data_file: str
    document_name: str | None
    document_format: str
    attributes: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobTicket:
    """The IPP view of one LPD job.

    ``attributes`` are job attributes (IPP names, JSON values);
    ``documents`` are in print order. ``rejected`` holds print requests
    whose letter cannot be printed (`UNPRINTABLE_LETTERS`);
    ``missing_data_files`` the data files referenced but absent from
    ``data_heads``; ``notes`` human-readable remarks on lossy mapping.
    """

    attributes: dict[str, JSON]
    documents: list[DocumentTicket]
    rejected: tuple[PrintRequest, ...] = ()
    missing_data_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _copies(sequence: list[str]) -> tuple[int, str | None] | None:
    """(copies, multiple-document-handling) if the print lines are a clean
    repetition, else ``None`` (fall back to one document per line)."""
    distinct = list(dict.fromkeys(sequence))
    counts = {name: sequence.count(name) for name in distinct}
    copies = counts[distinct[0]]
    if any(c != copies for c in counts.values()):
        return None
    if copies == 1:
        return 1, None
    if len(distinct) == 1:
        return copies, None
    if sequence == [name for name in distinct for _ in range(copies)]:
        return copies, "separate-documents-uncollated-copies"
    if sequence == distinct * copies:
        return copies, "separate-documents-collated-copies"
    return None


def controlfile_to_ipp(
    cf: ControlFile,
    data_heads: Mapping[str, bytes],
    *,
    legacy_encoding: str = "cp1252",
    peer_host: str | None = None,
) -> JobTicket:
    """Map a control file (and the first bytes of each data file) to IPP.

    ``data_heads`` maps each data-file name the client sent to the first
    bytes of that file (a few hundred are plenty for sniffing).
    ``peer_host`` is used for job-originating-host-name when ``H`` is
    missing, blank or ``localhost``. Never raises on any control file.
    """

    def text(code: str) -> str | None:
        return cf.text(code, legacy_encoding)

    notes: list[str] = []
    attributes: dict[str, JSON] = {}

    # Simple job-level rows of LINE_RULES.
    sun = {chr(v[0]): decode_text(v[1:], legacy_encoding) for v in reversed(cf.get_all("5")) if v}
    for rule in LINE_RULES:
        if rule.attribute is None or rule.convert is None:
            continue
        raw = sun.get(rule.code[1]) if rule.code.startswith("5") else text(rule.code)
        if raw is None:
            continue
        value = rule.convert(raw)
        if value is None:
            notes.append(f"{rule.code} {raw!r} not mapped: {rule.rule}")
            continue
        attributes[rule.attribute] = value

    attributes.setdefault("requesting-user-name", "anonymous")
    if "job-originating-host-name" not in attributes and peer_host:
        attributes["job-originating-host-name"] = peer_host

    requests = cf.requests(legacy_encoding)
    job_name = _clean_name(text("J") or "")
    if job_name is None:
        n_names = (_clean_name(decode_text(v, legacy_encoding)) for v in cf.get_all("N"))
        first_n = next((n for n in n_names if n is not None), None)
        job_name = first_n or _clean_name(text("T") or "")
    if job_name is not None:
        attributes["job-name"] = job_name
    attributes["job-sheets"] = "standard" if cf.get("L") is not None else "none"

    # Print requests -> documents.
    printable = [r for r in requests if r.letter not in UNPRINTABLE_LETTERS]
    rejected = tuple(r for r in requests if r.letter in UNPRINTABLE_LETTERS)
    forced_format = _SUN_CONTENT_TYPES.get((sun.get("T") or "").strip().lower())

    def document(request: PrintRequest) -> DocumentTicket:
        rule = FORMAT_RULES.get(request.letter, _UNKNOWN_LETTER_RULE)
        fmt = forced_format or rule.document_format
        if forced_format is None and rule.sniff:
            fmt = sniff_document_format(data_heads.get(request.data_file, b"")) or fmt
        doc_name: str | None = None
        if request.document_name is not None:
            doc_name = _clean_name(request.document_name) or "(standard input)"
        return DocumentTicket(
            request.data_file, doc_name, fmt, {LPD_LETTER_ATTRIBUTE: request.letter}
        )

    sequence = [r.data_file for r in printable]
    documents: list[DocumentTicket] = []
    if sequence:
        copies = _copies(sequence)
        if copies is None:
            notes.append("uneven or interleaved copies: one document per print line")
            documents = [document(r) for r in printable]
        else:
            count, handling = copies
            first: dict[str, PrintRequest] = {}
            for r in printable:
                first.setdefault(r.data_file, r)
            documents = [document(r) for r in first.values()]
            if count > 1:
                attributes["copies"] = count
            if handling is not None:
                attributes["multiple-document-handling"] = handling
    missing = tuple(dict.fromkeys(r.data_file for r in printable if r.data_file not in data_heads))
    return JobTicket(
        attributes=attributes,
        documents=documents,
        rejected=rejected,
        missing_data_files=missing,
        notes=tuple(notes),
    )


# ===========================================================================
# IPP -> LPD (RFC 2569 section 6, reference/lpd.md 5.4)
# ===========================================================================
#
# Theory of operation (IPP -> LPD)
# --------------------------------
# `ipp_to_controlfile` builds the control file for one gateway job, given the
# LPD job number the backend chose and the queue's `LpdOutputOptions`. Lines,
# in this order (RFC 2569 6.1: H first, P second):
#
#   H  the gateway's own host (RFC 2569: SHALL be the mapper's host, because
#      BSD matches a later remove against the connecting host);
#   P  the requesting user as an LPD user token (`lpd_user_name`, with the
#      other LPD naming rules in `gateway.lpd.controlfile`): ASCII,
#      no blanks, never starting with '-'. The backend removes jobs with the
#      same token as agent, so P and the remove agent always agree;
#   J  job-name (else the first document-name), <= 99 octets;
#   L  the P user when job-sheets is not 'none' (or banner=on);
#   then per document: the print line (letter + data-file name), U, N.
#
# The letter (`lpd_letter`): format= when set; else the letter the document
# came with by LPD when it is one of `KEPT_LETTERS` and the document still has
# that letter's format (so c/g/n/t/v, d, p and r reach an LPD printer as they
# left the client); else `LETTER_RULES` by document-format.
#
# Copies (`COPIES_RULE`): by default the print line is repeated `copies`
# times per document (RFC 2569 6.2, uncollated: f f U N, then the next
# document). multiple-document-handling = separate-documents-collated-copies
# (or single-document*, which LPD cannot express) repeats the whole sequence
# of print lines instead, as LPRng does; the LPD -> IPP half reads both back.
# manual_copies=on writes one print line per document and the backend sends
# the document's bytes `copies` times inside its data file (CUPS default).
#
# Text is truncated only here, to RFC 1179's 31/99/131 octets (`FIELD_LIMITS`
# via `make_line`), between characters, in the queue's charset: utf-8
# (default), latin-1 (unencodable characters become '?'), or ascii (accents
# transliterated, then '?').

#: Print letters the ``format=`` option may force: RFC 1179 section 7's, but
#: the Kerberos (k) and Palladium (z) reserved ones.
LPD_FORMAT_LETTERS: Final = PRINT_LETTERS - frozenset("kz")

#: At most this many copies are written as repeated print lines.
LPD_MAX_COPIES: Final = 999

LPD_CHARSETS: Final = ("utf-8", "latin-1", "ascii")

#: Letters the ``postscript=`` option may choose for application/postscript.
LPD_POSTSCRIPT_LETTERS: Final = ("l", "o", "f")

#: document-format -> print letter, before the format= option (reference/lpd.md 5.4).
LETTER_RULES: Final[tuple[tuple[str, str, str], ...]] = (
    ("text/plain", "f", "plain text: 'f' (formatted: the server's text filter pages it)"),
    (
        POSTSCRIPT,
        "l",
        "PostScript: 'l' (RFC 2569 6.2: SHALL NOT send 'o'); postscript=o sends 'o' for "
        "servers that want it (Windows NT)",
    ),
    ("*", "l", "anything else (PDF, PCL, raster, octet-stream): 'l', raw, as CUPS sends"),
)

COPIES_RULE: Final = (
    "copies c: the print line c times per document (uncollated, RFC 2569); "
    "separate-documents-collated-copies repeats the whole sequence; single-document* "
    "cannot be expressed and is sent collated; manual_copies=on repeats the data instead"
)

_CHARSET_ALIASES: Final[Mapping[str, str]] = {
    "utf8": "utf-8",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "us-ascii": "ascii",
}


def lpd_format_letter(value: object) -> str:
    """The ``format=`` option: one print letter of `LPD_FORMAT_LETTERS`."""
    letter = str(value)
    if letter not in LPD_FORMAT_LETTERS:
        raise ValueError(f"{value!r}: not one of {' '.join(sorted(LPD_FORMAT_LETTERS))}")
    return letter


def lpd_postscript_letter(value: object) -> str:
    """The ``postscript=`` option: the letter for application/postscript."""
    letter = str(value)
    if letter not in LPD_POSTSCRIPT_LETTERS:
        raise ValueError(f"{value!r}: not l, o or f")
    return letter


def lpd_charset(value: object) -> str:
    """The ``charset=`` option: one of `LPD_CHARSETS`, common spellings
    (``UTF8``, ``ISO-8859-1``, ``us-ascii``) read as the name used here."""
    text = str(value).strip().lower()
    text = _CHARSET_ALIASES.get(text, text)
    if text not in LPD_CHARSETS:
        raise ValueError(f"{value!r}: not one of {', '.join(LPD_CHARSETS)}")
    return text


@dataclass(frozen=True, slots=True)
class LpdOutputOptions:
    """How a queue writes control files: the output part of its LPD backend
    options (``gateway.backends.lpd.LpdSettings`` extends it).

    ``host`` is the gateway's host name (``H`` and file names).
    ``format_letter`` forces one print letter for every document (format=).
    ``postscript_letter`` is the letter for application/postscript.
    ``banner``: ``None`` follows job-sheets, ``True``/``False`` force L on/off.
    ``manual_copies``, ``sanitize_title`` and ``charset``: see the theory of
    operation above. Letters and charset are checked (and the charset's
    spelling made canonical) by `lpd_format_letter`, `lpd_postscript_letter`
    and `lpd_charset`, the parsers of those backend options.
    """

    host: str
    format_letter: str | None = None
    postscript_letter: str = "l"
    banner: bool | None = None
    manual_copies: bool = False
    sanitize_title: bool = False
    charset: str = "utf-8"

    def __post_init__(self) -> None:
        checked: tuple[tuple[str, str, Callable[[object], str]], ...] = (
            ("format", "format_letter", lpd_format_letter),
            ("postscript", "postscript_letter", lpd_postscript_letter),
            ("charset", "charset", lpd_charset),
        )
        for option, attribute, parse in checked:
            value = getattr(self, attribute)
            if value is None:
                continue
            try:
                object.__setattr__(self, attribute, parse(value))
            except ValueError as exc:
                raise ValueError(f"{option}={exc}") from None


@dataclass(frozen=True, slots=True)
class LpdDataFile:
    """One data file to send: its name, the job document (0-based index in
    ``job.documents``) and how many times the document's bytes are repeated
    inside it (``copies`` with manual_copies=on, else 1)."""

    name: str
    document: int
    repeat: int = 1


@dataclass(frozen=True, slots=True)
class LpdJobTicket:
    """The LPD view of one gateway job: the control file, its name, the data
    files in document order, and remarks on what the mapping lost."""

    job_number: int
    control_file_name: str
    control_file: ControlFile
    data_files: tuple[LpdDataFile, ...]
    notes: tuple[str, ...] = ()


def _text(code: str, text: str, charset: str) -> bytes:
    """Printable text in ``charset``, cut to the code's RFC limit between characters."""
    text = "".join(c if c.isprintable() else " " for c in text).strip()
    if charset == "ascii":
        text = ascii_fold(text)
    return make_line(code, text, encoding=charset).value


def lpd_letter(document_format: str, options: LpdOutputOptions, remembered: object = None) -> str:
    """The print letter for a document: format= first; then the letter the
    document came with (``remembered``), if it is one of `KEPT_LETTERS` and the
    document still has that letter's format; then `LETTER_RULES`."""
    if options.format_letter is not None:
        return options.format_letter
    mime = document_format.split(";", 1)[0].strip().lower()
    if (
        isinstance(remembered, str)
        and remembered in KEPT_LETTERS
        and FORMAT_RULES[remembered].document_format.lower() == mime
    ):
        return remembered
    for rule_mime, letter, _rule in LETTER_RULES:
        if rule_mime in (mime, "*"):
            return options.postscript_letter if rule_mime == POSTSCRIPT else letter
    return "l"


def _sheets_wanted(value: JSON) -> bool:
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and v not in ("", "none") for v in values)


def _title(text: str, options: LpdOutputOptions) -> str:
    if options.sanitize_title:
        return "".join(c if (c.isascii() and c.isalnum()) or c == " " else "_" for c in text)
    return text


def ipp_to_controlfile(job: Job, job_number: int, options: LpdOutputOptions) -> LpdJobTicket:
    """Build the control file of ``job`` as LPD job ``job_number`` (pure).

    See the theory of operation above for every rule. Raises `ValueError`
    for a job without documents or with more than 832 of them.
    """
    if not job.documents:
        raise ValueError(f"job {job.id} has no documents")
    if len(job.documents) > MAX_NAMED_DATA_FILES:
        raise ValueError(f"job {job.id} has more than {MAX_NAMED_DATA_FILES} documents")
    charset = options.charset
    notes: list[str] = []
    user = lpd_user_name(job.user)
    if user != job.user:
        notes.append(f"user {job.user!r} sent as {user!r}")
    lines: list[ControlLine] = [
        ControlLine("H", _text("H", options.host, charset) or DEFAULT_HOST.encode("ascii")),
        ControlLine("P", user.encode("ascii")),
    ]
    job_name = job.attributes.get("job-name")
    if not isinstance(job_name, str) or not job_name:
        job_name = next((d.name for d in job.documents if d.name), "")
    if job_name:
        title = _text("J", _title(job_name, options), charset)
        if title:
            lines.append(ControlLine("J", title))
    banner = options.banner
    if banner is None:
        banner = _sheets_wanted(job.attributes.get("job-sheets", "none"))
    if banner:
        lines.append(ControlLine("L", user.encode("ascii")))

    copies_value = job.attributes.get("copies", 1)
    copies = copies_value if isinstance(copies_value, int) and copies_value > 0 else 1
    if copies > LPD_MAX_COPIES:
        notes.append(f"copies {copies} cut to {LPD_MAX_COPIES}")
        copies = LPD_MAX_COPIES
    handling = job.attributes.get("multiple-document-handling")
    collated = handling in (
        "separate-documents-collated-copies",
        "single-document",
        "single-document-new-sheet",
    )
    if isinstance(handling, str) and handling.startswith("single-document"):
        notes.append(f"multiple-document-handling {handling} sent as collated copies")

    files = [data_file_name(i, job_number, options.host) for i in range(len(job.documents))]
    letters = [
        lpd_letter(d.format, options, d.attributes.get(LPD_LETTER_ATTRIBUTE)) for d in job.documents
    ]
    names = [_text("N", _title(d.name, options), charset) if d.name else b"" for d in job.documents]
    repeat = copies if options.manual_copies else 1
    line_copies = 1 if options.manual_copies else copies

    def print_line(i: int) -> ControlLine:
        return ControlLine(letters[i], files[i].encode("ascii"))

    if collated and line_copies > 1 and len(job.documents) > 1:
        for i in range(len(files)):
            lines.append(print_line(i))
            if names[i]:
                lines.append(ControlLine("N", names[i]))
        for _ in range(line_copies - 1):
            lines.extend(print_line(i) for i in range(len(files)))
        lines.extend(ControlLine("U", f.encode("ascii")) for f in files)
    else:
        for i, name in enumerate(files):
            lines.extend(print_line(i) for _ in range(line_copies))
            lines.append(ControlLine("U", name.encode("ascii")))
            if names[i]:
                lines.append(ControlLine("N", names[i]))

    return LpdJobTicket(
        job_number=job_number,
        control_file_name=control_file_name(job_number, options.host),
        control_file=ControlFile(tuple(lines)),
        data_files=tuple(LpdDataFile(f, i, repeat) for i, f in enumerate(files)),
        notes=tuple(notes),
    )
