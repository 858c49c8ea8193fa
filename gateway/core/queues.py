"""Queues at run time: configuration, backend and the printer state both front-ends show.

A queue's printer-state is derived, never stored: stopped when an operator
paused it or shut it down or its backend says so, processing while one of its
jobs is being forwarded, idle otherwise. Its printer-state-reasons join the
backend's own reasons with the dispatcher's current problem (a printer that
does not answer shows ``connecting-to-device`` while jobs wait).

The operator's switches live here, so that every front-end applies the same
policy: `Queue.enabled` (forward jobs; Pause-Printer / Resume-Printer),
`Queue.accepting` (take new jobs; Disable-Printer / Enable-Printer),
`Queue.hold_new_jobs` (jobs that arrive now are held; Hold-New-Jobs /
Release-Held-New-Jobs, RFC 3998) and `Queue.shutdown` (Shutdown-Printer,
Shutdown-One-Printer: neither forwards nor accepts until started up again).
They change through one path, `Queues.set_switches`, which makes them durable
first (`gateway.core.admin` keeps them in the spool's store), so a restart
keeps what the operator set.

A gateway of a fleet (a shared PostgreSQL store) cannot keep a job it cannot
commit: while the store is unreachable (`Queues.set_store_problem`, set by
`gateway.core.leases`) every queue's `Queue.refuses_new_jobs` says why, both
front-ends answer "busy" (LPD NAK, IPP server-error-busy) instead of taking a
job, and printer-state-reasons shows ``other-error`` with the reason; lpq,
Get-Jobs and the status pages still answer from memory.

The set of queues changes at run time too: `Queues.add` and `Queues.remove`
(the System Service's Create-Printer and Delete-Printer, and a reload of the
configuration file). The default queue is always the first queue that comes
from the configuration file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from gateway.backends.base import Backend, Capabilities, PrinterStatus
from gateway.config import QueueConfig

if TYPE_CHECKING:
    from gateway.core.admin import Administration
    from gateway.core.spool import Spool


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


@dataclass(frozen=True, slots=True)
class Switches:
    """The operator's switches of one queue, as one value (what is stored)."""

    accepting: bool = True
    enabled: bool = True
    hold_new_jobs: bool = False
    shutdown: bool = False

    @classmethod
    def of(cls, config: QueueConfig) -> Switches:
        """The switches a queue starts with when no operator changed them."""
        return cls(accepting=config.accepting, enabled=config.enabled)


class Queue:
    """One print queue: what it is configured to be and what it is doing now.

    ``runtime``: created at run time (Create-Printer), not by the configuration
    file. ``printer_id``: the PWG 5100.22 printer-id (1-65535), stable across
    restarts; 0 while none is assigned (a queue made outside the gateway's
    start-up, as in tests).
    """

    def __init__(
        self, config: QueueConfig, backend: Backend, *, runtime: bool = False, created: float = 0.0
    ) -> None:
        self.config = config
        self.backend = backend
        self.runtime = runtime
        self.created = created  # when a run-time queue was created (0: from the file)
        self.printer_id = 0
        self.accepting = config.accepting
        self.enabled = config.enabled
        self.hold_new_jobs = False  # new jobs arrive pending-held
        self.shutdown = False  # Shutdown-Printer: stopped and not accepting
        self.busy = False
        #: Called after `backend_status` or `problem` changed (the IPP front-end's
        #: printer-state-changed events); set for every queue by `Queues.watch_state`.
        self.state_listener: Callable[[Queue], None] | None = None
        self._backend_status = PrinterStatus()
        self._problem: tuple[str, str] | None = None  # (reason keyword, message)
        self.store_problem: str | None = None  # the shared store is unreachable: why
        self.status_checked: float | None = None  # when backend_status was last answered
        self._state: tuple[tuple[object, ...], QueueState] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def backend_status(self) -> PrinterStatus:
        """What the backend last said of its printer (`gateway.core.polling`)."""
        return self._backend_status

    @backend_status.setter
    def backend_status(self, status: PrinterStatus) -> None:
        changed = status != self._backend_status
        self._backend_status = status
        if changed and self.state_listener is not None:
            self.state_listener(self)

    @property
    def problem(self) -> tuple[str, str] | None:
        """The dispatcher's current problem with the printer: (reason keyword, message)."""
        return self._problem

    @problem.setter
    def problem(self, problem: tuple[str, str] | None) -> None:
        changed = problem != self._problem
        self._problem = problem
        if changed and self.state_listener is not None:
            self.state_listener(self)

    @property
    def is_accepting(self) -> bool:
        """printer-is-accepting-jobs: the operator's switch and the backend's."""
        return self.accepting and self.backend_status.accepting

    @property
    def refuses_new_jobs(self) -> str | None:
        """Why a new job must be answered "busy" now (the shared job store cannot
        be reached), else None: the one rule both front-ends apply."""
        return self.store_problem

    @property
    def switches(self) -> Switches:
        """The operator's switches now."""
        return Switches(self.accepting, self.enabled, self.hold_new_jobs, self.shutdown)

    def apply(self, switches: Switches) -> None:
        """Take `switches` in memory (`Queues.set_switches` makes them durable first)."""
        self.accepting = switches.accepting
        self.enabled = switches.enabled
        self.hold_new_jobs = switches.hold_new_jobs
        self.shutdown = switches.shutdown

    def capabilities(self) -> Capabilities:
        return self.backend.capabilities()

    def state(self) -> QueueState:
        """The state now; the same object while nothing it is made of changed (a
        listing of 2,000 queues asks each one)."""
        made_of = (
            self.enabled,
            self.shutdown,
            self.hold_new_jobs,
            self.busy,
            self.backend_status,
            self.problem,
            self.store_problem,
        )
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
        if self.store_problem is not None:
            reasons.append("other-error")
            messages.append(self.store_problem)
        if self.shutdown:
            reasons.insert(0, "printer-shutdown")
            messages.insert(0, "queue is shut down by the operator")
        elif not self.enabled:
            reasons.insert(0, "paused")
            messages.insert(0, "queue is stopped by the operator")
        if self.hold_new_jobs:  # RFC 3998 section 7.1
            reasons.append("hold-new-jobs")
        if not self.enabled or self.shutdown or self.backend_status.state == "stopped":
            state = "stopped"
        elif self.busy:
            state = "processing"
        else:
            state = "idle"
        unique = tuple(dict.fromkeys(reasons)) or ("none",)
        return QueueState(state=state, reasons=unique, message="; ".join(messages))


