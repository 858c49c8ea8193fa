"""The dispatcher forwards in order, retries with back-off, aborts on permanent errors,
propagates cancels and follows remote jobs. Backends here are scripted stand-ins for
the Backend protocol; the real file backend is exercised in test_file_backend.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from gateway.backends.base import (
    BackendBusy,
    Capabilities,
    DocumentSource,
    PermanentBackendError,
    PrinterStatus,
    RemoteJobStatus,
    Submission,
    TransientBackendError,
)
from gateway.backends.file import FileBackend
from gateway.config import QueueConfig
from gateway.core import dispatcher as dispatcher_module
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import Job, JobState
from gateway.core.queues import Queue, Queues
from gateway.core.spool import BUFFER_SIZE, NoSpace, Spool
from tests.helpers import restarted, spool_job, wait_for_state


@dataclass
class ScriptedBackend:
    """Answers submit() from a script of outcomes, records calls."""

    uri: str = "test://scripted"
    script: list[object] = field(default_factory=list)
    submitted: list[int] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    remote: dict[str, RemoteJobStatus] = field(default_factory=dict)
    block: trio.Event | None = None
    one_job_at_a_time: bool = False

    async def submit(self, job: Job, source: DocumentSource) -> Submission:
        self.submitted.append(job.id)
        if self.block is not None:
            await self.block.wait()
        outcome = self.script.pop(0) if self.script else Submission(JobState.COMPLETED)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, Submission)
        return outcome

    async def job_status(self, job: Job) -> RemoteJobStatus:
        assert job.backend_job_id is not None
        return self.remote[job.backend_job_id]

    async def cancel(self, job: Job) -> None:
        assert job.backend_job_id is not None
        self.canceled.append(job.backend_job_id)

    async def printer_status(self) -> PrinterStatus:
        return PrinterStatus()

    def capabilities(self) -> Capabilities:
        return Capabilities()

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def running(spool: Spool) -> AsyncIterator[tuple[Spool, ScriptedBackend, Dispatcher]]:
    backend = ScriptedBackend()
    queues = Queues([Queue(QueueConfig("lp", "test://scripted"), backend)])
    dispatcher = Dispatcher(spool, queues, retry_initial=5, retry_max=40)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        yield spool, backend, dispatcher
        nursery.cancel_scope.cancel()


async def test_forwards_in_order(running: tuple[Spool, ScriptedBackend, Dispatcher]) -> None:
    spool, backend, _ = running
    jobs = [await spool_job(spool) for _ in range(5)]
    with trio.fail_after(5):
        for job in jobs:
            await wait_for_state(spool, job.id, JobState.COMPLETED)
    assert backend.submitted == [j.id for j in jobs]


async def test_transient_error_retries_with_backoff_and_keeps_order(spool: Spool) -> None:
    backend = ScriptedBackend(
        script=[
            TransientBackendError("printer busy", reason="connecting-to-device"),
            TransientBackendError("printer busy", reason="connecting-to-device"),
        ]
    )
    queue = Queue(QueueConfig("lp", "test://scripted"), backend)
    # Real time (the spool works in threads, which an autojump clock would skip over).
    dispatcher = Dispatcher(
        spool, Queues([queue]), retry_initial=0.1, retry_max=0.15, clock=trio.current_time
    )
    first = await spool_job(spool)
    second = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        start = trio.current_time()
        with trio.fail_after(10):
            done = await wait_for_state(spool, second.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    # first attempt at 0, retries after 0.1 s and 0.15 s more (capped); the second job
    # waits its turn.
    assert trio.current_time() - start >= 0.25
    assert backend.submitted == [first.id, first.id, first.id, second.id]
    assert spool.get(first.id).attempts == 3  # type: ignore[union-attr]
    assert done.state == JobState.COMPLETED
    assert queue.problem is None


async def test_busy_printer_is_asked_again_at_once_without_backing_off(spool: Spool) -> None:
    """server-error-busy (a printer that takes one job at a time) is not an error:
    the job is offered again within milliseconds, stays processing, and does not
    count as a failed attempt; the retry_initial back-off (here 30 s) is not used."""
    backend = ScriptedBackend(script=[BackendBusy("busy"), BackendBusy("busy")])
    queue = Queue(QueueConfig("lp", "test://scripted"), backend)
    dispatcher = Dispatcher(
        spool, Queues([queue]), retry_initial=30, retry_max=60, clock=trio.current_time
    )
    states: list[JobState] = []
    spool.add_listener(lambda job, old: states.append(job.state))
    job = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):  # far below the 30 s back-off
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    assert backend.submitted == [job.id] * 3
    assert done.attempts == 1
    assert states == [JobState.PENDING, JobState.PROCESSING, JobState.COMPLETED]
    assert queue.problem is None


async def test_a_spool_that_cannot_commit_does_not_stop_the_dispatcher(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit that fails (a full disk) leaves the job pending and the queue showing
    the problem; the dispatcher tries again and the job goes once the spool works."""
    monkeypatch.setattr(dispatcher_module, "SPOOL_RETRY", 0.05)
    backend = ScriptedBackend()
    queue = Queue(QueueConfig("lp", "test://scripted"), backend)
    dispatcher = Dispatcher(spool, Queues([queue]), clock=trio.current_time)
    real = spool.transition_if
    failures = [NoSpace("no space left in the spool")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await real(*args, **kwargs)

    monkeypatch.setattr(spool, "transition_if", flaky)
    job = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    assert failures == []
    assert backend.submitted == [job.id]  # never sent before its state was recorded
    assert done.attempts == 1


async def test_problem_shows_in_queue_state_while_retrying(
    running: tuple[Spool, ScriptedBackend, Dispatcher],
) -> None:
    spool, backend, dispatcher = running
    backend.script = [TransientBackendError("no route to printer", reason="connecting-to-device")]
    job = await spool_job(spool)
    with trio.fail_after(5):
        while backend.submitted != [job.id] or spool.get(job.id).state != JobState.PENDING:  # type: ignore[union-attr]
            await trio.testing.wait_all_tasks_blocked()
    queue = dispatcher.queues.default
    assert "connecting-to-device" in queue.state().reasons
    assert "no route to printer" in spool.get(job.id).state_message  # type: ignore[union-attr]


async def test_permanent_error_aborts_with_reason(
    running: tuple[Spool, ScriptedBackend, Dispatcher],
) -> None:
    spool, backend, _ = running
    backend.script = [PermanentBackendError("document-format image/x-foo not supported")]
    job = await spool_job(spool)
    with trio.fail_after(5):
        done = await wait_for_state(spool, job.id, JobState.ABORTED)
    assert done.state_message == "document-format image/x-foo not supported"
    assert done.state_reasons == ("aborted-by-system",)


async def test_remote_job_is_followed_until_it_completes(
    running: tuple[Spool, ScriptedBackend, Dispatcher],
) -> None:
    spool, backend, _ = running
    backend.script = [Submission(JobState.PROCESSING, remote_job_id="41")]
    backend.remote["41"] = RemoteJobStatus(JobState.PROCESSING, ("job-printing",), "printing")
    job = await spool_job(spool)
    with trio.fail_after(5):
        while spool.get(job.id).backend_job_id != "41":  # type: ignore[union-attr]
            await trio.testing.wait_all_tasks_blocked()
        backend.remote["41"] = RemoteJobStatus(
            JobState.COMPLETED, ("job-completed-successfully",), "done", impressions_completed=3
        )
        done = await wait_for_state(spool, job.id, JobState.COMPLETED)
    assert done.impressions_completed == 3


async def test_cancel_of_forwarded_job_reaches_backend(
    running: tuple[Spool, ScriptedBackend, Dispatcher],
) -> None:
    spool, backend, _ = running
    backend.script = [Submission(JobState.PROCESSING, remote_job_id="7")]
    backend.remote["7"] = RemoteJobStatus(JobState.PROCESSING)
    job = await spool_job(spool)
    with trio.fail_after(5):
        while spool.get(job.id).backend_job_id != "7":  # type: ignore[union-attr]
            await trio.testing.wait_all_tasks_blocked()
        await spool.cancel(job.id)
        while spool.get(job.id).cancel_requested:  # type: ignore[union-attr]
            await trio.testing.wait_all_tasks_blocked()
    assert backend.canceled == ["7"]
    assert spool.get(job.id).state == JobState.CANCELED  # type: ignore[union-attr]


async def test_cancel_during_upload_stops_it(
    running: tuple[Spool, ScriptedBackend, Dispatcher],
) -> None:
    spool, backend, _ = running
    backend.block = trio.Event()  # the upload never finishes by itself
    job = await spool_job(spool)
    with trio.fail_after(5):
        await wait_for_state(spool, job.id, JobState.PROCESSING)
        await spool.cancel(job.id)
        while spool.get(job.id).cancel_requested:  # type: ignore[union-attr]
            await trio.testing.wait_all_tasks_blocked()
    assert spool.get(job.id).state == JobState.CANCELED  # type: ignore[union-attr]
    assert backend.canceled == []  # nothing reached the printer, nothing to cancel there


async def test_disabled_queue_holds_jobs(spool: Spool) -> None:
    backend = ScriptedBackend()
    queue = Queue(QueueConfig("lp", "test://x", enabled=False), backend)
    dispatcher = Dispatcher(spool, Queues([queue]))
    job = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        await trio.testing.wait_all_tasks_blocked()
        assert backend.submitted == []
        assert queue.state().state == "stopped" and "paused" in queue.state().reasons
        queue.enabled = True
        dispatcher.wake("lp")
        with trio.fail_after(5):
            await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()


async def test_job_reaches_file_backend(spool: Spool, tmp_path: Path) -> None:
    out = tmp_path / "out"
    queue = Queue(QueueConfig("lp", out.as_uri()), FileBackend(out.as_uri()))
    dispatcher = Dispatcher(spool, Queues([queue]))
    job = await spool_job(
        spool,
        [(b"%PDF-1.7 one", "application/pdf", "a.pdf"), (b"two\n", "text/plain", "b.txt")],
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):
            await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    assert (out / f"job-{job.id}-1.pdf").read_bytes() == b"%PDF-1.7 one"
    assert (out / f"job-{job.id}-2.txt").read_bytes() == b"two\n"
    meta = json.loads((out / f"job-{job.id}.json").read_text())
    assert meta["job-id"] == job.id
    assert meta["job-name"] == "test job"
    assert meta["requesting-user-name"] == "alice"
    assert meta["job-originating-host-name"] == "client.example"
    assert [d["file"] for d in meta["documents"]] == [f"job-{job.id}-1.pdf", f"job-{job.id}-2.txt"]
    assert meta["documents"][1]["document-name"] == "b.txt"


async def test_file_backend_sidecar_has_the_digest_of_every_document(
    spool: Spool, tmp_path: Path
) -> None:
    """Small documents are hashed by the spool, large ones (streamed unhashed) by the
    file backend: the sidecar has the right SHA-256 for both."""
    small = b"%PDF-1.7 small"
    large = bytes(range(256)) * (BUFFER_SIZE // 128)  # twice the in-memory limit
    out = tmp_path / "out"
    queue = Queue(QueueConfig("lp", out.as_uri()), FileBackend(out.as_uri()))
    dispatcher = Dispatcher(spool, Queues([queue]))
    job = await spool_job(
        spool,
        [(small, "application/pdf", "s.pdf"), (large, "application/pdf", "l.pdf")],
        chunk=65536,
    )
    assert [d.sha256 for d in job.documents] == [hashlib.sha256(small).hexdigest(), ""]
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):
            await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    meta = json.loads((out / f"job-{job.id}.json").read_text())
    assert [d["sha256"] for d in meta["documents"]] == [
        hashlib.sha256(small).hexdigest(),
        hashlib.sha256(large).hexdigest(),
    ]
    assert (out / f"job-{job.id}-2.pdf").read_bytes() == large


async def test_crash_after_delivery_before_record_leaves_one_copy(tmp_path: Path) -> None:
    """Killed after the file backend wrote the job but before the spool recorded it:
    the restart delivers again (at-least-once) and the folder still holds one copy."""
    root, out = tmp_path / "spool", tmp_path / "out"
    backend = FileBackend(out.as_uri())
    spool = await Spool.open(root)
    job = await spool_job(spool)
    job = await spool.transition(job.id, JobState.PROCESSING)
    await backend.submit(job, spool)  # delivered ...
    await spool.aclose()  # ... and the gateway died before recording it
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    spool = await restarted(root)
    assert spool.get(job.id).state == JobState.PENDING  # type: ignore[union-attr]
    queue = Queue(QueueConfig("lp", out.as_uri()), backend)
    dispatcher = Dispatcher(spool, Queues([queue]))
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):
            await wait_for_state(spool, job.id, JobState.COMPLETED)
        nursery.cancel_scope.cancel()
    await spool.aclose()
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(after) == sorted(before) == [f"job-{job.id}-1.txt", f"job-{job.id}.json"]
    assert after[f"job-{job.id}-1.txt"] == before[f"job-{job.id}-1.txt"]


