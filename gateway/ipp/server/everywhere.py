"""What a queue offers IPP Everywhere and AirPrint clients, whatever its backend.

Why: a phone or a desktop adds a printer by reading its Get-Printer-Attributes
answer (CUPS's ``lpadmin -m everywhere`` builds a PPD from it; iOS and
Android read the DNS-SD TXT record first) and then sends what it was told the
printer takes. The gateway converts documents (gateway/convert/), so a queue
takes more than its printer does. A `Profile` says what one queue offers:
every format its printer takes plus every format the gateway converts to one
of them (`gateway.convert.chains.acceptable`), its media, colour, two-sided
printing, raster resolutions and types. It is made from, in this order:

1. what an IPP printer reports of itself (``Capabilities.printer_attributes``,
   probed by the IPP backend);
2. the queue's configuration (``media``, ``media_default``, ``color``,
   ``duplex``);
3. defaults by kind of backend: a folder (``file://``) keeps what it is sent
   as it is, so it takes colour and two-sided jobs on any of the usual media;
   an LPD printer is taken for a monochrome, one-sided office printer with
   quarter-inch margins until its queue says otherwise; an IPP printer that
   does not report a job template attribute is offered its single default,
   since the printer, not the gateway, applies it.

`add_everywhere` renders a profile as the printer attributes PWG 5100.14
(IPP Everywhere) and AirPrint read: media (media-col-database/-ready/-default,
media-source, media-type, margins), colour modes, sides, print-quality,
resolutions, pwg-raster-document-*, urf-supported, number-up, orientation,
print-scaling, print-rendering-intent, printer-kind, printer-input-tray,
printer-output-tray and printer-supply. The DNS-SD TXT keys (Color, Duplex,
URF, PaperMax, kind, pdl) come from the same profile (`paper_max`), so the
record and the attributes never disagree.

Everything here is pure and cheap: a profile is a small frozen value, made
once per backend capabilities, and is the key under which
`printer_attributes` shares one encoded attribute set between every queue
that has the same one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gateway.backends.base import Capabilities
from gateway.config import QueueConfig
from gateway.convert.chains import acceptable
from gateway.convert.formats import (
    KNOWN,
    OCTET_STREAM,
    PDF,
    POSTSCRIPT,
    PWG_RASTER,
    URF,
    base,
)
from gateway.convert.media import media_size_hmm
from gateway.ipp.attributes import Attribute, Collection, Group
from gateway.ipp.values import OutOfBand, Resolution

__all__ = [
    "DEFAULT_MEDIA",
    "FILE",
    "IPP",
    "LPD",
    "PROFILE_NAMES",
    "Profile",
    "add_everywhere",
    "backend_kind",
    "paper_max",
    "profile_of",
]

#: Kinds of backend, by URI scheme (`backend_kind`).
FILE: Final = "file"
LPD: Final = "lpd"
IPP: Final = "ipp"

#: Media a queue offers when its configuration names none: the usual IPP
#: Everywhere set (PWG 5101.1 names), A4 and Letter first.
DEFAULT_MEDIA: Final = (
    "iso_a4_210x297mm",
    "na_letter_8.5x11in",
    "na_legal_8.5x14in",
    "iso_a5_148x210mm",
    "na_index-4x6_4x6in",
)

#: Margins (hundredths of mm, every side) of an LPD printer: a quarter inch, what
#: office laser printers leave unprinted and CUPS assumes of a generic printer. A
#: folder has none: the document is kept as it was sent.
LPD_MARGIN: Final = 635

#: Raster resolutions (dpi) the gateway takes and converts.
RESOLUTIONS: Final = (300, 600)

#: Job template values the gateway's conversion applies (LPD printers) or a
#: folder keeps in its sidecar for whoever reads it (file backend).
NUMBER_UP: Final = (1, 2, 4, 6, 9, 16)
ORIENTATIONS: Final = (3, 4, 5, 6)  # portrait, landscape, reverse-landscape, reverse-portrait
QUALITIES: Final = (3, 4, 5)  # draft, normal, high
SCALING: Final = ("auto", "auto-fit", "fill", "fit", "none")
SIDES_TWO: Final = ("one-sided", "two-sided-long-edge", "two-sided-short-edge")

#: media-source and media-type of a printer that reports none (PWG 5100.7).
SOURCES: Final = ("auto", "main")
TYPES: Final = ("stationery",)

#: Attributes the profile decides for every backend, which a printer's own
#: report does not replace: the formats (the gateway converts), and the raster
#: attributes that describe what the gateway takes when the printer does not
#: take that raster itself (the profile already holds the printer's when it does).
PROFILE_NAMES: Final = frozenset(
    {
        "document-format-supported",
        "document-format-preferred",
        "pwg-raster-document-resolution-supported",
        "pwg-raster-document-sheet-back",
        "pwg-raster-document-type-supported",
        "urf-supported",
        "printer-kind",
    }
)

#: Names whose media make a printer an envelope or a photo printer (printer-kind, TXT kind).
_ENVELOPES: Final = ("na_number-", "na_monarch_", "iso_dl_", "iso_c", "na_a2_", "na_10x13_")
_PHOTOS: Final = ("na_index-4x6_", "na_5x7_", "om_small-photo_", "oe_photo-l_", "jpn_hagaki_")

#: PaperMax (Bonjour Printing 1.2.1) by the widest media width, in hundredths of mm.
_PAPER_MAX: Final = ((21000, "<legal-A4"), (29700, "legal-A4"), (42000, "tabloid-A3"))


def backend_kind(uri: str) -> str:
    """`FILE`, `LPD` or `IPP` for a backend URI (ipps:// is `IPP`)."""
    scheme = uri.split(":", 1)[0].lower()
    if scheme in ("ipp", "ipps"):
        return IPP
    return LPD if scheme == "lpd" else FILE


@dataclass(frozen=True, slots=True)
class Profile:
    """What one queue offers clients (see the module doc); hashable, so that
    queues with the same profile share their encoded attributes."""

    kind: str
    formats: tuple[str, ...]  # document-format-supported, application/octet-stream last
    preferred: str  # document-format-preferred
    media: tuple[str, ...]  # media-supported, PWG 5101.1 names
    media_default: str
    media_ready: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]  # media-size-supported (hundredths of mm)
    margin: int  # every side, hundredths of mm
    color: bool
    duplex: bool
    raster_types: tuple[str, ...]  # pwg-raster-document-type-supported
    raster_resolutions: tuple[int, ...]  # dpi
    urf: tuple[str, ...]  # urf-supported; () when image/urf is not taken
    kinds: tuple[str, ...]  # printer-kind
    #: Job template the gateway's conversion applies (LPD) or a folder keeps; for
    #: an IPP printer, its own values, else its single default.
    number_up: tuple[int, ...] = NUMBER_UP
    orientations: tuple[int, ...] = ORIENTATIONS
    page_ranges: bool = True
    scaling: tuple[str, ...] = SCALING

    @property
    def pdl(self) -> tuple[str, ...]:
        """The formats for DNS-SD's ``pdl``: document-format-supported without
        application/octet-stream (a client cannot choose "anything")."""
        return tuple(f for f in self.formats if f != OCTET_STREAM)


