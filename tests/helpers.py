"""Small helpers shared by tests: put jobs into a spool through the core API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from gateway.backends.base import Backend
from gateway.config import QueueConfig
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import Attributes, Frontend, Job, JobState, Origin
from gateway.core.queues import Queue, Queues
from gateway.core.spool import NewDocument, Spool


async def spool_job(
    spool: Spool,
    documents: Sequence[tuple[bytes, str, str]] = (
        (b"hello, printer\n", "text/plain", "hello.txt"),
    ),
    *,
    queue: str = "lp",
    attributes: Attributes | None = None,
    origin: Origin | None = None,
    chunk: int = 7,
) -> Job:
    """Spool a job whose documents are (data, document-format, document-name)."""
    folder = spool.new_folder()
    new = []
    for data, fmt, name in documents:
        async with folder.document() as writer:
            for i in range(0, len(data), chunk):
                await writer.write(data[i : i + chunk])
            staged = await writer.finish()
        new.append(NewDocument(staged, fmt, name))
    attrs = (
        attributes
        if attributes is not None
        else {
            "job-name": "test job",
            "requesting-user-name": "alice",
            "job-originating-host-name": "client.example",
            "copies": 1,
        }
    )
    return await spool.submit(
        queue,
        attrs,
        new,
        origin or Origin(Frontend.API, peer="127.0.0.1", host="client.example", user="alice"),
        folder=folder,
    )


async def wait_for_state(spool: Spool, job_id: int, state: JobState) -> Job:
    """Wait, woken by the spool's change listener, until the job reaches ``state``."""
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set() if job.id == job_id else None)
    while True:
        job = spool.get(job_id)
        assert job is not None, f"job {job_id} is gone"
        if job.state == state:
            return job
        await events[-1].wait()
        events.append(trio.Event())


@asynccontextmanager
async def forwarding(spool: Spool, backend: Backend, name: str = "office") -> AsyncIterator[Queue]:
    """Spool + Dispatcher + one queue ``name`` whose backend is ``backend`` (quick
    retries), running until the block ends; the backend is closed afterwards."""
    queue = Queue(QueueConfig(name, backend.uri), backend)
    dispatcher = Dispatcher(spool, Queues([queue]), retry_initial=0.5, retry_max=2)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(dispatcher.run)
            yield queue
            nursery.cancel_scope.cancel()
    finally:
        await backend.aclose()


async def restarted(root: Path) -> Spool:
    """`Spool.open` as a restart does it, requeue included: at open with SQLite; with a
    shared store (GATEWAY_TEST_STORE=postgresql) the queue's lease holder does it, which
    here is this one gateway."""
    spool = await Spool.open(root)
    if spool.shared:
        await spool.requeue_forwarding()
    return spool
