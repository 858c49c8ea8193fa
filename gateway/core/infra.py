"""The Infrastructure Printer role (PWG 5100.18): jobs held for proxies to fetch.

Why: a queue configured ``infrastructure = true`` has no printer of its own. Its
jobs wait for an output device (a proxy behind a firewall, which only connects
out) to fetch them, and their state then follows what that device reports. The
rules are here, once, so that the IPP handlers (gateway/ipp/server/infra.py) only
read attributes and answer:

- **Held.** The dispatcher does not forward such a job: it moves it from pending
  (through processing) to processing-stopped with ``job-fetchable`` (`hold`), in
  the queue's order,
  while the queue is enabled. The queue's backend is `ProxyHold`, which sends
  nothing anywhere: it answers a job's state from the job itself and a cancel
  with nothing (the device learns of a cancel from the job's state).
- **Owned.** The first output device to Acknowledge-Job owns the job
  (`OutputDevices.acknowledge`): its output-device-uuid is kept as the job's
  ``backend_job_id``, so ownership survives a restart (a job with a backend job
  id is not requeued by `Job.after_restart`), and ``job-fetchable`` goes. Any
  other device then gets client-error-not-fetchable (`NotFetchable`).
- **Followed.** Update-Job-Status from the owner sets job-state,
  job-state-reasons, job-state-message and job-impressions-completed
  (`OutputDevices.job_status`). A job that ended here (canceled by its owner or
  an operator) stays ended: the device learns it from Get-Job-Attributes or
  Update-Active-Jobs and reports its own end, which changes nothing.
- **Silent devices.** An owned job whose device stops talking is kept as it is;
  an operator may cancel it. (No timer takes it back: the device may be printing
  it, and printing it twice is worse than waiting.)
- **Output devices** (uuid, queue, user, the attributes it reports, last
  contact) are kept in the spool's meta under ``infra.devices``, at most
  ``[infra] max_output_devices`` of them. The queue's capabilities are those its
  devices report (merged by the IPP front-end, which knows their syntax, and
  given to `ProxyHold.report`), else its configured ones.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from gateway.backends.base import (
    Capabilities,
    PermanentBackendError,
    PrinterStatus,
    RemoteJobStatus,
    Submission,
)
from gateway.config import INFRA_BACKEND
from gateway.core.job import Job, JobState
from gateway.core.spool import Spool
from gateway.log import job_event

log = logging.getLogger("gateway.infra")

#: Where the output devices are kept in the spool's meta.
META_KEY = "infra.devices"
FETCHABLE = "job-fetchable"

#: What a device may report for a job (PWG 5100.18 Update-Job-Status): the
#: device's pending and held states are still processing here (the job is with it).
REPORTED_STATE = {
    JobState.PENDING: JobState.PROCESSING,
    JobState.PENDING_HELD: JobState.PROCESSING,
    JobState.PROCESSING: JobState.PROCESSING,
    JobState.PROCESSING_STOPPED: JobState.PROCESSING_STOPPED,
    JobState.CANCELED: JobState.CANCELED,
    JobState.ABORTED: JobState.ABORTED,
    JobState.COMPLETED: JobState.COMPLETED,
}


class InfraError(Exception):
    """A proxy operation that cannot be done; the handlers map each kind to a status."""


class NotFetchable(InfraError):
    """The job is not fetchable by this device (owned by another, ended, not held)."""


class UnknownDevice(InfraError):
    """No such output device is registered (for this queue)."""


class TooManyDevices(InfraError):
    """``[infra] max_output_devices`` are registered already."""


def is_fetchable(job: Job) -> bool:
    """Held for proxies and owned by none (Get-Jobs which-jobs=fetchable)."""
    return (
        job.state == JobState.PROCESSING_STOPPED
        and FETCHABLE in job.state_reasons
        and job.backend_job_id is None
    )


def owner(job: Job) -> str | None:
    """The output-device-uuid of the device that acknowledged `job`, if any."""
    return job.backend_job_id


async def hold(
    spool: Spool, job: Job, prepare: Callable[[Job], Awaitable[Job]] | None = None
) -> Job | None:
    """The dispatcher's step for a pending job of an infrastructure queue: wait
    processing-stopped, job-fetchable (None if a cancel or a move came first).

    Pending -> processing -> processing-stopped, as the transition table has it
    (a job stops only once it has started); a restart between the two puts it
    back to pending (no owner yet), and it is held again. ``prepare`` runs while
    it is processing: the dispatcher converts the documents there for the formats
    the queue's output devices reported (Fetch-Document then serves the converted
    file to a device that names no document-format-accepted); what it raises (a
    conversion that failed) goes to the caller, with the job still processing."""
    moved = await spool.transition_if(
        job.id,
        (JobState.PENDING,),
        JobState.PROCESSING,
        in_queue=job.queue,
        reasons=("job-queued",),
        message="held for proxies",
    )
    if moved is None:
        return None
    if prepare is not None:
        await prepare(moved)
    held = await spool.transition_if(
        job.id,
        (JobState.PROCESSING,),
        JobState.PROCESSING_STOPPED,
        in_queue=job.queue,
        reasons=(FETCHABLE,),
        message="waiting for an output device to fetch it",
    )
    if held is not None:
        job_event("fetchable", held)
    return held


class ProxyHold:
    """The "backend" of an infrastructure queue: it holds, never sends.

    The dispatcher never submits to it (it calls `hold` instead); it follows an
    owned job (whose backend job id is the device's uuid) by asking `job_status`,
    which answers the job's own state, so following changes nothing; `cancel`
    does nothing (the device sees the job canceled here).
    """

    uri = INFRA_BACKEND
    one_job_at_a_time = False

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._caps = Capabilities()

    def report(self, formats: tuple[str, ...] | None, attributes: Mapping[str, Any]) -> None:
        """What the queue's registered devices can do now (the IPP front-end
        merges what they report): document formats and printer attributes."""
        self._caps = Capabilities(document_formats=formats, printer_attributes=dict(attributes))

    async def submit(self, job: Job, source: object) -> Submission:
        raise PermanentBackendError("an infrastructure queue holds its jobs for proxies")

    async def job_status(self, job: Job) -> RemoteJobStatus:
        return RemoteJobStatus(
            state=job.state,
            reasons=job.state_reasons,
            message=job.state_message,
            impressions_completed=job.impressions_completed,
        )

    async def cancel(self, job: Job) -> None:
        return None

    async def printer_status(self) -> PrinterStatus:
        return PrinterStatus()

    def capabilities(self) -> Capabilities:
        """The same object until the devices report something new."""
        return self._caps

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class OutputDevice:
    """One registered output device (a proxy's printer)."""

    uuid: str  # output-device-uuid, a urn:uuid: URI
    queue: str  # the infrastructure queue it fetches from
    user: str  # who registered it
    #: What it reports: name -> {"tag": IPP value tag, "values": [JSON values]}.
    attributes: dict[str, Any] = field(default_factory=dict)
    last_contact: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "queue": self.queue,
            "user": self.user,
            "attributes": self.attributes,
            "last_contact": self.last_contact,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutputDevice:
        return cls(
            uuid=str(data["uuid"]),
            queue=str(data["queue"]),
            user=str(data.get("user", "")),
            attributes=dict(data.get("attributes", {})),
            last_contact=float(data.get("last_contact", 0.0)),
        )


class OutputDevices:
    """The registered output devices and the ownership rules, over one spool.

    One lock orders every change, so two devices acknowledging one job at once
    are told apart: the first owns it. Changes are committed before they are
    answered.
    """

    def __init__(self, spool: Spool, *, limit: int = 16) -> None:
        self.spool = spool
        self.limit = limit
        self._devices: dict[str, OutputDevice] = {}
        self._lock = trio.Lock()
        self._loaded = False
        #: Called with a queue's name when the devices of that queue changed (the
        #: IPP front-end then sets the queue's `ProxyHold.reported`).
        self.on_change: Callable[[str], None] | None = None

    def _refresh(self, queue: str) -> None:
        if self.on_change is not None:
            self.on_change(queue)

    async def load(self) -> None:
        """Read the devices from the spool's meta (once)."""
        if self._loaded:
            return
        raw = await self.spool.get_meta(META_KEY)
        if raw:
            try:
                items = json.loads(raw)
                self._devices = {d["uuid"]: OutputDevice.from_json(d) for d in items}
            except (ValueError, KeyError, TypeError):
                log.error("infra: the stored output devices cannot be read; starting with none")  # noqa: TRY400
                self._devices = {}
        self._loaded = True
        for name in {d.queue for d in self._devices.values()}:
            self._refresh(name)

    async def _save(self) -> None:
        text = json.dumps([d.to_json() for d in self._devices.values()])
        await self.spool.set_meta(META_KEY, text)

    def get(self, uuid: str) -> OutputDevice | None:
        return self._devices.get(uuid)

    def of_queue(self, queue: str) -> list[OutputDevice]:
        return [d for d in self._devices.values() if d.queue == queue]

    async def register(self, uuid: str, queue: str, user: str) -> OutputDevice:
        """Register-Output-Device: the device fetches from `queue` (again, if known)."""
        await self.load()
        async with self._lock:
            known = self._devices.get(uuid)
            if known is None and len(self._devices) >= self.limit:
                raise TooManyDevices(f"{self.limit} output devices are registered already")
            device = (
                replace(known, queue=queue, user=user, last_contact=time.time())
                if known is not None
                else OutputDevice(uuid, queue, user, {}, time.time())
            )
            self._devices[uuid] = device
            await self._save()
            if known is not None and known.queue != queue:
                self._refresh(known.queue)
            self._refresh(queue)
            log.info("infra: queue %s: output device %s registered by %s", queue, uuid, user)
            return device

    async def device_for(self, uuid: str, queue: str, user: str) -> OutputDevice:
        """The device `uuid` of `queue`, registered on first use (a proxy may name
        its printer URI directly, without Register-Output-Device)."""
        await self.load()
        device = self._devices.get(uuid)
        if device is not None and device.queue == queue:
            return device
        return await self.register(uuid, queue, user)

    async def deregister(self, uuid: str, queue: str) -> None:
        """Deregister-Output-Device: forget the device (the jobs it owns stay its)."""
        await self.load()
        async with self._lock:
            device = self._devices.get(uuid)
            if device is None or device.queue != queue:
                raise UnknownDevice(f"no output device {uuid} on queue {queue}")
            del self._devices[uuid]
            await self._save()
            self._refresh(queue)
            log.info("infra: queue %s: output device %s deregistered", queue, uuid)

    async def set_attributes(
        self, uuid: str, queue: str, user: str, attributes: Mapping[str, Any]
    ) -> OutputDevice:
        """Update-Output-Device-Attributes: what the device can do now (the
        attributes named replace the ones it reported before)."""
        device = await self.device_for(uuid, queue, user)
        async with self._lock:
            device = replace(
                device,
                attributes={**device.attributes, **attributes},
                last_contact=time.time(),
            )
            self._devices[uuid] = device
            await self._save()
            self._refresh(queue)
            return device

    def _check_owner(self, job: Job, uuid: str) -> None:
        if owner(job) != uuid:
            raise NotFetchable(f"job {job.id} is not fetched by output device {uuid}")

    async def acknowledge(self, job_id: int, uuid: str) -> Job:
        """Acknowledge-Job: `uuid` owns job `job_id` (again: no change). NotFetchable
        when another device owns it or it is not held for proxies."""
        async with self._lock:
            job = self.spool.get(job_id)
            if job is None:
                raise NotFetchable(f"job {job_id} does not exist")
            if owner(job) == uuid:
                return job
            if not is_fetchable(job):
                why = "owned by another output device" if owner(job) else job.state.keyword
                raise NotFetchable(f"job {job_id} is not fetchable ({why})")
            taken = await self.spool.transition_if(
                job_id,
                (JobState.PROCESSING_STOPPED,),
                JobState.PROCESSING,
                reasons=("job-queued",),
                message=f"fetched by output device {uuid}",
                backend_job_id=uuid,
            )
            if taken is None:
                raise NotFetchable(f"job {job_id} is not fetchable (it changed)")
            job_event("acknowledged", taken, device=uuid)
            return taken

    def owned(self, job: Job, uuid: str) -> Job:
        """`job` if `uuid` owns it (Fetch-Document, Update-*-Status), else NotFetchable."""
        self._check_owner(job, uuid)
        return job

    async def job_status(
        self,
        job_id: int,
        uuid: str,
        *,
        state: JobState | None,
        reasons: tuple[str, ...] | None,
        message: str | None,
        impressions: int | None,
    ) -> Job:
        """Update-Job-Status from the device that owns the job: the job's state
        follows it; a job that ended here stays ended."""
        async with self._lock:
            job = self.spool.get(job_id)
            if job is None:
                raise NotFetchable(f"job {job_id} does not exist")
            self._check_owner(job, uuid)
            if job.state.is_terminal:
                return job
            new_state = REPORTED_STATE[state] if state is not None else job.state
            changes: dict[str, Any] = {}
            if impressions is not None:
                changes["impressions_completed"] = impressions
            reasons = tuple(r for r in (reasons or ()) if r != FETCHABLE) or None
            if reasons is None and new_state != job.state:
                reasons = ("none",) if not new_state.is_terminal else _end_reason(new_state)
            new = await self.spool.transition_if(
                job_id,
                (JobState.PROCESSING, JobState.PROCESSING_STOPPED),
                new_state,
                reasons=reasons,
                message=message,
                **changes,
            )
            if new is None:
                return self.spool.get(job_id) or job
            if new.state != job.state:
                job_event(new.state.keyword, new, device=uuid)
            return new

    def active_jobs(self, uuid: str) -> list[Job]:
        """The jobs `uuid` owns that have not ended here."""
        return [j for j in self.spool.jobs() if owner(j) == uuid and not j.state.is_terminal]


def _end_reason(state: JobState) -> tuple[str, ...]:
    return {
        JobState.COMPLETED: ("job-completed-successfully",),
        JobState.CANCELED: ("job-canceled-at-device",),
        JobState.ABORTED: ("aborted-by-system",),
    }[state]


__all__ = [
    "FETCHABLE",
    "InfraError",
    "NotFetchable",
    "OutputDevice",
    "OutputDevices",
    "ProxyHold",
    "TooManyDevices",
    "UnknownDevice",
    "hold",
    "is_fetchable",
    "owner",
]