def profile_of(
    config: QueueConfig, caps: Capabilities, *, kind: str, default_media: str
) -> Profile:
    """The profile of a queue with `config` whose backend reports `caps`;
    `default_media` is ``[convert] default_media`` (the media of a queue that
    names no default)."""
    reported = caps.printer_attributes
    native = tuple(base(f) for f in caps.document_formats) if caps.document_formats else None
    formats = _offered(native)

    media = _keywords(reported, "media-supported") or config.media or DEFAULT_MEDIA
    media = tuple(dict.fromkeys(media))
    wanted_default = (
        _first(reported, "media-default")
        or config.media_default
        or (default_media if default_media in media else media[0])
    )
    media_default = wanted_default if wanted_default in media else media[0]
    ready = _keywords(reported, "media-ready") or (media_default,)
    sizes = _reported_sizes(reported) or tuple(_size(m) for m in media if _size(m) != (0, 0))

    color = _reported_color(reported)
    if color is None:
        color = config.color if config.color is not None else kind == FILE
    duplex = _reported_duplex(reported)
    if duplex is None:
        duplex = config.duplex if config.duplex is not None else kind == FILE

    takes_raster = native is not None and PWG_RASTER in native
    raster_types = _keywords(reported, "pwg-raster-document-type-supported") if takes_raster else ()
    raster_resolutions = (
        _reported_dpi(reported, "pwg-raster-document-resolution-supported") if takes_raster else ()
    )
    takes_urf = native is not None and URF in native
    urf = _keywords(reported, "urf-supported") if takes_urf else ()

    kwargs: dict[str, Any] = {}
    if kind == IPP:
        kwargs = {
            "number_up": _integers(reported, "number-up-supported") or (1,),
            "orientations": _integers(reported, "orientation-requested-supported") or (3,),
            "page_ranges": bool(_first(reported, "page-ranges-supported")),
            "scaling": _keywords(reported, "print-scaling-supported") or ("auto",),
        }
    return Profile(
        kind=kind,
        formats=formats,
        preferred=_preferred(reported, native),
        media=media,
        media_default=media_default,
        media_ready=ready,
        sizes=sizes,
        margin=0 if kind == FILE else LPD_MARGIN,
        color=color,
        duplex=duplex,
        raster_types=raster_types or (("sgray_8", "srgb_8") if color else ("sgray_8",)),
        raster_resolutions=raster_resolutions or RESOLUTIONS,
        urf=(urf or _urf(color, duplex)) if URF in formats else (),
        kinds=_kinds(media),
        **kwargs,
    )


