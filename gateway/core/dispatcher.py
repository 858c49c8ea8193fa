"""The dispatcher: the only code that talks to backends.

Theory of operation
-------------------
A worker task per queue that has work forwards that queue's pending jobs in
job-id order, one at a time (a worker starts when its queue gets a job and
ends when the queue has none left or is paused, so 2,000 idle queues hold no
task): it moves the job to processing, calls the backend's
``submit`` and records the outcome. A transient error puts the job back to
pending with a ``not_before`` time (capped exponential back-off) and, because
the worker always takes the oldest pending job, the queue keeps its order:
job 8 is not sent while job 7 waits to be retried. A permanent error aborts
the job with the backend's reason as its job-state-message.

A backend that accepts a job as still processing (a real printer) gets a
tracking task that polls the remote job with adaptive back-off until it ends,
so the gateway's job follows the remote one.

Workers sleep on a per-queue wake-up event that the spool's change listener
sets (and start one when the queue has none), so new jobs are picked up at
once and nobody polls the database.
Canceling a job that was forwarded (``cancel_requested``) cancels an upload
in progress and asks the backend to cancel its copy. The canceller works
through those one at a time from a bounded channel of job ids; the spool is
the record of what is to be canceled (the flag is committed before the change
listener hears of it), so an id the full channel cannot take is not lost: the
canceller sweeps the spool for flagged jobs once it has drained the channel.

Both front-ends ask the dispatcher about a hand-off in progress: `in_handoff`
says whether a job is being (or is about to be) handed to its backend, and
`settled` waits for that to end, so a cancel or remove answers with the
outcome instead of racing it. `cancel` is the one way both front-ends cancel
a job (IPP Cancel-Job and friends, LPD remove): settle, then cancel in the
spool; the canceller takes it to the backend.

Several gateways on one shared store (PostgreSQL) forward each queue from one
gateway at a time: the one holding the queue's lease (`gateway.core.leases`).
A worker forwards only while its gateway holds the lease; on taking a lease the
dispatcher first requeues the jobs a dead holder left being forwarded without
a backend job id (`Spool.requeue_forwarding`: at-least-once, and a job whose
delivery was recorded is never sent again), resumes following the forwarded
ones and cancels the flagged ones, then forwards in order. On losing it
(renewal failed) an upload in progress is stopped and the job put back, before
the lease expires. Other gateways' changes reach the listener through the
spool's sync, so a job queued elsewhere wakes the worker here, and a cancel
made elsewhere is taken to the backend by the lease holder alone (the one that
knows whether the upload is still running). With one gateway (SQLite) there
are no leases: it holds every queue.

The janitor runs every few seconds: history retention and Create-Job jobs
left open too long. The printers' state is asked by the `StatusPoller`
(gateway/core/polling.py): often for queues with work, rarely for idle ones,
within one shared budget of requests per second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import trio

from gateway.backends.base import BackendBusy, BackendError, PermanentBackendError, Submission
from gateway.core.conversion import ConversionFailed, ConversionStage, printable
from gateway.core.infra import ProxyHold
from gateway.core.infra import hold as hold_for_proxies
from gateway.core.job import Job, JobState
from gateway.core.leases import LeaseKeeper
from gateway.core.polling import PollSettings, StatusPoller
from gateway.core.queues import Queue, Queues
from gateway.core.spool import JobNotFound, Spool, SpoolError
from gateway.log import job_event

log = logging.getLogger("gateway.dispatcher")

#: States of a job the dispatcher has handed to a backend.
FORWARDED = (JobState.PROCESSING, JobState.PROCESSING_STOPPED)
#: A forwarded job that waits in the printer's own queue is still processing here:
#: mapping it back to pending would make the worker send it again.
REMOTE_STATE = {JobState.PENDING: JobState.PROCESSING, JobState.PENDING_HELD: JobState.PROCESSING}

#: Following a forwarded job: a printer often finishes a small job at once, and
#: with ``waitjob`` the next job waits until this one is seen to end, so look
#: after 5 ms, then twice as long after each unchanged answer (up to 30 s): a
#: job printing for a minute costs about 14 status requests.
TRACK_INITIAL = 0.005
TRACK_GROWTH = 2.0
TRACK_MAX = 30.0
#: A printer that answers "busy" (it prints one job at a time) is asked again
#: every 5 ms for a quarter of a second (a small job is done by then), then
#: twice as long each time up to 1 s, for up to BUSY_PATIENCE seconds; only then
#: is it an error with the usual back-off.
BUSY_FIRST = 0.005
BUSY_STEADY = 0.25
BUSY_MAX = 1.0
BUSY_PATIENCE = 60.0
CANCEL_ATTEMPTS = 5
#: Job ids waiting for the canceller. A Purge-Jobs or Cancel-Jobs on a long queue
#: flags many jobs at once; beyond this many the spool itself is the backlog
#: (see the module doc), so memory stays bounded however many are flagged.
CANCEL_BACKLOG = 256
#: Seconds before trying again when the spool could not record a step.
SPOOL_RETRY = 5.0
JANITOR_INTERVAL = 10.0


def shown_backend(uri: str) -> str:
    """A backend as any IPP or LPD client may see it: no folder of this machine, no
    credentials, no options (the log line has the whole URI)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return "the output folder"
    host = parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{shown}{port}{parts.path}"


