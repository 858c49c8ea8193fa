"""RFC 1179 control files: ``parse(bytes) -> ControlFile`` and back.

Why it looks like this
----------------------
A control file is a list of lines, each one command character followed by its
operand (RFC 1179 section 7). Real clients disagree on almost everything else:
order (BSD puts ``N`` after its print lines, LPRng before), line ends (CR,
CRLF), letters (LPRng ``A D Q R Z``, Sun ``O`` and ``5x``, DEC ``< > G K``),
the third letter and number width of file names. So the model keeps every
line, in order, as (code, operand bytes): nothing is dropped, nothing is
fatal, and ``parse(serialise(cf)) == cf``. Typed accessors read from the lines.

Operands stay bytes because LPD has no charset; text is decoded only when
asked, with one chain (`decode_text`): strict UTF-8, then a legacy code page
(default cp1252), then ISO-8859-1, which never fails.

Truncation to the RFC field limits happens only on output (`truncate`,
`make_line`), on character boundaries, for the IPP -> LPD direction.

The LPD naming rules live here too, both ways: `parse_file_name` reads a
client's ``cfA123host``; `control_file_name` and `data_file_name` make the
gateway's own (``cfA<nnn><host>``, ``dfA``..``dfz``, ``efA``..., the host cut by
`lpd_file_host`), and `lpd_user_name` makes the user token of ``P``, ``L`` and
the remove agent.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DATA_FILE_LETTERS",
    "DEFAULT_HOST",
    "FIELD_LIMITS",
    "FILE_HOST_LENGTH",
    "LETTERS",
    "MAX_NAMED_DATA_FILES",
    "PRINT_LETTERS",
    "ControlFile",
    "ControlFileName",
    "ControlLine",
    "PrintRequest",
    "ascii_fold",
    "control_file_name",
    "data_file_name",
    "decode_text",
    "lpd_file_host",
    "lpd_user_name",
    "make_line",
    "no_leading_dash",
    "parse",
    "parse_file_name",
    "serialise",
    "truncate",
]

#: Every known command character (reference/lpd.md 2.2). Lowercase letters
#: are print requests (operand = data file name); everything else a parameter.
LETTERS: Final[Mapping[str, str]] = {
    # RFC 1179 parameters
    "C": "class for banner page",
    "H": "host name",
    "I": "indent printing",
    "J": "job name for banner page",
    "L": "print banner page (operand: user name)",
    "M": "mail when printed",
    "N": "name of source file",
    "P": "user identification",
    "S": "symbolic link data (device inode)",
    "T": "title for pr",
    "U": "unlink data file",
    "W": "width of output",
    "1": "troff R font",
    "2": "troff I font",
    "3": "troff B font",
    "4": "troff S font",
    # RFC 1179 print requests
    "c": "plot CIF file",
    "d": "print DVI file",
    "f": "print formatted file",
    "g": "plot file",
    "k": "reserved for Kerberized clients",
    "l": "print file leaving control characters",
    "n": "print ditroff output file",
    "o": "print PostScript output file",
    "p": "print file with pr format",
    "r": "print file with FORTRAN carriage control",
    "t": "print troff output file",
    "v": "print raster file",
    "z": "reserved for Palladium",
    # LPRng / PLP
    "A": "LPRng job identifier user@host+number",
    "D": "submission date/time",
    "Q": "queue name the job was sent to",
    "R": "accounting information",
    "Z": "filter options",
    "E": "environment (some Linux lpr)",
    "B": "reserved (FreeBSD)",
    # Sun / DEC OSF
    "O": "Sun option list / OSF orientation",
    "5": "Sun SVR4 feature: 5f form, 5H handling, 5p notify, 5P pages, 5q priority, "
    "5S charset, 5T content type, 5y modes",
    "6": "DEC: 6L page length",
    "<": "DEC input tray",
    ">": "DEC output bin",
    "G": "DEC number-up",
    "K": "DEC sides",
}

#: The print-request letters RFC 1179 defines. Any other lowercase letter
#: (``x`` from unknown clients) is still read as a print request.
PRINT_LETTERS: Final = frozenset("cdfgklnoprtvz")

#: Output field limits (characters): RFC 1179 (C H P 31, J 99, N 131, T 79)
#: and LPRng's ``maxclen`` table for the rest.
FIELD_LIMITS: Final[Mapping[str, int]] = {
    "A": 131,
    "C": 31,
    "D": 1024,
    "H": 31,
    "I": 31,
    "J": 99,
    "L": 31,
    "M": 131,
    "N": 131,
    "P": 31,
    "Q": 131,
    "R": 131,
    "S": 131,
    "T": 79,
    "U": 131,
    "W": 31,
    "Z": 1024,
    "1": 131,
    "2": 131,
    "3": 131,
    "4": 131,
}

_LINE_SPLIT: Final = re.compile(rb"\r\n|\r|\n")


def decode_text(data: bytes, legacy_encoding: str = "cp1252") -> str:
    """Decode LPD text that carries no charset; never fails.

    Strict UTF-8 (valid UTF-8 is almost never legacy text), then
    ``legacy_encoding`` (strict), then ISO-8859-1, which maps every byte.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(legacy_encoding)
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")