@functools.lru_cache(maxsize=256)
def _offered(native: tuple[str, ...] | None) -> tuple[str, ...]:
    """document-format-supported for a printer that takes `native` (None: a
    folder, which keeps any format): the same for every queue of a fleet, so
    the chain planner runs once per distinct printer."""
    offered = acceptable(native if native is not None else KNOWN)
    return (*(f for f in offered if f != OCTET_STREAM), OCTET_STREAM)


def paper_max(profile: Profile) -> str:
    """DNS-SD ``PaperMax``: the class of the widest media the queue takes."""
    widest = max((min(x, y) for x, y in profile.sizes), default=21000)
    for limit, label in _PAPER_MAX:
        if widest < limit:
            return label
    return "isoC-A2" if widest < 59400 else ">isoC-A2"


# --------------------------------------------------------------------------
# Rendering


def add_everywhere(g: Group, p: Profile) -> None:
    """Append the IPP Everywhere capabilities of profile `p` to `g` (see the
    module doc). A printer's own report is applied over them afterwards, for
    every name but `PROFILE_NAMES`."""
    g.add_mime_media_type("document-format-supported", *p.formats)
    g.add_mime_media_type("document-format-preferred", p.preferred)
    g.add_keyword("printer-kind", *p.kinds)
    _add_media(g, p)
    g.add_boolean("color-supported", p.color)
    if p.color:  # PWG 5100.12: with colour, as pages-per-minute (the gateway's own figure)
        g.add_integer("pages-per-minute-color", 1)
    modes = ("auto", "monochrome", "color") if p.color else ("auto", "monochrome")
    g.add_keyword("print-color-mode-default", "auto" if p.color else "monochrome")
    g.add_keyword("print-color-mode-supported", *modes)
    g.add_keyword("sides-default", "one-sided")
    g.add_keyword("sides-supported", *(SIDES_TWO if p.duplex else SIDES_TWO[:1]))
    g.add_integer("number-up-default", 1)
    g.add_integer("number-up-supported", *p.number_up)
    g.add_enum("orientation-requested-default", 3)
    g.add_enum("orientation-requested-supported", *p.orientations)
    g.add_boolean("page-ranges-supported", p.page_ranges)
    g.add_enum("print-quality-default", 4)
    g.add_enum("print-quality-supported", *QUALITIES)
    g.add_keyword("print-scaling-default", "auto")
    g.add_keyword("print-scaling-supported", *p.scaling)
    g.add_keyword("print-rendering-intent-default", "auto")
    g.add_keyword("print-rendering-intent-supported", "auto")
    g.add_keyword("print-content-optimize-default", "auto")
    g.add_keyword("print-content-optimize-supported", "auto")
    dpi = [Resolution(d, d) for d in RESOLUTIONS]
    g.add_resolution("printer-resolution-default", dpi[-1])
    g.add_resolution("printer-resolution-supported", *dpi)
    if PWG_RASTER in p.formats:
        g.add_resolution(
            "pwg-raster-document-resolution-supported",
            *[Resolution(d, d) for d in p.raster_resolutions],
        )
        g.add_keyword("pwg-raster-document-type-supported", *p.raster_types)
        g.add_keyword("pwg-raster-document-sheet-back", "normal")
    if p.urf:
        g.add_keyword("urf-supported", *p.urf)
    if PDF in p.formats:
        g.add_keyword("pdf-versions-supported", *PDF_VERSIONS)
    g.add_keyword("output-bin-default", "face-down")
    g.add_keyword("output-bin-supported", "face-down")
    g.add_octet_string("printer-output-tray", OUTPUT_TRAY)
    g.add_octet_string("printer-input-tray", *_input_trays(p))
    supply, description = SUPPLY_UNKNOWN[p.kind if p.kind in SUPPLY_UNKNOWN else LPD]
    g.add_octet_string("printer-supply", supply)
    g.add_text("printer-supply-description", description)


