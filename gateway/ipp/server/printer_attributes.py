"""Printer attributes of one queue: a cached static part and a live part.

Why: Get-Printer-Attributes is the most frequent request (every client polls
it) and most of the answer never changes while the gateway runs: the
capabilities, the operations, the charsets. `PrinterDescription` encodes
those attributes on first use (again only when the backend's capabilities
change) and keeps the bytes of each attribute, so an answer is the cached
bytes of the wanted attributes plus the live ones asked for (state, URIs built
from the Host the client used, counters) encoded per request.

A fleet is cheap: the attributes that name a queue (`QUEUE_NAMES`) are encoded
per queue, everything else once for every queue whose backend reports the
same capabilities (`SharedAttributes`), with the selection each
requested-attributes list makes. A listing of 2,000 queues (CUPS-Get-Printers)
then costs a few dictionary look-ups and the requested live attributes per
queue, and a queue nobody asked about has built nothing.

What is advertised: every REQUIRED attribute of RFC 8011 section 5.4, of
PWG 5100.12 for IPP/2.0, 2.1 and 2.2 (reference/ipp.md sections 3.5, 4.2,
4.3) and of PWG 5100.14 IPP Everywhere (section 4.4), for every backend:
the capabilities come from the queue's `everywhere.Profile` (what its
printer takes plus what the gateway converts to it, its media, colour and
sides, from the printer's own report, the queue's configuration or the
defaults of its kind of backend), and what an IPP printer reports of itself
(``Capabilities.printer_attributes``) is set over them.

Two kinds of attribute depend on the request and are made per answer by the
printer operations (gateway/ipp/server/printer.py): the URIs of the
listener the client used (`uri_attributes`) and the web pages and icons on
it (`web_attributes`: printer-more-info, printer-supply-info-uri,
printer-icons).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import __version__
from gateway.backends.base import Capabilities
from gateway.config import ConvertConfig
from gateway.convert.formats import KNOWN, OCTET_STREAM, base
from gateway.core.admin import PRINTER_SETTABLE
from gateway.core.queues import Queue
from gateway.ipp.attributes import Attribute, Group, Value
from gateway.ipp.encoder import encode_group
from gateway.ipp.operations import Operation
from gateway.ipp.syntax import encode_value
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import OutOfBand, RangeOfInteger, Resolution

from .everywhere import PROFILE_NAMES, Profile, add_everywhere, backend_kind, profile_of
from .icons import ICON_PATHS
from .job_attributes import JOB_TEMPLATE_SYNTAX, date_time, json_to_values

#: The file in the spool folder that keeps the namespace of printer-uuid.
SPOOL_ID_FILE = "ipp-printer-uuid-seed"

#: document-format-supported of a queue that passes documents through as they
#: came (the file backend): every format the gateway tells apart, and
#: application/octet-stream (it sniffs which one a document is).
STATIC_DOCUMENT_FORMATS: tuple[str, ...] = (*KNOWN, OCTET_STREAM)

DOCUMENT_FORMAT_DEFAULT = "application/octet-stream"

#: ``[convert] default_media`` when the service gives none (`PrinterDescription`).
DEFAULT_MEDIA = ConvertConfig().default_media

COMPRESSION_SUPPORTED = ("none", "deflate", "gzip")
IPP_VERSIONS = ("1.0", "1.1", "2.0", "2.1", "2.2")
WHICH_JOBS_SUPPORTED = (
    "completed",
    "not-completed",
    "all",
    "aborted",
    "canceled",
    "pending",
    "pending-held",
    "processing",
    "processing-stopped",
    "proof-print",
    "fetchable",  # PWG 5100.18: jobs held for proxies (infrastructure queues)
)
JOB_HOLD_UNTIL_SUPPORTED = ("no-hold", "indefinite")
JOB_SETTABLE_ATTRIBUTES = ("job-hold-until", "job-name", "job-priority")
#: Operation attributes of Print-Job / Create-Job that job-creation-attributes-supported lists.
JOB_CREATION_OPERATION = (
    "compression",
    "document-format",
    "document-name",
    "ipp-attribute-fidelity",
    "job-name",
)
#: overrides member attributes (PWG 5100.6): "document-numbers" as the standard
#: spells it, and "document-number" as CUPS 2.4's ipp-everywhere.test asks for it.
OVERRIDES_SUPPORTED = ("document-number", "document-numbers", "pages")

#: ipp-features-supported (PWG 5100.13) beside "ipp-everywhere", with the
#: operations that make each one true: a feature is advertised only when
#: every one of its operations is served.
FEATURES: dict[str, tuple[Operation, ...]] = {
    "document-object": (
        Operation.CANCEL_DOCUMENT,
        Operation.GET_DOCUMENT_ATTRIBUTES,
        Operation.GET_DOCUMENTS,
    ),
    "subscription-object": (
        Operation.CREATE_PRINTER_SUBSCRIPTIONS,
        Operation.CREATE_JOB_SUBSCRIPTIONS,
        Operation.GET_SUBSCRIPTION_ATTRIBUTES,
        Operation.GET_SUBSCRIPTIONS,
        Operation.RENEW_SUBSCRIPTION,
        Operation.CANCEL_SUBSCRIPTION,
        Operation.GET_NOTIFICATIONS,
    ),
}


def ipp_features(operations: Iterable[Operation]) -> tuple[str, ...]:
    """ipp-features-supported: "ipp-everywhere" (PWG 5100.14: every queue takes
    PWG raster, JPEG and PDF, converted for its printer), and each of `FEATURES`
    whose operations are all among `operations`."""
    served = set(operations)
    return ("ipp-everywhere", *(f for f, ops in FEATURES.items() if served.issuperset(ops)))


NOTIFY_EVENTS_SUPPORTED = (
    "document-completed",
    "document-config-changed",  # subscribed to by ippsample's ippproxy
    "document-created",
    "document-state-changed",
    "job-completed",
    "job-config-changed",
    "job-created",
    "job-fetchable",
    "job-progress",
    "job-state-changed",
    "printer-config-changed",
    "printer-state-changed",
    "printer-stopped",
)
NOTIFY_MAX_EVENTS = 100
NOTIFY_LEASE_DEFAULT = 86400
#: The longest notify-lease-duration (RFC 3995 section 5.3.8: 2**26 - 1 seconds).
NOTIFY_LEASE_MAX = 67108863
#: Seconds events are kept for Get-Notifications (RFC 3996: at least 15).
IPPGET_EVENT_LIFE = 300
#: notify-get-interval of an answer that was not held (RFC 3996 section 5.2).
NOTIFY_GET_INTERVAL = 30

#: Printer attribute names that belong to the "job-template" group of
#: requested-attributes (RFC 8011 section 5.2: xxx-default / xxx-supported / xxx-ready).
_TEMPLATE_SUFFIXES = ("-default", "-supported", "-ready", "-database")
_TEMPLATE_EXTRA = {"media-size-supported", "media-source-supported", "media-type-supported"}

#: Attributes only returned when named (RFC 8011: not part of "all").
NOT_IN_ALL = frozenset({"media-col-database"})


def is_job_template(name: str) -> bool:
    """Whether a printer attribute is in the "job-template" group."""
    if name in _TEMPLATE_EXTRA:
        return True
    for suffix in _TEMPLATE_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in JOB_TEMPLATE_SYNTAX:
            return True
    return False


def encode_one(tag: int, name: str, value: object) -> bytes:
    """The wire bytes of a one-valued attribute, as `encode_attribute` gives them,
    without building the attribute (a listing does this for 2,000 queues)."""
    data = encode_value(tag, value)
    raw = name.encode("ascii")
    return bytes((tag,)) + len(raw).to_bytes(2, "big") + raw + len(data).to_bytes(2, "big") + data


def encode_attribute(attribute: Attribute) -> bytes:
    """The wire bytes of one attribute (all its values), without a group tag."""
    out = bytearray()
    encode_group(out, Group(DelimiterTag.PRINTER_ATTRIBUTES, [attribute]))
    return bytes(out[1:])


def spool_seed(spool_dir: Path) -> uuid.UUID:
    """A random id kept in the spool folder, so printer-uuid survives restarts
    (read once per folder and process: 2,000 queues do not read it 2,000 times)."""
    path = spool_dir / SPOOL_ID_FILE
    seed = _SEEDS.get(path)
    if seed is not None and path.exists():
        return seed
    try:
        seed = uuid.UUID(path.read_text().strip())
    except (OSError, ValueError):
        seed = uuid.uuid4()
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(f"{seed}\n")
        tmp.replace(path)
    _SEEDS[path] = seed
    return seed


_SEEDS: dict[Path, uuid.UUID] = {}


def printer_uuid(spool_dir: Path, queue: str) -> uuid.UUID:
    """printer-uuid of a queue: uuid5 of its name in a namespace kept in the spool
    (`spool_seed`), stable across restarts. DNS-SD's TXT ``UUID`` must be this."""
    return uuid.uuid5(spool_seed(spool_dir), queue)


