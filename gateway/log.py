"""Logging set-up and the one-line-per-job-event format.

Every job event is one line a person can read and a script can split::

    2026-11-22 10:01:02 INFO job 12 received queue=lp peer=10.0.0.7 user=bob name="Q3 report"

`job_event` is the only place that formats those lines, so every front-end,
the dispatcher and every backend say the same thing the same way.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import Any

from gateway.core.job import Job

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

events = logging.getLogger("gateway.jobs")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and, for job
    events, the event's fields (job_id, event, queue, peer, ...)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job = getattr(record, "job", None)
        if isinstance(job, dict):
            data.update(job)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup(level: str = "info", fmt: str = "text") -> None:
    """Log to stderr, one line per record, as text or as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(LOG_FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # hypercorn and httpx (the IPP backend's client) log every request at info;
    # the job events say what happened, so keep their warnings and errors only.
    for noisy in ("hypercorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _escape(char: str) -> str:
    if char in '\\"':
        return "\\" + char
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\x{ord(char):02x}"
    return char


def _value(value: Any) -> str:
    """A value as one token: quoted when it has blanks, control characters (never
    written raw, so client text cannot forge log lines) are escaped."""
    text = str(value)
    if not text or any(c.isspace() or c in '"=\\' or ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return '"' + "".join(_escape(c) for c in text) + '"'
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
    structured = {
        "job_id": job.id,
        "event": event,
        "queue": job.queue,
        "peer": job.origin.peer or None,
        **{k: v for k, v in extra.items() if v is not None},
    }
    events.log(level, "job %d %s %s", job.id, event, line, extra={"job": structured})
