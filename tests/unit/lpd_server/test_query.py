"""Which jobs lpq shows and lprm removes (gateway/lpd/server/query.py), on job
snapshots built directly: no network, no spool."""

from __future__ import annotations

import ipaddress

from gateway.core.job import Document, Frontend, Job, JobState, Origin
from gateway.lpd.server.query import (
    Agent,
    client_number,
    select_for_removal,
    status_entry,
)
from gateway.lpd.server.query import reply_name as control_file_name

HERE = "10.0.0.7"
ELSEWHERE = "10.0.0.8"


def job(
    job_id: int,
    user: str,
    *,
    peer: str = HERE,
    number: int | None = None,
    state: JobState = JobState.PENDING,
    frontend: Frontend = Frontend.LPD,
    copies: int = 1,
) -> Job:
    docs = (
        Document(1, "jobs/x/doc-1", "text/plain", 10, "0" * 64, name="a.txt"),
        Document(2, "jobs/x/doc-2", "application/pdf", 30, "1" * 64, name=""),
    )
    return Job(
        id=job_id,
        queue="lp",
        state=state,
        attributes={"requesting-user-name": user, "job-name": "the job", "copies": copies},
        documents=docs,
        origin=Origin(
            frontend,
            peer=peer,
            host="client.example",
            user=user,
            lpd_control_file=None if number is None else f"cfA{number:03d}client",
            lpd_job_number=number,
        ),
    )


def test_status_entry_fields() -> None:
    entry = status_entry(job(7, "alice", number=123, copies=2), HERE)
    assert entry.owner == "alice"
    assert entry.job_id == 7
    assert entry.files == ("a.txt", "the job")  # unnamed document: the job name
    assert entry.size == 40 and entry.file_sizes == (10, 30)
    assert entry.copies == 2
    assert entry.host == "client.example"
    assert entry.aliases == (123,)
    assert not entry.rank_active


def test_client_numbers_are_host_scoped() -> None:
    j = job(7, "alice", number=123)
    assert client_number(j, HERE) == 123
    assert client_number(j, ELSEWHERE) is None
    assert status_entry(j, ELSEWHERE).aliases == ()
    ipp = job(8, "alice", number=None, frontend=Frontend.IPP)
    assert client_number(ipp, HERE) is None


def test_processing_is_active() -> None:
    assert status_entry(job(1, "a", state=JobState.PROCESSING), HERE).rank_active
    assert status_entry(job(1, "a", state=JobState.PROCESSING_STOPPED), HERE).rank_active


def test_control_file_name() -> None:
    class Ctx:
        hostname = "gw"

    assert control_file_name(Ctx(), job(5, "a", number=42)) == "cfA042client"  # type: ignore[arg-type]
    assert control_file_name(Ctx(), job(1005, "a", frontend=Frontend.IPP)) == "cfA005gw"  # type: ignore[arg-type]


def test_user_removes_own_jobs_by_id_and_client_number() -> None:
    jobs = [job(1, "alice", number=500), job(2, "alice", number=501), job(3, "bob", number=502)]
    alice = Agent("alice", HERE, is_root=False)
    removed, denied = select_for_removal(jobs, alice, ["1", "501", "3"])
    assert [j.id for j in removed] == [1, 2]
    assert [j.id for j in denied] == [3]


def test_user_from_another_host_may_not_remove() -> None:
    jobs = [job(1, "alice")]
    removed, denied = select_for_removal(jobs, Agent("alice", ELSEWHERE, False), ["1"])
    assert removed == [] and [j.id for j in denied] == [1]


def test_by_user_name() -> None:
    jobs = [job(1, "alice"), job(2, "bob"), job(3, "alice")]
    removed, denied = select_for_removal(jobs, Agent("alice", HERE, False), ["alice"])
    assert [j.id for j in removed] == [1, 3] and denied == []
    removed, denied = select_for_removal(jobs, Agent("alice", HERE, False), ["bob"])
    assert removed == [] and [j.id for j in denied] == [2]


def test_empty_list_prefers_the_active_job() -> None:
    jobs = [job(1, "alice", state=JobState.PROCESSING), job(2, "alice")]
    removed, _ = select_for_removal(jobs, Agent("alice", HERE, False), [])
    assert [j.id for j in removed] == [1]


def test_empty_list_with_someone_elses_active_job() -> None:
    jobs = [job(1, "bob", state=JobState.PROCESSING), job(2, "alice"), job(3, "alice")]
    removed, _ = select_for_removal(jobs, Agent("alice", HERE, False), [])
    assert [j.id for j in removed] == [2]


