"""Logging set-up and the one-line-per-job-event format.

Every job event is one line a person can read and a script can split::

    2026-11-22 10:01:02 INFO job 12 received queue=lp peer=10.0.0.7 user=bob name="Q3 report"

`job_event` is the only place that formats those lines, so every front-end,
the dispatcher and every backend say the same thing the same way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from gateway.core.job import Job

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

events = logging.getLogger("gateway.jobs")


def setup(level: str = "info") -> None:
    """Log to stderr, one line per record."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # hypercorn logs every request at info; keep its errors only.
    logging.getLogger("hypercorn.access").setLevel(logging.WARNING)


def _value(value: Any) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


def fields(**values: Any) -> str:
    """``key=value`` pairs, quoting values with spaces (client text is escaped)."""
    return " ".join(
        f"{k.replace('_', '-')}={_value(v)}" for k, v in values.items() if v is not None
    )


def job_event(event: str, job: Job, *, level: int = logging.INFO, **extra: Any) -> None:
    """Log one job event: ``job ID EVENT queue=Q peer=P key=value...``."""
    if not events.isEnabledFor(level):
        return
    line = fields(queue=job.queue, peer=job.origin.peer or "-", **extra)
    events.log(level, "job %d %s %s", job.id, event, line)