async def test_remote_pending_job_is_not_sent_again(
    running: tuple[Spool, ScriptedBackend, Dispatcher],
) -> None:
    spool, backend, _ = running
    backend.script = [Submission(JobState.PROCESSING, remote_job_id="5")]
    backend.remote["5"] = RemoteJobStatus(JobState.PENDING, ("job-queued",), "queued")
    job = await spool_job(spool)
    events = [trio.Event()]
    spool.add_listener(lambda j, old: events[-1].set())
    with trio.fail_after(10):
        while spool.get(job.id).state_reasons != ("job-queued",):  # type: ignore[union-attr]
            await events[-1].wait()
            events.append(trio.Event())
        assert spool.get(job.id).state == JobState.PROCESSING  # type: ignore[union-attr]
        backend.remote["5"] = RemoteJobStatus(JobState.COMPLETED)
        await wait_for_state(spool, job.id, JobState.COMPLETED)
    assert backend.submitted == [job.id]


async def test_cancel_racing_the_hand_off_does_not_stop_the_dispatcher(spool: Spool) -> None:
    class CancelsMidway(ScriptedBackend):
        async def submit(self, job: Job, source: DocumentSource) -> Submission:
            self.submitted.append(job.id)
            await spool.cancel(job.id)  # a Cancel-Job arrives while the job is handed over
            return Submission(JobState.COMPLETED)

    backend = CancelsMidway()
    dispatcher = Dispatcher(spool, Queues([Queue(QueueConfig("lp", "test://x"), backend)]))
    first = await spool_job(spool)
    second = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):
            await wait_for_state(spool, second.id, JobState.CANCELED)
        nursery.cancel_scope.cancel()
    assert spool.get(first.id).state == JobState.CANCELED  # type: ignore[union-attr]
    assert backend.submitted == [first.id, second.id]


