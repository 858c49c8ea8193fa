"""The one job model both front-ends and every backend share.

A job carries its IPP attributes (the common language of the gateway), its
documents, where it came from and, once forwarded, who holds it downstream.
Job states are IPP job-state values (RFC 8011 section 5.3.7); every change of
state goes through `JobState.check_transition`, which reads one written table.
Beside it, on `Job`, are the lifecycle rules the spool applies: the state a new
job starts in, what a cancel does in each state, how an incoming job is closed,
which time-at-* field each transition sets, what a restart does to a job that
was being forwarded. They are pure (the caller passes the time), so the whole
lifecycle can be read, and tested, in one place.

Attribute values are plain JSON values (str, int, bool, lists and dicts of
them), keyed by IPP attribute name ("job-name", "copies", ...). The IPP
front-end knows each attribute's syntax; the spool only stores JSON.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeAlias

JsonValue: TypeAlias = Any
Attributes: TypeAlias = dict[str, JsonValue]


class JobState(enum.IntEnum):
    """IPP job-state (RFC 8011 section 5.3.7)."""

    PENDING = 3
    PENDING_HELD = 4
    PROCESSING = 5
    PROCESSING_STOPPED = 6
    CANCELED = 7
    ABORTED = 8
    COMPLETED = 9

    @property
    def keyword(self) -> str:
        """The IPP keyword form, e.g. ``processing-stopped``."""
        return self.name.lower().replace("_", "-")

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_forwarding(self) -> bool:
        """Processing or processing-stopped: the job is with (or going to) its backend."""
        return self in FORWARDING_STATES

    def check_transition(self, new: JobState) -> None:
        """Raise `IllegalTransition` unless ``self -> new`` is in the table."""
        if new not in TRANSITIONS[self]:
            raise IllegalTransition(self, new)


TERMINAL_STATES: Final = frozenset({JobState.CANCELED, JobState.ABORTED, JobState.COMPLETED})
FORWARDING_STATES: Final = frozenset({JobState.PROCESSING, JobState.PROCESSING_STOPPED})

#: The transition table. A state may also "move" to itself (an update of
#: reasons or message); that is allowed for every non-terminal state.
TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = {
    JobState.PENDING: frozenset(
        {
            JobState.PENDING,
            JobState.PENDING_HELD,  # Hold-Job, job-hold-until
            JobState.PROCESSING,  # the dispatcher starts forwarding
            JobState.CANCELED,  # Cancel-Job, LPD remove
            JobState.ABORTED,  # Create-Job never closed, recovery of a broken job
        }
    ),
    JobState.PENDING_HELD: frozenset(
        {
            JobState.PENDING_HELD,
            JobState.PENDING,  # Release-Job
            JobState.CANCELED,
            JobState.ABORTED,
        }
    ),
    JobState.PROCESSING: frozenset(
        {
            JobState.PROCESSING,
            JobState.PENDING,  # transient backend error: retry later
            JobState.PROCESSING_STOPPED,  # the remote printer stopped
            JobState.COMPLETED,
            JobState.CANCELED,
            JobState.ABORTED,  # permanent backend error
        }
    ),
    JobState.PROCESSING_STOPPED: frozenset(
        {
            JobState.PROCESSING_STOPPED,
            JobState.PROCESSING,
            JobState.PENDING,
            JobState.COMPLETED,
            JobState.CANCELED,
            JobState.ABORTED,
        }
    ),
    JobState.CANCELED: frozenset(),
    JobState.ABORTED: frozenset(),
    JobState.COMPLETED: frozenset(),
}


class IllegalTransition(Exception):
    """A job was asked to move between two states the table does not join."""

    def __init__(self, old: JobState, new: JobState) -> None:
        super().__init__(f"illegal job-state transition {old.keyword} -> {new.keyword}")
        self.old = old
        self.new = new


class Frontend(enum.StrEnum):
    """Which listener a job came in through."""

    LPD = "lpd"
    IPP = "ipp"
    API = "api"  # put into the spool directly (tests, tools)
    INFRA = "infra"  # fetched from an Infrastructure Printer (gateway/infra/, PWG 5100.18)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a job came from.

    ``peer`` is the client's network address as seen by the listener (never
    client-supplied text). ``host`` is the host name the client claimed (LPD
    ``H`` line, IPP job-originating-host-name), ``user`` the user it claimed or
    authenticated as; ``authenticated`` is true when that user was proven (a
    password over ipps), which `gateway.core.policy` reads. ``lpd_control_file``
    and ``lpd_job_number`` are kept so that an LPD client can later remove its
    job by its own number.

    A job fetched from an Infrastructure Printer (``Frontend.INFRA``) keeps its
    remote identity, so that a restart recognises it and never spools it twice:
    ``fetched_from`` (the Infrastructure Printer's URI, without credentials),
    ``fetched_job_id`` (its job-id there) and ``output_device_uuid`` (ours).
    """

    frontend: Frontend
    peer: str = ""
    host: str = ""
    user: str = ""
    lpd_control_file: str | None = None
    lpd_job_number: int | None = None
    authenticated: bool = False
    fetched_from: str = ""
    fetched_job_id: int | None = None
    output_device_uuid: str = ""

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "frontend": self.frontend.value,
            "peer": self.peer,
            "host": self.host,
            "user": self.user,
            "lpd_control_file": self.lpd_control_file,
            "lpd_job_number": self.lpd_job_number,
            "authenticated": self.authenticated,
        }
        if self.fetched_from:  # only fetched jobs carry these (older records: none)
            data["fetched_from"] = self.fetched_from
            data["fetched_job_id"] = self.fetched_job_id
            data["output_device_uuid"] = self.output_device_uuid
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Origin:
        return cls(
            frontend=Frontend(data["frontend"]),
            peer=data.get("peer", ""),
            host=data.get("host", ""),
            user=data.get("user", ""),
            lpd_control_file=data.get("lpd_control_file"),
            lpd_job_number=data.get("lpd_job_number"),
            authenticated=bool(data.get("authenticated", False)),  # older records: no field
            fetched_from=data.get("fetched_from", ""),
            fetched_job_id=data.get("fetched_job_id"),
            output_device_uuid=data.get("output_device_uuid", ""),
        )