def truncate(text: str, limit: int, encoding: str = "utf-8", errors: str = "replace") -> bytes:
    """Encode ``text`` to at most ``limit`` bytes, cutting between characters.

    CR and LF are replaced by spaces (they would end the line early).
    """
    text = text.replace("\r", " ").replace("\n", " ")
    out = bytearray()
    for char in text:
        encoded = char.encode(encoding, errors)
        if len(out) + len(encoded) > limit:
            break
        out += encoded
    return bytes(out)


@dataclass(frozen=True, slots=True)
class ControlLine:
    """One control-file line: a one-character ``code`` and its operand.

    Sun ``5x`` and DEC ``6L`` lines have code ``"5"``/``"6"`` and the feature
    letter as the first operand byte, which keeps parsing unambiguous.
    """

    code: str
    value: bytes = b""

    def __post_init__(self) -> None:
        if len(self.code) != 1 or self.code in "\r\n" or ord(self.code) > 0xFF:
            raise ValueError(f"bad control-file code {self.code!r}")
        if b"\n" in self.value or b"\r" in self.value:
            raise ValueError("a control-file operand cannot hold CR or LF")

    @property
    def is_print_request(self) -> bool:
        """Lowercase letters are print requests (RFC 1179 section 7)."""
        return "a" <= self.code <= "z"

    def text(self, legacy_encoding: str = "cp1252") -> str:
        """The operand decoded with `decode_text`."""
        return decode_text(self.value, legacy_encoding)


def make_line(
    code: str,
    text: str | bytes,
    *,
    encoding: str = "utf-8",
    limits: Mapping[str, int] = FIELD_LIMITS,
) -> ControlLine:
    """Build a line for output, truncating ``text`` to ``limits[code]``
    (character boundaries) when the code has a limit."""
    limit = limits.get(code)
    if isinstance(text, bytes):
        value = text.replace(b"\r", b" ").replace(b"\n", b" ")
        if limit is not None:
            value = truncate(decode_text(value), limit, encoding)
    else:
        clean = text.replace("\r", " ").replace("\n", " ")
        value = (
            clean.encode(encoding, "replace") if limit is None else truncate(clean, limit, encoding)
        )
    return ControlLine(code, value)


@dataclass(frozen=True, slots=True)
class PrintRequest:
    """One print line: ``letter`` (``f``, ``l``, ``o`` ...), the data file it
    names, and the ``N`` (source file name) associated with that data file."""

    letter: str
    data_file: str
    document_name: str | None = None


@dataclass(frozen=True, slots=True)
class ControlFileName:
    """A control- or data-file name split the way FreeBSD ``calc_jobnum``
    reads it: ``cf`` + letter + job number + host."""

    prefix: str
    letter: str
    job_number: int | None
    host: str


def parse_file_name(name: str) -> ControlFileName:
    """Split ``cfA123host`` into its parts; never raises.

    The third character is any letter (LPRng priority, PLP ``cfZ``). If the
    fourth is not a digit but the fifth is, one extra letter is skipped
    (FreeBSD). The number is the digit run, at most 6 digits (LPRng
    ``longnumber``); when the run is followed by ``.``, only its first 3
    digits are the number and the rest starts the host (Windows
    ``cfA123192.168.1.5``).
    """
    prefix, letter = name[:2], name[2:3]
    i = 3
    if name[3:4] and not name[3:4].isdigit() and name[4:5].isdigit():
        i = 4
    j = i
    while j < len(name) and name[j] in "0123456789":
        j += 1
    run = name[i:j]
    if not run:
        return ControlFileName(prefix, letter, None, name[i:])
    if j < len(name) and name[j] == "." and len(run) > 3:
        return ControlFileName(prefix, letter, int(run[:3]), name[i + 3 :])
    run = run[:6]
    return ControlFileName(prefix, letter, int(run), name[i + len(run) :])


# ---- LPD naming rules ----

#: The host name written when nothing usable is left of the real one.
DEFAULT_HOST: Final = "gateway"

