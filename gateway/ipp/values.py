"""Python types for the IPP value syntaxes that are not plain str/int/bytes.

Why: RFC 8011 section 5.1 defines a few structured syntaxes (resolution,
rangeOfInteger, textWithLanguage, nameWithLanguage) and the out-of-band
"values" of RFC 8010 section 3.8; each gets a small frozen type so that a
value's Python type tells its syntax. Collections live in `attributes`
because they hold attributes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ResolutionUnits(enum.IntEnum):
    """Units byte of a resolution value (RFC 8011 section 5.1.16)."""

    DOTS_PER_INCH = 3
    DOTS_PER_CENTIMETER = 4


@dataclass(frozen=True, slots=True)
class Resolution:
    """resolution: cross-feed (x) and feed (y) resolution and units (3 dpi, 4 dpcm)."""

    x: int
    y: int
    units: int = ResolutionUnits.DOTS_PER_INCH


@dataclass(frozen=True, slots=True)
class RangeOfInteger:
    """rangeOfInteger: ``lower <= upper``, both signed 32-bit."""

    lower: int
    upper: int


@dataclass(frozen=True, slots=True)
class TextWithLanguage:
    """textWithLanguage: a text value with its natural language (e.g. ``fr``)."""

    text: str
    language: str


@dataclass(frozen=True, slots=True)
class NameWithLanguage:
    """nameWithLanguage: a name value with its natural language."""

    text: str
    language: str


class OutOfBand(enum.Enum):
    """Out-of-band values (RFC 8010 section 3.8, RFC 3380); the value is the tag byte.

    They carry no data: ``OutOfBand.NO_VALUE`` is a whole value.
    """

    UNSUPPORTED = 0x10
    DEFAULT = 0x11
    UNKNOWN = 0x12
    NO_VALUE = 0x13
    NOT_SETTABLE = 0x15
    DELETE_ATTRIBUTE = 0x16
    ADMIN_DEFINE = 0x17

    @property
    def keyword(self) -> str:
        """The RFC spelling, e.g. ``no-value``."""
        return self.name.lower().replace("_", "-")
