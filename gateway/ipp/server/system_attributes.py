"""The attributes of the System object (PWG 5100.22), as Get-System-Attributes
answers them.

Why: the System object describes the gateway as a whole: what it is
(system-name, system-info, system-location, system-make-and-model, its
firmware and applications, its contacts), what it does (operations-supported,
the notify-* and xri-* attributes, printer-creation-attributes-supported), and
how it is now (system-state, system-state-reasons, the printers it has in
system-configured-printers, its clocks and config-change counters). The
settable ones come from the queues' administration (gateway/core/admin.py),
so they last; everything else is made from the queues on each request (the
System is asked by operators, not polled by every client as printers are),
and only what requested-attributes selects is built.

Times follow the printers' convention here: the *-time attributes and
system-up-time are in the same seconds as printer-up-time (the Unix time).
This System has no Resources, power policies or counters: those attributes
are left out, as PWG 5100.22 allows for a System without them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from gateway import __version__
from gateway.core.admin import SYSTEM_SETTABLE, Administration
from gateway.core.queues import Queue, QueueState
from gateway.ipp.attributes import Attribute, Collection, Group
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import OutOfBand

from .job_attributes import date_time
from .printer import SETTABLE, xri_supported
from .printer_attributes import (
    IPP_VERSIONS,
    IPPGET_EVENT_LIFE,
    NOTIFY_LEASE_DEFAULT,
    NOTIFY_LEASE_MAX,
    NOTIFY_MAX_EVENTS,
    STATIC_DOCUMENT_FORMATS,
    encode_attribute,
)
from .request import IppRequest, IppService, printer_path

#: The backend URI of Create-Printer (PAPPL's name for a device URI).
DEVICE_URI = "smi55357-device-uri"
#: The backend options of Create-Printer: 1setOf text ``key=value`` (this gateway's).
BACKEND_OPTIONS = "gateway-backend-options"

#: printer-creation-attributes-supported: what Create-Printer takes.
CREATION_ATTRIBUTES = tuple(sorted({"printer-name", DEVICE_URI, BACKEND_OPTIONS, *SETTABLE}))

#: Events a System subscription may ask for (what this System sends).
SYSTEM_EVENTS = (
    "printer-config-changed",
    "printer-created",
    "printer-deleted",
    "printer-state-changed",
    "printer-stopped",
    "system-config-changed",
    "system-state-changed",
)
SYSTEM_EVENTS_DEFAULT = "system-state-changed"

#: Attributes of the "system-status" group of requested-attributes; the others
#: are "system-description".
STATUS_NAMES = frozenset(
    {
        "system-config-change-date-time",
        "system-config-change-time",
        "system-config-changes",
        "system-configured-printers",
        "system-configured-resources",
        "system-current-time",
        "system-state",
        "system-state-change-date-time",
        "system-state-change-time",
        "system-state-message",
        "system-state-reasons",
        "system-up-time",
    }
)

_TEXT_DEFAULTS = {
    "system-info": "lpd-ipp-gateway: LPD and IPP print gateway",
    "system-location": "",
    "system-make-and-model": f"lpd-ipp-gateway {__version__}",
    "system-organization": "",
    "system-organizational-unit": "",
}


def system_attributes(
    service: IppService,
    request: IppRequest,
    admin: Administration,
    asked: Sequence[str],
    operations: Sequence[int],
) -> tuple[Group, bytes]:
    """The System's attributes that requested-attributes `asked` selects ('all',
    'system-description', 'system-status' or names; none = 'all'), and
    system-configured-printers encoded (to end the group with: see
    `configured_printers`); `operations` is its operations-supported."""
    wanted = set(asked) or {"all"}

    def selected(name: str) -> bool:
        return (
            "all" in wanted
            or name in wanted
            or ("system-status" in wanted and name in STATUS_NAMES)
            or ("system-description" in wanted and name not in STATUS_NAMES)
        )

    group = Group(DelimiterTag.SYSTEM_ATTRIBUTES)

    def add(name: str, tag: int, *values: Any) -> None:
        if selected(name):
            group.add(name, tag, *values)

    def add_out_of_band(name: str, value: OutOfBand) -> None:
        if selected(name):
            group.add_out_of_band(name, value)

    queues = list(service.context.queues)
    own = admin.system.attributes
    now = time.time()
    version = _version_octets(__version__)
    python = ".".join(str(n) for n in sys.version_info[:3])
    schemes = sorted({lst.scheme for lst in service.listeners}) or ["ipp"]
    authenticates = service.policy(None) != "none"

    add("charset-configured", ValueTag.CHARSET, "utf-8")
    add("charset-supported", ValueTag.CHARSET, "utf-8", "us-ascii")
    if selected("document-format-supported"):
        add("document-format-supported", ValueTag.MIME_MEDIA_TYPE, *_formats(service, queues))
    add("generated-natural-language-supported", ValueTag.NATURAL_LANGUAGE, "en")
    add("ipp-features-supported", ValueTag.KEYWORD, "system-object")
    add("ipp-versions-supported", ValueTag.KEYWORD, *IPP_VERSIONS)
    add("ippget-event-life", ValueTag.INTEGER, IPPGET_EVENT_LIFE)
    add("multiple-document-printers-supported", ValueTag.BOOLEAN, True)
    add("natural-language-configured", ValueTag.NATURAL_LANGUAGE, "en")
    add("notify-attributes-supported", ValueTag.KEYWORD, "notify-subscriber-user-name")
    add("notify-events-default", ValueTag.KEYWORD, SYSTEM_EVENTS_DEFAULT)
    add("notify-events-supported", ValueTag.KEYWORD, *SYSTEM_EVENTS)
    add("notify-lease-duration-default", ValueTag.INTEGER, NOTIFY_LEASE_DEFAULT)
    if selected("notify-lease-duration-supported"):
        group.add_range("notify-lease-duration-supported", (0, NOTIFY_LEASE_MAX))
    add("notify-max-events-supported", ValueTag.INTEGER, NOTIFY_MAX_EVENTS)
    add("notify-pull-method-supported", ValueTag.KEYWORD, "ippget")
    add("operations-supported", ValueTag.ENUM, *operations)
    add("printer-creation-attributes-supported", ValueTag.KEYWORD, *CREATION_ATTRIBUTES)
    add("printer-service-type-supported", ValueTag.KEYWORD, "print")
    changed = admin.system.config_changed or admin.started
    add("system-config-change-date-time", ValueTag.DATE_TIME, date_time(changed))
    add("system-config-change-time", ValueTag.INTEGER, int(changed))
    add("system-config-changes", ValueTag.INTEGER, admin.system.config_changes)
    printers = b""
    if selected("system-configured-printers"):
        if queues:
            printers = configured_printers(service, request, queues)
        else:
            group.add_out_of_band("system-configured-printers", OutOfBand.NO_VALUE)
    add_out_of_band("system-configured-resources", OutOfBand.NO_VALUE)
    add("system-contact-col", ValueTag.BEG_COLLECTION, _contact(own.get("system-contact-col")))
    add("system-current-time", ValueTag.DATE_TIME, date_time(now))
    add("system-default-printer-id", ValueTag.INTEGER, service.context.queues.default.printer_id)
    add("system-firmware-name", ValueTag.NAME, "lpd-ipp-gateway")
    add("system-firmware-patches", ValueTag.TEXT, "")
    add("system-firmware-string-version", ValueTag.TEXT, __version__)
    add("system-firmware-version", ValueTag.OCTET_STRING, version)
    if own.get("system-geo-location"):
        add("system-geo-location", ValueTag.URI, str(own["system-geo-location"]))
    else:
        add_out_of_band("system-geo-location", OutOfBand.UNKNOWN)
    for name, default in _TEXT_DEFAULTS.items():
        add(name, ValueTag.TEXT, str(own.get(name) or default)[:1023])
    add("system-mandatory-printer-attributes", ValueTag.KEYWORD, "printer-name", DEVICE_URI)
    name = own.get("system-name") or f"lpd-ipp-gateway on {service.context.hostname}"
    add("system-name", ValueTag.NAME, str(name)[:127])
    add("system-owner-col", ValueTag.BEG_COLLECTION, _contact(own.get("system-owner-col")))
    add("system-resident-application-name", ValueTag.NAME, "Python")
    add("system-resident-application-patches", ValueTag.TEXT, "")
    add("system-resident-application-string-version", ValueTag.TEXT, python)
    add("system-resident-application-version", ValueTag.OCTET_STRING, _version_octets(python))
    add("system-settable-attributes-supported", ValueTag.KEYWORD, *SYSTEM_SETTABLE)
    state, reasons, message = system_state([q.state() for q in queues])
    add("system-state", ValueTag.ENUM, state)
    add("system-state-change-date-time", ValueTag.DATE_TIME, date_time(admin.state_changed))
    add("system-state-change-time", ValueTag.INTEGER, int(admin.state_changed))
    add("system-state-message", ValueTag.TEXT, message)
    add("system-state-reasons", ValueTag.KEYWORD, *reasons)
    add("system-time-source-configured", ValueTag.KEYWORD, "onboard")
    add("system-up-time", ValueTag.INTEGER, max(1, int(now)))
    add("system-user-application-name", ValueTag.NAME, "lpd-ipp-gateway")
    add("system-user-application-patches", ValueTag.TEXT, "")
    add("system-user-application-string-version", ValueTag.TEXT, __version__)
    add("system-user-application-version", ValueTag.OCTET_STRING, version)
    add("system-uuid", ValueTag.URI, admin.system.uuid)
    add("system-xri-supported", ValueTag.BEG_COLLECTION, *system_xri(service, request))
    methods = ["basic", "requesting-user-name"] if authenticates else ["requesting-user-name"]
    add("xri-authentication-supported", ValueTag.KEYWORD, *methods)
    add("xri-security-supported", ValueTag.KEYWORD, *[_security(s) for s in schemes])
    add("xri-uri-scheme-supported", ValueTag.URI_SCHEME, *schemes)
    return group, printers


def configured_printers(service: IppService, request: IppRequest, queues: Sequence[Queue]) -> bytes:
    """system-configured-printers, encoded: one collection per queue, each kept
    (`_ENTRIES`) until what it shows changes, so a fleet's answer is made of
    kept pieces (2,000 queues: a few milliseconds instead of most of a second)."""
    default = service.context.queues.default
    out = bytearray()
    for queue in queues:
        state = queue.state()
        path = printer_path(queue, default)
        key = (
            queue,
            queue.config,
            queue.printer_id,
            state,
            queue.is_accepting,
            path,
            request.host,
            request.scheme,
            request.port,
            service.policy(queue),
        )
        kept = _ENTRIES.get(queue.name)
        if kept is None or kept[0] != key:
            col = _configured_printer(service, request, queue)
            piece = encode_attribute(Attribute.of(_CONFIGURED, ValueTag.BEG_COLLECTION, col))
            kept = (key, piece)
            if len(_ENTRIES) > 2 * len(queues) + 64:  # deleted queues' entries
                _ENTRIES.clear()
            _ENTRIES[queue.name] = kept
        piece = kept[1]
        # The first value carries the attribute's name, the others none (RFC 8010 3.1.4).
        out += piece if not out else piece[:1] + b"\x00\x00" + piece[_NAMED:]
    return bytes(out)


_CONFIGURED = "system-configured-printers"
_NAMED = 3 + len(_CONFIGURED)  # value tag, name length, name
_ENTRIES: dict[str, tuple[tuple[Any, ...], bytes]] = {}


def system_state(states: Sequence[QueueState]) -> tuple[int, tuple[str, ...], str]:
    """system-state (processing while a printer is, stopped when every printer
    is, else idle), the printers' reasons together, and system-state-message."""
    if any(s.state == "processing" for s in states):
        state = 4
    elif states and all(s.state == "stopped" for s in states):
        state = 5
    else:
        state = 3
    reasons = tuple(dict.fromkeys(r for s in states for r in s.reasons if r != "none"))
    stopped = sum(1 for s in states if s.state == "stopped")
    return state, reasons or ("none",), f"{len(states)} printer(s), {stopped} stopped"


