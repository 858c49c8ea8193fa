"""One way to turn a `Job` into its stored `Record` and back.

Why: the record is the format every existing spool is written in, and the one a
shared store would hold, so it is made in one place only. Reading is lenient:
every field but ``queue``, ``state``, ``attributes`` and ``documents`` has a
default, so that records written before a field existed still load.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.core.job import Document, Frontend, Job, JobState, Origin

from .store import Record


def to_record(job: Job) -> Record:
    """The record of ``job`` (its id is the store's key, not part of the record)."""
    return Record(job.queue, int(job.state), json.dumps(_to_json(job)))


def from_record(job_id: int, data: str) -> Job:
    """The job whose record is ``data``, stored under ``job_id``."""
    return _from_json(job_id, json.loads(data))


def _to_json(job: Job) -> dict[str, Any]:
    return {
        "queue": job.queue,
        "state": int(job.state),
        "attributes": job.attributes,
        "documents": [d.to_json() for d in job.documents],
        "origin": job.origin.to_json(),
        "state_reasons": list(job.state_reasons),
        "state_message": job.state_message,
        "created": job.created,
        "processing": job.processing,
        "completed": job.completed,
        "updated": job.updated,
        "incoming": job.incoming,
        "backend_job_id": job.backend_job_id,
        "attempts": job.attempts,
        "not_before": job.not_before,
        "cancel_requested": job.cancel_requested,
        "impressions_completed": job.impressions_completed,
        "accounted": job.accounted,
    }


def _from_json(job_id: int, data: dict[str, Any]) -> Job:
    return Job(
        id=job_id,
        queue=data["queue"],
        state=JobState(data["state"]),
        attributes=data["attributes"],
        documents=tuple(Document.from_json(d) for d in data["documents"]),
        origin=Origin.from_json(data.get("origin", {"frontend": Frontend.API.value})),
        state_reasons=tuple(data.get("state_reasons", ("none",))),
        state_message=data.get("state_message", ""),
        created=data.get("created", 0.0),
        processing=data.get("processing"),
        completed=data.get("completed"),
        updated=data.get("updated", 0.0),
        incoming=data.get("incoming", False),
        backend_job_id=data.get("backend_job_id"),
        attempts=data.get("attempts", 0),
        not_before=data.get("not_before", 0.0),
        cancel_requested=data.get("cancel_requested", False),
        impressions_completed=data.get("impressions_completed", 0),
        accounted=data.get("accounted", False),
    )


__all__ = ["from_record", "to_record"]
