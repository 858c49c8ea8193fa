"""Forwarding leases: which gateway of a fleet forwards which queue.

Why: several gateways share one PostgreSQL job store (`gateway.core.spool.postgres`)
and every one of them accepts jobs for every queue, but a queue's jobs must go to
its backend one at a time and in order, so exactly one gateway forwards a queue.
It holds the queue's *lease*; when it dies or loses the database another gateway
takes the queue over within ``[fleet] lease_time`` (10 s by default).

Lease rows, not advisory locks
------------------------------
A session advisory lock vanishes with its connection, which sounds right but is
not: a holder whose TCP connection hangs (a cable pulled, a frozen VM) keeps its
lock until the server notices the dead peer, minutes with default keepalives, and
nobody forwards the queue meanwhile. A lease is therefore a row
``(queue, holder, epoch, expires_at)`` in ``fleet_leases`` with an expiry set by
the server's clock. Every gateway runs one statement per round (every
``lease_time / 5``) on its own connection: renew the rows it holds and take every
row that has expired (or does not exist). ``epoch`` grows each time a queue
changes hands (a fencing token, shown by the health endpoint and in the log).

Timing, with L = ``lease_time`` and h = L / 5: a row lives L - h after the renewal
that wrote it. The holder counts from the moment it *sent* the renewal (before the
server's ``now()``), by its own monotonic clock, and stops forwarding h / 2 before
the row expires, so it has stopped before anyone may take over, even if it cannot
reach the database to learn that it lost. A contender asks every h, so it takes an
expired row at most h after expiry: takeover <= L - h + h = L. A gateway that stops
cleanly deletes its rows, so its queues are taken over at the next round.

While the lease connection fails, the job store is taken to be unreachable: the
keeper sets `Queues.store_problem`, which makes both front-ends answer "busy" and
shows the reason in every queue's printer-state-reasons (`gateway.core.queues`).

The dispatcher is told by two callbacks: ``gained(queue)`` (requeue what a dead
holder left being forwarded, then forward) and ``lost(queue)`` (stop at once).
Everything that touches the database runs in a worker thread (psycopg 3, blocking)
so the event loop never waits for the network; a connect has a timeout.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

log = logging.getLogger("gateway.leases")

CONNECT_TIMEOUT = 5.0
#: How long one round's statement may take (a server that hangs must not stall renewal).
STATEMENT_TIMEOUT_MS = 3000
#: Rounds per lease time; see the module doc.
ROUNDS = 5
INSTANCE_FILE = "instance-id"

SCHEMA = """
CREATE TABLE IF NOT EXISTS fleet_leases (
    queue text PRIMARY KEY,
    holder text NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
)
"""

#: Renew what ``me`` holds, take what expired; the rows ``me`` holds after it.
ROUND = """
INSERT INTO fleet_leases AS l (queue, holder, epoch, expires_at)
SELECT q, %(me)s, 1, now() + make_interval(secs => %(life)s)
FROM unnest(%(queues)s::text[]) AS q
ON CONFLICT (queue) DO UPDATE SET
    holder = EXCLUDED.holder,
    epoch = l.epoch + CASE WHEN l.holder = EXCLUDED.holder THEN 0 ELSE 1 END,
    expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < now()
