"""The transition table is the single source of job-state truth."""

from __future__ import annotations

import pytest

from gateway.core.job import TERMINAL_STATES, TRANSITIONS, IllegalTransition, JobState


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
