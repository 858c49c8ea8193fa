"""Queues at run time: configuration, backend and the printer state both front-ends show.

A queue's printer-state is derived, never stored: stopped when an operator
paused it or its backend says so, processing while one of its jobs is being
forwarded, idle otherwise. Its printer-state-reasons join the backend's own
reasons with the dispatcher's current problem (a printer that does not
answer shows ``connecting-to-device`` while jobs wait).

The operator's switches live here, so that every front-end applies the same
policy: `Queue.enabled` (forward jobs; Pause-Printer / Resume-Printer),
`Queue.accepting` (take new jobs; Disable-Printer / Enable-Printer) and
`Queue.hold_new_jobs` (jobs that arrive now are held; Hold-New-Jobs /
Release-Held-New-Jobs, RFC 3998). They are in memory only: a restart
takes the configured values again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gateway.backends.base import Backend, Capabilities, PrinterStatus
from gateway.config import QueueConfig


@dataclass(frozen=True, slots=True)
class QueueState:
    """printer-state, printer-state-reasons and printer-state-message of a queue."""

    state: str  # idle | processing | stopped
    reasons: tuple[str, ...]
    message: str

    @property
    def ipp_state(self) -> int:
        """printer-state as the IPP enum (3 idle, 4 processing, 5 stopped)."""
        return {"idle": 3, "processing": 4, "stopped": 5}[self.state]


class Queue:
    """One print queue: what it is configured to be and what it is doing now."""

    def __init__(self, config: QueueConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.accepting = config.accepting
        self.enabled = config.enabled
        self.hold_new_jobs = False  # new jobs arrive pending-held
        self.busy = False
        self.backend_status = PrinterStatus()
        self.problem: tuple[str, str] | None = None  # (reason keyword, message)
        self.status_checked: float | None = None  # when backend_status was last answered
        self._state: tuple[tuple[object, ...], QueueState] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def is_accepting(self) -> bool:
        """printer-is-accepting-jobs: the operator's switch and the backend's."""
        return self.accepting and self.backend_status.accepting

    def capabilities(self) -> Capabilities:
        return self.backend.capabilities()

    def state(self) -> QueueState:
        """The state now; the same object while nothing it is made of changed (a
        listing of 2,000 queues asks each one)."""
        made_of = (self.enabled, self.busy, self.backend_status, self.problem)
        cached = self._state
        if cached is not None and cached[0] == made_of:
            return cached[1]
        state = self._make_state()
        self._state = (made_of, state)
        return state

    def _make_state(self) -> QueueState:
        reasons: list[str] = [r for r in self.backend_status.reasons if r != "none"]
        messages = [self.backend_status.message] if self.backend_status.message else []
        if self.problem is not None:
            reasons.append(self.problem[0])
            messages.append(self.problem[1])
        if not self.enabled:
            reasons.insert(0, "paused")
            messages.insert(0, "queue is stopped by the operator")
        if not self.enabled or self.backend_status.state == "stopped":
            state = "stopped"
        elif self.busy:
            state = "processing"
        else:
            state = "idle"
        unique = tuple(dict.fromkeys(reasons)) or ("none",)
        return QueueState(state=state, reasons=unique, message="; ".join(messages))


class Queues:
    """The queues in configuration order; the first is the default queue."""

    def __init__(self, queues: list[Queue]) -> None:
        if not queues:
            raise ValueError("at least one queue is needed")
        self._queues = {q.name: q for q in queues}
        self.default = queues[0]

    def get(self, name: str) -> Queue | None:
        return self._queues.get(name)

    def __iter__(self) -> Iterator[Queue]:
        return iter(self._queues.values())

    def __len__(self) -> int:
        return len(self._queues)

    def __contains__(self, name: object) -> bool:
        return name in self._queues
