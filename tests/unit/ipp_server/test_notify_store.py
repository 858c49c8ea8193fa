"""The event log, its persistence and the held waits of ippget notifications
(gateway/ipp/server/subscription_store.py, notify_wait.py), in memory and on a
real spool."""

from __future__ import annotations

import json
from pathlib import Path

import trio
import trio.testing

from gateway.backends.base import PrinterStatus
from gateway.backends.file import FileBackend
from gateway.config import QueueConfig
from gateway.core.job import JobState
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.ipp.server.notify_wait import NotifyWaits, wait_seconds
from gateway.ipp.server.printer_attributes import IPPGET_EVENT_LIFE
from gateway.ipp.server.subscription_store import (
    META_KEY,
    SEQUENCE_BLOCK,
    SYSTEM_QUEUE,
    Subscriptions,
)
from tests.helpers import spool_job

ALL_JOB_EVENTS = frozenset(
    {
        "job-created",
        "job-state-changed",
        "job-completed",
        "job-progress",
        "job-fetchable",
        "document-created",
        "document-completed",
    }
)


def test_ippget_event_life_is_at_least_15_seconds() -> None:
    assert IPPGET_EVENT_LIFE >= 15  # RFC 3996 section 7


async def test_job_events_fetchable_progress_and_documents(spool: Spool) -> None:
    subs = Subscriptions()
    subs.attach(spool)
    printer = subs.create("lp", ALL_JOB_EVENTS, "alice", 0)
    assert printer is not None
    job = await spool_job(spool)
    await spool.transition(job.id, JobState.PROCESSING)
    await spool.transition(job.id, JobState.PROCESSING_STOPPED, reasons=["job-fetchable"])
    await spool.transition(job.id, JobState.PROCESSING)
    await spool.update(job.id, impressions_completed=1)
    await spool.transition(job.id, JobState.COMPLETED)
    assert [e.event for e in printer.log] == [
        "job-created",
        "job-state-changed",
        "document-created",
        "job-state-changed",
        "job-state-changed",
        "job-fetchable",
        "job-state-changed",
        "job-progress",
        "job-state-changed",
        "job-completed",
        "document-completed",
    ]
    assert [e.sequence for e in printer.log] == list(range(1, 12))
    assert printer.log[7].impressions_completed == 1
    assert printer.log[2].document_number == 1
    assert printer.events_from(10) == list(printer.log)[9:]


async def test_job_subscription_ends_with_its_job(spool: Spool) -> None:
    now = [1000.0]
    subs = Subscriptions(clock=lambda: now[0])
    subs.attach(spool)
    job = await spool_job(spool)
    sub = subs.create("lp", frozenset({"job-completed"}), "alice", 60, job_id=job.id)
    assert sub is not None and sub.expires is None  # no lease: it lasts as its job
    await spool.transition(job.id, JobState.PROCESSING)
    assert not sub.job_done
    await spool.transition(job.id, JobState.COMPLETED)
    ended = subs.get(sub.id)
    assert ended is not None and ended.job_done
    assert [e.event for e in ended.log] == ["job-completed"]
    now[0] += IPPGET_EVENT_LIFE - 1
    assert subs.get(sub.id) is sub  # its last events can still be fetched
    now[0] += 2
    assert subs.get(sub.id) is None


async def test_printer_events_reach_printer_and_system_subscriptions() -> None:
    subs = Subscriptions()
    printer = subs.create("lp", frozenset({"printer-config-changed"}), "alice", 0)
    system = subs.create(SYSTEM_QUEUE, frozenset({"printer-config-changed"}), "alice", 0)
    other = subs.create("office", frozenset({"printer-config-changed"}), "alice", 0)
    assert printer is not None and system is not None and other is not None
    subs.post_printer_event("lp", "printer-config-changed", "output device attributes")
    assert [e.event for e in printer.log] == ["printer-config-changed"]
    assert [e.text for e in system.log] == ["output device attributes"]
    assert list(other.log) == []


async def test_printer_state_changes_follow_job_changes(spool: Spool) -> None:
    states = {"lp": (3, ("none",))}
    subs = Subscriptions()
    await subs.load(spool, states.get)
    subs.attach(spool)
    sub = subs.create("lp", frozenset({"printer-state-changed"}), "alice", 0)
    assert sub is not None
    job = await spool_job(spool)  # the first state seen is the starting point
    states["lp"] = (4, ("none",))
    await spool.transition(job.id, JobState.PROCESSING)
    await spool.update(job.id, impressions_completed=1)  # same printer state: no event
    states["lp"] = (3, ("none",))
    await spool.transition(job.id, JobState.COMPLETED)
    assert [e.event for e in sub.log] == ["printer-state-changed", "printer-state-changed"]