#: The host part of file names is cut to this many characters, as CUPS does
#: (``%.15s``); ``H`` itself is cut to ``FIELD_LIMITS["H"]``.
FILE_HOST_LENGTH: Final = 15

#: The third letter of data-file names, in order: ``dfA`` .. ``dfZ``, ``dfa`` ..
#: ``dfz``; after the 52nd the first letter moves on (``efA``), as BSD lpr does.
DATA_FILE_LETTERS: Final = string.ascii_uppercase + string.ascii_lowercase

#: Data files one job can name that way: ``dfA`` .. ``sfz`` (BSD lpr ``nfile()``).
MAX_NAMED_DATA_FILES: Final = len(DATA_FILE_LETTERS) * 16


def ascii_fold(text: str) -> str:
    """Accents dropped (NFKD), anything else non-ASCII becomes '?'."""
    decomposed = unicodedata.normalize("NFKD", text)
    out = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        out.append(char if ord(char) < 128 else "?")
    return "".join(out)


def no_leading_dash(name: str) -> str:
    """A leading ``-`` becomes ``_``: a user name never looks like an option to
    BSD tools (FreeBSD lpd does this to ``P``)."""
    return "_" + name[1:] if name.startswith("-") else name


def lpd_user_name(user: str) -> str:
    """The LPD user token for ``P``, ``L`` and the remove agent.

    ASCII (accents transliterated), letters, digits and ``. _ -`` kept, any
    other character becomes ``_``, never starting with ``-`` (an option to
    BSD tools), at most 31 characters; ``anonymous`` when nothing is left.
    """
    folded = ascii_fold(user)
    token = "".join(c if c.isalnum() or c in "._-" else "_" for c in folded).strip("_")
    return no_leading_dash(token)[: FIELD_LIMITS["P"]] or "anonymous"


def lpd_file_host(host: str) -> str:
    """The host part of control/data file names: letters, digits, '.' and
    '-' only, cut to 15 characters as CUPS does (``%.15s``)."""
    cleaned = "".join(c for c in ascii_fold(host) if c.isalnum() or c in ".-")
    return cleaned[:FILE_HOST_LENGTH] or DEFAULT_HOST


def data_file_name(index: int, job_number: int, host: str) -> str:
    """``dfA<nnn><host>`` for the first data file, ``dfB...`` for the next,
    ``dfz`` for the 52nd, then ``efA`` ... as BSD lpr does."""
    if not 0 <= index < MAX_NAMED_DATA_FILES:
        raise ValueError(f"an LPD job holds at most {MAX_NAMED_DATA_FILES} data files")
    first, letter = divmod(index, len(DATA_FILE_LETTERS))
    prefix = chr(ord("d") + first)
    return f"{prefix}f{DATA_FILE_LETTERS[letter]}{job_number:03d}{lpd_file_host(host)}"


def control_file_name(job_number: int, host: str) -> str:
    """``cfA<nnn><host>`` (host cut to 15 characters)."""
    if not 0 <= job_number <= 999:
        raise ValueError(f"LPD job numbers are 0..999, not {job_number}")
    return f"cfA{job_number:03d}{lpd_file_host(host)}"