@dataclass(frozen=True, slots=True)
class Document:
    """One document of a job, durably stored in the spool.

    ``path`` is relative to the spool directory and always chosen by the
    gateway; a client's file name only ever appears in ``name``
    (document-name) or in ``attributes``.
    """

    number: int  # 1-based, in the order the job prints them
    path: str
    format: str  # document-format (MIME type)
    size: int
    sha256: str
    name: str = ""  # document-name
    attributes: Attributes = field(default_factory=dict)
    #: What the printer gets once the document is converted for it (gateway/convert/):
    #: the converted file (relative to the spool directory, "" = the original is
    #: sent), its format, size and digest, and the pages it has when known.
    print_path: str = ""
    print_format: str = ""
    print_size: int = 0
    print_sha256: str = ""
    pages: int | None = None

    def to_json(self) -> dict[str, JsonValue]:
        data: dict[str, JsonValue] = {
            "number": self.number,
            "path": self.path,
            "format": self.format,
            "size": self.size,
            "sha256": self.sha256,
            "name": self.name,
            "attributes": self.attributes,
        }
        if self.print_path:
            data["print"] = {
                "path": self.print_path,
                "format": self.print_format,
                "size": self.print_size,
                "sha256": self.print_sha256,
            }
        if self.pages is not None:
            data["pages"] = self.pages
        return data

    def evolve_attributes(self, attributes: Attributes) -> Document:
        """A copy with other document attributes."""
        return replace(self, attributes=attributes)

    @property
    def for_printer(self) -> Document:
        """The document as the backend sends it: the converted file when there is
        one, else this one."""
        if not self.print_path:
            return self
        return replace(
            self,
            path=self.print_path,
            format=self.print_format,
            size=self.print_size,
            sha256=self.print_sha256,
        )

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> Document:
        return cls(
            number=data["number"],
            path=data["path"],
            format=data["format"],
            size=data["size"],
            sha256=data["sha256"],
            name=data.get("name", ""),
            attributes=dict(data.get("attributes", {})),
            print_path=data.get("print", {}).get("path", ""),
            print_format=data.get("print", {}).get("format", ""),
            print_size=data.get("print", {}).get("size", 0),
            print_sha256=data.get("print", {}).get("sha256", ""),
            pages=data.get("pages"),
        )