async def test_subscriptions_and_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        subs = Subscriptions()
        await subs.load(spool)
        subs.attach(spool)
        printer = subs.create("lp", frozenset({"job-created"}), "alice", 0, user_data=b"\x01x")
        system = subs.create(SYSTEM_QUEUE, frozenset({"printer-stopped"}), "bob", 3600)
        assert printer is not None and system is not None
        await subs.save()
        for _ in range(3):
            await spool_job(spool)
        assert [e.sequence for e in printer.log] == [1, 2, 3]
        await subs.reserve({printer.id: 3})  # a Get-Notifications about to show 1..3
        assert printer.reserved == 3 + SEQUENCE_BLOCK
        stored = json.loads(await spool.get_meta(META_KEY) or "{}")
        assert {s["id"] for s in stored["subscriptions"]} == {printer.id, system.id}
        await subs.reserve({printer.id: 4})  # within the block: no write needed
        assert printer.reserved == 3 + SEQUENCE_BLOCK
    finally:
        await spool.aclose()
    spool = await Spool.open(tmp_path / "spool")
    try:
        again = Subscriptions()
        await again.load(spool)
        again.attach(spool)
        kept = again.get(printer.id)
        assert kept is not None and again.get(system.id) is not None
        assert kept.user_data == b"\x01x" and kept.events == frozenset({"job-created"})
        await spool_job(spool)
        assert [e.sequence for e in kept.log] == [4 + SEQUENCE_BLOCK]  # above every shown one
        new = again.create("lp", frozenset({"job-created"}), "carol", 0)
        assert new is not None and new.id > system.id  # ids are not given twice
    finally:
        await spool.aclose()


async def test_expired_and_ended_subscriptions_are_not_restored(tmp_path: Path) -> None:
    now = [1000.0]
    spool = await Spool.open(tmp_path / "spool")
    try:
        subs = Subscriptions(clock=lambda: now[0])
        await subs.load(spool)
        job = await spool_job(spool)
        leased = subs.create("lp", frozenset({"job-created"}), "alice", 10)
        of_job = subs.create("lp", frozenset({"job-completed"}), "alice", 0, job_id=job.id)
        gone = subs.create("lp", frozenset({"job-completed"}), "alice", 0, job_id=job.id + 99)
        assert leased is not None and of_job is not None and gone is not None
        await subs.save()
        await spool.transition(job.id, JobState.PROCESSING)
        await spool.transition(job.id, JobState.COMPLETED)
        now[0] += 11
        again = Subscriptions(clock=lambda: now[0])
        await again.load(spool)
        assert again.get(leased.id) is None  # lease over
        assert again.get(gone.id) is None  # its job is not in the spool
        ended = again.get(of_job.id)
        assert ended is not None and ended.job_done  # events-complete, then gone
    finally:
        await spool.aclose()


async def test_a_held_wait_wakes_on_an_event_and_times_out_otherwise() -> None:
    subs = Subscriptions()
    sub = subs.create("lp", frozenset({"printer-stopped"}), "alice", 0)
    assert sub is not None
    waits = subs.waits
    results: list[bool] = []

    async def wait() -> None:
        results.append(await waits.wait(lambda: bool(sub.log), 20))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            assert results == []
            subs.post_printer_event("lp", "printer-stopped", "paused")
        assert results == [True]
    with trio.fail_after(10):
        assert await waits.wait(lambda: False, 0.05) is False  # the wait cap


async def test_held_waits_are_bounded_and_answered_at_stop() -> None:
    waits = NotifyWaits()
    assert NotifyWaits.caps(256, 32) == (64, 8)
    assert NotifyWaits.caps(2, 1) == (1, 1)
    with waits.slot("a", 2, 1) as first, waits.slot("a", 2, 1) as second:
        assert first and not second  # per source
        with waits.slot("b", 2, 1) as third, waits.slot("c", 2, 1) as fourth:
            assert third and not fourth  # in total
    assert waits.held == 0
    ended: list[bool] = []

    async def hold() -> None:
        with waits.slot("a", 2, 2) as granted:
            assert granted
            ended.append(await waits.wait(lambda: False, 600))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hold)
            await trio.testing.wait_all_tasks_blocked()
            await waits.stop()
            assert ended == [False] and waits.held == 0
    with waits.slot("a", 2, 2) as late:
        assert not late  # stopping: no more held waits
    assert wait_seconds(30, 60) == 30
    assert wait_seconds(30, 10) == 10


async def test_backend_status_and_problems_post_printer_events(tmp_path: Path) -> None:
    queues = Queues([Queue(QueueConfig("lp", tmp_path.as_uri()), FileBackend(tmp_path.as_uri()))])
    subs = Subscriptions()

    def state(name: str) -> tuple[int, tuple[str, ...]] | None:
        queue = queues.get(name)
        return None if queue is None else (queue.state().ipp_state, queue.state().reasons)

    spool = await Spool.open(tmp_path / "spool")
    try:
        await subs.load(spool, state, ["lp"])
    finally:
        await spool.aclose()
    queues.watch_state(lambda queue: subs.check_printer(queue.name))
    sub = subs.create("lp", frozenset({"printer-state-changed", "printer-stopped"}), "a", 0)
    assert sub is not None
    queue = queues.get("lp")
    assert queue is not None
    queue.problem = ("connecting-to-device", "the printer does not answer")
    queue.problem = ("connecting-to-device", "the printer does not answer")  # no change
    queue.backend_status = PrinterStatus(state="stopped", reasons=("media-empty",))
    queue.problem = None
    assert [e.event for e in sub.log] == [
        "printer-state-changed",
        "printer-state-changed",
        "printer-stopped",
        "printer-state-changed",
    ]
    assert "connecting-to-device" in sub.log[0].text