def test_root_trusted_and_all() -> None:
    jobs = [job(1, "alice", peer=ELSEWHERE), job(2, "bob")]
    root = Agent("root", HERE, is_root=True)
    assert [j.id for j in select_for_removal(jobs, root, ["all"])[0]] == [1, 2]
    assert [j.id for j in select_for_removal(jobs, root, ["bob"])[0]] == [2]
    assert select_for_removal(jobs, root, [])[0] == []  # root has no job of its own


def test_dash_all_removes_this_hosts_jobs() -> None:
    jobs = [job(1, "alice"), job(2, "bob", peer=ELSEWHERE), job(3, "carol")]
    removed, _ = select_for_removal(jobs, Agent("-all", HERE, False), [])
    assert [j.id for j in removed] == [1, 3]


def test_trusted_hosts_check() -> None:
    from gateway.lpd.server.query import peer_is_trusted

    class Lpd:
        trusted_hosts = (ipaddress.ip_network("10.0.0.0/30"),)

    class Config:
        lpd = Lpd()

    class Ctx:
        config = Config()

    assert peer_is_trusted(Ctx(), "10.0.0.2")  # type: ignore[arg-type]
    assert not peer_is_trusted(Ctx(), "10.0.0.7")  # type: ignore[arg-type]
    assert not peer_is_trusted(Ctx(), "not an address")  # type: ignore[arg-type]


def test_failure_lines_recent_only_newest_first() -> None:
    from dataclasses import replace

    from gateway.lpd.server.query import RECENT_FAILURES_SECONDS, failure_lines

    now = 1_000_000.0
    jobs = [
        replace(job(1, "alice"), state=JobState.ABORTED, completed=now - 10, state_message="m1"),
        replace(job(2, "bob"), state=JobState.ABORTED, completed=now - 5, state_message="m2"),
        replace(
            job(3, "carol"),
            state=JobState.ABORTED,
            completed=now - RECENT_FAILURES_SECONDS - 1,
            state_message="old",
        ),
        replace(job(4, "dave"), state=JobState.COMPLETED, completed=now - 1),
    ]

    class Spool:
        def jobs(self, queue: str) -> list[Job]:
            return jobs

    class Ctx:
        spool = Spool()

    class Q:
        name = "lp"

    lines = failure_lines(Ctx(), Q(), [], peer=HERE, now=now)  # type: ignore[arg-type]
    assert lines == [
        "Warning: job 2 (bob) aborted: m2",
        "Warning: job 1 (alice) aborted: m1",
    ]
    assert failure_lines(Ctx(), Q(), ["alice"], peer=HERE, now=now) == [  # type: ignore[arg-type]
        "Warning: job 1 (alice) aborted: m1"
    ]


def test_huge_job_number_in_a_request_is_harmless() -> None:
    """A list token of thousands of digits (possible with a large lpd.max_line)
    must not make int() fail (status.filter_entries reads at most 20 digits)."""
    from gateway.lpd.status import filter_entries

    entries = [status_entry(job(7, "alice"), HERE)]
    assert filter_entries(entries, ["9" * 5000]) == []
    assert filter_entries(entries, ["7", "9" * 5000]) == entries


def test_ended_lines_show_recent_done_and_canceled_jobs() -> None:
    from dataclasses import replace

    from gateway.lpd.server.query import RECENT_ENDED_SECONDS, ended_lines

    now = 1_000_000.0
    jobs = [
        replace(job(1, "alice"), state=JobState.COMPLETED, completed=now - 10),
        replace(job(2, "bob"), state=JobState.CANCELED, completed=now - 5),
        replace(
            job(3, "carol"), state=JobState.COMPLETED, completed=now - RECENT_ENDED_SECONDS - 1
        ),
        replace(job(4, "dave"), state=JobState.ABORTED, completed=now - 1),
        job(5, "erin"),
    ]

    class Spool:
        def jobs(self, queue: str) -> list[Job]:
            return jobs

    class Ctx:
        spool = Spool()

    class Q:
        name = "lp"

    assert ended_lines(Ctx(), Q(), [], peer=HERE, now=now) == [  # type: ignore[arg-type]
        "job 2 (bob) canceled",
        "job 1 (alice) done",
    ]
    assert ended_lines(Ctx(), Q(), ["1"], peer=HERE, now=now) == [  # type: ignore[arg-type]
        "job 1 (alice) done"
    ]
