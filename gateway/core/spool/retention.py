"""History retention: which ended jobs the spool forgets.

Why: the spool keeps ended jobs, so that lpq, Get-Jobs (which-jobs=completed)
and the status page can show them, in memory and on disk. Retention bounds
that history by count (``history_max_jobs``, the most recently ended kept) and
by age (``history_max_age`` seconds since a job ended, `Job.ended_at`). Jobs not
yet ended are never forgotten. `Spool.purge` deletes the records and folders.
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.core.job import Job


def expired(ended: Iterable[Job], *, now: float, max_jobs: int, max_age: float) -> list[Job]:
    """Of the ended jobs ``ended``, those past the limits, oldest first."""
    by_age = sorted(ended, key=lambda j: (j.ended_at, j.id))
    excess = len(by_age) - max_jobs
    return [
        job for index, job in enumerate(by_age) if index < excess or now - job.ended_at > max_age
    ]


__all__ = ["expired"]
