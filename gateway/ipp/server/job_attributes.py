"""Job attributes: what the IPP front-end stores in the spool and how it serves them.

Why: the spool keeps a job's attributes as plain JSON keyed by IPP name
(gateway/core/job.py), which loses the value tag. `JOB_SYNTAX` is the one
table of the syntax of every job attribute the front-end stores or serves,
so a stored ``"media": "iso_a4_210x297mm"`` goes back on the wire as a
keyword and ``"job-name"`` as a name. Attributes that are not in the table
are never stored from a request (they go to the unsupported-attributes
group instead).

JSON forms: integer/enum -> int, boolean -> bool, string syntaxes -> str,
rangeOfInteger -> ``[lower, upper]``, resolution -> ``[x, y, units]``,
collection -> an object of member name -> JSON value, 1setOf -> a list.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.core.job import Job
from gateway.ipp.attributes import Attribute, Collection, Group, Value
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import (
    NameWithLanguage,
    OutOfBand,
    RangeOfInteger,
    Resolution,
    TextWithLanguage,
)

#: Job Template attributes (RFC 8011 section 5.2, PWG 5100.x) a client may send in the
#: job group, with their syntax. They are stored as given and echoed by Get-Job-Attributes.
JOB_TEMPLATE_SYNTAX: dict[str, int] = {
    "copies": ValueTag.INTEGER,
    "finishings": ValueTag.ENUM,
    "job-hold-until": ValueTag.KEYWORD,
    "job-priority": ValueTag.INTEGER,
    "job-sheets": ValueTag.KEYWORD,
    "media": ValueTag.KEYWORD,
    "media-col": ValueTag.BEG_COLLECTION,
    "multiple-document-handling": ValueTag.KEYWORD,
    "number-up": ValueTag.INTEGER,
    "orientation-requested": ValueTag.ENUM,
    "output-bin": ValueTag.KEYWORD,
    "overrides": ValueTag.BEG_COLLECTION,
    "page-ranges": ValueTag.RANGE_OF_INTEGER,
    "print-color-mode": ValueTag.KEYWORD,
    "print-content-optimize": ValueTag.KEYWORD,
    "print-quality": ValueTag.ENUM,
    "print-rendering-intent": ValueTag.KEYWORD,
    "print-scaling": ValueTag.KEYWORD,
    "printer-resolution": ValueTag.RESOLUTION,
    "sides": ValueTag.KEYWORD,
}

#: Operation attributes of a job-creating request that become job attributes.
JOB_OPERATION_SYNTAX: dict[str, int] = {
    "job-name": ValueTag.NAME,
    "requesting-user-name": ValueTag.NAME,
    "job-originating-user-name": ValueTag.NAME,
    "job-originating-host-name": ValueTag.NAME,
    "document-format": ValueTag.MIME_MEDIA_TYPE,
    "document-name": ValueTag.NAME,
    "document-natural-language": ValueTag.NATURAL_LANGUAGE,
    "compression": ValueTag.KEYWORD,
    "job-k-octets": ValueTag.INTEGER,
    "job-impressions": ValueTag.INTEGER,
    "job-media-sheets": ValueTag.INTEGER,
    "attributes-charset": ValueTag.CHARSET,
    "attributes-natural-language": ValueTag.NATURAL_LANGUAGE,
    "job-uuid": ValueTag.URI,
}

#: The syntax of every job attribute stored in the spool or served from it.
JOB_SYNTAX: dict[str, int] = {**JOB_OPERATION_SYNTAX, **JOB_TEMPLATE_SYNTAX}

#: Member syntax of the collections above (media-col, overrides); anything else is
#: typed by its JSON type (int -> integer, str -> keyword, object -> collection).
MEMBER_SYNTAX: dict[str, int] = {
    "media-size": ValueTag.BEG_COLLECTION,
    "x-dimension": ValueTag.INTEGER,
    "y-dimension": ValueTag.INTEGER,
    "media-bottom-margin": ValueTag.INTEGER,
    "media-left-margin": ValueTag.INTEGER,
    "media-right-margin": ValueTag.INTEGER,
    "media-top-margin": ValueTag.INTEGER,
    "media-type": ValueTag.KEYWORD,
    "media-source": ValueTag.KEYWORD,
    "media-color": ValueTag.KEYWORD,
    "media-key": ValueTag.KEYWORD,
    "media-size-name": ValueTag.KEYWORD,
    "media-weight-metric": ValueTag.INTEGER,
    "document-numbers": ValueTag.RANGE_OF_INTEGER,
    "pages": ValueTag.RANGE_OF_INTEGER,
    "document-copies": ValueTag.RANGE_OF_INTEGER,
    **JOB_TEMPLATE_SYNTAX,
}

#: Job Description attributes served (RFC 8011 section 5.3, PWG 5100.13).
JOB_DESCRIPTION = (
    "attributes-charset",
    "attributes-natural-language",
    "date-time-at-completed",
    "date-time-at-creation",
    "date-time-at-processing",
    "document-format",
    "document-name",
    "job-id",
    "job-uri",
    "job-uuid",
    "job-printer-uri",
    "job-name",
    "job-originating-user-name",
    "job-originating-host-name",
    "job-state",
    "job-state-reasons",
    "job-state-message",
    "job-k-octets",
    "job-impressions-completed",
    "job-impressions",
    "job-media-sheets",
    "job-printer-up-time",
    "number-of-documents",
    "number-of-intervening-jobs",
    "time-at-creation",
    "time-at-processing",
    "time-at-completed",
)

JOB_GROUPS: dict[str, tuple[str, ...]] = {
    "job-template": tuple(JOB_TEMPLATE_SYNTAX),
    "job-description": JOB_DESCRIPTION,
}


def expand_requested(requested: Iterable[str], default: Iterable[str]) -> set[str] | None:
    """The job attribute names asked for; None means every one (``all``)."""
    names = list(requested) or list(default)
    if "all" in names:
        return None
    wanted: set[str] = set()
    for name in names:
        wanted.update(JOB_GROUPS.get(name, (name,)))
    return wanted


# --------------------------------------------------------------------------
# IPP <-> JSON


def value_to_json(value: Value) -> Any:
    """One IPP value as JSON (see the module doc); out-of-band values give None."""
    v = value.value
    if isinstance(v, Collection):
        return {a.name: attribute_to_json(a) for a in v}
    if isinstance(v, RangeOfInteger):
        return [v.lower, v.upper]
    if isinstance(v, Resolution):
        return [v.x, v.y, int(v.units)]
    if isinstance(v, TextWithLanguage | NameWithLanguage):
        return v.text
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, OutOfBand | bytes):
        return None
    return v


def attribute_to_json(attribute: Attribute) -> Any:
    """An attribute's values as JSON: a single value, or a list for 1setOf."""
    values = [value_to_json(v) for v in attribute.values]
    return values[0] if len(values) == 1 else values


