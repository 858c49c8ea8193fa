"""How a document is rendered for its printer: `RenderOptions` from the job's
template attributes and the printer's own attributes.

Two kinds of decision live here, both pure:

- What the output must look like: media size, raster resolution and type
  (PWG 5102.4 ``pwg-raster-document-resolution-supported``,
  ``pwg-raster-document-type-supported``, ``pwg-raster-document-sheet-back``;
  Apple raster ``urf-supported``), color, sides.
- Which job template attributes the conversion applies, because the printer
  cannot: number-up, page-ranges, orientation-requested, print-scaling (when
  the printer does not list the requested value in its ``*-supported``) and
  copies (when its ``copies-supported`` has no range above 1). Those names are
  `RenderOptions.applied`; the backend then leaves them out, so nothing is
  applied twice. A printer that is not an IPP printer (an LPD printer, a
  folder) comes as an empty mapping: it lists no support for anything, except
  that copies go in the LPD control file, so the conversion makes none.

Job attributes are the spool's JSON values (``page-ranges`` as ``[1, 3]`` or
``[[1, 3], [7, 7]]``, ``media-col`` as a dict, ``printer-resolution`` as
``[x, y, units]``). Printer attributes are `gateway.ipp.attributes.Attribute`
objects as the IPP backend's probe holds them; plain JSON values are read too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.convert.media import media_name_for, media_size_hmm
from gateway.ipp.attributes import Attribute, Collection
from gateway.ipp.values import RangeOfInteger, Resolution, ResolutionUnits

#: The job template attributes a conversion may apply in the printer's stead.
APPLICABLE: Final = frozenset(
    {"number-up", "page-ranges", "orientation-requested", "print-scaling", "copies"}
)

#: print-quality (RFC 8011 section 5.2.13).
DRAFT, NORMAL, HIGH = 3, 4, 5
#: The resolution a normal-quality job is rendered at when the printer offers it.
NORMAL_DPI: Final = 300

#: orientation-requested (RFC 8011 section 5.2.10) -> the converters' word for it.
ORIENTATIONS: Final[Mapping[int, str]] = {
    3: "portrait",
    4: "landscape",
    5: "reverse-landscape",
    6: "reverse-portrait",
}
PRINT_SCALING: Final = ("auto", "auto-fit", "fit", "fill", "none")
SHEET_BACK: Final = ("normal", "flipped", "rotated", "manual-tumble")
SIDES: Final = ("one-sided", "two-sided-long-edge", "two-sided-short-edge")

#: PWG raster types in the order they are chosen, for color and for gray output
#: (PWG 5102.4 section 4.3; every IPP Everywhere printer takes sgray_8).
PWG_COLOR_TYPES: Final = ("srgb_8", "adobe-rgb_8", "rgb_8", "srgb_16", "adobe-rgb_16", "rgb_16")
PWG_GRAY_TYPES: Final = ("sgray_8", "black_8", "sgray_16", "black_16", "black_1")
PWG_BILEVEL_TYPES: Final = ("black_1", "sgray_8", "black_8")
#: The same for Apple raster (``urf-supported`` keywords).
URF_COLOR_TYPES: Final = ("SRGB24", "ADOBERGB24", "DEVRGB24")
URF_GRAY_TYPES: Final = ("W8", "DEVW8")
#: urf-supported ``DMn``: the back side transform of duplex pages
#: (what CUPS reads into cupsBackSide).
URF_SHEET_BACK: Final[Mapping[str, str]] = {
    "DM1": "normal",
    "DM2": "flipped",
    "DM3": "rotated",
    "DM4": "manual-tumble",
}
#: print-color-mode values that ask for no color.
MONOCHROME_MODES: Final = frozenset(
    {"monochrome", "process-monochrome", "auto-monochrome", "bi-level", "process-bi-level"}
)

_MEDIA_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Everything a conversion needs to know about one document's output.

    `copies` is the number of copies the conversion makes (1: the printer or
    the LPD control file makes them); `number_up`, `page_ranges`,
    `orientation` and `print_scaling` are applied by the conversion when
    their attribute is in `applied`, and handed to the text and image
    converters (which lay pages out) in any case.
    """

    media: str = "iso_a4_210x297mm"  # PWG self-describing media name
    resolution: tuple[int, int] = (NORMAL_DPI, NORMAL_DPI)  # dpi (x, y) for PWG, PCL
    pwg_raster_type: str = "sgray_8"  # a pwg-raster-document-type value
    urf_resolution: tuple[int, int] = (NORMAL_DPI, NORMAL_DPI)
    urf_type: str = "W8"  # an urf-supported color keyword
    color: bool = False
    sides: str = "one-sided"
    sheet_back: str = "normal"  # pwg-raster-document-sheet-back
    urf_sheet_back: str = "normal"  # from urf-supported DMn
    number_up: int = 1
    page_ranges: tuple[tuple[int, int], ...] = ()
    orientation: int | None = None  # orientation-requested as asked, None: not asked
    print_scaling: str | None = None  # print-scaling as asked, None: not asked
    copies: int = 1  # copies the conversion makes
    title: str = ""
    user: str = ""
    date: str = ""
    header: bool = False  # LPD ``p``: pr-style page headers
    text_width: int | None = None  # LPD ``W``: columns
    text_indent: int | None = None  # LPD ``I``: columns of indent
    applied: frozenset[str] = field(default_factory=frozenset)

    @property
    def duplex(self) -> bool:
        return self.sides != "one-sided"

    @property
    def tumble(self) -> bool:
        """Two-sided with the binding on the short edge."""
        return self.sides == "two-sided-short-edge"

    @property
    def orientation_name(self) -> str | None:
        """The orientation as the converters name it (``landscape``), if asked."""
        return ORIENTATIONS.get(self.orientation) if self.orientation is not None else None

    @property
    def page_ranges_text(self) -> str:
        """page-ranges as ``1-3,7``."""
        return ",".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in self.page_ranges)

    @property
    def needs_pdf_pass(self) -> bool:
        """Whether a PDF pass (pdftopdf) must apply something the printer cannot."""
        return bool(self.applied & APPLICABLE)


