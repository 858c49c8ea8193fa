"""RFC 1179 queue state (``\\3``/``\\4``) and remove jobs (``\\5``) from the spool.

Why it looks like this
----------------------
Both commands name jobs the same way (RFC 1179 section 2): a list token that
starts with a digit is a job number, anything else a user name. A number
means the gateway's job id (what lpq shows) or, for a job that came in by
LPD from the same client address, the number in the client's own control
file name (``cfA123host`` -> 123), which is what ``lprm 123`` sends right
after ``lpr``. Matching by client number is host-scoped, as in BSD lpd.

Jobs shown and removable are the active ones (pending, held, processing,
stopped), as BSD lpq and LPRng lpq show them; jobs aborted in the last hour
are reported in the status lines above the list, with the reason, so that a
client learns why its job will not print. Text is rendered by
`gateway.lpd.status` in the BSD layout, which BSD lpq, LPRng lpq and the
Samba/Windows token parsers read.

Removal follows RFC 1179 / RFC 2569 3.5 with BSD's host scoping: a user may
remove jobs submitted under that user name from the same client address;
agent ``root`` may remove any job only from an address listed in
``lpd.trusted_hosts`` (elsewhere ``root`` is just a user name). A job sent
over ipps with a password is removed by neither (an LPD agent is only a
claimed name), except by that root with
``lpd.trusted_hosts_remove_authenticated``; the rule is the core's
(`gateway.core.policy`), the one IPP's Cancel-Job follows. With an
empty list the agent's active job is removed (the job being forwarded when
it is the agent's, else the agent's first waiting job, as LPRng does). The
list token ``all`` (LPRng ``lprm all``) and agent ``-all`` (BSD) mean every
job the agent may remove. Each removed job is canceled through the spool;
the dispatcher cancels one already forwarded at its backend.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.core.context import GatewayContext
from gateway.core.job import Frontend, Job, JobState
from gateway.core.policy import AccessPolicy, authenticates_users
from gateway.core.queues import Queue
from gateway.core.spool import JobNotFound, NotPossible
from gateway.log import job_event
from gateway.lpd.controlfile import control_file_name
from gateway.lpd.server.session import in_networks, shown
from gateway.lpd.status import StatusEntry, filter_entries, printer_status_lines, render_status

ACTIVE_STATES = frozenset({JobState.PROCESSING, JobState.PROCESSING_STOPPED})

#: Jobs aborted this recently are reported in lpq's status lines, so that a
#: client sees why its job will not print (the job list itself shows active
#: jobs only, as BSD lpq does).
RECENT_FAILURES_SECONDS = 3600.0
RECENT_FAILURES_SHOWN = 5
RECENT_ENDED_SECONDS = 600.0
RECENT_ENDED_SHOWN = 5


def client_number(job: Job, peer: str) -> int | None:
    """The job's number in its LPD client's control-file name, if the job
    came by LPD from ``peer``; else ``None`` (numbers are host-scoped)."""
    origin = job.origin
    if origin.frontend is Frontend.LPD and origin.peer == peer:
        return origin.lpd_job_number
    return None


HIDDEN = "-"
"""What lpq shows for the owner and file names of a job it keeps private."""


def private(context: GatewayContext, job: Job) -> bool:
    """Whether lpq hides `job`'s owner and file names: it was sent with a password
    while the gateway authenticates IPP users. lpq asks for no password, and Get-Jobs
    hides the same details from those who did not sign in as its owner."""
    return job.origin.authenticated and authenticates_users(context.config)


def owner_shown(context: GatewayContext, job: Job) -> str:
    return HIDDEN if private(context, job) else job.user


def status_entry(job: Job, peer: str, *, hidden: bool = False) -> StatusEntry:
    """How lpq shows one job (`hidden`: without its owner and file names)."""
    files = tuple(doc.name or job.name for doc in job.documents) or (job.name,)
    if hidden:
        files = (HIDDEN,) * len(files)
    copies = job.attributes.get("copies", 1)
    number = client_number(job, peer)
    return StatusEntry(
        owner=HIDDEN if hidden else job.user,
        job_id=job.id,
        files=files,
        size=job.size,
        rank_active=job.state in ACTIVE_STATES,
        host=job.origin.host or job.origin.peer,
        copies=copies if isinstance(copies, int) and copies >= 1 else 1,
        file_sizes=tuple(doc.size for doc in job.documents),
        aliases=() if number is None else (number,),
    )


def ordered_jobs(context: GatewayContext, queue: Queue) -> list[Job]:
    """Active jobs in lpq order: the ones being forwarded first, then the
    waiting ones in the order the dispatcher will take them."""
    jobs = context.spool.active_jobs(queue.name)
    return [j for j in jobs if j.state in ACTIVE_STATES] + [
        j for j in jobs if j.state not in ACTIVE_STATES
    ]


def queue_state(
    context: GatewayContext, queue: Queue, items: Sequence[str], *, long: bool, peer: str
) -> bytes:
    """The ``\\3``/``\\4`` reply: status lines, then the (filtered) jobs.

    While the spool cannot commit (a full disk, an I/O error: the last commit
    failed and none has worked since), the queue is shown down with the reason,
    as IPP shows it in printer-state-message: a job sent now would be refused."""
    state = queue.state()
    failure = context.spool.commit_failure
    lines = printer_status_lines(
        queue.name,
        printing=state.state == "processing",
        enabled=failure is None and state.state != "stopped",
        accepting=queue.is_accepting,
        message=state.message if failure is None else f"spool cannot commit: {failure}",
    )
    lines += failure_lines(context, queue, items, peer=peer)
    lines += ended_lines(context, queue, items, peer=peer)
    entries = [
        status_entry(job, peer, hidden=private(context, job))
        for job in ordered_jobs(context, queue)
    ]
    return render_status(lines, entries, long=long, items=items)


def _recent(
    context: GatewayContext,
    queue: Queue,
    items: Sequence[str],
    *,
    peer: str,
    now: float | None,
    states: frozenset[JobState],
    seconds: float,
    most: int,
) -> list[Job]:
    """The queue's jobs in ``states`` that ended in the last ``seconds``, filtered
    by the request's list, newest first, at most ``most`` of them."""
    now = time.time() if now is None else now
    ended = [
        job
        for job in context.spool.jobs(queue.name)
        if job.state in states and now - (job.completed or job.updated) <= seconds
    ]
    if items:
        named = {e.job_id for e in filter_entries([status_entry(j, peer) for j in ended], items)}
        ended = [j for j in ended if j.id in named]
    ended.sort(key=lambda j: (j.completed or j.updated, j.id), reverse=True)
    return ended[:most]


