"""Plain text as a line printer prints it: pages of rows of character cells.

Pure and streaming: `paginate` reads a binary stream a line at a time and
yields one `Page` at a time, so memory holds one page whatever the length
of the document. texttopdf turns the pages into PDF.

The rules are those of a line printer and of BSD lpf / pr, which legacy
hosts still rely on:

- Decoding, per line: UTF-8, else the legacy code page (cp1252 by default),
  else ISO-8859-1 (`gateway.lpd.controlfile.decode_text`, the chain the LPD
  codec uses for control-file text). A line is cut at 64 KiB when it has no
  newline; the cut falls between characters.
- CR LF is a newline. A lone CR returns to the start of the row, so what
  follows overprints it.
- Form feed ends the page. Text after it starts the next page; two form
  feeds in a row leave a blank page; a form feed right after a page filled
  up, or at the very start, adds none.
- Tab advances to the next multiple of 8 columns.
- Backspace steps back one cell; what is written on a cell that holds a
  character is an overstrike: the same character again is bold, ``_`` and a
  character (either order) is the character underlined, anything else shows
  both glyphs in the cell. A combining mark joins the cell before it.
- Other control characters (escape sequences of printer languages, NUL,
  C1 controls) print nothing.
- A row longer than the page is wide wraps onto the next row.
- With a header (LPD ``p``, pr(1)), each page starts with the date, the
  title centred and ``Page N`` on the right, then a blank row.
- An empty document has no pages (as pr and CUPS's texttopdf print nothing).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import BinaryIO, Final, NamedTuple, TypeAlias

__all__ = ["TAB_STOP", "Layout", "Page", "Row", "Span", "paginate"]

TAB_STOP: Final = 8

#: The longest line read at once; longer ones are read in pieces.
MAX_LINE: Final = 64 * 1024


class Span(NamedTuple):
    """Characters from `column` on, one per cell, in one style."""

    column: int
    text: str
    bold: bool = False
    underline: bool = False


#: A row: a plain string (one character per cell, the common case, kept cheap)
#: or spans; overprinted glyphs are extra spans on the same columns.
Row: TypeAlias = str | tuple[Span, ...]


class Page(NamedTuple):
    number: int
    rows: tuple[Row, ...]


class Layout(NamedTuple):
    """What the page holds: `columns` cells a row (after the indent),
    `lines` rows a page (header rows included). (NamedTuples, not
    dataclasses, here and in texttopdf: a converter is a process per job, and
    making dataclasses costs more start-up time than typesetting ten pages.)"""

    columns: int
    lines: int
    header: bool = False
    title: str = ""
    date: str = ""
    legacy_encoding: str = "cp1252"

    def check(self) -> None:
        if self.columns < 1:
            raise ValueError("a page must hold at least one column")
        if self.lines < (3 if self.header else 1):
            raise ValueError("a page must hold at least one line of text")

    @property
    def body_lines(self) -> int:
        return self.lines - 2 if self.header else self.lines


class _Cells:
    """One row being overprinted: character, bold, underline per cell, and
    the glyphs struck over others."""

    __slots__ = ("bold", "chars", "extra", "under")

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.bold: list[bool] = []
        self.under: list[bool] = []
        self.extra: list[tuple[int, str]] = []

    def put(self, column: int, char: str) -> None:
        while len(self.chars) <= column:
            self.chars.append(" ")
            self.bold.append(False)
            self.under.append(False)
        old = self.chars[column]
        if old == " ":
            self.chars[column] = char
        elif char == " ":
            pass
        elif char == old:
            self.bold[column] = True
        elif char == "_":
            self.under[column] = True
        elif old == "_":
            self.chars[column] = char
            self.under[column] = True
        else:
            self.extra.append((column, char))

    def combine(self, column: int, mark: str) -> None:
        """A combining mark: composed with its cell's character where Unicode
        has the composite (NFC), else struck over it, so a cell stays one
        glyph wide."""
        if not 0 <= column < len(self.chars):
            return
        composed = unicodedata.normalize("NFC", self.chars[column] + mark)
        if len(composed) == 1:
            self.chars[column] = composed
        else:
            self.extra.append((column, mark))

    def row(self) -> Row:
        if not any(self.bold) and not any(self.under) and not self.extra:
            return "".join(self.chars).rstrip()
        spans: list[Span] = []
        start = 0
        for column in range(1, len(self.chars) + 1):
            if (
                column == len(self.chars)
                or self.bold[column] != self.bold[start]
                or self.under[column] != self.under[start]
            ):
                text = "".join(self.chars[start:column])
                if text.strip():
                    spans.append(Span(start, text, self.bold[start], self.under[start]))
                start = column
        spans.extend(Span(column, char, self.bold[column]) for column, char in self.extra)
        return tuple(spans)


#: Where combining marks live (a cheap first look; `unicodedata.combining`
#: decides): Latin, Cyrillic, Hebrew to Sinhala, and the combining blocks.
_MAYBE_COMBINING: Final = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u0dff\u0e31-\u0eff\u1ab0-\u1aff"
    "\u1dc0-\u1dff\u20d0-\u20ff\u302a-\u302f\u3099\u309a\ufe20-\ufe2f]"
)
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")


def _is_plain(text: str) -> bool:
    """True when every character takes one cell: printable, no combining mark."""
    if text.isascii():
        return text.isprintable()
    if not text.isprintable():
        return False
    if _MAYBE_COMBINING.search(text) is None:
        return True
    return not any(unicodedata.combining(m.group()) for m in _MAYBE_COMBINING.finditer(text))


def _bmp(text: str) -> str:
    """Characters beyond the Basic Multilingual Plane as U+FFFD: a
    monospace text font has none of them, and texttopdf's glyph codes are
    16 bits."""
    if text.isascii() or _ASTRAL.search(text) is None:
        return text
    return _ASTRAL.sub("\ufffd", text)


def _header(layout: Layout, number: int) -> str:
    right = f"Page {number}"
    left = layout.date
    width = layout.columns
    room = width - len(left) - len(right) - 4
    title = layout.title[: max(room, 0)]
    middle = max(room - len(title), 0)
    text = f"{left}  {' ' * (middle // 2)}{title}{' ' * (middle - middle // 2)}  {right}"
    return text[:width].rstrip()


class _Pager:
    """Rows into pages; the form feed rules of the module docstring."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.rows: list[Row] = []
        self.number = 0
        self.ended_by_form_feed = False

    def add(self, row: Row) -> Page | None:
        page = None
        if len(self.rows) == self.layout.body_lines:
            page = self.next_page()
        self.rows.append(row)
        return page

    def next_page(self) -> Page:
        """The full page, ended because the next row does not fit."""
        self.ended_by_form_feed = False
        return self._emit()

    def form_feed(self) -> Page | None:
        if self.rows or self.ended_by_form_feed:
            page = self._emit()
            self.ended_by_form_feed = True
            return page
        return None

    def close(self) -> Page | None:
        return self._emit() if self.rows else None

    def _emit(self) -> Page:
        self.number += 1
        rows = tuple(self.rows)
        if self.layout.header:
            rows = (_header(self.layout, self.number), "", *rows)
        self.rows = []
        return Page(self.number, rows)


