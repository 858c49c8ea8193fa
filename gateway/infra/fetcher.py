"""One proxy queue's loop: fetch jobs from an Infrastructure Printer into the spool.

Theory of operation (PWG 5100.18, reference/ipp.md section 5.3)
---------------------------------------------------------------
A session: (Register-Output-Device on a System Service, which names the
Infrastructure Printer), Update-Output-Device-Attributes with what the queue's
printer can do, Create-Printer-Subscriptions (ippget, job-fetchable and
job-state-changed), then the catch-up (`resume`: jobs left half fetched,
final states not yet reported, cancels missed, and Get-Jobs
which-jobs=fetchable), then Get-Notifications with notify-wait for ever.
Any failure ends the session; the next one starts after a back-off with
jitter (1 s doubling to 60 s), and the queue shows ``connecting-to-device``
with a message naming the upstream URI meanwhile. One log line marks the
start of an outage and one its end, not one per retry.

A job, in the order that makes a crash at any point harmless:

1. Fetch-Job, then the local job is committed, *incoming* (it cannot print
   yet), its origin naming the remote job (`Origin.fetched_from`,
   ``fetched_job_id``, ``output_device_uuid``);
2. Acknowledge-Job: only now does the Infrastructure Printer hand it to us;
   that it succeeded is then written down (spool key/value state
   ``infra:<queue>:acknowledged``); should a crash come first, the next
   session asks Get-Job-Attributes whether ``output-device-uuid-assigned``
   is ours;
3. per document: Fetch-Document, streamed into the spool, committed (fsync'ed
   by the spool's commit), then Acknowledge-Document; the commit of the last
   document closes the job and the dispatcher forwards it.

A crash between 1 and 2 leaves a local job the remote printer still offers as
fetchable: the next session finds it by its remote identity and goes on with
it (never a second local job); should another proxy have taken the job
meanwhile, the local one is canceled unprinted. A crash during 3 leaves the
local job incoming: its missing documents are fetched again (already spooled
ones are acknowledged again: both are idempotent for the owner). A job that
is closed is never fetched again, so it prints once.

Progress goes back with Update-Job-Status from a spool listener: what the
local job does (processing, then completed, aborted or canceled, with its
impressions). Final states reported are kept in the spool's key/value state,
so a restart reports those it had not yet. A cancel at the Infrastructure
Printer (a job-state-changed event, or the job's state read at resume)
cancels the local job; the dispatcher then cancels it at the backend.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from gateway.config import QueueConfig
from gateway.convert import chains
from gateway.convert.formats import OCTET_STREAM
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.queues import Queue
from gateway.core.spool import NewDocument, Spool
from gateway.core.spool.errors import SpoolError
from gateway.ipp.attributes import Attribute, Collection, Group
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag, ValueTag
from gateway.ipp.values import NameWithLanguage, TextWithLanguage

from .upstream import Answer, Upstream, UpstreamError, shown_uri

log = logging.getLogger("gateway.infra")

BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 60.0
#: notify-get-interval bounds (seconds) when the printer gives no notify-wait.
MIN_INTERVAL, MAX_INTERVAL, DEFAULT_INTERVAL = 1.0, 60.0, 5.0
#: How long the Infrastructure Printer may hold a Get-Notifications with
#: notify-wait (RFC 3996 says it chooses; 5100.18 servers hold up to 30 s).
NOTIFY_WAIT_DEADLINE = 90.0
SUBSCRIBED_EVENTS = ("job-fetchable", "job-state-changed", "printer-config-changed")
#: Job Template attributes copied from the fetched job to the local one.
TEMPLATE = (
    "copies",
    "finishings",
    "job-priority",
    "media",
    "media-col",
    "multiple-document-handling",
    "number-up",
    "orientation-requested",
    "output-bin",
    "page-ranges",
    "print-color-mode",
    "print-quality",
    "print-scaling",
    "printer-resolution",
    "sides",
)
PROBLEM = "connecting-to-device"
#: What a queue whose backend passes any format through (file://, most lpd://)
#: tells the Infrastructure Printer it takes: a printer may only send a format
#: named (ippserver answers client-error-not-fetchable otherwise).
ANY_FORMATS = (
    "application/pdf",
    "application/postscript",
    "application/vnd.hp-pcl",
    "image/jpeg",
    "image/png",
    "image/pwg-raster",
    "image/urf",
    "text/plain",
    "application/octet-stream",
)


def device_uuid_key(queue: str) -> str:
    """The spool key/value entry holding a queue's output-device-uuid."""
    return f"infra:{queue}:output-device-uuid"


