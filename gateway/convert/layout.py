"""Where a document page goes on a sheet: print-scaling, orientation-requested
and number-up, as PWG 5100.13 (IPP Job and Printer Extensions 3) defines
them. Pure arithmetic on boxes and matrices, in PDF points; pdftopdf and
imagetopdf draw with the matrices.

print-scaling:
    ``none``: the page at its size, centred on the sheet (cropped where it
    is larger). ``fit``: scaled to fit the printable area, centred, aspect
    kept. ``fill``: scaled to cover the printable area, centred, cropped.
    ``auto-fit``: ``fit`` when the page does not fit, else ``none``.
    ``auto``: when the page does not fit, ``fill`` on borderless media (all
    margins zero) and ``fit`` otherwise; else ``none``. (ippsample's
    ipptransform tests the margins the other way round; the specification's
    reading is the one here.) With number-up above 1, cells are always
    ``fit`` unless ``fill`` was asked for, as ipptransform does.
orientation-requested:
    the content is turned counter-clockwise on the sheet: portrait (3) 0,
    landscape (4) 90, reverse-landscape (5) 270, reverse-portrait (6) 180
    degrees. Without it, a page that fits better turned (a landscape page
    on portrait paper) is turned 90 degrees.
number-up:
    1, 2, 4, 6, 9 or 16 cells over the printable area, filled left to right
    and top to bottom as the reader holds the sheet. The grid and the turn
    are those that print the first page largest: for portrait pages on
    portrait paper, 2 and 6 turn the pages to landscape cells (2 side by
    side, 3 x 2), 4, 9 and 16 keep them upright in square grids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = [
    "IDENTITY",
    "NUMBER_UP",
    "ORIENTATIONS",
    "SCALINGS",
    "Box",
    "Margins",
    "Matrix",
    "Sheet",
    "choose_rotation",
    "number_up_cells",
    "parse_page_ranges",
    "place",
    "resolve_scaling",
    "rotation",
    "selected",
]

SCALINGS: Final = ("auto", "auto-fit", "fill", "fit", "none")

#: orientation-requested keyword and enum (RFC 8011 5.2.10) -> counter-clockwise turn.
ORIENTATIONS: Final = {
    "portrait": 0,
    "landscape": 90,
    "reverse-landscape": 270,
    "reverse-portrait": 180,
    "3": 0,
    "4": 90,
    "5": 270,
    "6": 180,
}

#: Grids to try for each number-up value, (columns, rows) as the reader sees them.
NUMBER_UP: Final[dict[int, tuple[tuple[int, int], ...]]] = {
    1: ((1, 1),),
    2: ((2, 1), (1, 2)),
    4: ((2, 2),),
    6: ((3, 2), (2, 3)),
    9: ((3, 3),),
    16: ((4, 4),),
}

#: Sizes within a point count as equal (PDF pages in whole points).
_SLACK: Final = 1.0


class Box(NamedTuple):
    x: float
    y: float
    width: float
    height: float


class Matrix(NamedTuple):
    """A PDF transformation matrix [a b c d e f]: x' = a x + c y + e,
    y' = b x + d y + f."""

    a: float
    b: float
    c: float
    d: float
    e: float
    f: float

    def then(self, other: Matrix) -> Matrix:
        """This transformation, then `other`."""
        return Matrix(
            self.a * other.a + self.b * other.c,
            self.a * other.b + self.b * other.d,
            self.c * other.a + self.d * other.c,
            self.c * other.b + self.d * other.d,
            self.e * other.a + self.f * other.c + other.e,
            self.e * other.b + self.f * other.d + other.f,
        )

    def apply(self, x: float, y: float) -> tuple[float, float]:
        return (self.a * x + self.c * y + self.e, self.b * x + self.d * y + self.f)

    def bounds(self, box: Box) -> Box:
        """The box that holds `box` transformed."""
        corners = [
            self.apply(x, y)
            for x in (box.x, box.x + box.width)
            for y in (box.y, box.y + box.height)
        ]
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        return Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


IDENTITY: Final = Matrix(1, 0, 0, 1, 0, 0)


def rotation(degrees: int) -> Matrix:
    """Counter-clockwise by a multiple of 90 degrees."""
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees % 360]
    return Matrix(cos, sin, -sin, cos, 0, 0)


class Margins(NamedTuple):
    """Unprintable borders, in points (IPP media-*-margin are in hundredths
    of millimetres: convert with gateway.convert.media.hmm_to_points)."""

    top: float = 0.0
    bottom: float = 0.0
    left: float = 0.0
    right: float = 0.0

    @property
    def borderless(self) -> bool:
        return not any(self)


class Sheet(NamedTuple):
    """The media (portrait, points) and its margins."""

    width: float
    height: float
    margins: Margins = Margins()

    @property
    def printable(self) -> Box:
        m = self.margins
        return Box(m.left, m.bottom, self.width - m.left - m.right, self.height - m.top - m.bottom)


def _turned(width: float, height: float, degrees: int) -> tuple[float, float]:
    return (height, width) if degrees % 180 else (width, height)


def _fit_scale(width: float, height: float, cell: Box) -> float:
    return min(cell.width / width, cell.height / height)