@dataclass(frozen=True, slots=True)
class ControlFile:
    """A parsed control file: all lines, in order, plus typed accessors.

    Text accessors return the first line with that code, decoded with
    `decode_text` (default legacy code page cp1252), or ``None`` if absent.
    Use `text` for another code page.
    """

    lines: tuple[ControlLine, ...] = ()

    @classmethod
    def build(
        cls, pairs: Iterable[tuple[str, str | bytes]], *, encoding: str = "utf-8"
    ) -> ControlFile:
        """Build from ``(code, operand)`` pairs without truncation."""
        lines = []
        for code, value in pairs:
            raw = value if isinstance(value, bytes) else value.encode(encoding, "replace")
            lines.append(ControlLine(code, raw))
        return cls(tuple(lines))

    # ---- generic access ----

    def get(self, code: str) -> bytes | None:
        """The first operand with this code, or ``None``."""
        for line in self.lines:
            if line.code == code:
                return line.value
        return None

    def get_all(self, code: str) -> tuple[bytes, ...]:
        """Every operand with this code, in order."""
        return tuple(line.value for line in self.lines if line.code == code)

    def text(self, code: str, legacy_encoding: str = "cp1252") -> str | None:
        """The first operand with this code, decoded; ``None`` if absent."""
        value = self.get(code)
        return None if value is None else decode_text(value, legacy_encoding)

    def _int(self, code: str) -> int | None:
        value = self.get(code)
        if value is None or not value.strip().isdigit():
            return None
        try:
            return int(value.strip())
        except ValueError:  # over int()'s digit limit (4300 by default)
            return None

    # ---- RFC 1179 parameters ----

    @property
    def host(self) -> str | None:
        """``H``: originating host."""
        return self.text("H")

    @property
    def user(self) -> str | None:
        """``P``: user identification."""
        return self.text("P")

    @property
    def job_name(self) -> str | None:
        """``J``: job name for the banner page."""
        return self.text("J")

    @property
    def class_name(self) -> str | None:
        """``C``: class for the banner page."""
        return self.text("C")

    @property
    def banner_user(self) -> str | None:
        """``L``: print a banner page for this user (presence matters)."""
        return self.text("L")

    @property
    def mail_user(self) -> str | None:
        """``M``: mail this user when done (never acted on here)."""
        return self.text("M")

    @property
    def title(self) -> str | None:
        """``T``: title for ``pr``."""
        return self.text("T")

    @property
    def indent(self) -> int | None:
        """``I``: indent (digits only; otherwise ``None``)."""
        return self._int("I")

    @property
    def width(self) -> int | None:
        """``W``: width (digits only; otherwise ``None``)."""
        return self._int("W")

    @property
    def unlink_files(self) -> tuple[str, ...]:
        """``U`` operands. Never act on them as paths."""
        return tuple(decode_text(v) for v in self.get_all("U"))

    @property
    def source_names(self) -> tuple[str, ...]:
        """Every ``N`` operand in order."""
        return tuple(decode_text(v) for v in self.get_all("N"))

    # ---- extensions ----

    @property
    def lprng_job_id(self) -> str | None:
        """LPRng ``A``: ``user@host+number``."""
        return self.text("A")

    @property
    def submit_date(self) -> str | None:
        """LPRng/PLP ``D``: date (LPRng text, or PLP epoch seconds)."""
        return self.text("D")

    @property
    def filter_options(self) -> str | None:
        """LPRng ``Z``: filter options, often comma-separated ``key=value``."""
        return self.text("Z")

    @property
    def sun_features(self) -> dict[str, str]:
        """Sun ``5x`` lines as ``{x: operand}`` (first one of each wins)."""
        out: dict[str, str] = {}
        for value in self.get_all("5"):
            if value:
                out.setdefault(chr(value[0]), decode_text(value[1:]))
        return out

    # ---- print requests ----

    @property
    def print_requests(self) -> tuple[PrintRequest, ...]:
        """`requests` with the default code page."""
        return self.requests()

    def requests(self, legacy_encoding: str = "cp1252") -> tuple[PrintRequest, ...]:
        """Every print line in order, with its document name.

        ``N`` is associated with a data file either side (reference/lpd.md
        7.1 case 28): an ``N`` that follows a print line whose data file has
        no name yet names that file (BSD: ``f``, ``U``, ``N``); otherwise it
        names the next print line's file (LPRng: ``N``, ``f``). The first
        name given to a data file wins. Names are decoded with `decode_text`.
        """
        names: dict[str, str] = {}
        files: list[tuple[str, str]] = []
        pending: str | None = None
        last_file: str | None = None
        for line in self.lines:
            if line.is_print_request:
                data_file = decode_text(line.value, legacy_encoding)
                files.append((line.code, data_file))
                if pending is not None:
                    names.setdefault(data_file, pending)
                    pending = None
                last_file = data_file
            elif line.code == "N":
                name = decode_text(line.value, legacy_encoding)
                if last_file is not None and last_file not in names:
                    names[last_file] = name
                else:
                    pending = name
        return tuple(PrintRequest(code, f, names.get(f)) for code, f in files)

    @property
    def data_files(self) -> tuple[str, ...]:
        """Distinct data files named by print lines, in first-use order."""
        seen: dict[str, None] = {}
        for request in self.print_requests:
            seen.setdefault(request.data_file, None)
        return tuple(seen)


def parse(data: bytes) -> ControlFile:
    """Parse control-file bytes. Never raises for any input.

    Lines end in LF, CRLF or CR; blank lines are skipped; every other line
    is kept, known or not.
    """
    lines = []
    for raw in _LINE_SPLIT.split(data):
        if raw:
            lines.append(ControlLine(chr(raw[0]), raw[1:]))
    return ControlFile(tuple(lines))


def serialise(cf: ControlFile) -> bytes:
    """The control file's bytes: each line as code, operand, LF."""
    return b"".join(line.code.encode("latin-1") + line.value + b"\n" for line in cf.lines)