def _reported_key(queue: str) -> str:
    return f"infra:{queue}:reported"


def _acknowledged_key(queue: str) -> str:
    return f"infra:{queue}:acknowledged"


def _document_count(group: Group | None) -> int:
    count = None if group is None else group.value("number-of-documents")
    return count if isinstance(count, int) and count > 0 else 1


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """A proxy queue's upstream, from its configuration (`QueueConfig.fetch_*`)."""

    uri: str
    system: bool
    user: str = ""
    password: str | None = None
    token: str | None = None
    ca_file: Path | None = None

    @classmethod
    def of(cls, config: QueueConfig) -> FetchSettings | None:
        """The settings of a proxy queue, None for another (reads the secret files:
        OSError when one cannot be read)."""
        uri = config.fetch_from or config.fetch_system
        if not uri:
            return None
        password = token = None
        if config.fetch_password_file is not None:
            password = config.fetch_password_file.read_text().strip()
        if config.fetch_token_file is not None:
            token = config.fetch_token_file.read_text().strip()
        return cls(
            uri=uri,
            system=bool(config.fetch_system),
            user=config.fetch_user,
            password=password,
            token=token,
            ca_file=config.fetch_ca_file,
        )

    def upstream(self) -> Upstream:
        verify: ssl.SSLContext | bool = True
        if self.ca_file is not None:
            verify = ssl.create_default_context(cafile=str(self.ca_file))
        return Upstream(
            self.uri, verify=verify, user=self.user, password=self.password, token=self.token
        )


class RemoteRefused(Exception):
    """The Infrastructure Printer answered an operation with an error status."""

    def __init__(self, what: str, answer: Answer) -> None:
        message = answer.operation("status-message")
        text = f"{what}: {answer.status_name}" + (f" ({message})" if message else "")
        super().__init__(text)
        self.status = answer.status