RETURNING queue, epoch
"""

HOLDERS = "SELECT queue, holder, epoch, extract(epoch FROM expires_at - now()) FROM fleet_leases"


def instance_id(spool_dir: Path, configured: str = "") -> str:
    """This gateway's id in the fleet: ``[fleet] instance_id``, else one made at the
    first start and kept in the spool folder (stable across restarts, unlike a pid,
    and distinct for two gateways on one host, unlike the host name)."""
    if configured:
        return configured
    path = spool_dir / INSTANCE_FILE
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    made = f"gw-{uuid.uuid4().hex[:12]}"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(made + "\n")
    tmp.replace(path)
    return made


@dataclass(frozen=True, slots=True)
class Held:
    """A lease this gateway holds."""

    epoch: int
    until: float  # time.monotonic() after which this gateway must not forward


class LeaseKeeper:
    """Takes and renews this gateway's leases; see the module doc."""

    def __init__(
        self,
        dsn: str,
        me: str,
        *,
        lease_time: float = 10.0,
        password: str | None = None,
        queues: Callable[[], Iterable[str]],
        on_problem: Callable[[str | None], None] = lambda _: None,
    ) -> None:
        self.dsn = dsn
        self.me = me
        self.lease_time = lease_time
        self.interval = lease_time / ROUNDS
        self.life = lease_time - self.interval  # how long a row lives after its renewal
        self._password = password
        self._queues = queues
        self._on_problem = on_problem
        self._conn: Any = None
        self._held: dict[str, Held] = {}
        self._limiter = trio.CapacityLimiter(1)
        self._wake = trio.Event()
        #: Why the store cannot be reached now (None: it can).
        self.problem: str | None = None
        self.rounds = 0

    # ------------------------------------------------------------------
    # What the dispatcher and the health endpoint ask

    def holds(self, queue: str) -> bool:
        """Whether this gateway may forward ``queue`` now."""
        held = self._held.get(queue)
        return held is not None and time.monotonic() < held.until

    def held(self) -> dict[str, Held]:
        """The leases held now (queue -> lease)."""
        now = time.monotonic()
        return {q: h for q, h in self._held.items() if now < h.until}

    def poke(self) -> None:
        """Run a round now (a queue was added)."""
        self._wake.set()

    # ------------------------------------------------------------------
    # Running

    async def run(
        self,
        gained: Callable[[str], Awaitable[None]],
        lost: Callable[[str], None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Hold leases until cancelled (then release them). ``gained`` and ``lost``
        are called as queues change hands. Started with ``nursery.start``."""
        started = False
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    await self._round(nursery, gained, lost)
                    if not started:
                        task_status.started()
                        started = True
                    with trio.move_on_after(self._next_delay()):
                        await self._wake.wait()
                    self._wake = trio.Event()
        finally:
            with trio.CancelScope(shield=True):
                await self._release()

    def _next_delay(self) -> float:
        """Until the next round: every h; sooner if a lease would lapse before."""
        delay = self.interval
        now = time.monotonic()
        for held in self._held.values():
            delay = min(delay, max(0.0, held.until - now))
        return max(0.01, delay)

    async def _round(
        self,
        nursery: trio.Nursery,
        gained: Callable[[str], Awaitable[None]],
        lost: Callable[[str], None],
    ) -> None:
        queues = sorted(set(self._queues()))
        sent = time.monotonic()
        try:
            rows = await trio.to_thread.run_sync(
                self._take, queues, limiter=self._limiter, abandon_on_cancel=True
            )
        except Exception as exc:  # psycopg errors, a closed connection
            self._set_problem(f"the job store is unreachable: {_reason(exc)}")
            rows = None
        self.rounds += 1
        now = time.monotonic()
        if rows is not None:
            self._set_problem(None)
            until = sent + self.life - self.interval / 2
            fresh = {queue: Held(epoch, until) for queue, epoch in rows}
            for queue, held in fresh.items():
                before = self._held.get(queue)
                if before is None or before.until <= now or before.epoch != held.epoch:
                    log.info(
                        "fleet: %s holds queue %s (lease epoch %d)", self.me, queue, held.epoch
                    )
                    self._held[queue] = held
                    nursery.start_soon(gained, queue)
                else:
                    self._held[queue] = held
            gone = [q for q in self._held if q not in fresh]
        else:
            gone = [q for q, h in self._held.items() if h.until <= now + self.interval]
        for queue in gone:
            held = self._held.pop(queue)
            log.warning(
                "fleet: %s no longer holds queue %s (lease epoch %d)", self.me, queue, held.epoch
            )
            lost(queue)

    def _set_problem(self, problem: str | None) -> None:
        if problem == self.problem:
            return
        if problem is not None:
            log.warning("fleet: %s", problem)
        elif self.problem is not None:
            log.info("fleet: the job store is reachable again")
        self.problem = problem
        self._on_problem(problem)

    # ------------------------------------------------------------------
    # The database (in a worker thread)

    def _connection(self) -> Any:
        import psycopg  # noqa: PLC0415 (only a fleet needs the driver)

        if self._conn is not None and not self._conn.closed:
            return self._conn
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
        if self._password is not None:
            kwargs["password"] = self._password
        conn = psycopg.connect(self.dsn, **kwargs)
        try:
            conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(7153, 1)")  # one CREATE at a time
                conn.execute(SCHEMA)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _take(self, queues: list[str]) -> list[tuple[str, int]]:
        try:
            conn = self._connection()
            rows = conn.execute(
                ROUND, {"me": self.me, "life": self.life, "queues": queues}
            ).fetchall()
        except BaseException:
            self._drop()
            raise
        return [(str(q), int(e)) for q, e in rows]

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def holders(self) -> list[tuple[str, str, int, float]]:
        """Every lease row: (queue, holder, epoch, seconds until it expires)."""
        conn = self._connection()
        return [
            (str(q), str(h), int(e), float(s)) for q, h, e, s in conn.execute(HOLDERS).fetchall()
        ]

    async def _release(self) -> None:
        """Give up every lease (a clean stop), so others take over at once."""
        held, self._held = self._held, {}

        def release() -> None:
            try:
                if held:
                    conn = self._connection()
                    conn.execute(
                        "DELETE FROM fleet_leases WHERE holder = %s AND queue = ANY(%s)",
                        (self.me, list(held)),
                    )
            finally:
                self._drop()

        try:
            with trio.move_on_after(CONNECT_TIMEOUT):
                await trio.to_thread.run_sync(
                    release, limiter=self._limiter, abandon_on_cancel=True
                )
        except Exception as exc:
            log.warning("fleet: could not release the leases: %s", _reason(exc))
        else:
            if held:
                log.info("fleet: %s released %d lease(s)", self.me, len(held))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


__all__ = ["Held", "LeaseKeeper", "instance_id"]