def render_options(
    job_attributes: Mapping[str, Any],
    document_attributes: Mapping[str, Any],
    printer: Mapping[str, Any],
    *,
    default_media: str,
    title: str,
    user: str,
    pretty: bool,
    width: int | None = None,
    indent: int | None = None,
    date: str = "",
) -> RenderOptions:
    """The options for one document: its own attributes over the job's, read
    against what `printer` (its IPP attributes; empty when it is not an IPP
    printer) says it supports. See the module doc."""
    asked: dict[str, Any] = {**job_attributes, **document_attributes}
    known = _Printer(printer)
    quality = _integer(asked.get("print-quality")) or _integer(known.first("print-quality-default"))
    color_mode = str(
        asked.get("print-color-mode") or known.first("print-color-mode-default") or "auto"
    )
    sides = _sides(asked.get("sides"), known)
    pwg_type, color = _pwg_type(color_mode, known)
    urf_type = _urf_type(color_mode, known, color)
    wanted_resolution = _resolution_value(asked.get("printer-resolution"))
    pwg_choices = known.resolutions("pwg-raster-document-resolution-supported")
    urf_choices = known.urf_resolutions()
    other_choices = known.resolutions("printer-resolution-supported")
    applied: set[str] = set()

    number_up = max(1, _integer(asked.get("number-up")) or 1)
    if number_up > 1 and not known.supports_integer("number-up-supported", number_up):
        applied.add("number-up")
    page_ranges = _page_ranges(asked.get("page-ranges"))
    if page_ranges and not known.flag("page-ranges-supported"):
        applied.add("page-ranges")
    orientation = _integer(asked.get("orientation-requested"))
    if orientation not in ORIENTATIONS:
        orientation = None  # 7 (none) or nonsense: nothing to apply
    if orientation not in (None, 3) and not known.supports_value(
        "orientation-requested-supported", orientation
    ):
        applied.add("orientation-requested")
    scaling = asked.get("print-scaling")
    print_scaling = scaling if isinstance(scaling, str) and scaling in PRINT_SCALING else None
    if print_scaling is not None and not known.supports_value(
        "print-scaling-supported", print_scaling
    ):
        applied.add("print-scaling")
    copies = max(1, _integer(asked.get("copies")) or 1)
    if copies > 1 and known.present and not known.makes_copies():
        applied.add("copies")
    else:
        copies = 1

    return RenderOptions(
        media=_media(asked, known, default_media),
        resolution=_choose_resolution(
            pwg_choices or urf_choices or other_choices, quality, wanted_resolution
        ),
        pwg_raster_type=pwg_type,
        urf_resolution=_choose_resolution(
            urf_choices or pwg_choices or other_choices, quality, wanted_resolution
        ),
        urf_type=urf_type,
        color=color,
        sides=sides,
        sheet_back=_sheet_back(known.first("pwg-raster-document-sheet-back")),
        urf_sheet_back=known.urf_sheet_back(),
        number_up=number_up,
        page_ranges=page_ranges,
        orientation=orientation,
        print_scaling=print_scaling,
        copies=copies,
        title=title,
        user=user,
        date=date,
        header=pretty,
        text_width=width if width is not None and width > 0 else None,
        text_indent=indent if indent is not None and indent >= 0 else None,
        applied=frozenset(applied),
    )