def json_to_values(tag: int, data: Any) -> list[Value]:
    """JSON back to IPP values of syntax `tag` (a list is 1setOf)."""
    items = data if isinstance(data, list) and not _is_scalar_list(tag, data) else [data]
    return [_json_value(tag, item) for item in items]


def _is_scalar_list(tag: int, data: list[Any]) -> bool:
    """A flat list of ints is one range/resolution value, not 1setOf."""
    return tag in (ValueTag.RANGE_OF_INTEGER, ValueTag.RESOLUTION) and all(
        isinstance(x, int) for x in data
    )


def _json_value(tag: int, item: Any) -> Value:
    if tag == ValueTag.BEG_COLLECTION:
        return Value(tag, json_to_collection(item if isinstance(item, Mapping) else {}))
    if tag == ValueTag.RANGE_OF_INTEGER:
        return Value(tag, RangeOfInteger(int(item[0]), int(item[1])))
    if tag == ValueTag.RESOLUTION:
        return Value(tag, Resolution(int(item[0]), int(item[1]), int(item[2])))
    if tag in (ValueTag.INTEGER, ValueTag.ENUM):
        return Value(tag, int(item))
    if tag == ValueTag.BOOLEAN:
        return Value(tag, bool(item))
    return Value(tag, str(item))


def _guess_tag(data: Any) -> int:
    sample = data[0] if isinstance(data, list) and data else data
    if isinstance(sample, bool):
        return ValueTag.BOOLEAN
    if isinstance(sample, int):
        return ValueTag.INTEGER
    if isinstance(sample, Mapping):
        return ValueTag.BEG_COLLECTION
    return ValueTag.KEYWORD


def json_to_collection(data: Mapping[str, Any]) -> Collection:
    """A JSON object as a collection, members typed by `MEMBER_SYNTAX`."""
    collection = Collection()
    for name, member in data.items():
        tag = MEMBER_SYNTAX.get(name, _guess_tag(member))
        collection.append(Attribute(name, json_to_values(tag, member)))
    return collection


def stored_attribute(name: str, data: Any) -> Attribute | None:
    """A stored job attribute as an IPP attribute, or None if it has no known syntax."""
    tag = JOB_SYNTAX.get(name)
    if tag is None or data is None or data == []:
        return None
    return Attribute(name, json_to_values(tag, data))


# --------------------------------------------------------------------------
# Rendering a job


