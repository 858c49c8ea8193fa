"""Status sync: real LPRng and BSD lpd replies (captures.py) and cups-lpd's
documented format, through `parse_status` and the LPD backend's mapping to
gateway job and printer states."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from gateway.backends.lpd import LpdBackend
from gateway.core.job import Document, Frontend, Job, JobState, Origin
from gateway.lpd.status import parse_status
from tests.unit.lpd_client import captures as cap


def job(number: int, user: str = "alice") -> Job:
    return Job(
        id=number,
        queue="lp",
        state=JobState.PROCESSING,
        attributes={"requesting-user-name": user},
        documents=(Document(1, "d", "text/plain", 1, ""),),
        origin=Origin(Frontend.API),
        backend_job_id=str(number),
    )


def backend_with(replies: Sequence[bytes]) -> LpdBackend:
    """A backend whose queue listings are ``replies``, in turn."""
    backend = LpdBackend("lpd://printer.example/lp", {}, hostname="gateway.test")
    pending = list(replies)

    async def queue_state(queue: str, items: Sequence[str] = (), *, long: bool = True) -> bytes:
        assert queue == "lp" and long
        return pending.pop(0) if len(pending) > 1 else pending[0]

    backend.client.queue_state = queue_state  # type: ignore[method-assign]
    return backend


@pytest.mark.parametrize(
    ("reply", "state", "reasons", "accepting", "numbers"),
    [
        (cap.LPRNG_EMPTY_LONG, "idle", ("none",), True, []),
        (cap.LPRNG_STOPPED_LONG, "stopped", ("paused",), True, [101, 102]),
        (cap.LPRNG_STOPPED_SHORT, "stopped", ("paused",), True, []),
        (cap.LPRNG_DONE_LONG, "idle", ("none",), True, [101, 102]),
        (cap.LPRNG_SPOOLING_DISABLED_LONG, "idle", ("none",), False, [101, 102]),
        (cap.BSD_EMPTY_LONG, "idle", ("none",), True, []),
        (cap.BSD_ACTIVE_LONG, "processing", ("none",), True, [201, 202]),
        (cap.BSD_ACTIVE_SHORT, "processing", ("none",), True, [201, 202]),
        (cap.BSD_DOWN_LONG, "stopped", ("paused",), False, [201]),
        (cap.CUPS_LPD_SHORT, "processing", ("none",), True, [123, 124]),
        (cap.CUPS_LPD_LONG, "stopped", ("none",), True, [123]),
    ],
)
def test_parse_real_replies(
    reply: bytes, state: str, reasons: tuple[str, ...], accepting: bool, numbers: list[int]
) -> None:
    status = parse_status(reply)
    assert status.printer_state == state
    assert status.printer_state_reasons == reasons
    assert status.accepting_jobs is accepting
    assert [j.job_number for j in status.jobs] == numbers


def test_parse_owners_copies_and_ranks() -> None:
    lprng = parse_status(cap.LPRNG_STOPPED_LONG).jobs
    assert [(j.owner, j.host, j.rank, j.job_state) for j in lprng] == [
        ("alice", "gateway", "1", "pending"),
        ("bob", "gateway", "2", "pending"),
    ]
    bsd = parse_status(cap.BSD_ACTIVE_LONG).jobs
    assert [(j.owner, j.copies, j.size, j.job_state) for j in bsd] == [
        ("alice", 2, 1200, "processing"),
        ("bob", 1, 1200, "pending"),
    ]
    done = parse_status(cap.LPRNG_DONE_LONG).jobs
    assert {j.job_state for j in done} == {"completed"}
    assert parse_status(cap.BSD_DOWN_LONG).printer_state_message == "paper jam"


@pytest.mark.parametrize(
    ("reply", "number", "user", "state", "reasons"),
    [
        (cap.LPRNG_STOPPED_LONG, 101, "alice", JobState.PROCESSING_STOPPED, ("printer-stopped",)),
        (cap.LPRNG_DONE_LONG, 102, "bob", JobState.COMPLETED, ("job-completed-successfully",)),
        (cap.LPRNG_EMPTY_LONG, 101, "alice", JobState.COMPLETED, ("job-completed-successfully",)),
        (cap.BSD_ACTIVE_LONG, 201, "alice", JobState.PROCESSING, ("job-printing",)),
        (cap.BSD_ACTIVE_LONG, 202, "bob", JobState.PROCESSING, ("job-queued",)),
        (cap.BSD_ACTIVE_SHORT, 202, "bob", JobState.PROCESSING, ("job-queued",)),
        (cap.BSD_DOWN_LONG, 201, "alice", JobState.PROCESSING, ("job-printing",)),
        (cap.BSD_DOWN_LONG, 202, "bob", JobState.COMPLETED, ("job-completed-successfully",)),
        (cap.CUPS_LPD_SHORT, 124, "bob", JobState.PROCESSING, ("job-queued",)),
    ],
)
async def test_job_status_follows_the_listing(
    reply: bytes, number: int, user: str, state: JobState, reasons: tuple[str, ...]
) -> None:
    backend = backend_with([reply])
    status = await backend.job_status(job(number, user))
    assert status.state == state
    assert status.reasons == reasons
    assert f"{number:03d}" in status.message


async def test_job_listed_then_gone_completes() -> None:
    backend = backend_with([cap.BSD_ACTIVE_LONG, cap.BSD_EMPTY_LONG])
    first = await backend.job_status(job(201))
    assert first.state == JobState.PROCESSING
    backend._listed_at = float("-inf")  # the next poll asks again
    second = await backend.job_status(job(201))
    assert second.state == JobState.COMPLETED
    assert "left the queue" in second.message


async def test_printer_status_from_status_lines() -> None:
    down = await backend_with([cap.BSD_DOWN_LONG]).printer_status()
    assert (down.state, down.reasons, down.message, down.accepting) == (
        "stopped",
        ("paused",),
        "paper jam",
        False,
    )
    idle = await backend_with([cap.LPRNG_EMPTY_LONG]).printer_status()
    assert (idle.state, idle.reasons, idle.accepting) == ("idle", ("none",), True)


async def test_printer_status_when_unreachable() -> None:
    backend = LpdBackend("lpd://127.0.0.1:1/lp", {"timeout": 2}, hostname="gw")
    status = await backend.printer_status()
    assert status.state == "stopped"
    assert status.reasons == ("connecting-to-device",)
    assert "cannot connect" in status.message


def test_job_numbers_skip_what_the_remote_shows_and_what_we_follow() -> None:
    backend = LpdBackend("lpd://printer.example/lp", {}, hostname="gw")
    assert backend._choose_number(job(5), set()) == 5
    assert backend._choose_number(job(5), {5, 6}) == 7
    assert backend._choose_number(job(1000), set()) == 1  # job 0 has no IPP id
    assert backend._choose_number(job(999), {999}) == 1
    backend._following[7] = 6
    assert backend._choose_number(job(5), {5, 6}) == 8
    backend._following[7] = 5  # a re-send of the same job keeps its number
    assert backend._choose_number(job(5), {5, 6}) == 7


async def test_a_job_just_sent_is_not_completed_before_it_is_listed() -> None:
    backend = backend_with([cap.BSD_EMPTY_LONG])
    backend._sent_at[7] = time.monotonic()
    waiting = await backend.job_status(job(7))
    assert waiting.state == JobState.PROCESSING
    assert "not listed there yet" in waiting.message
    backend._sent_at[7] = time.monotonic() - 10  # long enough: it came and went
    backend._listed_at = float("-inf")
    assert (await backend.job_status(job(7))).state == JobState.COMPLETED