class _Printer:
    """Read access to a printer's attributes, whatever form their values take."""

    def __init__(self, attributes: Mapping[str, Any]) -> None:
        self._attributes = attributes

    @property
    def present(self) -> bool:
        """Whether these are a real printer's attributes (an IPP printer)."""
        return bool(self._attributes)

    def values(self, name: str) -> list[Any]:
        value = self._attributes.get(name)
        if value is None:
            return []
        if isinstance(value, Attribute):
            return list(value.python_values)
        if isinstance(value, list | tuple):
            return list(value)
        return [value]

    def first(self, name: str) -> Any:
        values = self.values(name)
        return values[0] if values else None

    def keywords(self, name: str) -> list[str]:
        return [v for v in self.values(name) if isinstance(v, str)]

    def flag(self, name: str) -> bool:
        return any(v is True for v in self.values(name))

    def supports_value(self, name: str, value: object) -> bool:
        return value in self.values(name)

    def supports_integer(self, name: str, value: int) -> bool:
        """`value` is one of the integers, or in one of the ranges, of `name`."""
        for item in self.values(name):
            low_high = _range(item)
            if low_high is not None and low_high[0] <= value <= low_high[1]:
                return True
            if isinstance(item, int) and not isinstance(item, bool) and item == value:
                return True
        return False

    def makes_copies(self) -> bool:
        """copies-supported has a range (or a value) above 1."""
        for item in self.values("copies-supported"):
            low_high = _range(item)
            if low_high is not None and low_high[1] > 1:
                return True
            if isinstance(item, int) and not isinstance(item, bool) and item > 1:
                return True
        return False

    def resolutions(self, name: str) -> list[tuple[int, int]]:
        found = (_resolution_value(v) for v in self.values(name))
        return [r for r in found if r is not None]

    def urf_resolutions(self) -> list[tuple[int, int]]:
        """``RS300-600`` in urf-supported: 300 and 600 dpi."""
        for keyword in self.keywords("urf-supported"):
            if keyword.startswith("RS"):
                dpis = [int(part) for part in keyword[2:].split("-") if part.isdigit()]
                return [(dpi, dpi) for dpi in dpis if dpi > 0]
        return []

    def urf_sheet_back(self) -> str:
        for keyword in self.keywords("urf-supported"):
            if keyword in URF_SHEET_BACK:
                return URF_SHEET_BACK[keyword]
        return "normal"


def _integer(value: Any) -> int | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _range(item: Any) -> tuple[int, int] | None:
    if isinstance(item, RangeOfInteger):
        return item.lower, item.upper
    if (
        isinstance(item, list | tuple)
        and len(item) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in item)
    ):
        return int(item[0]), int(item[1])
    return None


