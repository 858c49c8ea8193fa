"""The in-memory copy of every committed job, with the indexes reads need.

Why: lpq, Get-Jobs, the status page and the dispatcher read the spool all the
time; served from memory, in the order they are wanted, they never touch the
disk nor sort. The history is bounded by retention, so the copy is too.

Jobs are kept in id order (ids only grow, so a new job is appended). For each
queue there are its jobs and its unfinished jobs, both in id order (dicts used
as ordered sets), and the ids of its pending jobs, ascending (a list, kept
sorted by bisection, which `Spool.pending_ids` hands out). Only a job moved
between queues can land behind newer ones: then that queue's order is rebuilt.
Each job's folder key is kept beside it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence

from gateway.core.job import Job, JobState


class JobIndex:
    """Committed jobs by id and by queue; changed only after a commit."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}  # in id order
        self._folders: dict[int, str] = {}
        self._queue_ids: dict[str, dict[int, None]] = {}  # each queue's jobs, in id order
        self._active_ids: dict[str, dict[int, None]] = {}  # ... and its unfinished ones
        self._pending_ids: dict[str, list[int]] = {}  # ... and its pending ones, ascending

    # ------------------------------------------------------------------
    # Changes (after the commit)

    def add(self, job: Job, folder: str) -> None:
        """A new job (or one loaded at start), whose folder is ``folder``."""
        self._folders[job.id] = folder
        self.put(job, None)

    def put(self, job: Job, old: Job | None) -> None:
        """Make ``job`` the committed version; ``old`` is the one it replaces."""
        jobs = self._jobs
        late = job.id not in jobs and bool(jobs) and job.id < next(reversed(jobs))
        jobs[job.id] = job
        if late:  # another gateway committed it after a newer job (a shared store)
            self._jobs = dict(sorted(jobs.items()))
        if old is not None and old.queue != job.queue:
            self._queue_ids[old.queue].pop(job.id, None)
            self._active_ids[old.queue].pop(job.id, None)
            _discard_sorted(self._pending_ids.get(old.queue, []), job.id)
        pending = self._pending_ids.setdefault(job.queue, [])
        if job.state == JobState.PENDING:
            if not pending or pending[-1] < job.id:
                pending.append(job.id)
            else:
                at = bisect.bisect_left(pending, job.id)
                if at == len(pending) or pending[at] != job.id:
                    pending.insert(at, job.id)
        else:
            _discard_sorted(pending, job.id)
        ids = self._queue_ids.setdefault(job.queue, {})
        active = self._active_ids.setdefault(job.queue, {})
        moved = job.id not in ids and bool(ids) and job.id < next(reversed(ids))
        ids[job.id] = None
        if job.state.is_terminal:
            active.pop(job.id, None)
        else:
            active[job.id] = None
        if moved:  # only a job moved between queues lands behind newer ones
            self._queue_ids[job.queue] = dict.fromkeys(sorted(ids))
            self._active_ids[job.queue] = dict.fromkeys(sorted(active))

    def remove(self, job_id: int) -> None:
        """Forget a job (purged)."""
        job = self._jobs.pop(job_id)
        self._folders.pop(job_id, None)
        self._queue_ids[job.queue].pop(job_id, None)
        self._active_ids[job.queue].pop(job_id, None)
        _discard_sorted(self._pending_ids.get(job.queue, []), job_id)

    # ------------------------------------------------------------------
    # Reads

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def folder(self, job_id: int) -> str | None:
        """The key of the job's folder, None for a job not (or no longer) here."""
        return self._folders.get(job_id)

    def folders(self) -> set[str]:
        """The folder keys of every job."""
        return set(self._folders.values())

    def jobs(self, queue: str | None = None) -> Iterator[Job]:
        """Every job, in id order, optionally of one queue (a snapshot)."""
        if queue is None:
            return iter(list(self._jobs.values()))
        jobs = self._jobs
        return iter([jobs[i] for i in self._queue_ids.get(queue, ())])

    def active_jobs(self, queue: str | None = None) -> list[Job]:
        """Jobs not yet ended, in id order (the order they are forwarded in)."""
        jobs = self._jobs
        if queue is not None:
            return [jobs[i] for i in self._active_ids.get(queue, ())]
        ids = sorted(i for active in self._active_ids.values() for i in active)
        return [jobs[i] for i in ids]

    def active_count(self, queue: str) -> int:
        return len(self._active_ids.get(queue, ()))

    def pending_ids(self, queue: str) -> Sequence[int]:
        """Ids of the queue's jobs in state pending, ascending (do not modify)."""
        return self._pending_ids.get(queue, [])

    def next_pending(self, queue: str) -> Job | None:
        """The oldest job of ``queue`` in state pending and not incoming."""
        jobs = self._jobs
        for job_id in self._active_ids.get(queue, ()):
            job = jobs[job_id]
            if job.state == JobState.PENDING and not job.incoming:
                return job
        return None


def _discard_sorted(ids: list[int], job_id: int) -> None:
    at = bisect.bisect_left(ids, job_id)
    if at < len(ids) and ids[at] == job_id:
        del ids[at]


__all__ = ["JobIndex"]
