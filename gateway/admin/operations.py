"""The sub-commands as IPP operations, each returning plain data (JSON-able).

Why plain data: the same result is shown as a table for a person or as JSON
for a script (`render`), and tests check it without parsing either.

Queues are printers of the System Service (PWG 5100.22): listed with
Get-Printers, created with Create-Printer (the backend URI in
``smi55357-device-uri``, its options in ``gateway-backend-options``), deleted
by printer-id with Delete-Printer, started with Startup-One-Printer; paused,
resumed, enabled and disabled at their printer URI (RFC 8011, PWG 5100.11).
Jobs are handled at their job URI (Get-Jobs, Cancel-Job, Hold-Job,
Release-Job, and CUPS-Move-Job with the target in job-printer-uri).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.ipp.attributes import Attribute, Group
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.tags import DelimiterTag, ValueTag

from .errors import Refused, UsageError
from .session import Session, text_of

DEVICE_URI = "smi55357-device-uri"
BACKEND_OPTIONS = "gateway-backend-options"
CANCEL_JOBS = "gateway-cancel-jobs"

#: What `queues` asks Get-Printers for.
QUEUE_ATTRIBUTES = (
    "printer-name",
    "printer-id",
    "printer-state",
    "printer-state-reasons",
    "printer-is-accepting-jobs",
    "queued-job-count",
    DEVICE_URI,
    "printer-location",
    "printer-info",
    "printer-uri-supported",
)

#: What `jobs` asks Get-Jobs for.
JOB_ATTRIBUTES = (
    "job-id",
    "job-printer-uri",
    "job-originating-user-name",
    "job-name",
    "job-state",
    "job-state-reasons",
    "job-k-octets",
    "job-impressions",
    "time-at-creation",
)

PRINTER_STATES = {3: "idle", 4: "processing", 5: "stopped"}
JOB_STATES = {
    3: "pending",
    4: "pending-held",
    5: "processing",
    6: "processing-stopped",
    7: "canceled",
    8: "aborted",
    9: "completed",
}

#: The printer operations of `pause`, `resume`, `enable`, `disable`.
PRINTER_OPERATIONS = {
    "pause": Operation.PAUSE_PRINTER,
    "resume": Operation.RESUME_PRINTER,
    "enable": Operation.ENABLE_PRINTER,
    "disable": Operation.DISABLE_PRINTER,
}

#: The job operations of `cancel`, `hold`, `release`.
JOB_OPERATIONS = {
    "cancel": Operation.CANCEL_JOB,
    "hold": Operation.HOLD_JOB,
    "release": Operation.RELEASE_JOB,
}

#: --completed / --all / neither: Get-Jobs which-jobs.
WHICH_JOBS = ("not-completed", "completed", "all")


def _system(session: Session) -> Attribute:
    return Attribute.of("system-uri", ValueTag.URI, session.system_uri)


def _printer(session: Session, name: str) -> Attribute:
    return Attribute.of("printer-uri", ValueTag.URI, session.printer_uri(name))


def _job(session: Session, job_id: int) -> Attribute:
    return Attribute.of("job-uri", ValueTag.URI, session.job_uri(job_id))


def _keywords(name: str, values: Sequence[str]) -> Attribute:
    return Attribute.of(name, ValueTag.KEYWORD, *values)


def _groups(message: Message, tag: DelimiterTag) -> list[Group]:
    return message.groups_of(tag)


def _int(group: Group, name: str) -> int | None:
    value = group.value(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(group: Group, name: str) -> str:
    return text_of(group.value(name))


def _texts(group: Group, name: str) -> list[str]:
    return [text_of(v) for v in group.values(name)]


# --------------------------------------------------------------------------
# Queues


def queue_row(group: Group) -> dict[str, Any]:
    """One printer of a Get-Printers answer, as `queues` shows it."""
    state = _int(group, "printer-state")
    reasons = [r for r in _texts(group, "printer-state-reasons") if r != "none"]
    return {
        "name": _text(group, "printer-name"),
        "printer_id": _int(group, "printer-id"),
        "state": PRINTER_STATES.get(state or 0, str(state)),
        "state_reasons": reasons,
        "accepting": group.value("printer-is-accepting-jobs") is True,
        "jobs": _int(group, "queued-job-count") or 0,
        "backend": _text(group, DEVICE_URI) or None,
        "location": _text(group, "printer-location"),
        "info": _text(group, "printer-info"),
        "uri": (_texts(group, "printer-uri-supported") or [""])[0],
    }


async def list_queues(session: Session) -> list[dict[str, Any]]:
    """Get-Printers: every queue."""
    answer = await session.call(
        Operation.GET_PRINTERS,
        _system(session),
        [_keywords("requested-attributes", QUEUE_ATTRIBUTES)],
    )
    return [queue_row(g) for g in _groups(answer, DelimiterTag.PRINTER_ATTRIBUTES)]


async def printer_id(session: Session, name: str) -> int:
    """The printer-id of queue `name` (Get-Printers); `Refused` when there is none."""
    for queue in await list_queues(session):
        if queue["name"] == name and queue["printer_id"] is not None:
            return int(queue["printer_id"])
    raise Refused("client-error-not-found", f"no queue named {name}")


def backend_options(options: Sequence[str]) -> list[str]:
    """``--option key=value`` texts, checked for their ``=`` (`UsageError`)."""
    for option in options:
        key, sep, _ = option.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option {option!r}: give key=value")
    return list(options)


async def add_queue(
    session: Session,
    name: str,
    backend: str,
    *,
    options: Sequence[str] = (),
    info: str | None = None,
    location: str | None = None,
    start: bool = False,
) -> dict[str, Any]:
    """Create-Printer of queue `name` with backend URI `backend`; with `start`,
    Startup-One-Printer (a created queue starts stopped and not accepting)."""
    checked = backend_options(options)
    attributes = [
        _keywords("printer-service-type", ["print"]),
        Attribute.of(DEVICE_URI, ValueTag.URI, backend),
    ]
    if checked:
        attributes.append(Attribute.of(BACKEND_OPTIONS, ValueTag.TEXT, *checked))
    printer = Group(DelimiterTag.PRINTER_ATTRIBUTES)
    printer.add_name("printer-name", name)
    if info is not None:
        printer.add_text("printer-info", info)
    if location is not None:
        printer.add_text("printer-location", location)
    answer = await session.call(Operation.CREATE_PRINTER, _system(session), attributes, [printer])
    created = next(
        iter(_groups(answer, DelimiterTag.PRINTER_ATTRIBUTES)),
        Group(DelimiterTag.PRINTER_ATTRIBUTES),
    )
    number = _int(created, "printer-id")
    if start and number is not None:
        await session.call(
            Operation.STARTUP_ONE_PRINTER,
            _system(session),
            [Attribute.of("printer-id", ValueTag.INTEGER, number)],
        )
    return {
        "operation": "add",
        "queue": name,
        "printer_id": number,
        "backend": backend,
        "started": start,
    }


async def remove_queue(session: Session, name: str, *, cancel_jobs: bool) -> dict[str, Any]:
    """Delete-Printer by the queue's printer-id (with gateway-cancel-jobs)."""
    number = await printer_id(session, name)
    attributes = [Attribute.of("printer-id", ValueTag.INTEGER, number)]
    if cancel_jobs:
        attributes.append(Attribute.of(CANCEL_JOBS, ValueTag.BOOLEAN, True))
    await session.call(Operation.DELETE_PRINTER, _system(session), attributes)
    return {"operation": "remove", "queue": name, "printer_id": number}