def resolve_scaling(
    scaling: str, size: tuple[float, float], room: tuple[float, float], borderless: bool
) -> str:
    """``fit``, ``fill`` or ``none`` for a page of `size` (as turned) where
    `room` is what it must fit in to print unscaled."""
    if scaling not in SCALINGS:
        raise ValueError(f"{scaling!r} is not a print-scaling value")
    if scaling in ("fit", "fill", "none"):
        return scaling
    fits = size[0] <= room[0] + _SLACK and size[1] <= room[1] + _SLACK
    if fits:
        return "none"
    if scaling == "auto" and borderless:
        return "fill"
    return "fit"


def choose_rotation(size: tuple[float, float], cell: Box, requested: int | None) -> int:
    """The turn for a page: the requested one, else 0 or 90, whichever
    prints it larger in `cell` (0 when equal)."""
    if requested is not None:
        return requested
    upright = _fit_scale(*size, cell)
    turned = _fit_scale(*_turned(*size, 90), cell)
    return 90 if turned > upright * 1.001 else 0


def place(content: Box, degrees: int, cell: Box, scaling: str, center: Box | None = None) -> Matrix:
    """The matrix that puts `content` (a box in the page's own space) turned
    by `degrees` into `cell`: scaled as `scaling` (``fit``, ``fill`` or
    ``none``) and centred, on `center` when given (``none`` centres on the
    sheet, not on the printable area)."""
    turn = Matrix(1, 0, 0, 1, -content.x, -content.y).then(rotation(degrees))
    turned = turn.bounds(content)
    if scaling == "none":
        scale = 1.0
    elif scaling == "fit":
        scale = _fit_scale(turned.width, turned.height, cell)
    elif scaling == "fill":
        scale = max(cell.width / turned.width, cell.height / turned.height)
    else:
        raise ValueError(f"{scaling!r} is not a resolved print-scaling")
    target = center if center is not None else cell
    x = target.x + (target.width - turned.width * scale) / 2 - turned.x * scale
    y = target.y + (target.height - turned.height * scale) / 2 - turned.y * scale
    return turn.then(Matrix(scale, 0, 0, scale, x, y))


def _view_to_sheet(area: Box, degrees: int) -> Matrix:
    """Maps the reader's upright frame, (0, 0) to the area's size turned,
    onto `area` when the content is turned counter-clockwise by `degrees`."""
    width, height = _turned(area.width, area.height, degrees)
    frame = Box(0, 0, width, height)
    turn = rotation(degrees)
    moved = turn.bounds(frame)
    return turn.then(Matrix(1, 0, 0, 1, area.x - moved.x, area.y - moved.y))


def number_up_cells(
    number_up: int, area: Box, first_page: tuple[float, float], requested: int | None
) -> tuple[int, list[Box]]:
    """The turn of the content and the cells (sheet boxes, in reading order)
    for `number_up` pages on `area`. `first_page` (width, height) picks the
    grid; `requested` is the orientation-requested turn, if any."""
    if number_up not in NUMBER_UP:
        raise ValueError(f"number-up {number_up} is not one of {sorted(NUMBER_UP)}")
    base = requested or 0
    best: tuple[float, int, int, int] | None = None
    turns = (base,) if number_up == 1 and requested is not None else (base, base + 90)
    for turn in turns:
        view_width, view_height = _turned(area.width, area.height, turn)
        for columns, rows in NUMBER_UP[number_up]:
            cell = Box(0, 0, view_width / columns, view_height / rows)
            scale = _fit_scale(*first_page, cell)
            if best is None or scale > best[0] * 1.001:
                best = (scale, turn % 360, columns, rows)
    assert best is not None
    _, turn, columns, rows = best
    view_width, view_height = _turned(area.width, area.height, turn)
    to_sheet = _view_to_sheet(area, turn)
    cell_width, cell_height = view_width / columns, view_height / rows
    cells = [
        to_sheet.bounds(
            Box(
                (index % columns) * cell_width,
                view_height - (index // columns + 1) * cell_height,
                cell_width,
                cell_height,
            )
        )
        for index in range(number_up)
    ]
    return turn, cells


def parse_page_ranges(text: str) -> list[tuple[int, int]]:
    """IPP page-ranges as text, ``1-3,7,10-`` -> [(1, 3), (7, 7), (10, max)];
    ascending and not overlapping, as RFC 8011 5.2.7 asks."""
    ranges: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        try:
            low = int(first) if first else 1
            high = (int(last) if last else 2**31 - 1) if sep else low
        except ValueError:
            raise ValueError(f"{part!r} is not a page range") from None
        if low < 1 or high < low:
            raise ValueError(f"{part!r} is not a page range")
        if ranges and low <= ranges[-1][1]:
            raise ValueError("page-ranges must be ascending and must not overlap")
        ranges.append((low, high))
    if not ranges:
        raise ValueError(f"{text!r} names no pages")
    return ranges


def selected(page_count: int, ranges: Sequence[tuple[int, int]] | None) -> list[int]:
    """The 0-based indexes of the pages `ranges` select (all when None)."""
    if ranges is None:
        return list(range(page_count))
    return [n - 1 for low, high in ranges for n in range(low, min(high, page_count) + 1)]
