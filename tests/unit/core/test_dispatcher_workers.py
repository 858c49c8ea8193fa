"""Workers run only for queues with work: 200 idle queues hold no task, a job
starts its queue's worker, which ends when the queue is empty or paused."""

from __future__ import annotations

import trio

from gateway.config import QueueConfig
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import JobState
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from tests.helpers import spool_job, wait_for_state
from tests.unit.core.test_dispatcher import ScriptedBackend


async def test_idle_queues_hold_no_worker(spool: Spool) -> None:
    backends = {f"q{i}": ScriptedBackend() for i in range(200)}
    queues = Queues([Queue(QueueConfig(n, "test://scripted"), b) for n, b in backends.items()])
    dispatcher = Dispatcher(spool, queues)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        assert dispatcher.workers == frozenset()
        jobs = [await spool_job(spool, queue="q7") for _ in range(3)]
        other = await spool_job(spool, queue="q150")
        with trio.fail_after(10):
            for job in [*jobs, other]:
                await wait_for_state(spool, job.id, JobState.COMPLETED)
            while dispatcher.workers:
                await trio.sleep(0.01)
        assert backends["q7"].submitted == [j.id for j in jobs]
        assert backends["q150"].submitted == [other.id]
        nursery.cancel_scope.cancel()


async def test_a_paused_queue_ends_its_worker_and_resume_starts_it(spool: Spool) -> None:
    backend = ScriptedBackend()
    queue = Queue(QueueConfig("lp", "test://scripted"), backend)
    dispatcher = Dispatcher(spool, Queues([queue]))
    queue.enabled = False
    job = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        await trio.sleep(0.05)
        assert dispatcher.workers == frozenset() and backend.submitted == []
        queue.enabled = True
        dispatcher.wake("lp")
        with trio.fail_after(10):
            await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()


async def test_jobs_spooled_before_start_are_picked_up(spool: Spool) -> None:
    backend = ScriptedBackend()
    queue = Queue(QueueConfig("lp", "test://scripted"), backend)
    jobs = [await spool_job(spool) for _ in range(3)]
    dispatcher = Dispatcher(spool, Queues([queue]))
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(10):
            for job in jobs:
                await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    assert backend.submitted == [j.id for j in jobs]