#: Syntax of printer attributes a backend may report as JSON (`Capabilities`).
PRINTER_SYNTAX: dict[str, int] = {
    "color-supported": ValueTag.BOOLEAN,
    "copies-default": ValueTag.INTEGER,
    "copies-supported": ValueTag.RANGE_OF_INTEGER,
    "finishings-default": ValueTag.ENUM,
    "finishings-supported": ValueTag.ENUM,
    "media-default": ValueTag.KEYWORD,
    "media-supported": ValueTag.KEYWORD,
    "media-ready": ValueTag.KEYWORD,
    "media-col-default": ValueTag.BEG_COLLECTION,
    "media-col-ready": ValueTag.BEG_COLLECTION,
    "media-col-database": ValueTag.BEG_COLLECTION,
    "media-size-supported": ValueTag.BEG_COLLECTION,
    "media-source-supported": ValueTag.KEYWORD,
    "media-type-supported": ValueTag.KEYWORD,
    "number-up-default": ValueTag.INTEGER,
    "number-up-supported": ValueTag.INTEGER,
    "orientation-requested-default": ValueTag.ENUM,
    "orientation-requested-supported": ValueTag.ENUM,
    "output-bin-default": ValueTag.KEYWORD,
    "output-bin-supported": ValueTag.KEYWORD,
    "pages-per-minute": ValueTag.INTEGER,
    "pages-per-minute-color": ValueTag.INTEGER,
    "print-color-mode-default": ValueTag.KEYWORD,
    "print-color-mode-supported": ValueTag.KEYWORD,
    "print-quality-default": ValueTag.ENUM,
    "print-quality-supported": ValueTag.ENUM,
    "printer-resolution-default": ValueTag.RESOLUTION,
    "printer-resolution-supported": ValueTag.RESOLUTION,
    "sides-default": ValueTag.KEYWORD,
    "sides-supported": ValueTag.KEYWORD,
    "urf-supported": ValueTag.KEYWORD,
    "printer-device-id": ValueTag.TEXT,
    "printer-make-and-model": ValueTag.TEXT,
}


