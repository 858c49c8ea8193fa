"""Status polling of many ipp:// queues against one real printer (ippeveprinter):
the shared budget holds, idle printers are asked once and then left alone, the
state shown says when it was asked, and a queue with a job is asked again."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from gateway.backends.ipp import IppBackend
from gateway.config import QueueConfig
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import JobState
from gateway.core.polling import PollSettings
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.ipp.server.printer import state_message
from tests.helpers import spool_job, wait_for_state
from tests.peers.eve import ippeveprinter


async def test_a_fleet_of_ipp_queues_is_polled_within_the_budget(
    spool: Spool, tmp_path: Path
) -> None:
    settings = PollSettings(busy_interval=1.0, idle_interval=600.0, per_second=10.0)
    with trio.fail_after(90):
        async with ippeveprinter(tmp_path / "eve") as eve:
            backends = [
                IppBackend(eve.uri, {}, hostname="gateway.test", state_dir=tmp_path)
                for _ in range(30)
            ]
            queues = Queues([Queue(QueueConfig(f"q{i}", b.uri), b) for i, b in enumerate(backends)])
            dispatcher = Dispatcher(spool, queues, polling=settings)
            try:
                async with trio.open_nursery() as nursery:
                    start = trio.current_time()
                    await nursery.start(dispatcher.run)
                    while dispatcher.poller.polls < 30:
                        await trio.sleep(0.05)
                    took = trio.current_time() - start
                    # 30 printers at 10 a second: about 2 s (the first second's 10 at once)
                    assert 1.5 <= took <= 10, took
                    await trio.sleep(1.5)
                    assert dispatcher.poller.polls == 30  # idle: not asked again for 10 min
                    for queue in queues:
                        assert queue.status_checked is not None
                        assert queue.backend_status.state in ("idle", "processing")
                        assert "state as of " in state_message(queue, queue.state())
                        assert queue.status_checked <= time.time()
                    # a queue with a job is asked again within one busy interval
                    polls = dispatcher.poller.polls
                    job = await spool_job(spool, queue="q7")
                    await wait_for_state(spool, job.id, JobState.COMPLETED)
                    await trio.sleep(2.5)
                    assert dispatcher.poller.polls > polls
                    nursery.cancel_scope.cancel()
            finally:
                for backend in backends:
                    await backend.aclose()
