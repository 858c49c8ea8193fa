"""When each queue's backend is asked for the printer's state: often while the
queue has work, rarely while it is idle, never all at once.

Why: with 2,000 ``ipp://`` queues, asking every printer every 30 s is 67
requests a second from the gateway while nothing prints, and a network of
printers answering them. The scheduler keeps one due time per queue:

- a queue with work (jobs not yet ended, a job being sent, a problem or a
  printer not idle) is asked every `PollSettings.busy_interval` seconds;
- an idle one every `PollSettings.idle_interval` seconds;
- every interval is stretched or shrunk by up to ``jitter`` (a fraction) at
  random, so queues started together drift apart;
- polls of remote backends (every backend but ``file://``, which only looks
  at a local folder) share one budget of `PollSettings.per_second` polls a
  second (a token bucket of one second's worth), so 2,000 idle printers cost
  at most that many requests a second whatever the intervals say; the due
  queue that waited longest goes first;
- `StatusPoller.poke` (a queue got a job) brings a queue's next poll forward
  to one busy interval from now.

At start every remote queue is due at once: the budget spreads them out (one
queue is asked at once, as before; 2,000 at 2 a second take about 17 minutes);
idle ``file://`` queues are spread over the first busy interval.

The state the front-ends show is the last answer, with the time it was taken
in `Queue.status_checked` (the IPP front-end adds "as of" to
printer-state-message for remote printers).
"""

from __future__ import annotations

import heapq
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from gateway.backends.base import BackendError
from gateway.config import DispatchConfig
from gateway.core.queues import Queue, Queues

log = logging.getLogger("gateway.dispatcher")


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How often printers are asked for their state (``[dispatch]`` settings)."""

    busy_interval: float = 30.0  # status_interval_busy
    idle_interval: float = 300.0  # status_interval_idle
    per_second: float = 2.0  # status_polls_per_second (remote backends, in total)
    jitter: float = 0.1  # +- this fraction of each interval, at random
    timeout: float = 15.0  # one poll
    concurrency: int = 8  # polls waiting for an answer at once

    @classmethod
    def of(cls, config: DispatchConfig) -> PollSettings:
        """The settings of ``[dispatch]``."""
        return cls(
            busy_interval=config.status_interval_busy,
            idle_interval=config.status_interval_idle,
            per_second=config.status_polls_per_second,
        )


#: The shortest interval between two polls of one queue (an interval of 0 would spin).
MIN_INTERVAL = 1.0


def is_local(queue: Queue) -> bool:
    """Whether the queue's backend state is local (a folder), not a network request."""
    return queue.backend.uri.startswith("file:")


class TokenBucket:
    """At most `rate` takes a second, bursts of up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._stamp: float | None = None

    async def take(self) -> None:
        """Wait for a token and use it."""
        while True:
            now = trio.current_time()
            if self._stamp is not None:
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0 - 1e-9:  # rounding must not leave a token unusable
                self._tokens = max(0.0, self._tokens - 1.0)
                return
            await trio.sleep((1.0 - self._tokens) / self.rate)


class StatusPoller:
    """Asks each queue's backend for the printer's state; see the module doc."""

    def __init__(
        self,
        queues: Queues,
        has_work: Callable[[Queue], bool],
        settings: PollSettings | None = None,
        *,
        rng: random.Random | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.queues = queues
        self.settings = settings or PollSettings()
        self._has_work = has_work
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._changed = trio.Event()
        self._bucket = TokenBucket(self.settings.per_second)
        #: Polls started, remote and local (for tests and the benchmark's notes).
        self.polls = 0

    # -- the schedule ------------------------------------------------------

    def interval(self, queue: Queue) -> float:
        """Seconds until `queue` is asked again, jitter included."""
        s = self.settings
        base = max(MIN_INTERVAL, s.busy_interval if self.busy(queue) else s.idle_interval)
        return base * (1.0 + self._rng.uniform(-s.jitter, s.jitter))

    def busy(self, queue: Queue) -> bool:
        """Whether the queue has work or state to follow (asked often)."""
        status = queue.backend_status
        return (
            queue.busy
            or queue.problem is not None
            or status.state != "idle"
            or status.reasons != ("none",)
            or self._has_work(queue)
        )

    def due(self, name: str) -> float | None:
        """When queue `name` is asked next (trio clock), if scheduled."""
        return self._due.get(name)

    def _schedule(self, name: str, when: float) -> None:
        self._due[name] = when
        self._seq += 1
        heapq.heappush(self._heap, (when, self._seq, name))
        self._changed.set()

    def poke(self, name: str) -> None:
        """Queue `name` got work: ask it within one busy interval."""
        due = self._due.get(name)
        soon = trio.current_time() + self.settings.busy_interval
        if (due is None and name in self.queues) or (due is not None and due > soon):
            self._schedule(name, soon)  # (not scheduled yet: a queue added at run time)

    def _next(self) -> tuple[float, str] | None:
        while self._heap:
            when, _, name = self._heap[0]
            if self._due.get(name) == when:
                return when, name
            heapq.heappop(self._heap)  # superseded by a later _schedule
        return None

    # -- running -----------------------------------------------------------

    async def run(self) -> None:
        """Poll until cancelled."""
        now = trio.current_time()
        spread = self.settings.busy_interval
        for queue in self.queues:
            # A folder's state is local and cheap, but 2,000 of them at once would
            # hold up the start: spread those without work over one busy interval.
            local_idle = is_local(queue) and not self.busy(queue)
            self._schedule(queue.name, now + (self._rng.uniform(0, spread) if local_idle else 0))
        limiter = trio.Semaphore(max(1, self.settings.concurrency))
        async with trio.open_nursery() as nursery:
            while True:
                upcoming = self._next()
                if upcoming is None:
                    self._changed = trio.Event()
                    await self._changed.wait()
                    continue
                when, name = upcoming
                delay = when - trio.current_time()
                if delay > 0:
                    self._changed = trio.Event()
                    with trio.move_on_after(delay):
                        await self._changed.wait()
                    continue
                target = self.queues.get(name)
                heapq.heappop(self._heap)
                del self._due[name]
                if target is None:
                    continue
                if not is_local(target):
                    await self._bucket.take()
                await limiter.acquire()
                nursery.start_soon(self._poll, target, limiter)

    async def _poll(self, queue: Queue, limiter: trio.Semaphore) -> None:
        self.polls += 1
        try:
            with trio.move_on_after(self.settings.timeout):
                try:
                    queue.backend_status = await queue.backend.printer_status()
                    queue.status_checked = self._wall_clock()
                except BackendError as exc:
                    queue.problem = (exc.reason, exc.message)
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except Exception:  # a bug in a backend must not stop the polling
            log.exception("queue %s: printer status failed", queue.name)
        finally:
            limiter.release()
            interval = self.interval(queue)
            if math.isfinite(interval):
                self._schedule(queue.name, trio.current_time() + interval)