@dataclass(frozen=True, slots=True)
class Listener:
    """One IPP listener as clients see it: ``ipp`` (plain) or ``ipps`` (TLS), and its port."""

    scheme: str
    port: int


#: Static attributes that name the queue itself (its configuration), encoded per
#: queue, in this order at the start of the answer. Every other static attribute
#: depends only on what the backend reports and is shared by every queue that
#: reports the same (`SharedAttributes`).
QUEUE_NAMES = (
    "printer-name",
    "printer-info",
    "printer-location",
    "printer-make-and-model",
    "printer-device-id",
    "printer-uuid",
    "printer-organization",
    "printer-organizational-unit",
    "printer-geo-location",
)

#: The live attributes (state, URIs, counters, clocks), rendered per request in
#: this order after the static ones, and only those a request asks for.
LIVE_NAMES = (
    "printer-uri-supported",
    "uri-security-supported",
    "uri-authentication-supported",
    "printer-more-info",
    "printer-supply-info-uri",
    "printer-icons",
    "printer-state",
    "printer-state-reasons",
    "printer-state-message",
    "printer-is-accepting-jobs",
    "queued-job-count",
    "printer-up-time",
    "printer-current-time",
    "printer-state-change-time",
    "printer-state-change-date-time",
    "printer-alert",
    "printer-alert-description",
)

