"""The subscription store: IPP event subscriptions for the ``ippget`` pull method.

RFC 3995 subscription objects and RFC 3996 event logs.

Why: IPP/2.1 (PWG 5100.12 section 6.3) requires subscriptions, clients such as
CUPS's ipp backend and mobile print services watch jobs with Get-Notifications
instead of polling Get-Job-Attributes, and the INFRA proxy role (PWG 5100.18)
waits for job-fetchable events. Events come from the spool's change listener
(`job_changed`), so every job change made by either front-end or the
dispatcher is seen; printer events are posted (`post_printer_event`) by the
code that changes a printer, and printer-state changes that follow from job
changes (idle <-> processing) are derived here from the queues' state.

Persistence: printer, job and System subscriptions are kept in the spool's
key/value state (`META_KEY`, written with `Spool.set_meta` on create, renew and
cancel: in the shared PostgreSQL store too), so a restart keeps them. Event
logs are not kept (RFC 3996 lets them go after ``ippget-event-life``), but the
sequence numbers continue: each subscription has a persisted `reserved`
number, the highest sequence number it may have handed out. Before a
Get-Notifications answer shows a number above it, the store moves it a block
(`SEQUENCE_BLOCK`) ahead and writes it (`Subscriptions.reserve`), so there is
one write per block of delivered events, not one per event; after a restart
numbers go on from ``reserved + 1``. The trade-off: RFC 3995 section 5.3.9 says
numbers grow by one per event; after a restart there may be a gap (up to a
block), as with cupsd's subscriptions file. A number a client has seen is
never given again.

Bounds: at most `MAX_SUBSCRIPTIONS` subscriptions, `NOTIFY_MAX_EVENTS` events
per subscription (oldest dropped), events older than `IPPGET_EVENT_LIFE`
seconds dropped, leases expire, and a job subscription ends `IPPGET_EVENT_LIFE`
seconds after its job (so its last events can still be fetched).
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import trio

from gateway.core.job import Job
from gateway.core.spool import Spool

from .notify_wait import NotifyWaits
from .printer_attributes import IPPGET_EVENT_LIFE, NOTIFY_MAX_EVENTS

log = logging.getLogger("gateway.ipp")

MAX_SUBSCRIPTIONS = 100
#: The spool key/value entry holding the subscriptions (JSON, `Subscriptions.to_json`).
META_KEY = "ipp.subscriptions"
#: Sequence numbers reserved (and written) at a time; see the module doc.
SEQUENCE_BLOCK = 100

#: The queue name of System subscriptions (`request.SYSTEM_SUBSCRIPTIONS`: no queue has it).
SYSTEM_QUEUE = ""

#: A queue's printer state as the store compares it: printer-state, printer-state-reasons.
PrinterState = tuple[int, tuple[str, ...]]
#: printer-state stopped (RFC 8011 section 5.4.11).
PRINTER_STOPPED = 5


@dataclass(frozen=True, slots=True)
class Event:
    """One event as kept for ippget."""

    sequence: int
    event: str  # notify-subscribed-event
    time: float
    queue: str
    text: str
    job_id: int | None = None
    job_state: int | None = None
    job_state_reasons: tuple[str, ...] = ()
    job_name: str = ""
    document_number: int | None = None
    impressions_completed: int | None = None


@dataclass(slots=True)
class Subscription:
    """One subscription object (RFC 3995 section 5.3)."""

    id: int
    queue: str
    events: frozenset[str]
    user: str
    lease: int  # notify-lease-duration; 0 = forever
    created: float
    expires: float | None
    job_id: int | None = None
    user_data: bytes | None = None
    charset: str = "utf-8"
    language: str = "en"
    next_sequence: int = 1
    #: The highest sequence number reserved durably (see the module doc).
    reserved: int = 0
    job_done: bool = False
    done_at: float | None = None  # when its job ended (job subscriptions)
    log: collections.deque[Event] = field(
        default_factory=lambda: collections.deque(maxlen=NOTIFY_MAX_EVENTS)
    )

    def add(self, event: Event) -> None:
        """Append an event, giving it the next sequence number."""
        self.log.append(dataclasses.replace(event, sequence=self.next_sequence))
        self.next_sequence += 1

    def events_from(self, first: int) -> list[Event]:
        """The logged events numbered `first` or more."""
        return [e for e in self.log if e.sequence >= first]

    def to_json(self) -> dict[str, Any]:
        """The persisted form (no event log)."""
        return {
            "id": self.id,
            "queue": self.queue,
            "events": sorted(self.events),
            "user": self.user,
            "lease": self.lease,
            "created": self.created,
            "expires": self.expires,
            "job_id": self.job_id,
            "user_data": None if self.user_data is None else self.user_data.hex(),
            "charset": self.charset,
            "language": self.language,
            "reserved": self.reserved,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Subscription:
        """A subscription as persisted; numbering goes on above its reserved block."""
        reserved = int(data.get("reserved", 0))
        user_data = data.get("user_data")
        expires = data.get("expires")
        job_id = data.get("job_id")
        return cls(
            id=int(data["id"]),
            queue=str(data["queue"]),
            events=frozenset(str(e) for e in data.get("events", ())),
            user=str(data.get("user", "")),
            lease=int(data.get("lease", 0)),
            created=float(data.get("created", 0.0)),
            expires=None if expires is None else float(expires),
            job_id=None if job_id is None else int(job_id),
            user_data=None if user_data is None else bytes.fromhex(str(user_data)),
            charset=str(data.get("charset", "utf-8")),
            language=str(data.get("language", "en")),
            next_sequence=reserved + 1,
            reserved=reserved,
        )


class Subscriptions:
    """The subscription store of the IPP front-end."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._items: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        self._next_id = 1
        self._spool: Spool | None = None
        self._key = META_KEY
        self._write_lock = trio.Lock()
        self._printer_state: Callable[[str], PrinterState | None] | None = None
        self._printer_seen: dict[str, PrinterState] = {}
        #: Held Get-Notifications (notify-wait), woken by every new event.
        self.waits = NotifyWaits()

    def attach(self, spool: Spool) -> None:
        """Receive job events from the spool."""
        spool.add_listener(self.job_changed)

    async def load(
        self,
        spool: Spool,
        printer_state: Callable[[str], PrinterState | None] | None = None,
        printers: Iterable[str] = (),
        *,
        owner: str = "",
    ) -> None:
        """Read the persisted subscriptions back (at start), and from now on keep
        them in `spool`; `printer_state` gives a queue's state, to derive
        printer-state-changed events (`check_printer`); `printers` are the
        queues whose state is known from the start. ``owner``: this gateway's
        instance id when several share the store, so that each keeps its own
        subscriptions under its own key (``ipp.subscriptions.<owner>``) and none
        overwrites another's; a client renews and polls at the gateway it
        subscribed at."""
        self._spool = spool
        self._key = f"{META_KEY}.{owner}" if owner else META_KEY
        self._printer_state = printer_state
        for name in printers:
            self.check_printer(name)
        raw = await spool.get_meta(self._key)
        if not raw:
            return
        try:
            data = json.loads(raw)
            subs = [Subscription.from_json(item) for item in data.get("subscriptions", ())]
            next_id = int(data.get("next_id", 1))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ipp: subscriptions in the spool not readable (%s): starting without", exc)
            return
        now = self._clock()
        kept = 0
        for sub in subs:
            if sub.expires is not None and sub.expires <= now:
                continue
            if sub.job_id is not None:
                job = spool.get(sub.job_id)
                if job is None:
                    continue
                if job.state.is_terminal:
                    sub.job_done = True
                    sub.done_at = now
            self._items[sub.id] = sub
            kept += 1
        self._next_id = max([next_id, *(s.id + 1 for s in self._items.values())])
        self._ids = itertools.count(self._next_id)
        log.info("ipp: %d subscriptions kept from before the restart", kept)

    def to_json(self) -> str:
        """Every live subscription, as persisted under `META_KEY`."""
        return json.dumps(
            {
                "version": 1,
                "next_id": self._next_id,
                "subscriptions": [s.to_json() for s in self._items.values()],
            },
            separators=(",", ":"),
        )

    async def save(self) -> None:
        """Write the subscriptions to the spool (durable when this returns);
        nothing without a spool (`load` not called: unit tests)."""
        if self._spool is None:
            return
        async with self._write_lock:
            await self._spool.set_meta(self._key, self.to_json())

    async def reserve(self, numbers: dict[int, int]) -> None:
        """Make sure each subscription's sequence numbers up to the given one
        (id -> highest number about to be shown) are reserved durably."""
        moved = False
        for sub_id, highest in numbers.items():
            sub = self._items.get(sub_id)
            if sub is not None and highest > sub.reserved:
                sub.reserved = highest + SEQUENCE_BLOCK
                moved = True
        if moved:
            await self.save()

    def _expire(self) -> None:
        now = self._clock()
        for sub in list(self._items.values()):
            if sub.expires is not None and sub.expires <= now:
                del self._items[sub.id]
                continue
            if sub.done_at is not None and now - sub.done_at > IPPGET_EVENT_LIFE:
                del self._items[sub.id]  # a job subscription ends with its job
                continue
            while sub.log and now - sub.log[0].time > IPPGET_EVENT_LIFE:
                sub.log.popleft()

    def create(
        self,
        queue: str,
        events: frozenset[str],
        user: str,
        lease: int,
        *,
        job_id: int | None = None,
        user_data: bytes | None = None,
        charset: str = "utf-8",
        language: str = "en",
    ) -> Subscription | None:
        """A new subscription, or None when the store is full (`save` it after)."""
        self._expire()
        if len(self._items) >= MAX_SUBSCRIPTIONS:
            return None
        now = self._clock()
        sub = Subscription(
            id=next(self._ids),
            queue=queue,
            events=events,
            user=user,
            lease=0 if job_id is not None else lease,
            created=now,
            expires=None if job_id is not None or lease == 0 else now + lease,
            job_id=job_id,
            user_data=user_data,
            charset=charset,
            language=language,
        )
        self._next_id = sub.id + 1
        self._items[sub.id] = sub
        return sub

    def get(self, subscription_id: int) -> Subscription | None:
        """The live subscription `subscription_id`, or None."""
        self._expire()
        return self._items.get(subscription_id)

    def of(self, queue: str, job_id: int | None = None) -> Iterator[Subscription]:
        """The subscriptions of a printer (printer subscriptions, or one job's)."""
        self._expire()
        for sub in list(self._items.values()):
            if sub.queue == queue and sub.job_id == job_id:
                yield sub

    def renew(self, sub: Subscription, lease: int) -> None:
        """Renew-Subscription: a new lease (0 = no expiry; `save` it after)."""
        sub.lease = lease
        sub.expires = None if lease == 0 else self._clock() + lease

    def cancel(self, sub: Subscription) -> None:
        """Cancel-Subscription (`save` it after)."""
        self._items.pop(sub.id, None)
        self.waits.changed()

    # -- events ----------------------------------------------------------

    def job_changed(self, job: Job, old: Job | None) -> None:
        """Spool listener: turn a job change into job (and document) events."""
        names = job_event_names(job, old)
        now = self._clock()
        added = False
        if names:
            for sub in list(self._items.values()):
                if sub.queue != job.queue or (sub.job_id is not None and sub.job_id != job.id):
                    continue
                for name, document in names:
                    if name in sub.events:
                        sub.add(_job_event(job, name, now, document))
                        added = True
                if sub.job_id == job.id and job.state.is_terminal and not sub.job_done:
                    sub.job_done = True
                    sub.done_at = now
                    added = True
        if added:
            self.waits.changed()
        self.check_printer(job.queue)

    def check_printer(self, queue: str) -> None:
        """Post printer-state-changed (and printer-stopped) when the state of
        printer `queue` differs from the last one seen: after a job change, and
        from the queues' state listener (`Queues.watch_state`: the backend's
        status, the dispatcher's problem)."""
        if self._printer_state is None:
            return
        state = self._printer_state(queue)
        seen = self._printer_seen.get(queue)
        if state is None or state == seen:
            return
        self._printer_seen[queue] = state
        if seen is None:
            return  # the first look: nothing to compare with
        reasons = ",".join(state[1])
        self.post_printer_event(queue, "printer-state-changed", f"printer {queue}: {reasons}")
        if state[0] == PRINTER_STOPPED and seen[0] != PRINTER_STOPPED:
            self.post_printer_event(queue, "printer-stopped", f"printer {queue} stopped")

    def post_printer_event(self, queue: str, event: str, text: str) -> None:
        """A printer event (printer-state-changed, printer-config-changed, ...)
        for the subscribers of printer `queue` and of the System."""
        self.printer_changed(queue, event, text)
        if queue != SYSTEM_QUEUE:
            self.printer_changed(SYSTEM_QUEUE, event, text)

    def printer_changed(self, queue: str, event: str, text: str) -> None:
        """A printer (or System) event for the printer subscriptions of `queue` only."""
        now = self._clock()
        if event in ("printer-state-changed", "printer-stopped") and self._printer_state:
            state = self._printer_state(queue)  # what this event already told
            if state is not None:
                self._printer_seen[queue] = state
        for sub in list(self._items.values()):
            if sub.queue == queue and sub.job_id is None and event in sub.events:
                sub.add(Event(sequence=0, event=event, time=now, queue=queue, text=text))
        self.waits.changed()


