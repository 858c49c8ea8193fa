"""The proxy's fetch loop against an in-memory Infrastructure Printer, with a real spool.

`FakeInfra` answers the PWG 5100.18 operations the way the spec (and ippsample's
server) do: a job is fetchable until one output device acknowledges it, Fetch-Job
and Acknowledge-Job by another device get client-error-not-fetchable, and the job
remembers output-device-uuid-assigned. Crashes are simulated by an exception
raised at a chosen point of the exchange (before the printer handled a request,
or after it handled it but before the answer reached us); the spool is then
closed and opened again and a new `Fetcher` resumes, as after a SIGKILL.
The gateway-to-gateway tests (tests/integration/test_infra_proxy*.py) run
the same loop against a real Infrastructure Printer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import trio

from gateway.backends.base import Capabilities, PrinterStatus
from gateway.config import QueueConfig
from gateway.core.job import Frontend, Job, JobState
from gateway.core.queues import Queue
from gateway.core.spool import Spool
from gateway.infra import Fetcher, FetchSettings, device_uuid_key
from gateway.infra.fetcher import ANY_FORMATS
from gateway.infra.upstream import Answer, Upstream, UpstreamError
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag

URI = "ipps://cloud.example:8631/ipp/print/infra"
DEADLINE = 20


class Crash(BaseException):  # not caught by the fetcher, as a SIGKILL is not
    """Stands for a SIGKILL at a chosen point."""


@dataclass
class RemoteJob:
    id: int
    name: str
    user: str
    documents: list[tuple[bytes, str]]
    state: int = 6  # processing-stopped, job-fetchable
    fetchable: bool = True
    assigned: str = ""
    acked_documents: set[int] = field(default_factory=set)
    reported: list[int] = field(default_factory=list)  # output-device-job-state values
    impressions: int = 0


class FakeInfra:
    """An Infrastructure Printer at the level of `Upstream` (see the module doc)."""

    def __init__(self) -> None:
        self.jobs: dict[int, RemoteJob] = {}
        self.events: list[tuple[int, str, int, int]] = []  # (seq, event, job id, state)
        self.changed = trio.Event()
        self.devices: dict[str, list[str]] = {}  # uuid -> document-format-supported
        self.calls: list[str] = []
        self.down = 0  # this many calls fail as an outage
        #: (operation, when) -> raise Crash: when is "before" or "after" the printer acts.
        self.crash_at: tuple[Operation, str] | None = None
        self.user = "proxy"
        self.progress = trio.Event()  # set at every call (tests wait on it)
        self.dropped: set[int] = set()  # event sequence numbers never answered (lost)

    def poke(self) -> None:
        self.progress.set()
        self.progress = trio.Event()

    # -- what tests do -------------------------------------------------------

    def submit(self, name: str, user: str, *documents: tuple[bytes, str]) -> RemoteJob:
        job = RemoteJob(len(self.jobs) + 1, name, user, list(documents))
        self.jobs[job.id] = job
        self._event("job-fetchable", job)
        return job

    def cancel(self, job_id: int) -> None:
        job = self.jobs[job_id]
        job.state = 7
        job.fetchable = False
        self._event("job-state-changed", job)

    def _event(self, kind: str, job: RemoteJob) -> None:
        self.events.append((len(self.events) + 1, kind, job.id, job.state))
        self.changed.set()
        self.changed = trio.Event()

    # -- the Upstream interface ---------------------------------------------

    def message(self, operation: int, uri: str | None = None, *, system: bool = False) -> Message:
        message = Message.request(operation, 1)
        message.operation.add_uri("system-uri" if system else "printer-uri", uri or URI)
        message.operation.add_name("requesting-user-name", self.user)
        return message

    async def aclose(self) -> None:
        return None

    async def call(self, request: Message, uri: str | None = None) -> Answer:
        response, _ = await self._handle(request)
        return Answer(response)

    @asynccontextmanager
    async def fetch_document(
        self, request: Message, uri: str | None = None
    ) -> AsyncIterator[tuple[Answer, AsyncIterator[bytes]]]:
        response, data = await self._handle(request)

        async def body() -> AsyncIterator[bytes]:
            for start in range(0, len(data), 1000):
                yield data[start : start + 1000]

        yield Answer(response), body()

    async def _handle(self, request: Message) -> tuple[Message, bytes]:
        self.poke()
        await trio.lowlevel.checkpoint()
        op = Operation(request.operation_id_or_status)
        self.calls.append(op.ipp_name)
        if self.down:
            self.down -= 1
            raise UpstreamError(f"connection to {URI} failed: refused")
        if self.crash_at == (op, "before"):
            self.crash_at = None
            raise Crash(op.ipp_name)
        response, data = await self._answer(op, request)
        if self.crash_at == (op, "after"):
            self.crash_at = None
            raise Crash(op.ipp_name)
        return response, data

    async def _answer(self, op: Operation, request: Message) -> tuple[Message, bytes]:
        ops = request.operation
        device = str(ops.value("output-device-uuid") or "")
        job_id = ops.value("job-id")
        job = self.jobs.get(job_id) if isinstance(job_id, int) else None
        ok = Message.response(request)
        if op is Operation.UPDATE_OUTPUT_DEVICE_ATTRIBUTES:
            group = request.group(DelimiterTag.PRINTER_ATTRIBUTES)
            assert group is not None
            self.devices[device] = [str(v) for v in group.values("document-format-supported")]
        elif op is Operation.CREATE_PRINTER_SUBSCRIPTIONS:
            ok.add_group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES).add_integer(
                "notify-subscription-id", 7
            )
        elif op is Operation.GET_NOTIFICATIONS:
            sequence = ops.value("notify-sequence-numbers")
            assert isinstance(sequence, int)
            if not any(seq >= sequence for seq, *_ in self.events):
                with trio.move_on_after(5):
                    await self.changed.wait()
            for seq, kind, jid, state in self.events:
                if seq >= sequence and seq not in self.dropped:
                    event = ok.add_group(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)
                    event.add_integer("notify-sequence-number", seq)
                    event.add_keyword("notify-subscribed-event", kind)
                    event.add_integer("notify-job-id", jid)
                    event.add_enum("job-state", state)
        elif op is Operation.GET_JOBS:
            for j in self.jobs.values():
                if j.fetchable:
                    ok.add_group(DelimiterTag.JOB_ATTRIBUTES).add_integer("job-id", j.id)
        elif job is None:
            return Message.response(request, StatusCode.CLIENT_ERROR_NOT_FOUND), b""
        elif op is Operation.GET_JOB_ATTRIBUTES:
            group = ok.add_group(DelimiterTag.JOB_ATTRIBUTES)
            group.add_enum("job-state", job.state)
            group.add_integer("number-of-documents", len(job.documents))
            if job.assigned:
                group.add_uri("output-device-uuid-assigned", job.assigned)
        elif op is Operation.FETCH_JOB:
            if not job.fetchable:
                return Message.response(request, StatusCode.CLIENT_ERROR_NOT_FETCHABLE), b""
            group = ok.add_group(DelimiterTag.JOB_ATTRIBUTES)
            group.add_integer("job-id", job.id)
            group.add_name("job-name", job.name)
            group.add_name("job-originating-user-name", job.user)
            group.add_integer("number-of-documents", len(job.documents))
            group.add_integer("copies", 2)
        elif op is Operation.ACKNOWLEDGE_JOB:
            if not job.fetchable:
                return Message.response(request, StatusCode.CLIENT_ERROR_NOT_FETCHABLE), b""
            job.fetchable, job.assigned, job.state = False, device, 5
        elif job.assigned != device:
            return Message.response(request, StatusCode.CLIENT_ERROR_NOT_AUTHORIZED), b""
        elif op is Operation.FETCH_DOCUMENT:
            number = ops.value("document-number")
            assert isinstance(number, int)
            data, fmt = job.documents[number - 1]
            ok.operation.add_mime_media_type("document-format", fmt)
            return ok, data
        elif op is Operation.ACKNOWLEDGE_DOCUMENT:
            number = ops.value("document-number")
            assert isinstance(number, int)
            job.acked_documents.add(number)
        elif op is Operation.UPDATE_JOB_STATUS:
            group = request.group(DelimiterTag.JOB_ATTRIBUTES)
            assert group is not None
            reported = group.value("output-device-job-state")
            impressions = group.value("job-impressions-completed")
            assert isinstance(reported, int) and isinstance(impressions, int)
            job.reported.append(reported)
            job.impressions = impressions
            if reported >= 7 and job.state < 7:
                job.state = reported
        return ok, b""


class StubBackend:
    uri = "test://printer"
    one_job_at_a_time = False

    def capabilities(self) -> Capabilities:
        return Capabilities(document_formats=("application/pdf", "text/plain"))

    async def printer_status(self) -> PrinterStatus:
        return PrinterStatus()

    async def aclose(self) -> None:
        return None


def make_queue() -> Queue:
    return Queue(QueueConfig("office", "test://printer"), cast(Any, StubBackend()))


SETTINGS = FetchSettings(uri=URI, system=False, user="proxy", password="secret")


async def run_until(
    spool: Spool, infra: FakeInfra, done: Callable[[], bool], queue: Queue | None = None
) -> Fetcher:
    """Run a fetcher until ``done()`` holds (checked at every spool change and
    remote call); a `Crash` ends it as a SIGKILL would."""
    fetcher = Fetcher(
        spool,
        queue or make_queue(),
        SETTINGS,
        upstream=cast(Upstream, infra),
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    spool.add_listener(lambda job, old: infra.poke())
    with trio.fail_after(DEADLINE):
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(fetcher.run)
                while not done():
                    await infra.progress.wait()
                nursery.cancel_scope.cancel()
        except* Crash:
            pass
    return fetcher


def fetched(spool: Spool) -> list[Job]:
    return [j for j in spool.jobs() if j.origin.frontend is Frontend.INFRA]


def documents(spool: Spool, job: Job) -> list[bytes]:
    return [spool.document_path(d).read_bytes() for d in job.documents]


async def test_a_job_is_fetched_acknowledged_and_spooled_whole(spool: Spool) -> None:
    infra = FakeInfra()
    big = bytes(range(256)) * 4000  # ~1 MB, streamed in pieces
    remote = infra.submit(
        "report.pdf", "alice", (b"%PDF-1.4 one", "application/pdf"), (big, "text/plain")
    )

    def done() -> bool:
        jobs = fetched(spool)
        return bool(jobs) and not jobs[0].incoming and remote.acked_documents == {1, 2}

    fetcher = await run_until(spool, infra, done)
    [job] = fetched(spool)
    assert job.state is JobState.PENDING  # closed: the dispatcher forwards it now
    assert job.name == "report.pdf" and job.user == "alice"
    assert job.attributes["copies"] == 2
    assert documents(spool, job) == [b"%PDF-1.4 one", big]
    assert [d.format for d in job.documents] == ["application/pdf", "text/plain"]
    assert job.origin.fetched_from == URI and job.origin.fetched_job_id == remote.id
    assert remote.assigned == fetcher.device_uuid == job.origin.output_device_uuid
    assert infra.devices[fetcher.device_uuid] == [
        "application/pdf",
        "text/plain",
        "application/octet-stream",
    ]
    calls = infra.calls
    assert calls.index("Fetch-Job") < calls.index("Acknowledge-Job") < calls.index("Fetch-Document")


async def test_progress_and_end_are_reported(spool: Spool) -> None:
    infra = FakeInfra()
    remote = infra.submit("memo", "bob", (b"text", "text/plain"))

    async def finish() -> None:
        with trio.fail_after(DEADLINE):
            while not (fetched(spool) and not fetched(spool)[0].incoming):
                await infra.progress.wait()
        job = fetched(spool)[0]
        await spool.transition(job.id, JobState.PROCESSING)
        await spool.transition(job.id, JobState.COMPLETED, impressions_completed=3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(finish)
        await run_until(spool, infra, lambda: 9 in remote.reported)
    assert remote.reported == [5, 9]
    assert remote.impressions == 3
    assert remote.state == 9


async def test_crash_before_acknowledge_job_resumes_the_same_local_job(tmp_path: Path) -> None:
    infra = FakeInfra()
    remote = infra.submit("a", "carol", (b"one", "text/plain"))
    infra.crash_at = (Operation.ACKNOWLEDGE_JOB, "before")
    spool = await Spool.open(tmp_path / "spool")
    await run_until(spool, infra, lambda: False)
    assert len(fetched(spool)) == 1 and fetched(spool)[0].incoming  # spooled, not acknowledged
    await spool.aclose()

    spool = await Spool.open(tmp_path / "spool")
    try:
        await run_until(spool, infra, lambda: remote.acked_documents == {1})
        [job] = fetched(spool)  # recognised by its remote id: no second job
        assert not job.incoming and documents(spool, job) == [b"one"]
    finally:
        await spool.aclose()


async def test_crash_after_acknowledge_job_fetches_it_again(tmp_path: Path) -> None:
    infra = FakeInfra()
    remote = infra.submit("b", "dave", (b"doc-1", "text/plain"), (b"doc-2", "text/plain"))
    infra.crash_at = (Operation.ACKNOWLEDGE_JOB, "after")  # ours there, not yet written here
    spool = await Spool.open(tmp_path / "spool")
    await run_until(spool, infra, lambda: False)
    assert not remote.fetchable and remote.assigned
    await spool.aclose()

    spool = await Spool.open(tmp_path / "spool")
    try:
        await run_until(spool, infra, lambda: remote.acked_documents == {1, 2})
        [job] = fetched(spool)
        assert documents(spool, job) == [b"doc-1", b"doc-2"] and not job.incoming
    finally:
        await spool.aclose()


async def test_crash_between_documents_fetches_only_the_rest(tmp_path: Path) -> None:
    infra = FakeInfra()
    remote = infra.submit("c", "erin", (b"first", "text/plain"), (b"second", "text/plain"))
    infra.crash_at = (Operation.ACKNOWLEDGE_DOCUMENT, "before")  # doc 1 spooled, not acked
    spool = await Spool.open(tmp_path / "spool")
    await run_until(spool, infra, lambda: False)
    assert len(fetched(spool)[0].documents) == 1
    await spool.aclose()

    spool = await Spool.open(tmp_path / "spool")
    try:
        await run_until(spool, infra, lambda: remote.acked_documents == {1, 2})
        [job] = fetched(spool)
        assert documents(spool, job) == [b"first", b"second"]
        assert infra.calls.count("Fetch-Document") == 2  # the first was not fetched again
    finally:
        await spool.aclose()


async def test_a_job_another_device_took_is_dropped_unprinted(tmp_path: Path) -> None:
    infra = FakeInfra()
    remote = infra.submit("d", "frank", (b"x", "text/plain"))
    infra.crash_at = (Operation.ACKNOWLEDGE_JOB, "before")
    spool = await Spool.open(tmp_path / "spool")
    await run_until(spool, infra, lambda: False)
    await spool.aclose()
    remote.fetchable, remote.assigned, remote.state = False, "urn:uuid:other-proxy", 5

    spool = await Spool.open(tmp_path / "spool")
    try:
        await run_until(spool, infra, lambda: fetched(spool)[0].state.is_terminal)
        [job] = fetched(spool)
        assert job.state is JobState.CANCELED and not job.documents
        assert "Acknowledge-Document" not in infra.calls
    finally:
        await spool.aclose()


async def test_a_cancel_at_the_infrastructure_printer_cancels_locally(spool: Spool) -> None:
    infra = FakeInfra()
    remote = infra.submit("e", "gina", (b"x", "text/plain"))

    async def cancel_once_spooled() -> None:
        with trio.fail_after(DEADLINE):
            while not (fetched(spool) and not fetched(spool)[0].incoming):
                await infra.progress.wait()
        infra.cancel(remote.id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(cancel_once_spooled)
        await run_until(
            spool, infra, lambda: bool(fetched(spool)) and fetched(spool)[0].state.is_terminal
        )
    [job] = fetched(spool)
    assert job.state is JobState.CANCELED


async def test_an_outage_is_retried_and_shown_in_the_queue(spool: Spool) -> None:
    infra = FakeInfra()
    infra.down = 4
    queue = make_queue()
    seen: list[tuple[str, str] | None] = []
    remote = infra.submit("f", "hank", (b"x", "text/plain"))

    def done() -> bool:
        seen.append(queue.problem)
        return remote.acked_documents == {1}

    await run_until(spool, infra, done, queue=queue)
    problems = [p for p in seen if p is not None]
    assert problems and problems[0][0] == "connecting-to-device"
    assert "cloud.example:8631" in problems[0][1] and "secret" not in problems[0][1]
    assert queue.problem is None  # cleared once it answered


async def test_the_output_device_uuid_is_stable_across_restarts(tmp_path: Path) -> None:
    infra = FakeInfra()
    spool = await Spool.open(tmp_path / "spool")
    first = await run_until(spool, infra, lambda: bool(infra.devices))
    await spool.aclose()
    spool = await Spool.open(tmp_path / "spool")
    try:
        infra.devices.clear()
        second = await run_until(spool, infra, lambda: bool(infra.devices))
        assert first.device_uuid == second.device_uuid
        assert first.device_uuid.startswith("urn:uuid:")
        assert await spool.get_meta(device_uuid_key("office")) == first.device_uuid
    finally:
        await spool.aclose()


async def test_an_end_not_yet_reported_is_reported_after_a_restart(tmp_path: Path) -> None:
    infra = FakeInfra()
    remote = infra.submit("g", "ida", (b"x", "text/plain"))
    spool = await Spool.open(tmp_path / "spool")
    await run_until(spool, infra, lambda: remote.acked_documents == {1})
    await spool.aclose()
    spool = await Spool.open(tmp_path / "spool")  # it printed while the proxy was away
    try:
        [job] = fetched(spool)
        await spool.transition(job.id, JobState.PROCESSING)
        await spool.transition(job.id, JobState.COMPLETED)
        infra.down = 0
        await run_until(spool, infra, lambda: 9 in remote.reported)
        assert remote.state == 9
    finally:
        await spool.aclose()


@pytest.mark.parametrize("secret", ["fetch_password_file", "fetch_token_file"])
def test_settings_read_the_secret_files(tmp_path: Path, secret: str) -> None:
    path = tmp_path / "secret"
    path.write_text("s3cret\n")
    config = QueueConfig("office", "file:///tmp/x", fetch_from=URI, fetch_user="proxy")
    config = QueueConfig(**{**_fields(config), secret: path})
    settings = FetchSettings.of(config)
    assert settings is not None and not settings.system
    assert (settings.password if secret == "fetch_password_file" else settings.token) == "s3cret"
    assert FetchSettings.of(QueueConfig("lp", "file:///tmp/x")) is None


def _fields(config: QueueConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


async def test_jobs_that_arrive_one_after_another_are_all_taken(spool: Spool) -> None:
    infra = FakeInfra()
    remotes = [infra.submit("first", "u1", (b"1", "text/plain"))]

    async def more() -> None:
        for n in (2, 3):
            with trio.fail_after(DEADLINE):
                while not remotes[-1].acked_documents:
                    await infra.progress.wait()
            remotes.append(infra.submit(f"job{n}", f"u{n}", (bytes([n]), "text/plain")))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(more)
        await run_until(
            spool, infra, lambda: len(remotes) == 3 and all(r.acked_documents for r in remotes)
        )
    assert [j.name for j in fetched(spool)] == ["first", "job2", "job3"]


async def test_events_the_printer_dropped_are_caught_up_with_get_jobs(spool: Spool) -> None:
    infra = FakeInfra()
    remotes = [infra.submit("first", "u1", (b"1", "text/plain"))]

    async def more() -> None:
        with trio.fail_after(DEADLINE):
            while not remotes[0].acked_documents:
                await infra.progress.wait()
        # Both arrive before the held Get-Notifications answers; the printer's
        # bounded event log lost job 2's job-fetchable (sequence 2).
        infra.dropped = {2}
        remotes.append(infra.submit("second", "u2", (b"2", "text/plain")))
        remotes.append(infra.submit("third", "u3", (b"3", "text/plain")))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(more)
        await run_until(
            spool, infra, lambda: len(remotes) == 3 and all(r.acked_documents for r in remotes)
        )
    assert sorted(j.name for j in fetched(spool)) == ["first", "second", "third"]


@pytest.mark.parametrize(
    ("queue", "key", "reason"),
    [
        ({"fetch_from": "http://x/ipp"}, "fetch_from", "not an ipp:// or ipps:// URI"),
        ({"fetch_from": "ipps://u:p@x/ipp"}, "fetch_from", "no credentials in the URI"),
        ({"fetch_from": URI, "fetch_system": URI}, "fetch_system", "not both"),
        ({"fetch_from": URI, "fetch_password_file": "/etc/passwd"}, "fetch_user", "needed"),
        (
            {"fetch_from": "ipp://x/ipp", "fetch_user": "u", "fetch_token_file": "/etc/passwd"},
            "fetch_from",
            "only sent over ipps://",
        ),
        ({"fetch_ca_file": "/etc/passwd"}, "fetch_ca_file", "needs fetch_from or fetch_system"),
        ({"fetch_from": URI, "fetch_ca_file": "/nonexistent.pem"}, "fetch_ca_file", "readable"),
    ],
)
def test_fetch_keys_are_checked(queue: dict[str, Any], key: str, reason: str) -> None:
    from gateway import config

    data = {"queues": {"office": {"backend": "file:///tmp/out", **queue}}}
    with pytest.raises(config.ConfigError) as info:
        config.from_mapping(data, source="gw.toml")
    assert str(info.value).startswith(f"gw.toml: queues.office.{key}: ")
    assert reason in str(info.value)


def test_fetch_keys_parse(tmp_path: Path) -> None:
    from gateway import config

    token = tmp_path / "token"
    token.write_text("t0ken")
    data = {
        "queues": {
            "office": {
                "backend": "file:///tmp/out",
                "fetch_system": URI,
                "fetch_token_file": str(token),
            }
        }
    }
    queue = config.from_mapping(data).queues[0]
    assert queue.fetch_system == URI and queue.fetch_token_file == token
    settings = FetchSettings.of(queue)
    assert settings is not None and settings.system and settings.token == "t0ken"


def test_a_queue_takes_what_conversion_turns_into_its_printer_s_formats() -> None:
    """Fetch-Document's document-format-accepted (and the device's
    document-format-supported): a PostScript printer with conversion on takes PDF
    and images too; without conversion only its own formats (and octet-stream, sent
    on as it came, as every local queue takes it); a backend that passes
    anything through takes the broad list."""

    class Takes(StubBackend):
        def __init__(self, formats: tuple[str, ...] | None) -> None:
            self.formats = formats

        def capabilities(self) -> Capabilities:
            return Capabilities(document_formats=self.formats)

    def fetcher(formats: tuple[str, ...] | None, *, convert: bool) -> Fetcher:
        queue = Queue(QueueConfig("office", "test://printer"), cast(Any, Takes(formats)))
        infra = cast(Upstream, FakeInfra())
        return Fetcher(cast(Spool, None), queue, SETTINGS, upstream=infra, convert=convert)

    converting = fetcher(("application/postscript",), convert=True)._formats()
    assert converting[0] == "application/postscript"
    assert {"application/pdf", "text/plain", "image/jpeg"} <= set(converting)
    assert fetcher(("application/postscript",), convert=False)._formats() == (
        "application/postscript",
        "application/octet-stream",  # sent on as it came, as from a local client
    )
    assert fetcher(None, convert=True)._formats() == ANY_FORMATS