#: printer-geo-location of a queue whose location is not configured (PWG 5100.13).
_GEO_UNKNOWN = encode_one(ValueTag.UNKNOWN, "printer-geo-location", b"")

#: The syntax of the configured text attributes of `QUEUE_NAMES`.
_OWN_TAGS = {
    "printer-name": ValueTag.NAME,
    "printer-info": ValueTag.TEXT,
    "printer-location": ValueTag.TEXT,
    "printer-make-and-model": ValueTag.TEXT,
    "printer-organization": ValueTag.TEXT,
    "printer-organizational-unit": ValueTag.TEXT,
}

#: Live attributes that change every second (an answer with them is kept one second).
TIMED_NAMES = frozenset({"printer-up-time", "printer-current-time"})

#: requested-attributes lists whose selection each `SharedAttributes` remembers.
SELECTIONS_KEPT = 64


class SharedAttributes:
    """The encoded static attributes that do not name the queue, shared by every
    queue whose backend reports the same capabilities (2,000 ``file://`` queues
    hold one copy), and which attribute names each requested-attributes list
    selects (the same for all of them)."""

    __slots__ = ("__weakref__", "encoded", "formats", "selections", "template_values")

    def __init__(self, group: Group, formats: tuple[str, ...]) -> None:
        self.formats = formats
        self.encoded = {a.name: encode_attribute(a) for a in group}
        self.template_values = {
            a.name: {_plain(v.value) for v in a.values}
            for a in group
            if a.name.endswith("-supported")
        }
        self.selections: dict[tuple[str, ...], tuple[tuple[str, ...], bool]] = {}

    def select(self, requested: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
        """The attribute names `requested` selects, in answer order, and whether
        one of them changes every second (`TIMED_NAMES`)."""
        chosen = self.selections.get(requested)
        if chosen is None:
            names = wanted_printer_attributes(requested, [*QUEUE_NAMES, *self.encoded, *LIVE_NAMES])
            chosen = (tuple(names), not TIMED_NAMES.isdisjoint(names))
            if len(self.selections) < SELECTIONS_KEPT:
                self.selections[requested] = chosen
        return chosen


#: SharedAttributes by what they are made from, while a queue uses them.
_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], SharedAttributes] = (
    weakref.WeakValueDictionary()
)