async def test_in_handoff_is_the_next_job_of_an_idle_enabled_queue(spool: Spool) -> None:
    queue = Queue(QueueConfig("lp", "test://x"), ScriptedBackend())
    dispatcher = Dispatcher(spool, Queues([queue]))
    first = await spool_job(spool)
    second = await spool_job(spool)
    assert dispatcher.in_handoff(first)
    assert not dispatcher.in_handoff(second)  # not its turn yet
    queue.enabled = False
    assert not dispatcher.in_handoff(first)
    with trio.fail_after(1):  # nothing to wait for: answered at once
        assert await dispatcher.settled(first, 60) == spool.get(first.id)


async def test_settled_waits_until_the_backend_has_the_job(spool: Spool) -> None:
    backend = ScriptedBackend(block=trio.Event())
    dispatcher = Dispatcher(spool, Queues([Queue(QueueConfig("lp", "test://x"), backend)]))
    job = await spool_job(spool)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        with trio.fail_after(5):
            processing = await wait_for_state(spool, job.id, JobState.PROCESSING)
            assert dispatcher.in_handoff(processing)
            still = await dispatcher.settled(processing, 0.01)  # gives up after `wait`
            assert still is not None and still.state == JobState.PROCESSING
            assert backend.block is not None
            backend.block.set()
            done = await dispatcher.settled(processing, 5)
        assert done is not None and done.state == JobState.COMPLETED
        nursery.cancel_scope.cancel()


def test_a_backend_is_shown_to_clients_without_folder_credentials_or_options() -> None:
    from gateway.core.dispatcher import shown_backend

    assert shown_backend("file:///srv/print/out") == "the output folder"
    assert shown_backend("ipp://joe:secret@printer.example:8631/ipp/print?tls_verify=none") == (
        "ipp://printer.example:8631/ipp/print"
    )
    assert shown_backend("lpd://[2001:db8::7]/raw?reserve=rfc1179") == "lpd://[2001:db8::7]/raw"
