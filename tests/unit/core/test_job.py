"""The transition table is the single source of job-state truth."""

from __future__ import annotations

import pytest

from gateway.core.job import (
    TERMINAL_STATES,
    TRANSITIONS,
    Document,
    Frontend,
    IllegalTransition,
    Job,
    JobState,
    Origin,
)


def test_keywords_match_ipp() -> None:
    assert JobState.PROCESSING_STOPPED.keyword == "processing-stopped"
    assert JobState.PENDING_HELD.keyword == "pending-held"
    assert [int(s) for s in JobState] == [3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_terminal_states_go_nowhere(state: JobState) -> None:
    for target in JobState:
        with pytest.raises(IllegalTransition):
            state.check_transition(target)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (JobState.PENDING, JobState.PROCESSING),
        (JobState.PENDING, JobState.PENDING_HELD),
        (JobState.PENDING_HELD, JobState.PENDING),
        (JobState.PROCESSING, JobState.PENDING),
        (JobState.PROCESSING, JobState.COMPLETED),
        (JobState.PROCESSING_STOPPED, JobState.PROCESSING),
    ],
)
def test_legal(old: JobState, new: JobState) -> None:
    old.check_transition(new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (JobState.PENDING, JobState.COMPLETED),  # a job cannot finish without being sent
        (JobState.PENDING_HELD, JobState.PROCESSING),  # held jobs are released first
        (JobState.PENDING, JobState.PROCESSING_STOPPED),
    ],
)
def test_illegal(old: JobState, new: JobState) -> None:
    with pytest.raises(IllegalTransition, match=f"{old.keyword} -> {new.keyword}"):
        old.check_transition(new)


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(JobState)


# ----------------------------------------------------------------------
# Lifecycle rules


def new_job(**changes: object) -> Job:
    job = Job.submitted("lp", {}, (), Origin(Frontend.API), now=100.0)
    return job.evolve(**changes)


def test_submitted_states_and_reasons() -> None:
    assert (new_job().state, new_job().state_reasons) == (JobState.PENDING, ("none",))
    held = Job.submitted("lp", {}, (), Origin(Frontend.API), now=1.0, held=True)
    assert (held.state, held.state_reasons) == (
        JobState.PENDING_HELD,
        ("job-hold-until-specified",),
    )
    incoming = Job.submitted("lp", {}, (), Origin(Frontend.IPP), now=1.0, incoming=True)
    assert incoming.incoming and incoming.state_reasons == ("job-incoming",)
    assert (incoming.created, incoming.updated) == (1.0, 1.0)


def test_changed_sets_time_at_processing_and_completed_once() -> None:
    sent = new_job().changed(200.0, state=JobState.PROCESSING)
    assert (sent.processing, sent.completed) == (200.0, None)
    again = sent.changed(300.0, state=JobState.PENDING).changed(400.0, state=JobState.PROCESSING)
    assert again.processing == 200.0
    done = again.changed(500.0, state=JobState.COMPLETED)
    assert done.completed == 500.0
    assert new_job().changed(600.0, attempts=1).processing is None  # no change of state


@pytest.mark.parametrize(
    ("state", "asks_backend"),
    [
        (JobState.PENDING, False),
        (JobState.PENDING_HELD, False),
        (JobState.PROCESSING, True),
        (JobState.PROCESSING_STOPPED, True),
    ],
)
def test_canceled(state: JobState, asks_backend: bool) -> None:
    job = new_job(state=state, incoming=True).canceled(7.0, reason="job-canceled-at-device")
    assert job.state == JobState.CANCELED and job.completed == 7.0
    assert job.cancel_requested is asks_backend and not job.incoming
    assert (job.state_reasons, job.state_message) == (("job-canceled-at-device",), "canceled")


def test_closed() -> None:
    doc = Document(1, "jobs/x/doc-1", "text/plain", 1, "")
    assert new_job().closed(5.0) == new_job()  # not incoming: nothing to close
    empty = new_job(incoming=True).closed(5.0)
    assert (empty.state, empty.completed, empty.incoming) == (JobState.ABORTED, 5.0, False)
    printable = new_job(incoming=True).with_document(doc, last=False).closed(5.0)
    assert (printable.state, printable.incoming) == (JobState.PENDING, False)
    assert printable.next_document_number == 2


def test_after_restart_requeues_only_unconfirmed_forwarding() -> None:
    requeued = new_job(state=JobState.PROCESSING).after_restart()
    assert requeued is not None and requeued.state == JobState.PENDING
    assert requeued.state_message == "requeued after a restart"
    assert new_job(state=JobState.PROCESSING, backend_job_id="9").after_restart() is None
    assert new_job(state=JobState.PENDING).after_restart() is None