class PrinterDescription:
    """The printer attributes of one queue; see the module doc.

    Nothing is built until first use: the queue's own attributes
    (`QUEUE_NAMES`) are encoded then, the rest is a `SharedAttributes`.
    `default_media` is ``[convert] default_media`` (the media of a queue that
    names none); `oauth_issuer` is ``[oauth] issuer`` ("" = off), advertised as
    oauth-authorization-server-uri (PWG 5100.23).
    """

    __slots__ = (
        "_answers",
        "_answers_second",
        "_caps",
        "_last",
        "_merged",
        "_own",
        "_profile",
        "_shared",
        "_steady",
        "default_media",
        "multiple_operation_timeout",
        "oauth_issuer",
        "operations",
        "printer_uuid",
        "queue",
        "started",
        "state_changed",
        "state_key",
    )

    def __init__(
        self,
        queue: Queue,
        *,
        printer_uuid: uuid.UUID,
        started: float,
        multiple_operation_timeout: float,
        operations: Sequence[Operation],
        default_media: str = DEFAULT_MEDIA,
        oauth_issuer: str = "",
    ) -> None:
        self.queue = queue
        self.operations = tuple(sorted(operations))
        self.printer_uuid = printer_uuid
        self.started = started
        self.multiple_operation_timeout = multiple_operation_timeout
        self.default_media = default_media
        self.oauth_issuer = oauth_issuer
        self._caps: Capabilities | None = None
        self._profile: Profile | None = None
        self._shared: SharedAttributes | None = None
        self._own: dict[str, bytes] = {}
        self._merged: dict[str, bytes] | None = None
        self.state_key: tuple[Any, ...] | None = None
        self.state_changed = started
        self._answers: dict[tuple[Any, ...], bytes] | None = None  # this second's
        self._answers_second = 0
        self._steady: dict[tuple[Any, ...], bytes] | None = None  # without a clock
        self._last: tuple[tuple[Any, ...], int | None, bytes] | None = None

    # -- capabilities ----------------------------------------------------

    def shared(self) -> SharedAttributes:
        """The shared static attributes for the backend's capabilities now."""
        caps = self.queue.capabilities()
        shared = self._shared
        if caps is self._caps and shared is not None:
            return shared  # backends hand out the same object until it changes
        self._caps = caps
        profile = self._profile = profile_of(
            self.queue.config,
            caps,
            kind=backend_kind(self.queue.backend.uri),
            default_media=self.default_media,
        )
        reported = caps.printer_attributes
        key = (
            profile,
            repr(sorted(reported.items())),
            self.queue.config.infrastructure,
            self.operations,
            self.multiple_operation_timeout,
            self.started,
            self.oauth_issuer,
        )
        found = _SHARED.get(key)
        if found is None:
            found = SharedAttributes(self._shared_group(profile, reported), profile.formats)
            _SHARED[key] = found
        if found is not shared:
            self._shared = found
            self._own = {}
            self._merged = None
            self._answers = self._steady = None
            self._last = None
        return found

    def warm(self) -> None:
        """Build now what the first request about the queue would (the shared
        attributes, the queue's state, its encoded printer-name), so that the
        first listing of a fleet after start does not pay it for every queue."""
        self.shared()
        self.queue.state()
        self.own("printer-name")

    @property
    def built(self) -> bool:
        """Whether anything was built yet (nothing is until the queue is asked about)."""
        return self._shared is not None

    def own(self, name: str) -> bytes | None:
        """The encoded attribute `name` if it is one of `QUEUE_NAMES` (encoded on
        first use, after `shared`), else None."""
        piece = self._own.get(name)
        if piece is None and name in QUEUE_NAMES:
            reported = self._caps.printer_attributes if self._caps is not None else {}
            text = self._configured_text(name)
            if text is not None and name not in reported:  # the common case, made cheaply
                piece = encode_one(_OWN_TAGS[name], name, text)
            elif name == "printer-geo-location" and not (
                self.queue.config.geo_location or name in reported
            ):
                piece = _GEO_UNKNOWN
            else:
                piece = encode_attribute(self._queue_attribute(name))
            self._own[name] = piece
        return piece

    def _configured_text(self, name: str) -> str | None:
        """The configured value of a text or name attribute of `QUEUE_NAMES`."""
        q = self.queue
        cfg = q.config
        if name == "printer-name":
            return q.name[:127]
        if name == "printer-info":
            return (cfg.info or f"{q.name} (lpd-ipp-gateway)")[:127]
        if name == "printer-location":
            return cfg.location[:127]
        if name == "printer-make-and-model":
            return self._make()[:127]
        if name == "printer-organization":
            return cfg.organization[:127]
        if name == "printer-organizational-unit":
            return cfg.organizational_unit[:127]
        return None

    def _make(self) -> str:
        cfg = self.queue.config
        return cfg.make_and_model or "lpd-ipp-gateway " + self.queue.backend.uri.split(":", 1)[0]

    @property
    def document_formats(self) -> tuple[str, ...]:
        """document-format-supported."""
        return self.shared().formats

    def supported_values(self, name: str) -> set[Any]:
        """Plain values of ``name-supported`` (ranges as RangeOfInteger), empty if none."""
        return self.shared().template_values.get(f"{name}-supported", set())

    def static(self) -> dict[str, bytes]:
        """Encoded static attributes by name, in answer order (cached)."""
        shared = self.shared()
        if self._merged is None:
            own = {name: self.own(name) or b"" for name in QUEUE_NAMES}
            self._merged = {**own, **shared.encoded}
        return self._merged

    def _queue_attribute(self, name: str) -> Attribute:
        """One of `QUEUE_NAMES`, from the configuration or as the backend reports it."""
        g = Group(DelimiterTag.PRINTER_ATTRIBUTES)
        make = self._make()
        text = self._configured_text(name)
        if text is not None and name == "printer-name":
            g.add_name(name, text)
        elif text is not None:
            g.add_text(name, text)
        elif name == "printer-device-id":
            formats = self.shared().formats
            g.add_text(
                name,
                f"MFG:lpd-ipp-gateway;MDL:{_device_id_text(make)};CMD:{_command_set(formats)};",
            )
        elif name == "printer-geo-location":
            geo = self.queue.config.geo_location
            if geo:
                g.add_uri(name, geo)
            else:  # PWG 5100.13: 'unknown' when the location is not known
                g.add_out_of_band(name, OutOfBand.UNKNOWN)
        else:
            g.add_uri("printer-uuid", self.printer_uuid.urn)
        reported = self._caps.printer_attributes if self._caps is not None else {}
        if name in reported:
            _apply_reported(g, {name: reported[name]})
        return g.attributes[0]

    # -- the last answer -------------------------------------------------

    def last_answer(self, key: tuple[Any, ...], second: int) -> bytes | None:
        """The answer to the last request, if it had the same `key` (and, with a
        clock in it, came in this same second): the cheapest path of a poller or
        a listing asked again."""
        last = self._last
        if last is not None and last[0] == key and (last[1] is None or last[1] == second):
            return last[2]
        return None

    def keep_last(self, key: tuple[Any, ...], second: int | None, raw: bytes) -> None:
        """Remember this answer for `last_answer`."""
        self._last = (key, second, raw)

    def _shared_group(self, profile: Profile, reported: Mapping[str, Any]) -> Group:
        g = Group(DelimiterTag.PRINTER_ATTRIBUTES)
        g.add_text("printer-message-from-operator", "")
        g.add_text("printer-firmware-string-version", __version__)
        g.add_keyword("ipp-versions-supported", *IPP_VERSIONS)
        features = ipp_features(self.operations)
        if self.queue.config.infrastructure:  # PWG 5100.18 section 6.1
            features = (*features, "infrastructure-printer")
        g.add_keyword("ipp-features-supported", *features)
        g.add_enum("operations-supported", *self.operations)
        g.add_charset("charset-configured", "utf-8")
        g.add_charset("charset-supported", "utf-8", "us-ascii")
        g.add_natural_language("natural-language-configured", "en")
        g.add_natural_language("generated-natural-language-supported", "en")
        g.add_mime_media_type("document-format-default", DOCUMENT_FORMAT_DEFAULT)
        g.add_keyword("compression-supported", *COMPRESSION_SUPPORTED)
        g.add_keyword("pdl-override-supported", "attempted")
        g.add_keyword("printer-get-attributes-supported", "document-format")
        g.add_keyword("which-jobs-supported", *WHICH_JOBS_SUPPORTED)
        g.add_boolean("job-ids-supported", True)
        g.add_boolean("preferred-attributes-supported", False)  # no Validate-Job hints
        g.add_keyword("job-spooling-supported", "spool")  # every job is spooled first
        g.add_boolean("multiple-document-jobs-supported", True)
        g.add_keyword(
            "multiple-document-handling-supported",
            "separate-documents-uncollated-copies",
            "separate-documents-collated-copies",
        )
        g.add_integer("multiple-operation-time-out", max(1, int(self.multiple_operation_timeout)))
        g.add_keyword("multiple-operation-time-out-action", "process-job")
        g.add_range("job-k-octets-supported", (0, 2**31 - 1))
        g.add_keyword(
            "job-creation-attributes-supported", *JOB_CREATION_OPERATION, *JOB_TEMPLATE_SYNTAX
        )
        g.add_keyword("job-settable-attributes-supported", *JOB_SETTABLE_ATTRIBUTES)
        g.add_keyword("printer-settable-attributes-supported", *sorted(PRINTER_SETTABLE))
        # Identify-Printer writes the message to the gateway's log, its console.
        g.add_keyword("identify-actions-default", "display")
        g.add_keyword("identify-actions-supported", "display")
        g.add_integer("printer-config-change-time", int(self.started))
        g.add_datetime("printer-config-change-date-time", date_time(self.started))
        g.add_integer("pages-per-minute", 1)
        # Job Template attributes: -default and -supported pairs.
        g.add_integer("copies-default", 1)
        g.add_range("copies-supported", (1, 999))
        g.add_enum("finishings-default", 3)
        g.add_enum("finishings-supported", 3)
        g.add_keyword("job-hold-until-default", "no-hold")
        g.add_keyword("job-hold-until-supported", *JOB_HOLD_UNTIL_SUPPORTED)
        g.add_integer("job-priority-default", 50)
        g.add_integer("job-priority-supported", 100)
        g.add_keyword("job-sheets-default", "none")
        g.add_keyword("job-sheets-supported", "none", "standard")
        g.add_keyword("multiple-document-handling-default", "separate-documents-uncollated-copies")
        g.add_keyword("overrides-supported", *OVERRIDES_SUPPORTED)
        add_everywhere(g, profile)
        if self.oauth_issuer:
            g.add_uri("oauth-authorization-server-uri", self.oauth_issuer)
        # Subscriptions (RFC 3995 / 3996 ippget).
        g.add_keyword("notify-events-default", "job-completed")
        g.add_keyword("notify-events-supported", *NOTIFY_EVENTS_SUPPORTED)
        g.add_integer("notify-lease-duration-default", NOTIFY_LEASE_DEFAULT)
        g.add_range("notify-lease-duration-supported", (0, NOTIFY_LEASE_MAX))
        g.add_integer("notify-max-events-supported", NOTIFY_MAX_EVENTS)
        g.add_keyword("notify-pull-method-supported", "ippget")
        g.add_integer("ippget-event-life", IPPGET_EVENT_LIFE)
        _apply_reported(
            g,
            {
                n: v
                for n, v in reported.items()
                if n not in QUEUE_NAMES and n not in LIVE_NAMES and n not in PROFILE_NAMES
            },
        )
        return g

    # -- the answer ------------------------------------------------------

    def answer(self, key: tuple[Any, ...], second: int | None) -> bytes | None:
        """An answer kept by `keep_answer`: with a clock in it (`second` given) only
        in that same second, else until the state or the capabilities change (the
        key holds the state; a change of capabilities drops every answer)."""
        if second is None:
            return self._steady.get(key) if self._steady is not None else None
        if second != self._answers_second:
            self._answers = None
            self._answers_second = second
        return self._answers.get(key) if self._answers is not None else None

    def keep_answer(self, key: tuple[Any, ...], second: int | None, raw: bytes) -> None:
        """Keep an answer (at most `ANSWERS_KEPT` of each kind; see `answer`)."""
        if second is None:
            if self._steady is None or len(self._steady) >= ANSWERS_KEPT:
                self._steady = {}  # stale states go with the rest
            self._steady[key] = raw
            return
        if second != self._answers_second:
            return
        if self._answers is None:
            self._answers = {}
        if len(self._answers) < ANSWERS_KEPT:
            self._answers[key] = raw

    def note_state(self, key: tuple[Any, ...], now: float) -> None:
        """Remember when printer-state / reasons / accepting last changed."""
        if key != self.state_key:
            if self.state_key is not None:
                self.state_changed = now
            self.state_key = key


