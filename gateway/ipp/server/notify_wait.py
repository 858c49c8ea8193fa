"""Held Get-Notifications requests (RFC 3996 section 5, ``notify-wait``).

Why: a client that asks with ``notify-wait`` true wants its answer as soon as
an event comes, not at its next poll (the INFRA proxy waits so for
job-fetchable events). A held request answers at once when the store gets an
event (`NotifyWaits.changed` wakes every wait; each checks its own
subscriptions), when ``ipp.notify_wait_max`` has passed, or when the gateway
stops (`NotifyWaits.stop`: open waits are answered before the listener goes).

Deadlines: the handler reads the (small, complete) request body to its end
before it waits, so the request deadline and minimum body rate of `intake`
cover reading the request only, never the wait; and a wait is never longer
than ``ipp.idle_timeout`` (hypercorn drops a connection that sends nothing
for twice that, `serving.hypercorn_config`).

Bounds: each held wait keeps one of the ``ipp.max_connections`` request slots,
so at most a quarter of them are held at once, and a quarter of
``ipp.max_connections_per_source`` per client address (at least one each);
past either, the request is answered at once, as without ``notify-wait``,
and the client polls at the ``notify-get-interval`` it is given.
"""

from __future__ import annotations

import collections
import contextlib
import math
from collections.abc import Callable, Iterator

import trio

#: What the caps on held waits are, as a part of the request caps.
HELD_SHARE = 4
#: How long `stop` waits for held requests to be answered.
STOP_GRACE = 2.0


class NotifyWaits:
    """The Get-Notifications requests held open, and their wake-up."""

    def __init__(self) -> None:
        self.held = 0
        self._by_source: collections.Counter[str] = collections.Counter()
        self._changed = trio.Event()
        self._busy = 0  # held waits and answers being written
        self._idle = trio.Event()
        self._idle.set()
        self.stopping = False

    @staticmethod
    def caps(max_requests: int, max_per_source: int) -> tuple[int, int]:
        """The caps on held waits (total, per source) for the given request caps."""
        return max(1, max_requests // HELD_SHARE), max(1, max_per_source // HELD_SHARE)

    def changed(self) -> None:
        """Something happened (an event, a canceled subscription): wake every wait."""
        self._changed.set()
        self._changed = trio.Event()

    @contextlib.contextmanager
    def slot(self, source: str, total: int, per_source: int) -> Iterator[bool]:
        """Take a place for a held wait from `source`: yields False (and takes
        nothing) when a cap is reached or the gateway is stopping."""
        if self.stopping or self.held >= total or self._by_source[source] >= per_source:
            yield False
            return
        self.held += 1
        self._by_source[source] += 1
        try:
            with self._busy_while():
                yield True
        finally:
            self.held -= 1
            self._by_source[source] -= 1
            if self._by_source[source] <= 0:
                del self._by_source[source]

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Around the writing of an answer (`asgi`): `stop` waits for it too, so
        that a held wait answered at the stop reaches its client whole."""
        with self._busy_while():
            yield

    @contextlib.contextmanager
    def _busy_while(self) -> Iterator[None]:
        if self._busy == 0:
            self._idle = trio.Event()
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle.set()

    async def wait(self, ready: Callable[[], bool], seconds: float) -> bool:
        """Wait until `ready()` (checked at each change), `seconds` pass, or the
        gateway stops; whether `ready()` was true at the end."""
        deadline = trio.current_time() + seconds
        while not ready():
            if self.stopping:
                return False
            with trio.move_on_at(deadline) as scope:
                await self._changed.wait()
            if scope.cancelled_caught:
                return ready()
        return True

    async def stop(self) -> None:
        """The gateway stops: answer every held wait (waiting at most
        `STOP_GRACE` seconds for them, and the answers being written, to be
        done), hold no more."""
        self.stopping = True
        self.changed()
        with trio.move_on_after(STOP_GRACE):
            # A held wait hands over to the writing of its answer with no
            # checkpoint between, so busy is seen again before the loop ends.
            while self._busy:
                await self._idle.wait()


def wait_seconds(configured: float, idle_timeout: float) -> float:
    """How long one wait may last: ``ipp.notify_wait_max``, at most the idle timeout."""
    if idle_timeout <= 0 or math.isinf(idle_timeout):
        return configured
    return min(configured, idle_timeout)
