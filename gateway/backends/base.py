"""What every backend offers the dispatcher, and the errors it may raise.

The dispatcher is the only caller. A backend never changes a job itself; it
reports what happened (`Submission`, `RemoteJobStatus`) or raises
`TransientBackendError` (retry later, the job stays pending) or
`PermanentBackendError` (the job ends aborted with the reason as its
job-state-message).

Each backend module also owns the table of its options (`BackendOption`: the
URI query and ``[queues.NAME.backend_options]``); `parse_options` reads
values by such a table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from gateway.core.job import Document, Job, JobState


class BackendError(Exception):
    """A backend could not do what it was asked.

    ``reason`` is a printer-state-reasons keyword describing the queue while
    the error lasts (``connecting-to-device``, ``offline-report``, ...).
    """

    permanent = False

    def __init__(self, message: str, *, reason: str = "other") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class TransientBackendError(BackendError):
    """Try again later: the printer is busy, down, unreachable or out of space."""


class BackendBusy(TransientBackendError):
    """The printer is busy with another job and takes the next in a moment
    (IPP server-error-busy): the dispatcher asks again soon, without backing off."""


class PermanentBackendError(BackendError):
    """Retrying cannot help: the job is aborted with this message."""

    permanent = True


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of handing a job to a backend.

    ``state`` is COMPLETED when the backend is done with the job as soon as it
    took it (a folder), else PROCESSING with the remote job's identity in
    ``remote_job_id`` so that the dispatcher can follow and cancel it.
    """

    state: JobState
    remote_job_id: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class RemoteJobStatus:
    """What the backend knows of a forwarded job now."""

    state: JobState
    reasons: tuple[str, ...] = ("none",)
    message: str = ""
    impressions_completed: int | None = None


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """The state of what the backend talks to, for printer-state(-reasons)."""

    state: str = "idle"  # idle | processing | stopped
    reasons: tuple[str, ...] = ("none",)
    message: str = ""
    accepting: bool = True


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the queue can take, as the IPP front-end advertises it.

    ``document_formats`` None means any format is passed through.
    ``printer_attributes`` holds extra IPP Printer attributes (media, sides,
    ...) reported by the real printer, as JSON values.
    """

    document_formats: tuple[str, ...] | None = None
    printer_attributes: Mapping[str, Any] = field(default_factory=dict)


class DocumentSource(Protocol):
    """Where a backend reads a job's documents from (the spool)."""

    def document_path(self, doc: Document) -> Path: ...


class Backend(Protocol):
    """A destination for one queue's jobs."""

    uri: str
    #: True when the next job may only be sent once the previous one ended
    #: (the dispatcher waits for it); a backend without the attribute pipelines.
    one_job_at_a_time: bool

    async def submit(self, job: Job, source: DocumentSource) -> Submission:
        """Forward the job; stream documents from ``source``; never hold one whole."""
        ...

    async def job_status(self, job: Job) -> RemoteJobStatus:
        """The state of a job this backend accepted as PROCESSING."""
        ...

    async def cancel(self, job: Job) -> None:
        """Cancel a forwarded job at the destination (best effort, may raise)."""
        ...

    async def printer_status(self) -> PrinterStatus:
        """The destination's current state."""
        ...

    def capabilities(self) -> Capabilities:
        """What the destination takes (may be refreshed by `printer_status`)."""
        ...

    async def aclose(self) -> None:
        """Release connections and tasks."""
        ...


# ---------------------------------------------------------------------------
# Backend options


class OptionError(ValueError):
    """A backend option with a value the backend cannot take: ``name`` is the
    option, ``reason`` what is wrong (starting with the value when there is
    one); ``str()`` reads like the URI query, ``name=reason``."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}={reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BackendOption:
    """One option of a backend, as its module's option table lists it.

    ``name`` is how the URI query and ``backend_options`` spell it; ``types``
    the TOML types a ``backend_options`` value may have; ``parse`` reads a
    value (query text or a TOML value) into the setting and raises
    `ValueError`, starting with the value, when it cannot; ``help`` says what
    it does. ``field`` is the attribute of the backend's settings it sets (the
    name, unless given) and ``default`` that attribute's default: `option_table`
    fills both in.
    """

    name: str
    types: type | tuple[type, ...]
    parse: Callable[[Any], Any]
    help: str
    field: str = ""
    default: Any = None


def option_table(settings: type, *options: BackendOption) -> Mapping[str, BackendOption]:
    """A backend's options by name, each with its default read from the
    ``settings`` dataclass, so that a default is written once, on its field."""
    defaults = {f.name: f.default for f in dataclasses.fields(settings)}
    table = {}
    for option in options:
        attribute = option.field or option.name
        table[option.name] = dataclasses.replace(
            option, field=attribute, default=defaults[attribute]
        )
    return MappingProxyType(table)


def parse_options(
    table: Mapping[str, BackendOption], values: Mapping[str, Any], *, kind: str
) -> dict[str, Any]:
    """``{field: setting}`` for every option in ``values``, read by ``table``.

    A name not in the table raises `ValueError` (``name: unknown KIND option
    (known: ...)``), a value its parser refuses `OptionError`.
    """
    settings: dict[str, Any] = {}
    for name, value in values.items():
        option = table.get(name)
        if option is None:
            known = ", ".join(sorted(table))
            raise ValueError(f"{name}: unknown {kind} option (known: {known})")
        try:
            settings[option.field] = option.parse(value)
        except ValueError as exc:
            raise OptionError(name, str(exc)) from None
    return settings