class Queues:
    """The queues: those of the configuration file in its order, then those
    created at run time in the order they were made. The default queue is the
    first one from the configuration file.

    ``admin`` (set by `gateway.core.admin.Administration`): where switch changes
    are made durable, and the queues created at run time; None keeps them in
    memory only (tests that build queues by hand).
    """

    def __init__(self, queues: Sequence[Queue], *, admin: Administration | None = None) -> None:
        if not queues:
            raise ValueError("at least one queue is needed")
        self._queues: dict[str, Queue] = {}
        for queue in queues:
            if queue.name in self._queues:
                raise ValueError(f"queue {queue.name} is defined twice")
            self._queues[queue.name] = queue
        self.default = self._first_configured()
        self.admin = admin
        self._switching = trio.Lock()
        self.store_problem: str | None = None
        self._state_listener: Callable[[Queue], None] | None = None

    @classmethod
    async def restore(
        cls, spool: Spool, made: list[Queue], factory: Callable[[QueueConfig], Backend]
    ) -> Queues:
        """The queues to run at start: those of the configuration file (`made`)
        with the administration stored in the spool applied, then the queues
        created at run time (appended to `made`, whose backends the caller
        closes when it stops; `factory` makes them). See `gateway.core.admin`;
        `AdminStateError` (a ValueError) when the stored state cannot be read."""
        # gateway.core.admin builds on this module, so it is imported when used.
        from gateway.core.admin import Administration  # noqa: PLC0415

        return await Administration.restore(spool, made, factory)

    def get(self, name: str) -> Queue | None:
        return self._queues.get(name)

    def __iter__(self) -> Iterator[Queue]:
        return iter(self._queues.values())

    def __len__(self) -> int:
        return len(self._queues)

    def __contains__(self, name: object) -> bool:
        return name in self._queues

    def by_printer_id(self, printer_id: int) -> Queue | None:
        """The queue whose printer-id is `printer_id` (PWG 5100.22), if any."""
        if printer_id <= 0:
            return None
        return next((q for q in self._queues.values() if q.printer_id == printer_id), None)

    # -- the set of queues ---------------------------------------------

    def add(self, queue: Queue) -> None:
        """Add a queue at run time (after the others). The caller then tells the
        dispatcher (`Dispatcher.queue_added`); `Administration.add_queue` does both.
        ValueError if the name is taken."""
        if queue.name in self._queues:
            raise ValueError(f"queue {queue.name} already exists")
        self._queues[queue.name] = queue
        queue.store_problem = self.store_problem
        queue.state_listener = self._state_listener
        self.default = self._first_configured()

    def remove(self, name: str) -> Queue:
        """Take a queue out and return it (its jobs stay in the spool). The caller
        then tells the dispatcher (`Dispatcher.queue_removed`) and closes its
        backend once nothing uses it. KeyError if there is no such queue,
        ValueError for the last one."""
        queue = self._queues[name]
        if len(self._queues) == 1:
            raise ValueError(f"queue {name} is the only queue")
        del self._queues[name]
        if queue is self.default:
            self.default = self._first_configured()
        return queue

    def watch_state(self, listener: Callable[[Queue], None]) -> None:
        """Call ``listener(queue)`` after a queue's backend status or problem
        changed (every queue, and those added later)."""
        self._state_listener = listener
        for queue in self._queues.values():
            queue.state_listener = listener

    def set_store_problem(self, problem: str | None) -> None:
        """The shared job store cannot be reached (why), or can again (None): see
        the module doc."""
        self.store_problem = problem
        for queue in self._queues.values():
            queue.store_problem = problem

    def _first_configured(self) -> Queue:
        """The default queue: the first from the configuration file (the first
        queue at all when only run-time queues are left)."""
        queues = self._queues.values()
        return next((q for q in queues if not q.runtime), next(iter(queues)))

    # -- the operator's switches ----------------------------------------

    async def set_switches(self, changes: Sequence[tuple[Queue, Switches]]) -> None:
        """The one way an operator's switches change, for every front-end and
        every queue at once (Pause-All-Printers): each queue's new switches are
        made durable (`Administration.save_switches`), then taken in memory.
        Changes are made one call at a time, so two operators' changes never
        interleave. A store that fails raises (`SpoolError`) and changes nothing."""
        async with self._switching:
            changed = [(q, s) for q, s in changes if q.switches != s]
            if not changed:
                return
            if self.admin is not None:
                await self.admin.save_switches(changed)
            for queue, switches in changed:
                queue.apply(switches)


__all__ = ["Queue", "QueueState", "Queues", "Switches"]