#: PDF versions Ghostscript and poppler (the gateway's converters) read.
PDF_VERSIONS: Final = (
    "adobe-1.3",
    "adobe-1.4",
    "adobe-1.5",
    "adobe-1.6",
    "adobe-1.7",
    "iso-32000-1_2008",
)

#: printer-output-tray (PWG 5100.13, RFC 3806 keys): one bin, face down, nothing
#: known of its capacity.
OUTPUT_TRAY: Final = (
    b"type=unRemovableBin;maxcapacity=-2;remaining=-2;status=0;name=face-down;"
    b"stackingorder=firstToLast;pagedelivery=faceDown;"
)

#: printer-supply and printer-supply-description (PWG 5100.13, RFC 3805 keys) of a
#: printer that says nothing of its supplies: one entry of unknown type whose
#: level is unknown (-2), so that clients show "unknown" rather than "empty".
SUPPLY_UNKNOWN: Final[Mapping[str, tuple[bytes, str]]] = {
    LPD: (
        b"index=1;class=other;type=unknown;unit=percent;maxcapacity=-2;level=-2;",
        "Supplies unknown (an LPD printer does not report them)",
    ),
    IPP: (
        b"index=1;class=other;type=unknown;unit=percent;maxcapacity=-2;level=-2;",
        "Supplies unknown (the printer does not report them)",
    ),
    FILE: (
        b"index=1;class=other;type=unknown;unit=percent;maxcapacity=-2;level=-2;",
        "No supplies (documents are kept in a folder)",
    ),
}


def media_col(name: str, margin: int, *, source: str = "", media_type: str = "") -> Collection:
    """A media-col value (PWG 5100.7) for media `name` with `margin` on each side."""
    x, y = _size(name)
    col = Collection()
    col.add_collection(
        "media-size", Collection().add_integer("x-dimension", x).add_integer("y-dimension", y)
    )
    col.add_keyword("media-size-name", name)
    for side in _MARGINS:
        col.add_integer(side, margin)
    if source:
        col.add_keyword("media-source", source)
    if media_type:
        col.add_keyword("media-type", media_type)
    return col


_MARGINS: Final = (
    "media-bottom-margin",
    "media-left-margin",
    "media-right-margin",
    "media-top-margin",
)


def _add_media(g: Group, p: Profile) -> None:
    source, media_type = SOURCES[-1], TYPES[0]
    g.add_keyword("media-default", p.media_default)
    g.add_keyword("media-supported", *p.media)
    g.add_keyword("media-ready", *p.media_ready)
    g.add_collection(
        "media-col-default",
        media_col(p.media_default, p.margin, source=source, media_type=media_type),
    )
    g.add_collection(
        "media-col-ready",
        *[media_col(m, p.margin, source=source, media_type=media_type) for m in p.media_ready],
    )
    g.add_collection("media-col-database", *[media_col(m, p.margin) for m in p.media])
    g.add_keyword(
        "media-col-supported",
        "media-size",
        "media-size-name",
        *_MARGINS,
        "media-source",
        "media-type",
    )
    g.add_collection(
        "media-size-supported",
        *[
            Collection().add_integer("x-dimension", x).add_integer("y-dimension", y)
            for x, y in p.sizes
        ],
    )
    for side in _MARGINS:
        g.add_integer(f"{side}-supported", p.margin)
    g.add_keyword("media-source-supported", *SOURCES)
    g.add_keyword("media-type-supported", *TYPES)