def _resolution_value(value: Any) -> tuple[int, int] | None:
    """A resolution (`Resolution` or JSON ``[x, y, units]``) in dots per inch."""
    if isinstance(value, Resolution):
        x, y, units = value.x, value.y, int(value.units)
    elif (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        x, y, units = value
    else:
        return None
    if units == ResolutionUnits.DOTS_PER_CENTIMETER:
        x, y = round(x * 2.54), round(y * 2.54)
    elif units != ResolutionUnits.DOTS_PER_INCH:
        return None
    if not (0 < x <= 9600 and 0 < y <= 9600):
        return None
    return x, y


def _choose_resolution(
    choices: Iterable[tuple[int, int]], quality: int | None, wanted: tuple[int, int] | None
) -> tuple[int, int]:
    """Draft: the lowest; high: the highest; normal: 300 dpi or the nearest to
    it. A printer-resolution the job asked for wins when the printer offers it."""
    offered = sorted(set(choices), key=lambda r: (r[0] * r[1], r))
    if not offered:
        return wanted if wanted is not None else (NORMAL_DPI, NORMAL_DPI)
    if wanted is not None and wanted in offered:
        return wanted
    if quality == DRAFT:
        return offered[0]
    if quality == HIGH:
        return offered[-1]
    return min(offered, key=lambda r: (abs(r[0] - NORMAL_DPI), -r[0], abs(r[1] - NORMAL_DPI)))


def _pwg_type(color_mode: str, known: _Printer) -> tuple[str, bool]:
    """The PWG raster type for print-color-mode, and whether it is in color."""
    offered = known.keywords("pwg-raster-document-type-supported")
    if not known.present:
        # Nothing known of the printer: gray prints on every printer; color
        # only when the job asks for it by name.
        wants_color = color_mode == "color"
    elif color_mode == "auto":
        modes = known.keywords("print-color-mode-supported")
        wants_color = "color" in modes or any(t in offered for t in PWG_COLOR_TYPES) or not modes
    else:
        wants_color = color_mode not in MONOCHROME_MODES
    if color_mode in ("bi-level", "process-bi-level"):
        order: tuple[str, ...] = PWG_BILEVEL_TYPES
    elif wants_color:
        order = PWG_COLOR_TYPES + PWG_GRAY_TYPES
    else:
        order = PWG_GRAY_TYPES
    if not offered:
        return (order[0], order[0] in PWG_COLOR_TYPES)
    for kind in order:
        if kind in offered:
            return kind, kind in PWG_COLOR_TYPES
    return (offered[0], offered[0] in PWG_COLOR_TYPES)


def _urf_type(color_mode: str, known: _Printer, color: bool) -> str:
    offered = [k for k in known.keywords("urf-supported") if k in URF_COLOR_TYPES + URF_GRAY_TYPES]
    order = URF_COLOR_TYPES + URF_GRAY_TYPES if color else URF_GRAY_TYPES + URF_COLOR_TYPES
    if not offered:
        return order[0]
    return next(kind for kind in order if kind in offered)


def _sides(value: Any, known: _Printer) -> str:
    sides = value if isinstance(value, str) and value in SIDES else "one-sided"
    offered = known.keywords("sides-supported")
    if known.present and offered and sides not in offered:
        return "one-sided"
    return sides


def _sheet_back(value: Any) -> str:
    return value if isinstance(value, str) and value in SHEET_BACK else "normal"


def _page_ranges(value: Any) -> tuple[tuple[int, int], ...]:
    """page-ranges as sorted, merged (first, last) pairs; nonsense gives ()."""
    if not isinstance(value, list) or not value:
        return ()
    items = [value] if all(isinstance(v, int) for v in value) else value
    ranges: list[tuple[int, int]] = []
    for item in items:
        low_high = _range(item)
        if low_high is None or low_high[0] < 1 or low_high[0] > low_high[1]:
            return ()
        ranges.append(low_high)
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _media(asked: Mapping[str, Any], known: _Printer, default_media: str) -> str:
    """The PWG media name to render for: the job's media or media-col size,
    else the printer's media-default, else the configured default."""
    media_col = asked.get("media-col")
    if isinstance(media_col, Collection):
        media_col = {a.name: a.value for a in media_col}
    if isinstance(media_col, Mapping):
        size = media_col.get("media-size")
        if isinstance(size, Collection):
            size = {a.name: a.value for a in size}
        if isinstance(size, Mapping):
            x, y = _integer(size.get("x-dimension")), _integer(size.get("y-dimension"))
            if x is not None and y is not None and x > 0 and y > 0:
                try:
                    return media_name_for(x, y)
                except ValueError:
                    pass
        name = _valid_media(media_col.get("media-size-name"))
        if name is not None:
            return name
    for candidate in (asked.get("media"), known.first("media-default"), default_media):
        name = _valid_media(candidate)
        if name is not None:
            return name
    return "iso_a4_210x297mm"


def _valid_media(value: Any) -> str | None:
    """A media name the gateway can size, in its PWG form, or None."""
    if not isinstance(value, str) or not _MEDIA_NAME.match(value.strip().lower()):
        return None
    try:
        x, y = media_size_hmm(value)
    except ValueError:
        return None
    name = value.strip().lower()
    return name if "_" in name and name.count("_") >= 2 else media_name_for(x, y)