def decode_text(data: bytes, legacy_encoding: str) -> str:
    """`gateway.lpd.controlfile.decode_text` (UTF-8, the legacy code page,
    ISO-8859-1), imported only when a line is not UTF-8: the LPD codec's
    import costs a text job's start-up time that most jobs do not need."""
    from gateway.lpd.controlfile import decode_text as decode  # noqa: PLC0415 (start-up time)

    return decode(data, legacy_encoding)


#: How much is read at once.
_CHUNK: Final = 256 * 1024


def _decode_lines(data: bytes, legacy: str) -> list[str]:
    """The lines of `data` (which ends with a newline), without newlines: the
    whole chunk as UTF-8 when it is (the common case, one call), else line
    by line (`decode_text`)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines = [
            decode_text(line[:-1] if line.endswith(b"\r") else line, legacy)
            for line in data.split(b"\n")
        ]
    else:
        lines = _bmp(text).replace("\r\n", "\n").split("\n")
        lines.pop()  # after the last newline
        return lines
    lines.pop()
    return [_bmp(line) for line in lines]


def _boundary(data: bytes, at: int) -> int:
    """The last UTF-8 character boundary at or before `at`."""
    cut = at
    while cut > at - 4 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > at - 4 and cut > 0 else at


def _pieces(source: BinaryIO, legacy: str) -> Iterator[tuple[list[str], bool]]:
    """Batches of text: (whole lines without their newline (CR LF or LF),
    True), or ([a cut of a line longer than MAX_LINE bytes], False)."""
    tail = b""
    while True:
        data = source.read(_CHUNK)
        if not data:
            if tail:
                yield [_bmp(decode_text(tail.removesuffix(b"\r"), legacy))], True
            return
        data = tail + data if tail else data
        cut = data.rfind(b"\n") + 1
        if cut:
            yield _decode_lines(data[:cut], legacy), True
            data = data[cut:]
        while len(data) >= MAX_LINE:
            at = _boundary(data, MAX_LINE)
            yield [_bmp(decode_text(data[:at], legacy))], False
            data = data[at:]
        tail = data


class _Typesetter:
    """Characters into rows: the row being written is a plain string while
    it is plain (the fast path: most text never needs cells), else cells."""

    def __init__(self, layout: Layout) -> None:
        self.columns = layout.columns
        self.pager = _Pager(layout)
        self.ready: list[Page] = []
        self._reset()
        self.form_feed_in_line = False

    def _reset(self) -> None:
        self.plain: str | None = None
        self.cells: _Cells | None = None
        self.column = 0
        self.touched = False

    def _row(self, row: Row) -> None:
        if page := self.pager.add(row):
            self.ready.append(page)

    def _open_cells(self) -> _Cells:
        if self.cells is None:
            self.cells = _Cells()
            self.column = 0
            for column, char in enumerate(self.plain or ""):
                self.cells.put(column, char)
            self.column = len(self.plain or "")
            self.plain = None
        return self.cells

    def lines(self, texts: list[str]) -> None:
        """Whole lines (without their newlines). The common case, a short
        plain line and no row open, goes straight onto the page."""
        columns = self.columns
        pager = self.pager
        body_lines = pager.layout.body_lines
        ready = self.ready
        for text in texts:
            if (
                len(text) <= columns
                and self.plain is None
                and self.cells is None
                and _is_plain(text)
            ):
                if len(pager.rows) == body_lines:
                    ready.append(pager.next_page())
                pager.rows.append(text.rstrip())
                self.form_feed_in_line = False
            else:
                self.piece(text)
                self.end_line()

    def piece(self, text: str) -> None:
        """Characters that may hold form feeds."""
        if "\f" in text:
            parts = text.split("\f")
            self.feed(parts[0])
            for part in parts[1:]:
                self.form_feed()
                self.feed(part)
        else:
            self.feed(text)

    def feed(self, text: str) -> None:
        """Characters of one line, without form feeds or the newline."""
        if not text:
            return
        self.touched = True
        columns = self.columns
        if self.cells is None and self.plain is None and _is_plain(text):
            full = (len(text) - 1) // columns
            for row in range(full):
                self._row(text[row * columns : (row + 1) * columns].rstrip())
            self.plain = text[full * columns :]
            return
        cells = self._open_cells()
        column = self.column
        for char in text:
            if char == "\b":
                column = max(0, column - 1)
            elif char == "\r":
                column = 0
            elif char == "\t":
                column = (column // TAB_STOP + 1) * TAB_STOP
                if column > columns:
                    self._row(cells.row())
                    cells, column = _Cells(), 0
            elif not char.isprintable():
                continue
            elif unicodedata.combining(char):
                cells.combine(column - 1, char)
            else:
                if column >= columns:
                    self._row(cells.row())
                    cells, column = _Cells(), 0
                cells.put(column, char)
                column += 1
        self.cells, self.column = cells, column

    def _end_row(self) -> None:
        if self.plain is not None:
            row: Row = self.plain.rstrip()
        elif self.cells is not None:
            row = self.cells.row()
        else:
            row = ""
        self._reset()
        self._row(row)

    def end_line(self) -> None:
        """A newline (or the end of the file). A line that held only form
        feeds adds no row."""
        if self.touched or not self.form_feed_in_line:
            self._end_row()
        self._reset()
        self.form_feed_in_line = False

    def form_feed(self) -> None:
        if self.touched:
            self._end_row()
        self._reset()
        self.form_feed_in_line = True
        if page := self.pager.form_feed():
            self.ready.append(page)

    def close(self) -> None:
        if page := self.pager.close():
            self.ready.append(page)


def paginate(source: BinaryIO, layout: Layout) -> Iterator[Page]:
    """The pages of the text read from `source`, one at a time."""
    layout.check()
    setter = _Typesetter(layout)
    ready = setter.ready
    for texts, whole in _pieces(source, layout.legacy_encoding):
        if whole:
            setter.lines(texts)
        else:
            setter.piece(texts[0])
        if ready:
            yield from ready
            ready.clear()
    setter.close()
    yield from ready