#: Distinct Get-Printer-Attributes answers kept per queue (per second with a clock).
ANSWERS_KEPT = 64


def _apply_reported(g: Group, reported: Mapping[str, Any]) -> None:
    """Set what the backend reports over the defaults in `g` (in place, or appended)."""
    for name, value in reported.items():
        if isinstance(value, Attribute):  # as the real printer reported it
            if value.values:
                g.set(name, value.tag, *value.values)
            continue
        tag = PRINTER_SYNTAX.get(name)
        if tag is None or value is None:
            continue
        g.set(name, tag, *json_to_values(tag, value))


def _plain(value: Any) -> Any:
    if isinstance(value, RangeOfInteger | Resolution | str | int):
        return value
    return repr(value)


def _device_id_text(text: str) -> str:
    return "".join(c for c in text if c not in ":;")[:60] or "gateway"


_COMMANDS = {
    "application/pdf": "PDF",
    "application/postscript": "POSTSCRIPT",
    "application/vnd.hp-pcl": "PCL",
    "application/vnd.hp-pclxl": "PCLXL",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/pwg-raster": "PWGRASTER",
    "image/urf": "URF",
    "text/plain": "TEXT",
}


def _command_set(formats: Iterable[str]) -> str:
    commands = (_COMMANDS.get(base(f)) for f in formats)
    return ",".join(c for c in commands if c) or "AUTO"


