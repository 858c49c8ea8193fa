"""PWG 5101.1 media size names and the sizes they stand for.

A self-describing name is ``class_name_WIDTHxHEIGHTunit`` (``iso_a4_210x297mm``,
``na_letter_8.5x11in``): the size is in the name, so any such name parses, in the
table or not. IPP carries sizes in hundredths of millimetres (media-col's
``media-size`` x-dimension / y-dimension); PDF works in points (1/72 in). Both
are derived here from one table kept in hundredths of millimetres, so that a
name read from a job and a size read from a printer agree to the unit.

Sizes are portrait (width <= height), as PWG 5101.1 lists them. The short
legacy names that clients still send (``a4``, ``iso-a4``, ``na-letter``,
``letter``: RFC 2911 keywords, cups-lpd and SVR4 forms) are accepted as
aliases of their table entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

__all__ = [
    "MEDIA",
    "POINTS_PER_INCH",
    "hmm_to_points",
    "media_name_for",
    "media_size_hmm",
    "media_size_points",
    "points_to_hmm",
]

POINTS_PER_INCH: Final = 72.0
_HMM_PER_INCH: Final = 2540
_HMM_PER_MM: Final = 100

#: Common media (PWG 5101.1 section 5), self-describing name -> (width, height)
#: in hundredths of millimetres.
MEDIA: Final[Mapping[str, tuple[int, int]]] = {
    "iso_a0_841x1189mm": (84100, 118900),
    "iso_a1_594x841mm": (59400, 84100),
    "iso_a2_420x594mm": (42000, 59400),
    "iso_a3_297x420mm": (29700, 42000),
    "iso_a4_210x297mm": (21000, 29700),
    "iso_a5_148x210mm": (14800, 21000),
    "iso_a6_105x148mm": (10500, 14800),
    "iso_a7_74x105mm": (7400, 10500),
    "iso_b4_250x353mm": (25000, 35300),
    "iso_b5_176x250mm": (17600, 25000),
    "iso_c4_229x324mm": (22900, 32400),
    "iso_c5_162x229mm": (16200, 22900),
    "iso_c6_114x162mm": (11400, 16200),
    "iso_dl_110x220mm": (11000, 22000),
    "jis_b4_257x364mm": (25700, 36400),
    "jis_b5_182x257mm": (18200, 25700),
    "jpn_hagaki_100x148mm": (10000, 14800),
    "jpn_oufuku_148x200mm": (14800, 20000),
    "na_letter_8.5x11in": (21590, 27940),
    "na_legal_8.5x14in": (21590, 35560),
    "na_ledger_11x17in": (27940, 43180),
    "na_executive_7.25x10.5in": (18415, 26670),
    "na_invoice_5.5x8.5in": (13970, 21590),
    "na_govt-letter_8x10in": (20320, 25400),
    "na_foolscap_8.5x13in": (21590, 33020),
    "na_index-3x5_3x5in": (7620, 12700),
    "na_index-4x6_4x6in": (10160, 15240),
    "na_5x7_5x7in": (12700, 17780),
    "na_index-5x8_5x8in": (12700, 20320),
    "na_number-10_4.125x9.5in": (10477, 24130),
    "na_monarch_3.875x7.5in": (9842, 19050),
    "na_a2_4.375x5.75in": (11112, 14605),
    "na_super-b_13x19in": (33020, 48260),
    "om_small-photo_100x150mm": (10000, 15000),
    "om_folio_210x330mm": (21000, 33000),
    "oe_photo-l_3.5x5in": (8890, 12700),
    "roc_16k_7.75x10.75in": (19685, 27305),
}

#: Names clients send that are not self-describing: the table entry's
#: ``class_name`` part (``iso_a4``), RFC 2911 keywords and common short forms.
_ALIASES: Final[Mapping[str, str]] = {
    **{name.rsplit("_", 1)[0]: name for name in MEDIA},
    **{name.rsplit("_", 1)[0].replace("_", "-"): name for name in MEDIA},
    "a3": "iso_a3_297x420mm",
    "a4": "iso_a4_210x297mm",
    "a5": "iso_a5_148x210mm",
    "a6": "iso_a6_105x148mm",
    "dl": "iso_dl_110x220mm",
    "env-dl": "iso_dl_110x220mm",
    "letter": "na_letter_8.5x11in",
    "legal": "na_legal_8.5x14in",
    "ledger": "na_ledger_11x17in",
    "tabloid": "na_ledger_11x17in",
    "executive": "na_executive_7.25x10.5in",
    "statement": "na_invoice_5.5x8.5in",
    "4x6": "na_index-4x6_4x6in",
    "index-4x6": "na_index-4x6_4x6in",
    "photo-4x6": "na_index-4x6_4x6in",
    "5x7": "na_5x7_5x7in",
    "env10": "na_number-10_4.125x9.5in",
    "com10": "na_number-10_4.125x9.5in",
    "na-10x15": "om_small-photo_100x150mm",
    "10x15cm": "om_small-photo_100x150mm",
    "hagaki": "jpn_hagaki_100x148mm",
}

#: The size part of a self-describing name: ``210x297mm``, ``8.5x11in``.
_SIZE: Final = re.compile(r"^(\d+(?:\.\d+)?)x(\d+(?:\.\d+)?)(mm|in)$")
_PART: Final = re.compile(r"^[a-z0-9][a-z0-9.-]*$")

#: Larger than any sheet or roll length a printer reports (100 m).
_MAX_HMM: Final = 10_000_000

#: How close (hundredths of mm) a size must be to a table entry to take its
#: name: half a millimetre covers points rounded to whole numbers (A4 as
#: 595 x 842 pt) and inches converted to millimetres with one decimal.
_MATCH_HMM: Final = 50


def media_size_hmm(name: str) -> tuple[int, int]:
    """(width, height) in hundredths of millimetres, as media-col's media-size.

    Raises ValueError for a name that is neither self-describing nor known.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in MEDIA:
        return MEDIA[key]
    parts = key.split("_")
    if len(parts) < 3 or not all(_PART.match(part) for part in parts[:-1]):
        raise ValueError(f"{name!r} is not a PWG media name (like iso_a4_210x297mm)")
    size = _SIZE.match(parts[-1])
    if size is None:
        raise ValueError(f"{name!r} has no size part like 210x297mm or 8.5x11in")
    # Inches are truncated to whole hundredths of a millimetre, as CUPS does
    # (pwg-media.c), so that 4.125 in is 10477 as printers report it.
    scale = _HMM_PER_MM if size.group(3) == "mm" else _HMM_PER_INCH
    width = int(round(float(size.group(1)) * scale, 6))
    height = int(round(float(size.group(2)) * scale, 6))
    if not (0 < width <= _MAX_HMM and 0 < height <= _MAX_HMM):
        raise ValueError(f"{name!r} is not a size a printer can have")
    return width, height


