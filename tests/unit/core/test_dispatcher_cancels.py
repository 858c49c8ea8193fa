"""The dispatcher's cancel channel is bounded, and a cancel it cannot queue is not lost."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from gateway.backends.base import RemoteJobStatus, Submission
from gateway.config import QueueConfig
from gateway.core import dispatcher as dispatcher_module
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import Job, JobState
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from tests.helpers import spool_job
from tests.unit.core.test_dispatcher import ScriptedBackend


async def test_cancels_beyond_the_channel_bound_still_reach_the_backend(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatcher_module, "CANCEL_BACKLOG", 2)
    gate = trio.Event()

    class SlowCancel(ScriptedBackend):
        async def cancel(self, job: Job) -> None:
            await gate.wait()  # the canceller is busy while more cancels arrive
            await super().cancel(job)

    remote = [str(n) for n in range(1, 7)]
    backend = SlowCancel(script=[Submission(JobState.PROCESSING, remote_job_id=r) for r in remote])
    backend.remote = {r: RemoteJobStatus(JobState.PROCESSING) for r in remote}
    dispatcher = Dispatcher(spool, Queues([Queue(QueueConfig("lp", "test://x"), backend)]))
    jobs = [await spool_job(spool) for _ in remote]
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(10):
            for job in jobs:
                while spool.get(job.id).backend_job_id is None:  # type: ignore[union-attr]
                    await trio.testing.wait_all_tasks_blocked()
            for job in jobs:  # one in hand, two in the channel, three that do not fit
                await spool.cancel(job.id)
            gate.set()
            for job in jobs:
                while spool.get(job.id).cancel_requested:  # type: ignore[union-attr]
                    await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert sorted(backend.canceled) == remote