async def printer_operation(session: Session, command: str, name: str) -> dict[str, Any]:
    """Pause-, Resume-, Enable- or Disable-Printer (`PRINTER_OPERATIONS`) of `name`."""
    await session.call(PRINTER_OPERATIONS[command], _printer(session, name))
    return {"operation": command, "queue": name}


# --------------------------------------------------------------------------
# Jobs


def _queue_of(uri: str) -> str:
    """The queue name of a job-printer-uri (``.../printers/NAME``)."""
    head, _, tail = uri.rstrip("/").rpartition("/")
    return tail if head.endswith("/printers") else uri


def job_row(group: Group) -> dict[str, Any]:
    """One job of a Get-Jobs answer, as `jobs` shows it."""
    state = _int(group, "job-state")
    return {
        "id": _int(group, "job-id"),
        "queue": _queue_of(_text(group, "job-printer-uri")),
        "user": _text(group, "job-originating-user-name"),
        "name": _text(group, "job-name"),
        "state": JOB_STATES.get(state or 0, str(state)),
        "state_reasons": [r for r in _texts(group, "job-state-reasons") if r != "none"],
        "k_octets": _int(group, "job-k-octets"),
        "pages": _int(group, "job-impressions"),
        "created": _int(group, "time-at-creation"),
    }


async def list_jobs(
    session: Session, name: str | None = None, *, which: str = "not-completed"
) -> list[dict[str, Any]]:
    """Get-Jobs of queue `name`, or of every queue (printer-uri ``/``)."""
    target = (
        _printer(session, name)
        if name is not None
        else Attribute.of("printer-uri", ValueTag.URI, session.all_printers_uri)
    )
    answer = await session.call(
        Operation.GET_JOBS,
        target,
        [
            _keywords("which-jobs", [which]),
            _keywords("requested-attributes", JOB_ATTRIBUTES),
        ],
    )
    return [job_row(g) for g in _groups(answer, DelimiterTag.JOB_ATTRIBUTES)]


async def job_operation(session: Session, command: str, job_id: int) -> dict[str, Any]:
    """Cancel-, Hold- or Release-Job (`JOB_OPERATIONS`) of job `job_id`."""
    await session.call(JOB_OPERATIONS[command], _job(session, job_id))
    return {"operation": command, "job": job_id}


async def move_job(session: Session, job_id: int, name: str) -> dict[str, Any]:
    """CUPS-Move-Job of job `job_id` to queue `name` (job-printer-uri)."""
    await session.call(
        Operation.CUPS_MOVE_JOB,
        _job(session, job_id),
        [Attribute.of("job-printer-uri", ValueTag.URI, session.printer_uri(name))],
    )
    return {"operation": "move", "job": job_id, "queue": name}