def media_size_points(name: str) -> tuple[float, float]:
    """(width, height) in PDF points (1/72 in)."""
    width, height = media_size_hmm(name)
    return hmm_to_points(width), hmm_to_points(height)


def hmm_to_points(hmm: float) -> float:
    """Hundredths of millimetres -> points."""
    return hmm * POINTS_PER_INCH / _HMM_PER_INCH


def points_to_hmm(points: float) -> int:
    """Points -> hundredths of millimetres, rounded."""
    return round(points * _HMM_PER_INCH / POINTS_PER_INCH)


def media_name_for(x_hmm: int, y_hmm: int) -> str:
    """The PWG name of a size: the table entry within half a millimetre (either
    orientation), else a self-describing ``custom_`` name in inches when both
    sides are whole multiples of 1/40 in, else in millimetres (as CUPS names
    sizes it does not know)."""
    if x_hmm <= 0 or y_hmm <= 0:
        raise ValueError(f"{x_hmm}x{y_hmm} is not a media size")
    short, long = sorted((x_hmm, y_hmm))
    best: tuple[int, str] | None = None
    for name, (width, height) in MEDIA.items():
        distance = max(abs(width - short), abs(height - long))
        if distance <= _MATCH_HMM and (best is None or distance < best[0]):
            best = (distance, name)
    if best is not None:
        return best[1]
    if x_hmm % 635 == 0 and y_hmm % 635 == 0:
        size = f"{_number(x_hmm / _HMM_PER_INCH)}x{_number(y_hmm / _HMM_PER_INCH)}in"
    else:
        size = f"{_number(x_hmm / _HMM_PER_MM)}x{_number(y_hmm / _HMM_PER_MM)}mm"
    return f"custom_{size}_{size}"


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")