def wanted_printer_attributes(requested: Iterable[str], names: Iterable[str]) -> list[str]:
    """Which of `names` to return for requested-attributes (empty = ``all``)."""
    asked = list(requested) or ["all"]
    result: list[str] = []
    for name in names:
        template = is_job_template(name)
        for item in asked:
            if item == name or (
                name not in NOT_IN_ALL
                and (
                    item == "all"
                    or (item == "job-template" and template)
                    or (item == "printer-description" and not template)
                )
            ):
                result.append(name)
                break
    return result


def uri_attributes(
    listeners: Sequence[Listener],
    host: str,
    path: str,
    first: Listener | None = None,
    *,
    basic_auth: bool = False,
    oauth: bool = False,
) -> tuple[Attribute, Attribute, Attribute]:
    """printer-uri-supported, uri-security-supported, uri-authentication-supported
    (same count, same order): one per listener, with the host the client used and
    the listener it used (`first`) first.

    With authentication on (`basic_auth`), an ipps:// URI says ``basic``, or
    ``oauth`` when the gateway takes OAuth 2.0 bearer tokens (`oauth`: ``[oauth]
    issuer`` is set; PWG 5100.23, as CUPS 2.5 says it); a plain ipp:// URI never
    takes credentials (they are refused over plain IPP)."""
    secure_method = "oauth" if oauth else "basic"
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    if first is not None:
        listeners = sorted(listeners, key=lambda lst: lst != first)
    uris = [f"{lst.scheme}://{shown}:{lst.port}{path}" for lst in listeners]
    security = ["tls" if lst.scheme == "ipps" else "none" for lst in listeners]
    return (
        Attribute.of("printer-uri-supported", ValueTag.URI, *uris),
        Attribute.of("uri-security-supported", ValueTag.KEYWORD, *security),
        Attribute.of(
            "uri-authentication-supported",
            ValueTag.KEYWORD,
            *[
                secure_method if basic_auth and lst.scheme == "ipps" else "requesting-user-name"
                for lst in listeners
            ],
        ),
    )


