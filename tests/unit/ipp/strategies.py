"""Hypothesis strategies for every IPP value type, collections and messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from gateway.ipp import (
    Attribute,
    Collection,
    Group,
    Message,
    NameWithLanguage,
    OutOfBand,
    RangeOfInteger,
    Resolution,
    TextWithLanguage,
    Value,
    ValueTag,
)

int32 = st.integers(-(2**31), 2**31 - 1)
names = st.builds(
    str.__add__,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", max_size=24),
)
keywords = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", min_size=1, max_size=24
)
ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
unicode_text = st.text(max_size=40)
languages = st.sampled_from(["en", "fr", "de-CH", "en-US", "zh-Hans", "i-default"])
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
datetimes = st.builds(
    lambda dt, ds, tz: dt.replace(microsecond=ds * 100_000, tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(0, 9),
    offsets,
)
ranges = st.tuples(int32, int32).map(lambda t: RangeOfInteger(min(t), max(t)))
UNKNOWN_TAGS = [0x14, 0x18, 0x1F, 0x20, 0x24, 0x38, 0x40, 0x43, 0x4B, 0x5F, 0x60, 0x7E, 0x80, 0xFF]


def _value(tag: int, strategy: st.SearchStrategy[object]) -> st.SearchStrategy[Value]:
    return strategy.map(lambda v: Value(tag, v))  # type: ignore[arg-type]


scalar_values = st.one_of(
    _value(ValueTag.INTEGER, int32),
    _value(ValueTag.ENUM, int32),
    _value(ValueTag.BOOLEAN, st.booleans()),
    _value(ValueTag.OCTET_STRING, st.binary(max_size=40)),
    _value(ValueTag.DATE_TIME, datetimes),
    _value(ValueTag.RESOLUTION, st.builds(Resolution, int32, int32, st.integers(0, 255))),
    _value(ValueTag.RANGE_OF_INTEGER, ranges),
    _value(ValueTag.TEXT_WITH_LANGUAGE, st.builds(TextWithLanguage, unicode_text, languages)),
    _value(ValueTag.NAME_WITH_LANGUAGE, st.builds(NameWithLanguage, unicode_text, languages)),
    _value(ValueTag.TEXT_WITHOUT_LANGUAGE, unicode_text),
    _value(ValueTag.NAME_WITHOUT_LANGUAGE, unicode_text),
    _value(ValueTag.KEYWORD, keywords),
    _value(ValueTag.URI, ascii_text),
    _value(ValueTag.URI_SCHEME, ascii_text),
    _value(ValueTag.CHARSET, st.sampled_from(["utf-8", "us-ascii"])),
    _value(ValueTag.NATURAL_LANGUAGE, languages),
    _value(ValueTag.MIME_MEDIA_TYPE, ascii_text),
    st.sampled_from(list(OutOfBand)).map(Value.out_of_band),
    st.builds(Value, st.sampled_from(UNKNOWN_TAGS), st.binary(max_size=20)),
    _value(ValueTag.EXTENSION, st.binary(min_size=4, max_size=20)),
)


def _collection(members: list[tuple[str, list[Value]]]) -> Value:
    return Value(ValueTag.BEG_COLLECTION, Collection(Attribute(n, vs) for n, vs in members))


values = st.recursive(
    scalar_values,
    lambda children: st.lists(
        st.tuples(names, st.lists(children, min_size=1, max_size=3)), max_size=4
    ).map(_collection),
    max_leaves=6,
)

attributes = st.builds(Attribute, names, st.lists(values, min_size=1, max_size=3))
group_tags = st.sampled_from([1, 2, 4, 5, 6, 7, 8, 9, 10, 0x0B, 0x0F])
groups = st.builds(Group, group_tags, st.lists(attributes, max_size=4))
messages = st.builds(
    Message,
    version=st.tuples(st.integers(0, 255), st.integers(0, 255)),
    operation_id_or_status=st.integers(0, 0xFFFF),
    request_id=int32,
    groups=st.lists(groups, max_size=3),
)
