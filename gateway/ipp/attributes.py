"""Values, attributes, collections and groups: the in-memory IPP model.

Why: one ordered, typed model serves both directions. A `Value` is a Python
value plus its value tag (the tag decides the wire syntax, so ``keyword`` and
``name`` stay distinct); an `Attribute` is a name with one or more values
(1setOf); `Group` and `Collection` are ordered attribute lists sharing the
same builder and lookup methods, so a server writes::

    printer = response.add_group(DelimiterTag.PRINTER_ATTRIBUTES)
    printer.add_name("printer-name", "lp").add_enum("printer-state", 3)
    printer.add_keyword("printer-state-reasons", "none")

Types are checked when a `Value` is built; lengths are checked by the encoder.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Self, TypeAlias

from .errors import IppEncodeError
from .tags import OUT_OF_BAND_TAGS, STRING_TAGS, DelimiterTag, ValueTag
from .values import NameWithLanguage, OutOfBand, RangeOfInteger, Resolution, TextWithLanguage

PyValue: TypeAlias = (
    "int | bool | str | bytes | datetime | Resolution | RangeOfInteger"
    " | TextWithLanguage | NameWithLanguage | Collection | OutOfBand"
)
"""Every Python type a `Value.value` can have."""

_FIXED_TYPES: dict[int, type] = {
    ValueTag.BOOLEAN: bool,
    ValueTag.OCTET_STRING: bytes,
    ValueTag.DATE_TIME: datetime,
    ValueTag.RESOLUTION: Resolution,
    ValueTag.RANGE_OF_INTEGER: RangeOfInteger,
    ValueTag.TEXT_WITH_LANGUAGE: TextWithLanguage,
    ValueTag.NAME_WITH_LANGUAGE: NameWithLanguage,
}


def _as_tag(tag: int) -> int:
    try:
        return ValueTag(tag)
    except ValueError:
        return int(tag)


@dataclass(frozen=True, slots=True)
class Value:
    """One attribute value and its value tag.

    Allowed Python types per tag: integer/enum -> int (not bool; IntEnum members
    are stored as int); boolean -> bool; octetString -> bytes; dateTime ->
    timezone-aware datetime; resolution -> `Resolution`; rangeOfInteger ->
    `RangeOfInteger`; textWithLanguage -> `TextWithLanguage`; nameWithLanguage ->
    `NameWithLanguage`; text, name, keyword, uri, uriScheme, charset,
    naturalLanguage, mimeMediaType -> str; begCollection -> `Collection`;
    out-of-band tags -> the matching `OutOfBand`; any other tag (unknown,
    reserved, 0x7F extension) -> the raw value bytes. endCollection and
    memberAttrName are wire structure, never values. Raises `IppEncodeError`.
    """

    tag: int
    value: PyValue

    def __post_init__(self) -> None:
        tag = _as_tag(self.tag)
        object.__setattr__(self, "tag", tag)
        value: object = self.value
        if not 0x10 <= tag <= 0xFF or tag in (ValueTag.END_COLLECTION, ValueTag.MEMBER_ATTR_NAME):
            raise IppEncodeError(f"tag 0x{tag:02x} cannot carry a value")
        if tag in (ValueTag.INTEGER, ValueTag.ENUM):
            if not isinstance(value, int) or isinstance(value, bool):
                raise IppEncodeError(f"{ValueTag(tag).name} needs an int, got {value!r}")
            if isinstance(value, enum.Enum):
                object.__setattr__(self, "value", int(value))
        elif tag in OUT_OF_BAND_TAGS:
            if not isinstance(value, OutOfBand) or value.value != tag:
                raise IppEncodeError(
                    f"tag {ValueTag(tag).name} needs OutOfBand.{ValueTag(tag).name}"
                )
        elif tag in STRING_TAGS:
            if not isinstance(value, str):
                raise IppEncodeError(f"{ValueTag(tag).name} needs a str, got {value!r}")
        elif tag == ValueTag.BEG_COLLECTION:
            if not isinstance(value, Collection):
                raise IppEncodeError(f"BEG_COLLECTION needs a Collection, got {value!r}")
        elif tag in _FIXED_TYPES:
            expected = _FIXED_TYPES[tag]
            if isinstance(value, bytearray | memoryview) and expected is bytes:
                object.__setattr__(self, "value", bytes(value))
            elif not isinstance(value, expected):
                raise IppEncodeError(
                    f"{ValueTag(tag).name} needs {expected.__name__}, got {value!r}"
                )
            if isinstance(value, datetime) and value.utcoffset() is None:
                raise IppEncodeError("dateTime needs a timezone-aware datetime")
        elif isinstance(value, bytearray | memoryview):
            object.__setattr__(self, "value", bytes(value))
        elif not isinstance(value, bytes):
            raise IppEncodeError(f"tag 0x{tag:02x} is kept raw and needs bytes, got {value!r}")

    @classmethod
    def out_of_band(cls, oob: OutOfBand) -> Value:
        """The out-of-band value `oob` with its own tag."""
        return cls(oob.value, oob)


@dataclass(slots=True)
class Attribute:
    """A named attribute with one or more values (1setOf), in wire order.

    Values of one attribute may have different tags where the syntax allows
    alternatives (``keyword | name``, ``integer | rangeOfInteger``).
    """

    name: str
    values: list[Value] = field(default_factory=list)

    @classmethod
    def of(cls, name: str, tag: int, *values: PyValue | Value) -> Attribute:
        """Build from Python values that share `tag` (a `Value` keeps its own tag).

        With an out-of-band tag and no values, the single value is that
        out-of-band value: ``Attribute.of("media-default", ValueTag.NO_VALUE)``.
        """
        if not values:
            if tag in OUT_OF_BAND_TAGS:
                return cls(name, [Value.out_of_band(OutOfBand(tag))])
            raise IppEncodeError(f"attribute {name!r} needs at least one value")
        return cls(name, [v if isinstance(v, Value) else Value(tag, v) for v in values])

    @property
    def tag(self) -> int:
        """The tag of the first value."""
        return self.values[0].tag

    @property
    def value(self) -> PyValue:
        """The first value's Python value (most attributes have exactly one)."""
        return self.values[0].value

    @property
    def python_values(self) -> list[PyValue]:
        """All values' Python values, in order."""
        return [v.value for v in self.values]