#: The attributes `web_attributes` makes: pages and icons on the listener the
#: client used, so that a browser can open them wherever the client is.
WEB_NAMES = ("printer-more-info", "printer-supply-info-uri", "printer-icons")


def web_attributes(web: str, queue: str) -> tuple[Attribute, Attribute, Attribute]:
    """printer-more-info and printer-supply-info-uri (the queue's status page,
    which shows what the gateway knows of its printer) and printer-icons (PWG
    5100.13: 48, 128 and 512 pixel PNG icons, `ICON_PATHS`), for ``web`` =
    ``http(s)://host:port`` of the listener the client used."""
    page = f"{web}/printers/{queue}"
    return (
        Attribute.of("printer-more-info", ValueTag.URI, page),
        Attribute.of("printer-supply-info-uri", ValueTag.URI, page),
        Attribute.of("printer-icons", ValueTag.URI, *[web + path for path in ICON_PATHS]),
    )


def printer_alerts(reasons: Sequence[str], message: str) -> tuple[Attribute, Attribute]:
    """printer-alert (PWG 5100.9, octetString) and printer-alert-description, one per
    printer-state-reason; ``code=other`` when there is nothing to report."""
    alerts: list[Value] = []
    descriptions: list[Value] = []
    for reason in reasons:
        if reason == "none":
            continue
        base, severity = reason, "report"
        for suffix in ("-error", "-warning", "-report"):
            if reason.endswith(suffix):
                base, severity = reason[: -len(suffix)], suffix[1:]
        alerts.append(Value(ValueTag.OCTET_STRING, f"code={base};severity={severity}".encode()))
        descriptions.append(Value(ValueTag.TEXT, (message or base)[:1023]))
    if not alerts:
        alerts = [Value(ValueTag.OCTET_STRING, b"code=other")]
        descriptions = [Value(ValueTag.TEXT, "no alerts")]
    return Attribute("printer-alert", alerts), Attribute("printer-alert-description", descriptions)