def job_event_names(job: Job, old: Job | None) -> list[tuple[str, int | None]]:
    """The events (name, document number or None) of one job change."""
    names: list[tuple[str, int | None]] = []
    if old is None:
        names += [("job-created", None), ("job-state-changed", None)]
    elif old.state != job.state or old.state_reasons != job.state_reasons:
        names.append(("job-state-changed", None))
    if old is not None and old.attributes != job.attributes:
        names.append(("job-config-changed", None))
    if old is not None and old.impressions_completed != job.impressions_completed:
        names.append(("job-progress", None))
    if "job-fetchable" in job.state_reasons and (
        old is None or "job-fetchable" not in old.state_reasons
    ):
        names.append(("job-fetchable", None))
    known = 0 if old is None else len(old.documents)
    names += [("document-created", d.number) for d in job.documents[known:]]
    if old is not None and old.state != job.state:
        names += [("document-state-changed", d.number) for d in job.documents]
    if job.state.is_terminal and (old is None or not old.state.is_terminal):
        names.append(("job-completed", None))
        names += [("document-completed", d.number) for d in job.documents]
    return names


def _job_event(job: Job, name: str, now: float, document: int | None) -> Event:
    what = name.removeprefix("job-") if document is None else name
    subject = f"job {job.id}" if document is None else f"job {job.id} document {document}"
    return Event(
        sequence=0,
        event=name,
        time=now,
        queue=job.queue,
        text=f"{subject} {what}: {job.state.keyword}",
        job_id=job.id,
        job_state=int(job.state),
        job_state_reasons=job.state_reasons,
        job_name=job.name,
        document_number=document,
        impressions_completed=job.impressions_completed,
    )
