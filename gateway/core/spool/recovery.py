"""Start-up recovery: what a stop (or a crash) may have left behind.

Why: a job is committed only after its files are durable, so after a crash the
records are right and only two things need repair. Folders that no record
names belong to jobs that were being received and never committed (their
clients had no ack): they are deleted, and so are ``*.part`` files left in the
folders of committed jobs. Jobs that were being forwarded are put back by the
lifecycle rule `Job.after_restart` (at-least-once delivery); `Spool.open` stores
them and the dispatcher forwards them again.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterable
from pathlib import Path

from gateway.core.job import Job


def sweep_orphan_folders(jobs_dir: Path, known: Collection[str]) -> list[str]:
    """Delete the folders in ``jobs_dir`` not in ``known``, and ``*.part`` files
    in the others (blocking). The names of the folders deleted."""
    removed = []
    for entry in jobs_dir.iterdir():
        if entry.name not in known:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        else:
            for part in entry.glob("*.part"):
                part.unlink(missing_ok=True)
    return removed


def requeued(jobs: Iterable[Job]) -> list[Job]:
    """The jobs a restart changes (see `Job.after_restart`), in their new state."""
    return [new for job in jobs if (new := job.after_restart()) is not None]


__all__ = ["requeued", "sweep_orphan_folders"]