def date_time(seconds: float) -> datetime.datetime:
    """A Unix time as an IPP dateTime: whole seconds, UTC."""
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)


def _date(seconds: float | None) -> Value:
    if seconds is None:
        return Value.out_of_band(OutOfBand.NO_VALUE)
    return Value(ValueTag.DATE_TIME, date_time(seconds))


def counted_pages(job: Job) -> tuple[int, int] | None:
    """job-impressions and job-media-sheets from the pages the conversion counted
    (None until every document is counted). RFC 8011 5.3.17: impressions leave
    copies out, media sheets count them, and a two-sided sheet holds two pages."""
    pages = job.pages
    if pages is None:
        return None
    copies = job.attributes.get("copies", 1)
    copies = copies if isinstance(copies, int) and copies > 0 else 1
    two_sided = str(job.attributes.get("sides", "one-sided")).startswith("two-sided")
    per_copy = sum(
        ((doc.pages or 0) + 1) // 2 if two_sided else (doc.pages or 0) for doc in job.documents
    )
    return pages, per_copy * copies


def _time(seconds: float | None) -> Value:
    if seconds is None:
        return Value.out_of_band(OutOfBand.NO_VALUE)
    return Value(ValueTag.INTEGER, int(seconds))


def job_group(
    job: Job,
    *,
    job_uri: str,
    printer_uri: str,
    wanted: set[str] | None,
    intervening: int = 0,
    up_time: int,
) -> Group:
    """The job-attributes group of `job`, limited to `wanted` (None = all)."""
    group = Group(DelimiterTag.JOB_ATTRIBUTES)

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    def put(name: str, *values: Value) -> None:
        if want(name) and values:
            group.append(Attribute(name, list(values)))

    attrs = job.attributes
    put("job-id", Value(ValueTag.INTEGER, job.id))
    put("job-uri", Value(ValueTag.URI, job_uri))
    put("job-printer-uri", Value(ValueTag.URI, printer_uri))
    for name in ("attributes-charset", "attributes-natural-language"):
        if want(name):
            default = "utf-8" if name == "attributes-charset" else "en"
            tag = ValueTag.CHARSET if name == "attributes-charset" else ValueTag.NATURAL_LANGUAGE
            put(name, Value(tag, str(attrs.get(name) or default)))
    put("job-name", Value(ValueTag.NAME, job.name))
    put("job-originating-user-name", Value(ValueTag.NAME, job.user))
    host = attrs.get("job-originating-host-name") or job.origin.host or job.origin.peer
    if host:
        put("job-originating-host-name", Value(ValueTag.NAME, str(host)))
    if "job-uuid" in attrs:
        put("job-uuid", Value(ValueTag.URI, str(attrs["job-uuid"])))
    put("job-state", Value(ValueTag.ENUM, int(job.state)))
    put("job-state-reasons", *[Value(ValueTag.KEYWORD, r) for r in job.state_reasons or ("none",)])
    if job.state_message:
        put("job-state-message", Value(ValueTag.TEXT, job.state_message[:1023]))
    put("job-k-octets", Value(ValueTag.INTEGER, min(job.k_octets, 2**31 - 1)))
    put("job-impressions-completed", Value(ValueTag.INTEGER, job.impressions_completed))
    counted = counted_pages(job)
    if counted is not None:
        impressions, sheets = counted
        put("job-impressions", Value(ValueTag.INTEGER, impressions))
        put("job-media-sheets", Value(ValueTag.INTEGER, sheets))
    put("number-of-documents", Value(ValueTag.INTEGER, len(job.documents)))
    if not job.state.is_terminal:
        put("number-of-intervening-jobs", Value(ValueTag.INTEGER, intervening))
    put("time-at-creation", _time(job.created))
    put("time-at-processing", _time(job.processing))
    put("time-at-completed", _time(job.completed))
    put("date-time-at-creation", _date(job.created))
    put("date-time-at-processing", _date(job.processing))
    put("date-time-at-completed", _date(job.completed))
    put("job-printer-up-time", Value(ValueTag.INTEGER, up_time))
    if job.documents:
        first = job.documents[0]
        put("document-format", Value(ValueTag.MIME_MEDIA_TYPE, first.format))
        if first.name:
            put("document-name", Value(ValueTag.NAME, first.name))
    elif attrs.get("document-format"):
        put("document-format", Value(ValueTag.MIME_MEDIA_TYPE, str(attrs["document-format"])))
    for name in JOB_TEMPLATE_SYNTAX:
        if name in attrs and want(name):
            attribute = stored_attribute(name, attrs[name])
            if attribute is not None:
                group.append(attribute)
    return group