def failure_lines(
    context: GatewayContext,
    queue: Queue,
    items: Sequence[str],
    *,
    peer: str,
    now: float | None = None,
) -> list[str]:
    """``Warning: job 12 (alice) aborted: <job-state-message>`` for the
    queue's jobs aborted in the last `RECENT_FAILURES_SECONDS` (newest first,
    at most `RECENT_FAILURES_SHOWN`), filtered by the request's list."""
    failed = _recent(
        context,
        queue,
        items,
        peer=peer,
        now=now,
        states=frozenset({JobState.ABORTED}),
        seconds=RECENT_FAILURES_SECONDS,
        most=RECENT_FAILURES_SHOWN,
    )
    return [
        f"Warning: job {job.id} ({owner_shown(context, job)}) aborted: "
        f"{job.state_message or 'see the log'}"
        for job in failed
    ]


def ended_lines(
    context: GatewayContext,
    queue: Queue,
    items: Sequence[str],
    *,
    peer: str,
    now: float | None = None,
) -> list[str]:
    """``job 12 (alice) done`` / ``... canceled`` for the queue's jobs that ended
    well in the last `RECENT_ENDED_SECONDS` (newest first, at most
    `RECENT_ENDED_SHOWN`), filtered by the request's list: LPRng's lpq shows a
    finished job as ``done`` for a while, so a user sees it went through."""
    words = {JobState.COMPLETED: "done", JobState.CANCELED: "canceled"}
    ended = _recent(
        context,
        queue,
        items,
        peer=peer,
        now=now,
        states=frozenset(words),
        seconds=RECENT_ENDED_SECONDS,
        most=RECENT_ENDED_SHOWN,
    )
    return [f"job {job.id} ({owner_shown(context, job)}) {words[job.state]}" for job in ended]


