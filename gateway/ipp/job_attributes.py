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

from gateway.core.job import Job, JobState

from .attributes import Attribute, Collection, Group, Value
from .tags import DelimiterTag, ValueTag
from .values import NameWithLanguage, OutOfBand, RangeOfInteger, Resolution, TextWithLanguage

T = ValueTag

#: Job Template attributes (RFC 8011 section 5.2, PWG 5100.x) a client may send in the
#: job group, with their syntax. They are stored as given and echoed by Get-Job-Attributes.
JOB_TEMPLATE_SYNTAX: dict[str, int] = {
    "copies": T.INTEGER,
    "finishings": T.ENUM,
    "job-hold-until": T.KEYWORD,
    "job-priority": T.INTEGER,
    "job-sheets": T.KEYWORD,
    "media": T.KEYWORD,
    "media-col": T.BEG_COLLECTION,
    "multiple-document-handling": T.KEYWORD,
    "number-up": T.INTEGER,
    "orientation-requested": T.ENUM,
    "output-bin": T.KEYWORD,
    "overrides": T.BEG_COLLECTION,
    "page-ranges": T.RANGE_OF_INTEGER,
    "print-color-mode": T.KEYWORD,
    "print-content-optimize": T.KEYWORD,
    "print-quality": T.ENUM,
    "print-scaling": T.KEYWORD,
    "printer-resolution": T.RESOLUTION,
    "sides": T.KEYWORD,
}

#: Operation attributes of a job-creating request that become job attributes.
JOB_OPERATION_SYNTAX: dict[str, int] = {
    "job-name": T.NAME,
    "requesting-user-name": T.NAME,
    "job-originating-user-name": T.NAME,
    "job-originating-host-name": T.NAME,
    "document-format": T.MIME_MEDIA_TYPE,
    "document-name": T.NAME,
    "document-natural-language": T.NATURAL_LANGUAGE,
    "compression": T.KEYWORD,
    "job-k-octets": T.INTEGER,
    "job-impressions": T.INTEGER,
    "job-media-sheets": T.INTEGER,
    "attributes-charset": T.CHARSET,
    "attributes-natural-language": T.NATURAL_LANGUAGE,
    "job-uuid": T.URI,
}

#: The syntax of every job attribute stored in the spool or served from it.
JOB_SYNTAX: dict[str, int] = {**JOB_OPERATION_SYNTAX, **JOB_TEMPLATE_SYNTAX}

#: Member syntax of the collections above (media-col, overrides); anything else is
#: typed by its JSON type (int -> integer, str -> keyword, object -> collection).
MEMBER_SYNTAX: dict[str, int] = {
    "media-size": T.BEG_COLLECTION,
    "x-dimension": T.INTEGER,
    "y-dimension": T.INTEGER,
    "media-bottom-margin": T.INTEGER,
    "media-left-margin": T.INTEGER,
    "media-right-margin": T.INTEGER,
    "media-top-margin": T.INTEGER,
    "media-type": T.KEYWORD,
    "media-source": T.KEYWORD,
    "media-color": T.KEYWORD,
    "media-key": T.KEYWORD,
    "media-size-name": T.KEYWORD,
    "media-weight-metric": T.INTEGER,
    "document-numbers": T.RANGE_OF_INTEGER,
    "pages": T.RANGE_OF_INTEGER,
    "document-copies": T.RANGE_OF_INTEGER,
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
    return tag in (T.RANGE_OF_INTEGER, T.RESOLUTION) and all(isinstance(x, int) for x in data)


def _json_value(tag: int, item: Any) -> Value:
    if tag == T.BEG_COLLECTION:
        return Value(tag, json_to_collection(item if isinstance(item, Mapping) else {}))
    if tag == T.RANGE_OF_INTEGER:
        return Value(tag, RangeOfInteger(int(item[0]), int(item[1])))
    if tag == T.RESOLUTION:
        return Value(tag, Resolution(int(item[0]), int(item[1]), int(item[2])))
    if tag in (T.INTEGER, T.ENUM):
        return Value(tag, int(item))
    if tag == T.BOOLEAN:
        return Value(tag, bool(item))
    return Value(tag, str(item))


def _guess_tag(data: Any) -> int:
    sample = data[0] if isinstance(data, list) and data else data
    if isinstance(sample, bool):
        return T.BOOLEAN
    if isinstance(sample, int):
        return T.INTEGER
    if isinstance(sample, Mapping):
        return T.BEG_COLLECTION
    return T.KEYWORD


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


def _date(seconds: float | None) -> Value:
    if seconds is None:
        return Value.out_of_band(OutOfBand.NO_VALUE)
    stamp = datetime.datetime.fromtimestamp(int(seconds), datetime.UTC)
    return Value(T.DATE_TIME, stamp)


def _time(seconds: float | None) -> Value:
    if seconds is None:
        return Value.out_of_band(OutOfBand.NO_VALUE)
    return Value(T.INTEGER, int(seconds))


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
    put("job-id", Value(T.INTEGER, job.id))
    put("job-uri", Value(T.URI, job_uri))
    put("job-printer-uri", Value(T.URI, printer_uri))
    for name in ("attributes-charset", "attributes-natural-language"):
        if want(name):
            default = "utf-8" if name == "attributes-charset" else "en"
            tag = T.CHARSET if name == "attributes-charset" else T.NATURAL_LANGUAGE
            put(name, Value(tag, str(attrs.get(name) or default)))
    put("job-name", Value(T.NAME, job.name))
    put("job-originating-user-name", Value(T.NAME, job.user))
    host = attrs.get("job-originating-host-name") or job.origin.host or job.origin.peer
    if host:
        put("job-originating-host-name", Value(T.NAME, str(host)))
    if "job-uuid" in attrs:
        put("job-uuid", Value(T.URI, str(attrs["job-uuid"])))
    put("job-state", Value(T.ENUM, int(job.state)))
    put("job-state-reasons", *[Value(T.KEYWORD, r) for r in job.state_reasons or ("none",)])
    if job.state_message:
        put("job-state-message", Value(T.TEXT, job.state_message[:1023]))
    put("job-k-octets", Value(T.INTEGER, min(job.k_octets, 2**31 - 1)))
    put("job-impressions-completed", Value(T.INTEGER, job.impressions_completed))
    put("number-of-documents", Value(T.INTEGER, len(job.documents)))
    if not job.state.is_terminal:
        put("number-of-intervening-jobs", Value(T.INTEGER, intervening))
    put("time-at-creation", _time(job.created))
    put("time-at-processing", _time(job.processing))
    put("time-at-completed", _time(job.completed))
    put("date-time-at-creation", _date(job.created))
    put("date-time-at-processing", _date(job.processing))
    put("date-time-at-completed", _date(job.completed))
    put("job-printer-up-time", Value(T.INTEGER, up_time))
    if job.documents:
        first = job.documents[0]
        put("document-format", Value(T.MIME_MEDIA_TYPE, first.format))
        if first.name:
            put("document-name", Value(T.NAME, first.name))
    elif attrs.get("document-format"):
        put("document-format", Value(T.MIME_MEDIA_TYPE, str(attrs["document-format"])))
    for name in JOB_TEMPLATE_SYNTAX:
        if name in attrs and want(name):
            attribute = stored_attribute(name, attrs[name])
            if attribute is not None:
                group.append(attribute)
    return group


def is_not_completed(state: JobState) -> bool:
    """which-jobs=not-completed: pending, pending-held, processing, processing-stopped."""
    return not state.is_terminal