def system_xri(service: IppService, request: IppRequest) -> list[Collection]:
    """system-xri-supported: the System's URI on each listener, the one the
    client used first."""
    host = request.host
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    authenticates = service.policy(None) != "none"
    listeners = sorted(
        service.listeners, key=lambda lst: (lst.scheme, lst.port) != (request.scheme, request.port)
    )
    return [
        Collection()
        .add_uri("xri-uri", f"{lst.scheme}://{shown}:{lst.port}/ipp/system")
        .add_keyword("xri-security", _security(lst.scheme))
        .add_keyword(
            "xri-authentication",
            "basic" if authenticates and lst.scheme == "ipps" else "requesting-user-name",
        )
        for lst in listeners
    ]


def _security(scheme: str) -> str:
    return "tls" if scheme == "ipps" else "none"


def _formats(service: IppService, queues: Sequence[Queue]) -> list[str]:
    """document-format-supported of the System: every printer's formats."""
    formats: dict[str, None] = {}
    for queue in queues:
        formats.update(dict.fromkeys(service.descriptions[queue.name].document_formats))
    return list(formats) or list(STATIC_DOCUMENT_FORMATS)


def _configured_printer(service: IppService, request: IppRequest, queue: Queue) -> Collection:
    """One value of system-configured-printers."""
    state = queue.state()
    info = queue.config.info or f"{queue.name} (lpd-ipp-gateway)"
    path = printer_path(queue, service.context.queues.default)
    return (
        Collection()
        .add_integer("printer-id", queue.printer_id)
        .add_text("printer-info", info[:127])
        .add_boolean("printer-is-accepting-jobs", queue.is_accepting)
        .add_name("printer-name", queue.name)
        .add_keyword("printer-service-type", "print")
        .add_enum("printer-state", state.ipp_state)
        .add_keyword("printer-state-reasons", *state.reasons)
        .add_collection("printer-xri-supported", *xri_supported(service, request, queue, path))
    )


def _contact(stored: object) -> Collection:
    """A contact collection (system-contact-col, system-owner-col) from what was set."""
    members = stored if isinstance(stored, dict) else {}
    col = Collection().add_name("contact-name", str(members.get("contact-name") or "unknown"))
    if members.get("contact-uri"):
        col.add_uri("contact-uri", str(members["contact-uri"]))
    vcard = members.get("contact-vcard")
    if isinstance(vcard, list) and vcard:
        col.add_text("contact-vcard", *[str(v) for v in vcard])
    return col


def _version_octets(version: str) -> bytes:
    """A version as PWG 5100.22 firmware versions are written: 16 bits per part."""
    out = bytearray()
    for part in version.split(".")[:4]:
        digits = "".join(c for c in part if c.isdigit())
        out += min(int(digits or 0), 65535).to_bytes(2, "big")
    return bytes(out)


__all__ = [
    "BACKEND_OPTIONS",
    "CREATION_ATTRIBUTES",
    "DEVICE_URI",
    "STATUS_NAMES",
    "SYSTEM_EVENTS",
    "SYSTEM_EVENTS_DEFAULT",
    "configured_printers",
    "system_attributes",
    "system_state",
    "system_xri",
]