class AttributeList:
    """An ordered list of attributes with builder and lookup helpers.

    Base of `Group` and `Collection`. Builders append (keeping wire order) and
    return ``self`` so calls chain. Lookups find the first attribute of a name.
    """

    __slots__ = ("attributes",)

    def __init__(self, attributes: Iterable[Attribute] = ()) -> None:
        self.attributes: list[Attribute] = list(attributes)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def _key(self) -> tuple[object, ...]:
        return (self.attributes,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.attributes!r})"

    def __iter__(self) -> Iterator[Attribute]:
        return iter(self.attributes)

    def __len__(self) -> int:
        return len(self.attributes)

    def __contains__(self, name: object) -> bool:
        return self.get(name) is not None if isinstance(name, str) else False

    def __getitem__(self, name: str) -> Attribute:
        attribute = self.get(name)
        if attribute is None:
            raise KeyError(name)
        return attribute

    # -- lookup -----------------------------------------------------------

    def get(self, name: str) -> Attribute | None:
        """The first attribute called `name`, or None."""
        for attribute in self.attributes:
            if attribute.name == name:
                return attribute
        return None

    def value(self, name: str, default: PyValue | None = None) -> PyValue | None:
        """The first value of attribute `name`, or `default` if absent."""
        attribute = self.get(name)
        return default if attribute is None else attribute.value

    def values(self, name: str) -> list[PyValue]:
        """All values of attribute `name` (empty list if absent)."""
        attribute = self.get(name)
        return [] if attribute is None else attribute.python_values

    def names(self) -> list[str]:
        """Attribute names in order."""
        return [a.name for a in self.attributes]

    # -- building ---------------------------------------------------------

    def append(self, attribute: Attribute) -> Self:
        """Append a ready-made attribute."""
        self.attributes.append(attribute)
        return self

    def add(self, name: str, tag: int, *values: PyValue | Value) -> Self:
        """Append attribute `name` with `values` of syntax `tag` (see `Attribute.of`)."""
        return self.append(Attribute.of(name, tag, *values))

    def set(self, name: str, tag: int, *values: PyValue | Value) -> Self:
        """Replace the first attribute `name` in place, or append it if absent."""
        new = Attribute.of(name, tag, *values)
        for i, attribute in enumerate(self.attributes):
            if attribute.name == name:
                self.attributes[i] = new
                return self
        return self.append(new)

    def remove(self, name: str) -> bool:
        """Remove every attribute called `name`; True if any was removed."""
        before = len(self.attributes)
        self.attributes = [a for a in self.attributes if a.name != name]
        return len(self.attributes) != before

    # -- one helper per common syntax (RFC 8011 section 5.1) ------------------

    def add_integer(self, name: str, *values: int) -> Self:
        """integer (1setOf)."""
        return self.add(name, ValueTag.INTEGER, *values)

    def add_enum(self, name: str, *values: int) -> Self:
        """enum (1setOf); IntEnum members are fine (``JobState.PENDING``)."""
        return self.add(name, ValueTag.ENUM, *values)

    def add_boolean(self, name: str, *values: bool) -> Self:
        """boolean."""
        return self.add(name, ValueTag.BOOLEAN, *values)

    def add_text(self, name: str, *values: str | TextWithLanguage) -> Self:
        """text: str -> textWithoutLanguage, `TextWithLanguage` -> textWithLanguage."""
        return self.append(Attribute(name, [_text_value(v) for v in values]))

    def add_name(self, name: str, *values: str | NameWithLanguage) -> Self:
        """name: str -> nameWithoutLanguage, `NameWithLanguage` -> nameWithLanguage."""
        return self.append(Attribute(name, [_name_value(v) for v in values]))

    def add_keyword(self, name: str, *values: str) -> Self:
        """keyword (1setOf)."""
        return self.add(name, ValueTag.KEYWORD, *values)

    def add_uri(self, name: str, *values: str) -> Self:
        """uri (1setOf)."""
        return self.add(name, ValueTag.URI, *values)

    def add_uri_scheme(self, name: str, *values: str) -> Self:
        """uriScheme (1setOf)."""
        return self.add(name, ValueTag.URI_SCHEME, *values)

    def add_charset(self, name: str, *values: str) -> Self:
        """charset (1setOf)."""
        return self.add(name, ValueTag.CHARSET, *values)

    def add_natural_language(self, name: str, *values: str) -> Self:
        """naturalLanguage (1setOf)."""
        return self.add(name, ValueTag.NATURAL_LANGUAGE, *values)

    def add_mime_media_type(self, name: str, *values: str) -> Self:
        """mimeMediaType (1setOf)."""
        return self.add(name, ValueTag.MIME_MEDIA_TYPE, *values)

    def add_octet_string(self, name: str, *values: bytes) -> Self:
        """octetString (1setOf)."""
        return self.add(name, ValueTag.OCTET_STRING, *values)

    def add_datetime(self, name: str, *values: datetime) -> Self:
        """dateTime; datetimes must be timezone-aware (deciseconds are kept)."""
        return self.add(name, ValueTag.DATE_TIME, *values)

    def add_resolution(self, name: str, *values: Resolution) -> Self:
        """resolution (1setOf)."""
        return self.add(name, ValueTag.RESOLUTION, *values)

    def add_range(self, name: str, *values: RangeOfInteger | tuple[int, int]) -> Self:
        """rangeOfInteger; a ``(lower, upper)`` tuple is accepted."""
        ranges = [v if isinstance(v, RangeOfInteger) else RangeOfInteger(*v) for v in values]
        return self.add(name, ValueTag.RANGE_OF_INTEGER, *ranges)

    def add_collection(self, name: str, *values: Collection) -> Self:
        """collection (1setOf collection)."""
        return self.add(name, ValueTag.BEG_COLLECTION, *values)

    def add_out_of_band(self, name: str, oob: OutOfBand) -> Self:
        """An out-of-band value, e.g. ``add_out_of_band("media-default", OutOfBand.NO_VALUE)``."""
        return self.append(Attribute(name, [Value.out_of_band(oob)]))


def _text_value(v: str | TextWithLanguage) -> Value:
    tag = ValueTag.TEXT_WITH_LANGUAGE if isinstance(v, TextWithLanguage) else ValueTag.TEXT
    return Value(tag, v)


def _name_value(v: str | NameWithLanguage) -> Value:
    tag = ValueTag.NAME_WITH_LANGUAGE if isinstance(v, NameWithLanguage) else ValueTag.NAME
    return Value(tag, v)


class Collection(AttributeList):
    """collection value (RFC 8010 section 3.1.6): ordered member attributes, nestable.

    ``Collection().add_integer("x-dimension", 21000).add_integer("y-dimension", 29700)``
    """

    __slots__ = ()


class Group(AttributeList):
    """An attribute group: a delimiter tag and its ordered attributes."""

    __slots__ = ("tag",)

    def __init__(self, tag: int, attributes: Iterable[Attribute] = ()) -> None:
        super().__init__(attributes)
        try:
            self.tag: int = DelimiterTag(tag)
        except ValueError:
            self.tag = int(tag)

    def _key(self) -> tuple[object, ...]:
        return (self.tag, self.attributes)

    def __repr__(self) -> str:
        return f"Group({self.tag!r}, {self.attributes!r})"