def unknown_queue_text(context: GatewayContext, name: str) -> bytes:
    """What BSD lpd says for a queue it does not have."""
    shown = "".join(c if c.isprintable() else "?" for c in name)[:128]
    return f"{context.hostname}: {shown}: unknown printer\n".encode("utf-8", "replace")


def peer_is_trusted(context: GatewayContext, peer: str) -> bool:
    """Whether ``peer`` is in ``lpd.trusted_hosts`` (where agent root is root)."""
    return in_networks(peer, context.config.lpd.trusted_hosts)


@dataclass(frozen=True, slots=True)
class Agent:
    """Who asks to remove jobs: the RFC's agent, from which client address."""

    name: str
    peer: str
    is_root: bool  # agent "root" from a host in lpd.trusted_hosts
    policy: AccessPolicy = field(default_factory=AccessPolicy)

    @classmethod
    def of(cls, context: GatewayContext, name: str, peer: str) -> Agent:
        policy = AccessPolicy.of(context.config)
        trusted = peer_is_trusted(context, peer)
        return cls(name, peer, policy.lpd_agent(name, peer, trusted_host=trusted).operator, policy)

    def may_remove(self, job: Job) -> bool:
        """The core's rule (`AccessPolicy.may_change`) for this agent."""
        requester = self.policy.lpd_agent(self.name, self.peer, trusted_host=self.is_root)
        return self.policy.may_change(requester, job)


def reply_name(context: GatewayContext, job: Job) -> str:
    """The control-file name BSD prints for a job in ``... dequeued`` lines: the
    client's own for LPD jobs, else the one `control_file_name` makes from the
    job id and this host."""
    if job.origin.frontend is Frontend.LPD and job.origin.lpd_control_file:
        return "".join(c for c in job.origin.lpd_control_file if c.isprintable())
    return control_file_name(job.id % 1000, context.hostname)


def select_for_removal(
    jobs: Sequence[Job], agent: Agent, items: Sequence[str]
) -> tuple[list[Job], list[Job]]:
    """(jobs to remove, jobs named but not the agent's to remove). With an empty
    list, a job under the agent's name that it may not remove (one sent with a
    password) is reported as denied when nothing else is removed."""
    everything = agent.name == "-all" or "all" in items
    if everything:
        return [j for j in jobs if agent.may_remove(j)], []
    if not items:
        active = [j for j in jobs if j.state in ACTIVE_STATES and agent.may_remove(j)]
        if active:
            return active[:1], []
        named = [j for j in jobs if j.user == agent.name]
        mine = [j for j in named if agent.may_remove(j)]
        return mine[:1], ([] if mine else named[:1])
    entries = {j.id: j for j in jobs}
    named_ids = {
        e.job_id for e in filter_entries([status_entry(j, agent.peer) for j in jobs], items)
    }
    named = [entries[i] for i in sorted(named_ids)]
    allowed = [j for j in named if agent.may_remove(j)]
    denied = [j for j in named if not agent.may_remove(j)]
    return allowed, denied


async def remove_jobs(
    context: GatewayContext, queue: Queue, agent_name: str, items: Sequence[str], *, peer: str
) -> bytes:
    """Cancel the jobs a ``\\5`` request names; the BSD-style reply text."""
    agent = Agent.of(context, agent_name, peer)
    allowed, denied = select_for_removal(ordered_jobs(context, queue), agent, items)
    lines: list[str] = []
    for job in allowed:
        try:
            canceled = await context.dispatcher.cancel(
                job,
                reason="job-canceled-by-user",
                message=f"removed by {shown(agent_name) or '-'}@{peer} (LPD remove)",
            )
        except (NotPossible, JobNotFound):
            continue  # it ended meanwhile
        job_event("removed", canceled, via="lpd", agent=shown(agent_name) or "-", by_peer=peer)
        lines.append(f"{reply_name(context, job)} dequeued")
    for job in denied:
        lines.append(f"{reply_name(context, job)}: Permission denied")
    if not lines:
        return b""
    text = "\n".join(f"{context.hostname}: {line}" for line in lines) + "\n"
    return text.encode("utf-8", "replace")