@dataclass(frozen=True, slots=True)
class Job:
    """A snapshot of one job as the spool holds it.

    Jobs are immutable snapshots: the spool is the only writer, and every
    change returns a new `Job`.
    """

    id: int
    queue: str
    state: JobState
    attributes: Attributes
    documents: tuple[Document, ...]
    origin: Origin
    state_reasons: tuple[str, ...] = ("none",)
    state_message: str = ""
    created: float = 0.0  # time-at-creation, seconds since the epoch
    processing: float | None = None  # time-at-processing
    completed: float | None = None  # time-at-completed
    updated: float = 0.0  # last change of any kind (multiple-operation-time-out)
    incoming: bool = False  # Create-Job without its last document yet
    backend_job_id: str | None = None  # remote job id / LPD job number once forwarded
    attempts: int = 0  # forwarding attempts so far
    not_before: float = 0.0  # earliest time of the next forwarding attempt
    cancel_requested: bool = False  # canceled here; the backend has yet to hear of it
    impressions_completed: int = 0
    accounted: bool = False  # its accounting record is written (gateway/core/accounting.py)

    @property
    def size(self) -> int:
        """Total bytes of all documents."""
        return sum(d.size for d in self.documents)

    @property
    def k_octets(self) -> int:
        """job-k-octets: size in 1024-octet units, rounded up."""
        return (self.size + 1023) // 1024

    @property
    def name(self) -> str:
        """job-name, or the first document's name, or ``untitled``."""
        value = self.attributes.get("job-name")
        if isinstance(value, str) and value:
            return value
        for doc in self.documents:
            if doc.name:
                return doc.name
        return "untitled"

    @property
    def user(self) -> str:
        """job-originating-user-name, else requesting-user-name, else the origin's user."""
        for key in ("job-originating-user-name", "requesting-user-name"):
            value = self.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        return self.origin.user or "anonymous"

    @property
    def pages(self) -> int | None:
        """Pages of one copy of the job as the printer gets it (job-impressions):
        the sum of its documents' counted pages, None while one is not known."""
        counts = [doc.pages for doc in self.documents]
        if not counts or any(c is None for c in counts):
            return None
        return sum(c for c in counts if c is not None)

    def evolve(self, **changes: Any) -> Job:
        """A copy with some fields changed (used by the spool only)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------
    # Lifecycle rules. Each returns the next version of the job; the spool
    # checks the change against the transition table and stores it.

    @classmethod
    def submitted(
        cls,
        queue: str,
        attributes: Attributes,
        documents: tuple[Document, ...],
        origin: Origin,
        *,
        now: float,
        incoming: bool = False,
        held: bool = False,
    ) -> Job:
        """A new job (id 0 until the store gives it one): pending, or pending-held
        when ``held``; ``incoming`` while more documents are to come (Create-Job)."""
        if incoming:
            reasons: tuple[str, ...] = ("job-incoming",)
        elif held:
            reasons = ("job-hold-until-specified",)
        else:
            reasons = ("none",)
        return cls(
            id=0,
            queue=queue,
            state=JobState.PENDING_HELD if held else JobState.PENDING,
            attributes=attributes,
            documents=documents,
            origin=origin,
            state_reasons=reasons,
            created=now,
            updated=now,
            incoming=incoming,
        )

    def changed(self, now: float, **changes: Any) -> Job:
        """A copy with ``changes``; a change of state also sets the time-at-* field
        it implies: time-at-processing on the first move to processing,
        time-at-completed on the move to a terminal state (each set once)."""
        new = replace(self, **changes)
        if new.state != self.state:
            if new.state == JobState.PROCESSING and self.processing is None:
                new = replace(new, processing=now)
            if new.state.is_terminal and new.completed is None:
                new = replace(new, completed=now)
        return new

    def canceled(self, now: float, *, reason: str, message: str = "") -> Job:
        """Cancel-Job, LPD remove, Cancel-Jobs (of a job not yet terminal): canceled at
        once; one already forwarded keeps ``cancel_requested`` for the dispatcher
        to cancel at the backend too; one still incoming takes no more documents."""
        return self.changed(
            now,
            state=JobState.CANCELED,
            state_reasons=(reason,),
            state_message=message or "canceled",
            cancel_requested=self.state.is_forwarding,
            incoming=False,
        )

    @property
    def next_document_number(self) -> int:
        """The number the job's next document gets (1 for the first)."""
        return max((d.number for d in self.documents), default=0) + 1

    def with_document(self, document: Document, *, last: bool) -> Job:
        """Send-Document: ``document`` added; ``last`` closes the job (it may print)."""
        return replace(
            self,
            documents=(*self.documents, document),
            incoming=not last,
            state_reasons=("job-incoming",) if not last else ("none",),
        )

    def closed(self, now: float) -> Job:
        """Close-Job, or an incoming job timed out: one with documents may print,
        one without is aborted. A job no longer incoming is returned unchanged."""
        if not self.incoming:
            return self
        if not self.documents:
            return replace(
                self,
                incoming=False,
                state=JobState.ABORTED,
                completed=now,
                state_reasons=("aborted-by-system",),
                state_message="job was closed without any document",
            )
        return replace(self, incoming=False, state_reasons=("none",))

    def idle_incoming(self, now: float, idle: float) -> bool:
        """Incoming with no change for more than ``idle`` seconds
        (multiple-operation-time-out)."""
        return self.incoming and now - max(self.updated, self.created) > idle

    def after_restart(self) -> Job | None:
        """What a restart does: a job being forwarded that the backend never
        confirmed (no backend job id) goes back to pending, to be sent again
        (at-least-once delivery); one it did confirm stays, and the dispatcher
        resumes following it. None: no change."""
        if self.state.is_forwarding and self.backend_job_id is None:
            return replace(
                self,
                state=JobState.PENDING,
                state_reasons=("none",),
                state_message="requeued after a restart",
            )
        return None

    @property
    def ended_at(self) -> float:
        """When the job ended (time-at-completed), else when it was created:
        what history retention counts its age from."""
        return self.completed or self.created
