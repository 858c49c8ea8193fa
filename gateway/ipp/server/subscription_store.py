"""The subscription store: IPP event subscriptions for the ``ippget`` pull method.

RFC 3995 subscription objects and RFC 3996 event logs.

Why: IPP/2.1 (PWG 5100.12 section 6.3) requires subscriptions, and clients
such as CUPS's ipp backend and mobile print services watch jobs with
Get-Notifications instead of polling Get-Job-Attributes. Subscriptions live
in memory only (they are leases a client renews; after a restart clients
make new ones, as with cupsd's default of not persisting ippget events).
Events come from the spool's change listener, so every job change made by
either front-end or the dispatcher is seen.

Bounds: at most `MAX_SUBSCRIPTIONS` subscriptions, `NOTIFY_MAX_EVENTS` events
per subscription (oldest dropped), events older than `IPPGET_EVENT_LIFE`
seconds dropped, leases expire.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from gateway.core.job import Job
from gateway.core.spool import Spool

from .printer_attributes import IPPGET_EVENT_LIFE, NOTIFY_MAX_EVENTS

MAX_SUBSCRIPTIONS = 100


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
    job_done: bool = False
    log: collections.deque[Event] = field(
        default_factory=lambda: collections.deque(maxlen=NOTIFY_MAX_EVENTS)
    )

    def add(self, event: Event) -> None:
        """Append an event, giving it the next sequence number."""
        self.log.append(dataclasses.replace(event, sequence=self.next_sequence))
        self.next_sequence += 1


class Subscriptions:
    """The subscription store of the IPP front-end."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._items: dict[int, Subscription] = {}
        self._ids = itertools.count(1)

    def attach(self, spool: Spool) -> None:
        """Receive job events from the spool."""
        spool.add_listener(self.job_changed)

    def _expire(self) -> None:
        now = self._clock()
        for sub in list(self._items.values()):
            if sub.expires is not None and sub.expires <= now:
                del self._items[sub.id]
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
        """A new subscription, or None when the store is full."""
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
        """Renew-Subscription: a new lease (0 = no expiry)."""
        sub.lease = lease
        sub.expires = None if lease == 0 else self._clock() + lease

    def cancel(self, sub: Subscription) -> None:
        """Cancel-Subscription."""
        self._items.pop(sub.id, None)

    # -- events ----------------------------------------------------------

    def job_changed(self, job: Job, old: Job | None) -> None:
        """Spool listener: turn a job change into job events."""
        names: list[str] = []
        if old is None:
            names += ["job-created", "job-state-changed"]
        elif old.state != job.state or old.state_reasons != job.state_reasons:
            names.append("job-state-changed")
        if old is not None and old.attributes != job.attributes:
            names.append("job-config-changed")
        if job.state.is_terminal and (old is None or not old.state.is_terminal):
            names.append("job-completed")
        if not names:
            return
        now = self._clock()
        for sub in list(self._items.values()):
            if sub.queue != job.queue or (sub.job_id is not None and sub.job_id != job.id):
                continue
            for name in names:
                if name in sub.events:
                    sub.add(
                        Event(
                            sequence=0,
                            event=name,
                            time=now,
                            queue=job.queue,
                            text=f"job {job.id} {name.removeprefix('job-')}: {job.state.keyword}",
                            job_id=job.id,
                            job_state=int(job.state),
                            job_state_reasons=job.state_reasons,
                            job_name=job.name,
                        )
                    )
            if sub.job_id == job.id and job.state.is_terminal:
                sub.job_done = True

    def printer_changed(self, queue: str, event: str, text: str) -> None:
        """A printer event (operator pause/resume, accept/reject)."""
        now = self._clock()
        for sub in list(self._items.values()):
            if sub.queue == queue and sub.job_id is None and event in sub.events:
                sub.add(Event(sequence=0, event=event, time=now, queue=queue, text=text))
