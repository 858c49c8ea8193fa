"""Delimiter (group) tags and value tags of RFC 8010 section 3.5.

Why: every byte that starts a group or an attribute is one of these; naming
them once lets the parser, the encoder and the server say `ValueTag.KEYWORD`
instead of `0x44`. Tags not listed here still round-trip as plain ints.
"""

from __future__ import annotations

import enum


class DelimiterTag(enum.IntEnum):
    """Begin-attribute-group tags (RFC 8010 section 3.5.1). A byte < 0x10 is a delimiter."""

    OPERATION_ATTRIBUTES = 0x01
    JOB_ATTRIBUTES = 0x02
    END_OF_ATTRIBUTES = 0x03
    PRINTER_ATTRIBUTES = 0x04
    UNSUPPORTED_ATTRIBUTES = 0x05
    SUBSCRIPTION_ATTRIBUTES = 0x06
    EVENT_NOTIFICATION_ATTRIBUTES = 0x07
    RESOURCE_ATTRIBUTES = 0x08
    DOCUMENT_ATTRIBUTES = 0x09
    SYSTEM_ATTRIBUTES = 0x0A


class ValueTag(enum.IntEnum):
    """Value tags (RFC 8010 section 3.5.2).

    ``TEXT`` and ``NAME`` are aliases of the *WITHOUT_LANGUAGE* forms.
    """

    # out-of-band (RFC 8010 section 3.8, RFC 3380)
    UNSUPPORTED = 0x10
    DEFAULT = 0x11
    UNKNOWN = 0x12
    NO_VALUE = 0x13
    NOT_SETTABLE = 0x15
    DELETE_ATTRIBUTE = 0x16
    ADMIN_DEFINE = 0x17
    # integer types
    INTEGER = 0x21
    BOOLEAN = 0x22
    ENUM = 0x23
    # octetString types
    OCTET_STRING = 0x30
    DATE_TIME = 0x31
    RESOLUTION = 0x32
    RANGE_OF_INTEGER = 0x33
    BEG_COLLECTION = 0x34
    TEXT_WITH_LANGUAGE = 0x35
    NAME_WITH_LANGUAGE = 0x36
    END_COLLECTION = 0x37
    # character-string types
    TEXT_WITHOUT_LANGUAGE = 0x41
    NAME_WITHOUT_LANGUAGE = 0x42
    KEYWORD = 0x44
    URI = 0x45
    URI_SCHEME = 0x46
    CHARSET = 0x47
    NATURAL_LANGUAGE = 0x48
    MIME_MEDIA_TYPE = 0x49
    MEMBER_ATTR_NAME = 0x4A
    # extension: the real type is in the first four value octets
    EXTENSION = 0x7F

    TEXT = 0x41
    NAME = 0x42


OUT_OF_BAND_TAGS = frozenset(
    {
        ValueTag.UNSUPPORTED,
        ValueTag.DEFAULT,
        ValueTag.UNKNOWN,
        ValueTag.NO_VALUE,
        ValueTag.NOT_SETTABLE,
        ValueTag.DELETE_ATTRIBUTE,
        ValueTag.ADMIN_DEFINE,
    }
)
"""The out-of-band tags this codec knows; other 0x10-0x1F tags are kept raw."""

UTF8_STRING_TAGS = frozenset({ValueTag.TEXT_WITHOUT_LANGUAGE, ValueTag.NAME_WITHOUT_LANGUAGE})
"""String syntaxes in the attributes-charset (UTF-8 here)."""

ASCII_STRING_TAGS = frozenset(
    {
        ValueTag.KEYWORD,
        ValueTag.URI,
        ValueTag.URI_SCHEME,
        ValueTag.CHARSET,
        ValueTag.NATURAL_LANGUAGE,
        ValueTag.MIME_MEDIA_TYPE,
        ValueTag.MEMBER_ATTR_NAME,
    }
)
"""String syntaxes that are US-ASCII by definition (RFC 8011 section 5.1)."""

STRING_TAGS = UTF8_STRING_TAGS | ASCII_STRING_TAGS


def is_delimiter(tag: int) -> bool:
    """True for a begin-attribute-group or end-of-attributes tag byte (0x00-0x0F)."""
    return 0x00 <= tag <= 0x0F


def tag_name(tag: int) -> str:
    """A readable name for any tag byte, e.g. ``KEYWORD`` or ``0x5f``."""
    try:
        return ValueTag(tag).name
    except ValueError:
        pass
    try:
        return DelimiterTag(tag).name
    except ValueError:
        return f"0x{tag:02x}"