def _input_trays(p: Profile) -> list[bytes]:
    """printer-input-tray (PWG 5100.13): one per media source, capacity and level
    unknown; ``auto`` is the printer's choice, not a tray (PAPPL does the same)."""
    x, y = _size(p.media_default)
    trays = []
    for source in SOURCES:
        kind = "other" if source == "auto" else "sheetFeedAutoRemovableTray"
        feed = f"mediafeed={y};mediaxfeed={x};" if source != "auto" else "mediafeed=0;mediaxfeed=0;"
        trays.append(f"type={kind};{feed}maxcapacity=-2;level=-2;status=0;name={source};".encode())
    return trays


def _urf(color: bool, duplex: bool) -> tuple[str, ...]:
    """urf-supported (Apple raster) of what the gateway takes: version 1.4, copies,
    8-bit grey (and 24-bit sRGB), 300 and 600 dpi, print qualities 3-5 and, with
    two-sided printing, duplex."""
    values = ["V1.4", "CP1", "W8"]
    if color:
        values.append("SRGB24")
    values += ["RS" + "-".join(str(d) for d in RESOLUTIONS), "PQ3-4-5"]
    if duplex:
        values.append("DM1")
    return tuple(values)


def _kinds(media: Iterable[str]) -> tuple[str, ...]:
    kinds = ["document"]
    names = list(media)
    if any(m.startswith(_ENVELOPES) for m in names):
        kinds.append("envelope")
    if any(m.startswith(_PHOTOS) for m in names):
        kinds.append("photo")
    return tuple(kinds)


def _preferred(reported: Mapping[str, Any], native: Sequence[str] | None) -> str:
    """document-format-preferred: the printer's own, else the best page
    description it takes as it is (PDF, PostScript, raster, in that order)."""
    own = _first(reported, "document-format-preferred")
    if own:
        return base(str(own))
    if native is None:
        return PDF
    for fmt in (PDF, POSTSCRIPT, PWG_RASTER, URF):
        if fmt in native:
            return fmt
    return native[0] if native else PDF


def _size(name: str) -> tuple[int, int]:
    try:
        return media_size_hmm(name)
    except ValueError:
        return (0, 0)


# -- reading what a backend reports: an `Attribute` (IPP printers) or JSON


def _values(reported: Mapping[str, Any], name: str) -> list[Any]:
    value = reported.get(name)
    if isinstance(value, Attribute):
        return [v for v in value.python_values if not isinstance(v, OutOfBand)]
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _first(reported: Mapping[str, Any], name: str) -> Any:
    values = _values(reported, name)
    return values[0] if values else None


def _keywords(reported: Mapping[str, Any], name: str) -> tuple[str, ...]:
    return tuple(str(v) for v in _values(reported, name) if isinstance(v, str) and v)


def _integers(reported: Mapping[str, Any], name: str) -> tuple[int, ...]:
    return tuple(
        v for v in _values(reported, name) if isinstance(v, int) and not isinstance(v, bool)
    )


def _reported_color(reported: Mapping[str, Any]) -> bool | None:
    color = _first(reported, "color-supported")
    if isinstance(color, bool):
        return color
    modes = _keywords(reported, "print-color-mode-supported")
    return "color" in modes if modes else None


def _reported_duplex(reported: Mapping[str, Any]) -> bool | None:
    sides = _keywords(reported, "sides-supported")
    return any(s.startswith("two-sided") for s in sides) if sides else None


def _reported_sizes(reported: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    sizes = []
    for value in _values(reported, "media-size-supported"):
        if isinstance(value, Collection):
            x, y = value.value("x-dimension"), value.value("y-dimension")
        elif isinstance(value, Mapping):
            x, y = value.get("x-dimension"), value.get("y-dimension")
        else:
            continue
        if isinstance(x, int) and isinstance(y, int):  # ranges (custom sizes) are left out
            sizes.append((x, y))
    return tuple(sizes)


def _reported_dpi(reported: Mapping[str, Any], name: str) -> tuple[int, ...]:
    return tuple(
        v.x
        for v in _values(reported, name)
        if isinstance(v, Resolution) and v.x == v.y and v.units == 3
    )