class Fetcher:
    """Fetches one proxy queue's jobs (see the module doc). Run with `run`."""

    def __init__(
        self,
        spool: Spool,
        queue: Queue,
        settings: FetchSettings,
        *,
        upstream: Upstream | None = None,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        convert: bool = False,
    ) -> None:
        self.spool = spool
        #: Whether the dispatcher converts documents for the printer ([convert]
        #: enabled): then this queue takes what conversion turns into its formats.
        self.convert = convert
        self.queue = queue
        self.settings = settings
        self.upstream = upstream or settings.upstream()
        self.shown = shown_uri(settings.uri)
        self.printer_uri = "" if settings.system else settings.uri
        self.device_uuid = ""
        self._backoff = (backoff_initial, backoff_max)
        self._outage_since: float | None = None
        self._subscription = 0
        self._sequence = 1
        self._caps_sent: object = None
        self._reported: dict[int, int] = {}  # local job id -> last state reported
        self._acknowledged: set[int] = set()  # incoming local jobs we acknowledged
        self._dirty: set[int] = set()  # local jobs whose progress is to be reported
        self._wake_reporter = trio.Event()
        #: Set once a session is running (tests wait for it).
        self.connected = trio.Event()

    # ------------------------------------------------------------------
    # Running

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Sessions for ever, with back-off between them."""
        self.device_uuid = await self._stable_device_uuid()
        stored = await self.spool.get_meta(_reported_key(self.queue.name))
        if stored:
            self._reported = {int(k): int(v) for k, v in json.loads(stored).items()}
        stored = await self.spool.get_meta(_acknowledged_key(self.queue.name))
        if stored:
            self._acknowledged = {int(i) for i in json.loads(stored)}
        self.spool.add_listener(self._on_change)
        task_status.started()
        delay = self._backoff[0]
        try:
            while True:
                try:
                    await self._session()
                except (UpstreamError, RemoteRefused, SpoolError, OSError) as exc:
                    self._outage(str(exc))
                except trio.TooSlowError:
                    self._outage("Get-Notifications was held past its deadline")
                except Exception as exc:  # a bug or a broken answer must not stop the gateway
                    log.exception("queue %s: fetching from %s failed", self.queue.name, self.shown)
                    self._outage(f"unexpected error: {exc}")
                await trio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, self._backoff[1]) if self._outage_since else self._backoff[0]
        finally:
            with trio.CancelScope(shield=True):
                await self.upstream.aclose()

    async def _stable_device_uuid(self) -> str:
        key = device_uuid_key(self.queue.name)
        value = await self.spool.get_meta(key)
        if not value:
            value = f"urn:uuid:{uuid.uuid4()}"
            await self.spool.set_meta(key, value)
        return value

    def _outage(self, reason: str) -> None:
        if self._outage_since is None:
            self._outage_since = trio.current_time()
            log.warning(
                "queue %s: cannot fetch jobs from %s: %s (retrying)",
                self.queue.name,
                self.shown,
                reason,
            )
        self.connected = trio.Event()
        if self.queue.problem is None or self.queue.problem[0] == PROBLEM:
            self.queue.problem = (PROBLEM, f"cannot reach the Infrastructure Printer {self.shown}")

    def _connected(self) -> None:
        if self._outage_since is not None:
            lasted = trio.current_time() - self._outage_since
            log.info(
                "queue %s: %s reachable again after %.0f s", self.queue.name, self.shown, lasted
            )
            self._outage_since = None
        if self.queue.problem is not None and self.queue.problem[0] == PROBLEM:
            self.queue.problem = None
        self.connected.set()

    async def _session(self) -> None:
        if self.settings.system:
            self.printer_uri = await self._register()
        await self._update_capabilities(force=True)
        await self._subscribe()
        self._connected()
        log.info(
            "queue %s: proxy of %s as output device %s",
            self.queue.name,
            shown_uri(self.printer_uri),
            self.device_uuid,
        )
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reporter)
                await self.resume()
                await self._listen()
        except BaseExceptionGroup as group:
            raise _first_failure(group) from None

    # ------------------------------------------------------------------
    # Requests

    def _request(self, operation: Operation, job_id: int | None = None) -> Message:
        message = self.upstream.message(operation, self.printer_uri)
        if job_id is not None:
            message.operation.add_integer("job-id", job_id)
        message.operation.add_uri("output-device-uuid", self.device_uuid)
        return message

    async def _call(self, what: str, request: Message, *, allow: tuple[int, ...] = ()) -> Answer:
        answer = await self.upstream.call(request, self.printer_uri or None)
        log.debug(
            "queue %s: %s job-id=%s: %s",
            self.queue.name,
            what,
            request.operation.value("job-id"),
            answer.status_name,
        )
        if not answer.ok and answer.status not in allow:
            raise RemoteRefused(what, answer)
        return answer

    async def _register(self) -> str:
        """Register-Output-Device (PWG 5100.22): the printer URI to fetch from."""
        request = self.upstream.message(Operation.REGISTER_OUTPUT_DEVICE, system=True)
        request.operation.add_uri("output-device-uuid", self.device_uuid)
        request.operation.add_keyword("printer-service-type", "print")
        answer = await self.upstream.call(request)
        if not answer.ok:
            raise RemoteRefused("Register-Output-Device", answer)
        for group in answer.message.groups:
            for attribute in group:
                if attribute.name == "printer-xri-supported":
                    for value in attribute.values:
                        if isinstance(value.value, Collection):
                            xri = value.value.value("xri-uri")
                            if isinstance(xri, str) and xri:
                                return xri
                elif attribute.name in ("printer-uri-supported", "printer-uri"):
                    return str(attribute.value)
        raise UpstreamError(f"{self.shown} registered us but named no printer URI")

    def _formats(self) -> tuple[str, ...]:
        """The formats this queue takes from the Infrastructure Printer: those its
        printer takes and, with conversion, every format the gateway converts to
        one of them (`ANY_FORMATS` when the backend passes any format through)."""
        formats = self.queue.capabilities().document_formats
        if not formats:
            return ANY_FORMATS
        own = chains.acceptable(formats) if self.convert else tuple(formats)
        # And application/octet-stream, last, as every local queue offers it
        # (everywhere._offered): the dispatcher sends such a document on as it
        # came (LPD 'l'), so a job a client sent untyped is not refused here.
        return own if OCTET_STREAM in own else (*own, OCTET_STREAM)

    async def _update_capabilities(self, *, force: bool = False) -> None:
        """Update-Output-Device-Attributes with the queue's capabilities, when they
        changed since they were last sent (or ``force``)."""
        caps = self.queue.capabilities()
        state = self.queue.state()
        seen = (caps.document_formats, tuple(sorted(caps.printer_attributes)), state)
        if not force and seen == self._caps_sent:
            return
        request = self._request(Operation.UPDATE_OUTPUT_DEVICE_ATTRIBUTES)
        group = request.add_group(DelimiterTag.PRINTER_ATTRIBUTES)
        group.add_mime_media_type("document-format-supported", *self._formats())
        group.add_enum("printer-state", state.ipp_state)
        group.add_keyword("printer-state-reasons", *state.reasons)
        group.add_boolean("printer-is-accepting-jobs", self.queue.is_accepting)
        if self.queue.config.make_and_model:
            group.add_text("printer-make-and-model", self.queue.config.make_and_model)
        for name, value in caps.printer_attributes.items():
            attribute = value if isinstance(value, Attribute) else _attribute(name, value)
            if attribute is not None and name not in group:
                group.append(attribute)
        await self._call("Update-Output-Device-Attributes", request)
        self._caps_sent = seen

    async def _subscribe(self) -> None:
        request = self.upstream.message(Operation.CREATE_PRINTER_SUBSCRIPTIONS, self.printer_uri)
        group = request.add_group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        group.add_keyword("notify-pull-method", "ippget")
        group.add_keyword("notify-events", *SUBSCRIBED_EVENTS)
        group.add_integer("notify-lease-duration", 0)
        answer = await self._call("Create-Printer-Subscriptions", request)
        sub = answer.message.value(DelimiterTag.SUBSCRIPTION_ATTRIBUTES, "notify-subscription-id")
        if not isinstance(sub, int):
            raise UpstreamError(f"{self.shown} gave no notify-subscription-id")
        self._subscription = sub
        self._sequence = 1

    # ------------------------------------------------------------------
    # Waiting for work

    async def _listen(self) -> None:
        while True:
            request = self.upstream.message(Operation.GET_NOTIFICATIONS, self.printer_uri)
            request.operation.add_integer("notify-subscription-ids", self._subscription)
            request.operation.add_integer("notify-sequence-numbers", self._sequence)
            request.operation.add_boolean("notify-wait", True)
            with trio.fail_after(NOTIFY_WAIT_DEADLINE):
                answer = await self._call("Get-Notifications", request)
            lost = False
            fetchable: list[int] = []
            for event in answer.message.groups_of(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES):
                sequence = event.value("notify-sequence-number")
                if isinstance(sequence, int):
                    # A gap in the numbers: the printer dropped events (its bound
                    # per subscription, RFC 3996 5.2) that we never saw.
                    lost = lost or sequence > self._sequence
                    self._sequence = max(self._sequence, sequence + 1)
                kind = str(event.value("notify-subscribed-event") or "")
                job_id = event.value("notify-job-id") or event.value("job-id")
                if not isinstance(job_id, int):
                    continue
                if kind == "job-fetchable":
                    fetchable.append(job_id)
                elif kind in ("job-state-changed", "job-completed"):
                    state = event.value("job-state")
                    if state == JobState.CANCELED or "job-canceled-by-user" in event.values(
                        "job-state-reasons"
                    ):
                        await self._remote_canceled(job_id)
            for job_id in dict.fromkeys(fetchable):
                await self.take(job_id)
            if lost:
                log.info(
                    "queue %s: %s dropped events before sequence %d; catching up",
                    self.queue.name,
                    self.shown,
                    self._sequence,
                )
                await self.resume()
            await self._update_capabilities()
            interval = answer.operation("notify-get-interval")
            events = answer.message.groups_of(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)
            if not isinstance(interval, int) and not events:
                interval = int(DEFAULT_INTERVAL)  # it said nothing: do not spin
            if not fetchable and isinstance(interval, int) and interval > 0:
                # No wait granted: poll at the interval it asks for (bounded).
                await trio.sleep(min(max(float(interval), MIN_INTERVAL), MAX_INTERVAL))

    async def resume(self) -> None:
        """Catch up after (re)connecting: report final states not yet reported,
        follow cancels missed, finish half-fetched jobs, take fetchable ones."""
        for job in self._local_jobs():
            if job.state.is_terminal:
                if self._reported.get(job.id) != int(job.state):
                    self._mark(job.id)
                continue
            remote = await self._remote_state(job)
            if remote is not None and remote.is_terminal:
                await self._remote_canceled(job.fetched_id)
            elif job.incoming:
                await self.take(job.fetched_id)
            else:
                self._mark(job.id)
        for job_id in await self._fetchable():
            await self.take(job_id)

    async def _fetchable(self) -> list[int]:
        """Get-Jobs which-jobs=fetchable; a printer that does not know the value
        is asked for its not-completed jobs with reason job-fetchable."""
        request = self._request(Operation.GET_JOBS)
        request.operation.add_keyword("which-jobs", "fetchable")
        request.operation.add_keyword("requested-attributes", "job-id", "job-state-reasons")
        unsupported = StatusCode.CLIENT_ERROR_ATTRIBUTES_OR_VALUES_NOT_SUPPORTED
        answer = await self._call("Get-Jobs", request, allow=(unsupported,))
        every = not answer.ok
        if every:
            request = self._request(Operation.GET_JOBS)
            request.operation.add_keyword("which-jobs", "not-completed")
            request.operation.add_keyword("requested-attributes", "job-id", "job-state-reasons")
            answer = await self._call("Get-Jobs", request)
        found = []
        for group in answer.message.groups_of(DelimiterTag.JOB_ATTRIBUTES):
            job_id = group.value("job-id")
            if isinstance(job_id, int) and (
                not every or "job-fetchable" in group.values("job-state-reasons")
            ):
                found.append(job_id)
        return found

    async def _remote_state(self, job: _Fetched) -> JobState | None:
        request = self._request(Operation.GET_JOB_ATTRIBUTES, job.fetched_id)
        request.operation.add_keyword("requested-attributes", "job-state")
        answer = await self._call(
            "Get-Job-Attributes", request, allow=(StatusCode.CLIENT_ERROR_NOT_FOUND,)
        )
        if not answer.ok:
            return JobState.CANCELED  # gone there: nobody wants it any more
        state = answer.message.value(DelimiterTag.JOB_ATTRIBUTES, "job-state")
        try:
            return JobState(state) if isinstance(state, int) else None
        except ValueError:
            return None

    async def _remote_canceled(self, remote_id: int) -> None:
        local = self._find(remote_id)
        if local is None or local.job.state.is_terminal:
            return
        await self.spool.cancel(
            local.job.id,
            reason="job-canceled-by-user",
            message=f"canceled at {self.shown} (job {remote_id})",
        )
        log.info(
            "job %d canceled: queue=%s canceled at %s job %d",
            local.job.id,
            self.queue.name,
            self.shown,
            remote_id,
        )

    # ------------------------------------------------------------------
    # One job

    async def take(self, remote_id: int) -> None:
        """Fetch remote job ``remote_id`` into the spool (see the module doc)."""
        local = self._find(remote_id)
        if local is not None and not local.job.incoming:
            return  # spooled whole already: it prints (or printed) once
        request = self._request(Operation.FETCH_JOB, remote_id)
        answer = await self._call(
            "Fetch-Job",
            request,
            allow=(StatusCode.CLIENT_ERROR_NOT_FETCHABLE, StatusCode.CLIENT_ERROR_NOT_FOUND),
        )
        if answer.ok:
            total = _document_count(answer.message.group(DelimiterTag.JOB_ATTRIBUTES))
            if local is None:
                local = _Fetched(await self._spool_job(remote_id, answer))
        else:
            # Ours, acknowledged, half fetched? Then Fetch-Job may refuse, documents not.
            ours = None if local is None else await self._ours(local, remote_id)
            if local is None or ours is None:
                await self._given_up(local, remote_id, answer)
                return
            total = ours
        if local.id not in self._acknowledged:
            acknowledge = self._request(Operation.ACKNOWLEDGE_JOB, remote_id)
            acked = await self._call(
                "Acknowledge-Job",
                acknowledge,
                allow=(
                    StatusCode.CLIENT_ERROR_NOT_FETCHABLE,
                    StatusCode.CLIENT_ERROR_NOT_AUTHORIZED,
                    StatusCode.CLIENT_ERROR_NOT_POSSIBLE,
                ),
            )
            if not acked.ok and await self._ours(local, remote_id) is None:
                await self._given_up(local, remote_id, acked)
                return
            await self._note_acknowledged(local.id)
        try:
            await self._fetch_documents(local.job, remote_id, total)
        except RemoteRefused as exc:  # this job's problem, not the connection's
            if exc.status < 0x0400 or exc.status >= 0x0500:
                raise
            log.warning("job %d aborted: queue=%s %s", local.id, self.queue.name, exc)
            await self.spool.transition_if(
                local.id,
                (JobState.PENDING,),
                JobState.ABORTED,
                reasons=("document-access-error",),
                message=str(exc),
                incoming=False,
            )

    async def _ours(self, local: _Fetched, remote_id: int) -> int | None:
        """The remote job's number of documents when the Infrastructure Printer
        has it assigned to us (we acknowledged it, perhaps before a crash let us
        write that down), else None."""
        request = self._request(Operation.GET_JOB_ATTRIBUTES, remote_id)
        request.operation.add_keyword(
            "requested-attributes", "output-device-uuid-assigned", "number-of-documents"
        )
        answer = await self._call(
            "Get-Job-Attributes", request, allow=(StatusCode.CLIENT_ERROR_NOT_FOUND,)
        )
        group = answer.message.group(DelimiterTag.JOB_ATTRIBUTES)
        assigned = None if group is None else group.value("output-device-uuid-assigned")
        if not answer.ok or (assigned != self.device_uuid and local.id not in self._acknowledged):
            return None
        return _document_count(group)

    async def _note_acknowledged(self, job_id: int) -> None:
        """Remember, durably, that Acknowledge-Job of local job ``job_id`` succeeded."""
        incoming = {j.id for j in self.spool.jobs(self.queue.name) if j.incoming}
        self._acknowledged = {i for i in self._acknowledged if i in incoming} | {job_id}
        await self.spool.set_meta(
            _acknowledged_key(self.queue.name), json.dumps(sorted(self._acknowledged))
        )

    async def _given_up(self, local: _Fetched | None, remote_id: int, answer: Answer) -> None:
        """Another output device has the job (or it is gone): ours is dropped unprinted."""
        log.info(
            "queue %s: %s job %d is not ours to print: %s",
            self.queue.name,
            self.shown,
            remote_id,
            answer.status_name,
        )
        if local is not None and not local.job.state.is_terminal:
            await self.spool.cancel(
                local.job.id,
                reason="job-canceled-at-device",
                message=f"{self.shown} job {remote_id} went to another output device",
            )
            self._reported[local.job.id] = int(JobState.CANCELED)  # nothing to report

    async def _spool_job(self, remote_id: int, answer: Answer) -> Job:
        group = answer.message.group(DelimiterTag.JOB_ATTRIBUTES) or Group(
            DelimiterTag.JOB_ATTRIBUTES
        )
        user = _text(group.value("job-originating-user-name")) or "anonymous"
        name = _text(group.value("job-name")) or f"job {remote_id}"
        attributes: dict[str, Any] = {
            "job-name": name,
            "job-originating-user-name": user,
            "requesting-user-name": user,
            "job-originating-host-name": _text(group.value("job-originating-host-name")),
            "copies": 1,
            "job-sheets": "none",
            "parent-job-id": remote_id,
        }
        job_uuid = group.value("job-uuid")
        if isinstance(job_uuid, str):
            attributes["parent-job-uuid"] = job_uuid
        for attribute in group:
            if attribute.name in TEMPLATE:
                value = _json(attribute)
                if value is not None:
                    attributes[attribute.name] = value
        origin = Origin(
            Frontend.INFRA,
            peer=self.shown,
            host=str(attributes["job-originating-host-name"]),
            user=user,
            fetched_from=shown_uri(self.printer_uri),
            fetched_job_id=remote_id,
            output_device_uuid=self.device_uuid,
        )
        job = await self.spool.submit(
            self.queue.name, attributes, [], origin, folder=self.spool.new_folder(), incoming=True
        )
        log.info(
            "job %d received: queue=%s fetched from %s job %d user=%s name=%r",
            job.id,
            self.queue.name,
            origin.fetched_from,
            remote_id,
            user,
            name,
        )
        return job

    async def _fetch_documents(self, job: Job, remote_id: int, total: int) -> None:
        for number in range(1, len(job.documents) + 1):  # spooled before a crash
            await self._acknowledge_document(remote_id, number)
        for number in range(len(job.documents) + 1, total + 1):
            await self._fetch_document(job.id, remote_id, number, last=number == total)
            await self._acknowledge_document(remote_id, number)
        current = self.spool.get(job.id)
        if current is not None and current.incoming:  # all spooled, none missing
            await self.spool.close_job(job.id)

    async def _fetch_document(
        self, job_id: int, remote_id: int, number: int, *, last: bool
    ) -> None:
        request = self._request(Operation.FETCH_DOCUMENT, remote_id)
        request.operation.add_integer("document-number", number)
        request.operation.add_keyword("compression-accepted", "none")
        request.operation.add_mime_media_type("document-format-accepted", *self._formats())
        folder = self.spool.folder_of(job_id)
        async with self.upstream.fetch_document(request, self.printer_uri) as (reply, body):
            if not reply.ok:
                raise RemoteRefused(f"Fetch-Document {number} of job {remote_id}", reply)
            fmt = str(reply.operation("document-format") or "application/octet-stream")
            name = _text(reply.operation("document-name"))
            async with folder.document(number) as writer:
                async for chunk in _rechunk(body):
                    await writer.write(chunk)
                staged = await writer.finish()
        new = NewDocument(staged, fmt, name)
        await self.spool.add_document(job_id, new, last=last)
        log.info(
            "job %d document %d spooled: queue=%s %d bytes %s from %s job %d",
            job_id,
            number,
            self.queue.name,
            staged.size,
            fmt,
            self.shown,
            remote_id,
        )

    async def _acknowledge_document(self, remote_id: int, number: int) -> None:
        request = self._request(Operation.ACKNOWLEDGE_DOCUMENT, remote_id)
        request.operation.add_integer("document-number", number)
        await self._call(
            "Acknowledge-Document", request, allow=(StatusCode.CLIENT_ERROR_NOT_POSSIBLE,)
        )

    # ------------------------------------------------------------------
    # Reporting progress

    def _on_change(self, job: Job, old: Job | None) -> None:
        if job.queue != self.queue.name or job.origin.frontend is not Frontend.INFRA:
            return
        if old is None or (
            old.state != job.state or old.impressions_completed != job.impressions_completed
        ):
            self._mark(job.id)

    def _mark(self, job_id: int) -> None:
        self._dirty.add(job_id)
        self._wake_reporter.set()

    async def _reporter(self) -> None:
        while True:
            await self._wake_reporter.wait()
            self._wake_reporter = trio.Event()
            while self._dirty:
                job_id = min(self._dirty)
                self._dirty.discard(job_id)  # before the await: a change meanwhile marks it again
                job = self.spool.get(job_id)
                if job is not None and not job.incoming and job.origin.fetched_job_id is not None:
                    try:
                        await self._report(job)
                    except BaseException:
                        self._dirty.add(job_id)  # the next session reports it
                        raise

    async def _report(self, job: Job) -> None:
        state = job.state
        if state in (JobState.PENDING, JobState.PENDING_HELD):
            return  # waiting here: the Infrastructure Printer already shows it processing
        if self._reported.get(job.id) == int(state) and not state.is_forwarding:
            return
        assert job.origin.fetched_job_id is not None
        request = self._request(Operation.UPDATE_JOB_STATUS, job.origin.fetched_job_id)
        group = request.add_group(DelimiterTag.JOB_ATTRIBUTES)
        group.add_enum("output-device-job-state", int(state))
        group.add_keyword("output-device-job-state-reasons", *(job.state_reasons or ("none",)))
        if job.state_message:
            group.add_text("output-device-job-state-message", job.state_message[:1023])
        group.add_integer("job-impressions-completed", job.impressions_completed)
        await self._call("Update-Job-Status", request, allow=(StatusCode.CLIENT_ERROR_NOT_FOUND,))
        if state.is_terminal:
            for doc in job.documents:
                update = self._request(Operation.UPDATE_DOCUMENT_STATUS, job.origin.fetched_job_id)
                update.operation.add_integer("document-number", doc.number)
                docs = update.add_group(DelimiterTag.DOCUMENT_ATTRIBUTES)
                docs.add_enum("output-device-document-state", int(state))
                docs.add_keyword("output-device-document-state-reasons", "none")
                await self._call(
                    "Update-Document-Status",
                    update,
                    allow=(StatusCode.CLIENT_ERROR_NOT_FOUND, StatusCode.CLIENT_ERROR_NOT_POSSIBLE),
                )
            self._reported[job.id] = int(state)
            known = {j.id for j in self.spool.jobs(self.queue.name)}
            self._reported = {k: v for k, v in self._reported.items() if k in known}
            await self.spool.set_meta(_reported_key(self.queue.name), json.dumps(self._reported))
            log.info(
                "job %d reported: queue=%s %s to %s job %d",
                job.id,
                self.queue.name,
                state.keyword,
                self.shown,
                job.origin.fetched_job_id,
            )

    # ------------------------------------------------------------------
    # The spool's view

    def _local_jobs(self) -> list[_Fetched]:
        fetched_from = shown_uri(self.printer_uri)
        return [
            _Fetched(j)
            for j in self.spool.jobs(self.queue.name)
            if j.origin.frontend is Frontend.INFRA
            and j.origin.fetched_from == fetched_from
            and j.origin.fetched_job_id is not None
        ]

    def _find(self, remote_id: int) -> _Fetched | None:
        """The local job made from remote job ``remote_id``, the newest if several."""
        found = [j for j in self._local_jobs() if j.fetched_id == remote_id]
        return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A local job made from a remote one."""

    job: Job

    @property
    def fetched_id(self) -> int:
        assert self.job.origin.fetched_job_id is not None
        return self.job.origin.fetched_job_id

    @property
    def is_terminal(self) -> bool:
        return self.job.state.is_terminal

    @property
    def incoming(self) -> bool:
        return self.job.incoming

    @property
    def state(self) -> JobState:
        return self.job.state

    @property
    def id(self) -> int:
        return self.job.id