HANDOFF_WAIT = 2.0
"""Seconds a cancel waits for a hand-off to the backend in progress (`settled`)."""


class Dispatcher:
    """Forwards every queue's jobs to its backend; see the module doc."""

    def __init__(
        self,
        spool: Spool,
        queues: Queues,
        *,
        retry_initial: float = 5.0,
        retry_max: float = 300.0,
        multiple_operation_timeout: float = 300.0,
        clock: Callable[[], float] = time.time,
        polling: PollSettings | None = None,
        conversion: ConversionStage | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self.spool = spool
        self.leases = leases
        #: Called with a queue's name when this gateway takes its lease (accounting
        #: looks for the queue's ended jobs then).
        self.lease_listeners: list[Callable[[str], None]] = []
        self._fenced: set[int] = set()  # uploads stopped because the lease was lost
        self.conversion = conversion
        self.queues = queues
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.multiple_operation_timeout = multiple_operation_timeout
        self._clock = clock
        self._wakeups = {q.name: trio.Event() for q in queues}
        self._inflight: dict[int, trio.CancelScope] = {}
        self._tracked: set[int] = set()
        self._ended: dict[int, trio.Event] = {}
        self._cancel_send, self._cancel_receive = trio.open_memory_channel[int](CANCEL_BACKLOG)
        self._cancel_overflow = False  # an id did not fit: sweep the spool for the rest
        self._watchers: dict[int, list[trio.Event]] = {}  # see `settled`
        self._nursery: trio.Nursery | None = None
        self._workers: set[str] = set()  # queues whose worker runs
        self.poller = StatusPoller(queues, lambda q: spool.active_count(q.name) > 0, polling)
        spool.add_listener(self._on_change)

    # ------------------------------------------------------------------
    # Wake-ups

    def wake(self, queue: str | None = None) -> None:
        """Make a queue's worker (or every worker) look for work now, starting
        it if it is not running."""
        names = [queue] if queue is not None else [q.name for q in self.queues]
        for name in names:
            if name in self.queues:
                self._wakeup(name).set()
                self._start_worker(name)

    def _wakeup(self, name: str) -> trio.Event:
        """The event a queue's worker sleeps on (made for a queue added at run time)."""
        event = self._wakeups.get(name)
        if event is None:
            event = self._wakeups[name] = trio.Event()
        return event

    def queue_added(self, name: str) -> None:
        """A queue was added to `queues` at run time (System Service, reload): start
        forwarding its jobs (on a shared store, once its lease is taken)."""
        if self.leases is not None:
            self.leases.poke()
        self.wake(name)
        self.poller.poke(name)

    def queue_removed(self, name: str) -> None:
        """A queue was taken out of `queues`: its worker ends at its next look (a job
        being forwarded finishes first); its jobs stay in the spool."""
        event = self._wakeups.pop(name, None)
        if event is not None:
            event.set()

    @property
    def workers(self) -> frozenset[str]:
        """The queues whose worker task is running (queues with work)."""
        return frozenset(self._workers)

    def holds(self, name: str) -> bool:
        """Whether this gateway forwards queue ``name`` now (always, without leases)."""
        return self.leases is None or self.leases.holds(name)

    def _start_worker(self, name: str) -> None:
        queue = self.queues.get(name)
        if queue is None or name in self._workers or self._nursery is None:
            return
        if not self.holds(name):
            return
        self._workers.add(name)
        self._nursery.start_soon(self._worker, queue)

    async def _sleep(self, queue: Queue, delay: float) -> None:
        event = self._wakeup(queue.name)
        with trio.move_on_after(delay):
            await event.wait()
        if event.is_set():
            self._wakeups[queue.name] = trio.Event()

    def _on_change(self, job: Job, old: Job | None) -> None:
        if job.state.is_terminal and job.id in self._ended:
            self._ended[job.id].set()
        for event in self._watchers.pop(job.id, ()):
            event.set()
        if job.state == JobState.PENDING or (old is not None and old.state != job.state):
            self.wake(job.queue)
            self.poller.poke(job.queue)
        if job.cancel_requested and (old is None or not old.cancel_requested):
            scope = self._inflight.get(job.id)
            if scope is not None:
                scope.cancel()
            if self.holds(job.queue):  # else the holder takes it to the backend
                self._request_cancel(job.id)

    # ------------------------------------------------------------------
    # The hand-off, as the front-ends see it

    def in_handoff(self, job: Job) -> bool:
        """Whether the dispatcher is handing `job` to its backend now, or is about to
        (it is the next pending job of an idle, enabled queue)."""
        if job.state == JobState.PROCESSING:
            return job.backend_job_id is None
        if job.state != JobState.PENDING or job.incoming or job.not_before > self._clock():
            return False
        queue = self.queues.get(job.queue)
        if queue is None or not queue.enabled or queue.busy:
            return False
        upcoming = self.spool.next_pending(job.queue)
        return upcoming is not None and upcoming.id == job.id

    async def settled(self, job: Job, wait: float) -> Job | None:
        """Wait (at most `wait` s) while the dispatcher hands `job` to its backend
        (see `in_handoff`); return the job as it is then (None if it is gone).

        Why: a cancel that lands in the middle of the hand-off would race the
        dispatcher recording the outcome; waiting for the outcome makes the answer
        deterministic (completed -> not possible, forwarded -> canceled there too).
        """
        with trio.move_on_after(wait):
            while True:
                current = self.spool.get(job.id)
                if current is None or not self.in_handoff(current):
                    return current
                event = trio.Event()
                self._watchers.setdefault(job.id, []).append(event)
                await event.wait()
        self._watchers.pop(job.id, None)
        return self.spool.get(job.id)

    async def cancel(self, job: Job, *, reason: str, message: str) -> Job:
        """Cancel `job` for a front-end, after any hand-off to its backend settles
        (at most `HANDOFF_WAIT` s); the canceled job. `NotPossible` if it has ended,
        `JobNotFound` if it is gone."""
        current = await self.settled(job, HANDOFF_WAIT) or job
        return await self.spool.cancel(current.id, reason=reason, message=message)

    # ------------------------------------------------------------------
    # Running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled. Started with ``nursery.start``."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for queue in self.queues:
                if queue.enabled and self.spool.next_pending(queue.name) is not None:
                    self._start_worker(queue.name)
            nursery.start_soon(self._canceller)
            nursery.start_soon(self._janitor)
            nursery.start_soon(self.poller.run)
            if self.leases is not None:
                await nursery.start(self.leases.run, self._lease_gained, self._lease_lost)
                task_status.started()
                return
            if self.spool.shared:  # a shared store without leases: this one forwards all
                await self.spool.requeue_forwarding()
            for job in self.spool.jobs():
                if job.state in (JobState.PROCESSING, JobState.PROCESSING_STOPPED):
                    self._start_tracking(job)
                if job.cancel_requested:
                    self._request_cancel(job.id)
            task_status.started()

    async def _lease_gained(self, name: str) -> None:
        """This gateway took queue ``name`` over: requeue what the last holder left
        being forwarded unconfirmed, follow what it forwarded, cancel what was
        flagged, then forward (see the module doc)."""
        try:
            requeued = await self.spool.requeue_forwarding(name)
        except SpoolError as exc:
            log.error("queue %s: cannot requeue the jobs of the last holder: %s", name, exc)  # noqa: TRY400
            return
        if requeued:
            log.info("queue %s: %d job(s) requeued after a takeover", name, len(requeued))
        for job in self.spool.jobs(name):
            if job.state in FORWARDED:
                self._start_tracking(job)
            if job.cancel_requested:
                self._request_cancel(job.id)
        self.wake(name)
        self.poller.poke(name)
        for listener in self.lease_listeners:
            listener(name)

    def _lease_lost(self, name: str) -> None:
        """This gateway may no longer forward queue ``name``: stop an upload in
        progress now (the job is put back; the next holder sends it again)."""
        for job_id, scope in list(self._inflight.items()):
            job = self.spool.get(job_id)
            if job is not None and job.queue == name:
                self._fenced.add(job_id)
                scope.cancel()
        self._wakeup(name).set()

    def _backoff(self, attempts: int) -> float:
        return float(min(self.retry_max, self.retry_initial * 2 ** max(0, attempts - 1)))

    async def _worker(self, queue: Queue) -> None:
        """Forward the queue's jobs while it has some and is enabled (`wake` starts
        the worker again)."""
        try:
            await self._work(queue)
        finally:
            self._workers.discard(queue.name)

    async def _work(self, queue: Queue) -> None:
        while True:
            event = self._wakeup(queue.name)
            if event.is_set():
                self._wakeups[queue.name] = trio.Event()
            if not queue.enabled or self.queues.get(queue.name) is not queue:
                return
            if not self.holds(queue.name):
                return
            job = self.spool.next_pending(queue.name)
            if job is None:
                return
            delay = job.not_before - self._clock()
            if delay > 0:
                await self._sleep(queue, delay)
                continue
            try:
                if isinstance(queue.backend, ProxyHold):  # held for proxies (core/infra.py)
                    await self._hold(queue, job)
                    continue
                forwarded = await self._forward(queue, job)
            except JobNotFound:
                continue  # purged meanwhile
            except SpoolError as exc:
                # The spool could not record a step (a full disk, an I/O error): the
                # job keeps its last committed state; try again after a pause.
                log.error(  # noqa: TRY400 (one line, no traceback)
                    "queue %s: job %d: %s; trying again in %.0fs",
                    queue.name,
                    job.id,
                    exc,
                    SPOOL_RETRY,
                )
                queue.problem = ("other", f"the spool failed: {exc}")
                await self._sleep(queue, SPOOL_RETRY)
                continue
            if forwarded is not None and getattr(queue.backend, "one_job_at_a_time", False):
                await self._until_ended(queue, forwarded)

    async def _hold(self, queue: Queue, job: Job) -> None:
        """A job of an infrastructure queue: converted for the formats its output
        devices reported (when they take none of the document's), then held for
        them to fetch (`gateway.core.infra.hold`)."""

        async def prepare(processing: Job) -> Job:
            return await self._printable(queue, processing)

        try:
            await hold_for_proxies(self.spool, job, prepare)
        except ConversionFailed as exc:
            done = await self._settle(
                job, JobState.ABORTED, ("document-unprintable-error",), exc.reason
            )
            if done is not None:
                job_event("failed", done, level=logging.WARNING, reason=exc.reason)

    async def _until_ended(self, queue: Queue, job_id: int) -> None:
        """Wait until a forwarded job ends (a printer that takes one job at a time)."""
        ended = trio.Event()
        self._ended[job_id] = ended
        job = self.spool.get(job_id)
        if job is None or job.state.is_terminal:
            self._ended.pop(job_id, None)
            return
        queue.busy = True
        try:
            await ended.wait()
        finally:
            queue.busy = False
            self._ended.pop(job_id, None)

    async def _forward(self, queue: Queue, job: Job) -> int | None:
        """Send one job; the job id when the backend took it as still processing."""
        moved = await self.spool.transition_if(
            job.id,
            (JobState.PENDING,),
            JobState.PROCESSING,
            in_queue=queue.name,  # not if it was moved to another queue meanwhile
            reasons=("job-printing",),
            message=f"sending to {shown_backend(queue.backend.uri)}",
            attempts=job.attempts + 1,
        )
        if moved is None:  # canceled or held just now
            return None
        job = moved
        if not self.holds(queue.name):  # the lease lapsed while that was committed
            await self._put_back(job)
            return None
        job_event("forwarding", job, backend=queue.backend.uri, attempt=job.attempts)
        queue.busy = True
        scope = trio.CancelScope()
        self._inflight[job.id] = scope
        try:
            with scope:
                try:
                    job = await self._printable(queue, job)
                    result = await self._submit(queue, job)
                except ConversionFailed as exc:
                    done = await self._settle(
                        job, JobState.ABORTED, ("document-unprintable-error",), exc.reason
                    )
                    if done is not None:
                        job_event("failed", done, level=logging.WARNING, reason=exc.reason)
                    return None
                except BackendError as exc:
                    await self._failed(queue, job, exc)
                    return None
                except (trio.Cancelled, KeyboardInterrupt):
                    raise
                except Exception as exc:  # a bug in a backend must not lose the job
                    log.debug("backend %s raised", queue.backend.uri, exc_info=True)
                    await self._failed(
                        queue, job, BackendError(f"internal error in backend: {exc!r}")
                    )
                    return None
        except trio.Cancelled:
            # The gateway is stopping: park the job for the next start.
            with trio.CancelScope(shield=True):
                await self._settle(job, JobState.PENDING, ("none",), "parked at shutdown")
            raise
        finally:
            queue.busy = False
            self._inflight.pop(job.id, None)
        if scope.cancelled_caught and job.id in self._fenced:
            self._fenced.discard(job.id)
            job_event("upload-stopped", job, level=logging.WARNING, reason="lease lost")
            await self._put_back(job)
            return None
        if scope.cancelled_caught:
            job_event("upload-canceled", job)
            await self.spool.update(job.id, cancel_requested=False)
            return None
        queue.problem = None
        if getattr(queue.backend, "one_job_at_a_time", False) or self._nursery is None:
            return await self._record(queue, job, result)
        # The next job may go at once: recording this one then shares a transaction
        # (and its fsync) with the next one's move to processing.
        self._nursery.start_soon(self._record, queue, job, result)
        return None

    async def _put_back(self, job: Job) -> None:
        """Return a job this gateway stopped forwarding (its lease was lost) to
        pending; if the store cannot be reached, the next holder does it
        (`_lease_gained`)."""
        try:
            await self._settle(job, JobState.PENDING, ("none",), "another gateway takes over")
        except SpoolError as exc:
            log.warning("job %d: left for the next lease holder: %s", job.id, exc)

    async def _record(self, queue: Queue, job: Job, result: Submission) -> int | None:
        """Record what the backend made of a job; its id when it is still processing
        there. Shielded: a stop must not leave a delivered job looking unsent."""
        with trio.CancelScope(shield=True):
            try:
                return await self._record_result(queue, job, result)
            except SpoolError as exc:
                log.error("job %d: cannot record its delivery: %s", job.id, exc)  # noqa: TRY400
        return None

    async def _record_result(self, queue: Queue, job: Job, result: Submission) -> int | None:
        if result.state == JobState.COMPLETED:
            done = await self._settle(
                job,
                JobState.COMPLETED,
                ("job-completed-successfully",),
                result.message or "completed",
            )
            if done is not None:
                job_event("completed", done, backend=queue.backend.uri)
            return None
        job = await self.spool.update(
            job.id, backend_job_id=result.remote_job_id, state_message=result.message
        )
        job_event("forwarded", job, backend=queue.backend.uri, remote_job=result.remote_job_id)
        if job.state == JobState.CANCELED:
            self._request_cancel(job.id)
            return None
        self._start_tracking(job)
        return job.id

    async def _printable(self, queue: Queue, job: Job) -> Job:
        """The job as the backend sends it: documents converted for the printer
        (gateway/core/conversion.py), recorded in the spool first. A backend whose
        capabilities come from the printer (``probe``) is asked first."""
        if self.conversion is None or not self.conversion.settings.enabled:
            return job
        probe = getattr(queue.backend, "probe", None)
        if probe is not None:
            await probe()
        caps = queue.backend.capabilities()
        if not self.conversion.needed(caps):
            return job
        prepared = await self.conversion.prepare(job, caps)
        if prepared is not job:
            job_event("converted", prepared, pages=prepared.pages)
        return printable(prepared)

    async def _submit(self, queue: Queue, job: Job) -> Submission:
        """Hand the job to the backend, asking again while the printer is busy."""
        delay = BUSY_FIRST
        start = trio.current_time()
        while True:
            try:
                return await queue.backend.submit(job, self.spool)
            except BackendBusy as exc:
                waited = trio.current_time() - start
                if waited + delay > BUSY_PATIENCE:
                    raise
                log.debug("job %d: %s; asking again in %.3fs", job.id, exc.message, delay)
                await trio.sleep(delay)
                if waited > BUSY_STEADY:
                    delay = min(BUSY_MAX, delay * 2)

    async def _failed(self, queue: Queue, job: Job, exc: BackendError) -> None:
        if exc.permanent or isinstance(exc, PermanentBackendError):
            done = await self._settle(job, JobState.ABORTED, ("aborted-by-system",), exc.message)
            if done is not None:
                job_event("failed", done, level=logging.WARNING, reason=exc.message)
            return
        current = self.spool.get(job.id) or job
        delay = self._backoff(current.attempts)
        queue.problem = (exc.reason, exc.message)
        retry = await self._settle(
            job,
            JobState.PENDING,
            ("none",),
            f"{exc.message}; retrying in {delay:.0f}s",
            not_before=self._clock() + delay,
        )
        if retry is not None:
            job_event(
                "retry", retry, level=logging.WARNING, reason=exc.message, delay=f"{delay:.0f}s"
            )

    async def _settle(
        self, job: Job, state: JobState, reasons: tuple[str, ...], message: str, **changes: Any
    ) -> Job | None:
        """Move a job out of processing unless something else (a cancel) ended it."""
        return await self.spool.transition_if(
            job.id, FORWARDED, state, reasons=reasons, message=message, **changes
        )

    # ------------------------------------------------------------------
    # Following forwarded jobs

    def _start_tracking(self, job: Job) -> None:
        if job.backend_job_id is None or job.id in self._tracked or self._nursery is None:
            return
        queue = self.queues.get(job.queue)
        if queue is None:
            return
        self._tracked.add(job.id)
        self._nursery.start_soon(self._track, queue, job.id)

    async def _track(self, queue: Queue, job_id: int) -> None:
        interval = TRACK_INITIAL
        try:
            while True:
                await trio.sleep(interval)
                job = self.spool.get(job_id)
                if job is None or job.state.is_terminal or not self.holds(job.queue):
                    return
                try:
                    status = await queue.backend.job_status(job)
                except BackendError as exc:
                    queue.problem = (exc.reason, exc.message)
                    interval = min(TRACK_MAX, interval * 2)
                    continue
                queue.problem = None
                job = self.spool.get(job_id)
                if job is None or job.state.is_terminal:
                    return
                state = REMOTE_STATE.get(status.state, status.state)
                changed = (
                    state != job.state
                    or status.reasons != job.state_reasons
                    or (status.message and status.message != job.state_message)
                )
                if not changed:
                    interval = min(TRACK_MAX, interval * TRACK_GROWTH)
                    continue
                interval = TRACK_INITIAL
                changes: dict[str, Any] = {}
                if status.impressions_completed is not None:
                    changes["impressions_completed"] = status.impressions_completed
                try:
                    new = await self.spool.transition_if(
                        job_id,
                        FORWARDED,
                        state,
                        reasons=status.reasons,
                        message=status.message or job.state_message,
                        **changes,
                    )
                except JobNotFound:
                    raise
                except SpoolError as exc:  # a full disk: look again later
                    log.error("job %d: cannot record its remote state: %s", job_id, exc)  # noqa: TRY400
                    interval = min(TRACK_MAX, max(interval, SPOOL_RETRY))
                    continue
                if new is None:  # canceled here meanwhile; the canceller takes over
                    return
                if new.state.is_terminal:
                    job_event(new.state.keyword, new, backend=queue.backend.uri)
                    return
        except JobNotFound:
            return
        finally:
            self._tracked.discard(job_id)

    # ------------------------------------------------------------------
    # Cancel propagation

    def _request_cancel(self, job_id: int) -> None:
        """Queue a flagged job for the canceller; when the channel is full, the
        canceller finds it in the spool instead (`_canceller`)."""
        try:
            self._cancel_send.send_nowait(job_id)
        except trio.WouldBlock:
            self._cancel_overflow = True

    async def _canceller(self) -> None:
        """Cancel flagged jobs at their backends, one at a time.

        Nothing is lost to the channel's bound: an id is dropped only while the
        channel is full, so the canceller has ids to take and comes back here;
        once it has taken them all it sweeps the spool for every job still
        flagged (an id both queued and swept is canceled once: `_cancel_one`
        looks at the flag first).
        """
        while True:
            if self._cancel_overflow and not self._cancel_receive.statistics().current_buffer_used:
                self._cancel_overflow = False
                for job in self.spool.jobs():
                    if job.cancel_requested:
                        await self._cancel_logged(job.id)
            job_id = await self._cancel_receive.receive()
            await self._cancel_logged(job_id)

    async def _cancel_logged(self, job_id: int) -> None:
        try:
            await self._cancel_one(job_id)
        except JobNotFound:
            return
        except SpoolError as exc:
            log.error("job %d: cannot record its cancel: %s", job_id, exc)  # noqa: TRY400

    async def _cancel_one(self, job_id: int) -> None:
        """Cancel one job at its backend (a few attempts), then clear the request."""
        job = self.spool.get(job_id)
        if job is None or not job.cancel_requested or not self.holds(job.queue):
            return
        queue = self.queues.get(job.queue)
        if job.backend_job_id is None or queue is None:
            if job.id not in self._inflight:
                await self.spool.update(job_id, cancel_requested=False)
            return
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            try:
                await queue.backend.cancel(job)
            except BackendError as exc:
                job_event(
                    "cancel-retry",
                    job,
                    level=logging.WARNING,
                    reason=exc.message,
                    attempt=attempt,
                )
                await trio.sleep(self._backoff(attempt))
                continue
            job_event(
                "canceled-at-backend",
                job,
                backend=queue.backend.uri,
                remote_job=job.backend_job_id,
            )
            break
        await self.spool.update(job_id, cancel_requested=False)

    # ------------------------------------------------------------------
    # Housekeeping

    async def _janitor(self) -> None:
        while True:
            try:
                await self.housekeeping()
            except SpoolError as exc:  # a full disk: the next round tries again
                log.error("housekeeping: %s", exc)  # noqa: TRY400
            await trio.sleep(JANITOR_INTERVAL)

    async def housekeeping(self) -> None:
        """History retention and expired Create-Job jobs (also for tests)."""
        await self.spool.purge()
        for job in await self.spool.expire_incoming(self.multiple_operation_timeout):
            job_event("closed-by-timeout", job, level=logging.WARNING, state=job.state.keyword)
