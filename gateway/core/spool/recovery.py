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
import time
from collections.abc import Collection, Iterable
from pathlib import Path

from gateway.core.job import Job


def sweep_orphan_folders(
    jobs_dir: Path, known: Collection[str], *, grace: float = 0.0
) -> list[str]:
    """Delete the folders in ``jobs_dir`` not in ``known``, and ``*.part`` files
    in the others (blocking). The names of the folders deleted.

    ``grace``: leave what changed less than that many seconds ago. With a
    documents folder shared by several gateways, another live gateway may be
    receiving into a folder no record names yet, or adding a document."""
    removed = []
    limit = time.time() - grace
    for entry in jobs_dir.iterdir():
        if grace and _changed_since(entry, limit):
            continue
        if entry.name not in known:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        else:
            for part in entry.glob("*.part"):
                part.unlink(missing_ok=True)
    return removed


def _changed_since(path: Path, limit: float) -> bool:
    try:
        if path.stat().st_mtime >= limit:
            return True
        return any(child.stat().st_mtime >= limit for child in path.iterdir())
    except OSError:
        return True  # gone or unreadable: leave it


def requeued(jobs: Iterable[Job]) -> list[Job]:
    """The jobs a restart changes (see `Job.after_restart`), in their new state."""
    return [new for job in jobs if (new := job.after_restart()) is not None]


__all__ = ["requeued", "sweep_orphan_folders"]