def _first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The session's own error out of its nursery's group (a failure of the
    reporter or of the loop ends the session either way)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_failure(exc)
        if not isinstance(exc, trio.Cancelled):
            return exc
    return group


async def _rechunk(body: AsyncIterator[bytes], size: int = 256 * 1024) -> AsyncIterator[bytes]:
    """Join small network reads into chunks of about ``size`` bytes."""
    pending: list[bytes] = []
    held = 0
    async for chunk in body:
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


def _text(value: object) -> str:
    if isinstance(value, TextWithLanguage | NameWithLanguage):
        return value.text
    return value if isinstance(value, str) else ""


def _json(attribute: Attribute) -> Any:
    values = [_json_value(v.value) for v in attribute.values]
    if any(v is None for v in values):
        return None
    return values[0] if len(values) == 1 else values


def _json_value(value: object) -> Any:
    if isinstance(value, Collection):
        return {a.name: _json(a) for a in value}
    if isinstance(value, TextWithLanguage | NameWithLanguage):
        return value.text
    if isinstance(value, bool | int | str):
        return value
    lower = getattr(value, "lower", None)
    if isinstance(lower, int):  # rangeOfInteger
        return [lower, getattr(value, "upper", lower)]
    return None


def _attribute(name: str, value: Any) -> Attribute | None:
    """A capability given as a JSON value, with a guessed syntax."""
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    sample = items[0]
    if isinstance(sample, bool):
        tag: int = ValueTag.BOOLEAN
    elif isinstance(sample, int):
        tag = ValueTag.INTEGER
    elif isinstance(sample, str):
        tag = ValueTag.KEYWORD
    else:
        return None
    if not all(isinstance(i, type(sample)) for i in items):
        return None
    return Attribute.of(name, tag, *items)
