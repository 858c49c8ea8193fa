"""Get-Notifications held open with notify-wait (RFC 3996 section 5), against the
real gateway process, with a real HTTP client (httpx, HTTP/1.1 and HTTP/2) and
the repository's IPP codec.

- a held wait on a printer subscription answers each job-state-changed of a
  job that is released, held again and canceled within 100 ms of the change;
  the change's time is the gateway's own (JSON) log line of it, in
  milliseconds, against the client's clock when the answer is read (same
  machine, same clock);
- ``ipp.notify_wait_max``: a wait with nothing to answer ends after it, with
  ``notify-get-interval``, also when ``ipp.request_timeout`` and the body-rate
  window are shorter than the wait (they cover reading the request only);
- tests/integration/ipptool/notifications.test (CUPS's ipptool): printer and
  job subscriptions, Get-Notifications without and with notify-wait (held
  until the job ends: successful-ok-events-complete), an unknown subscription;
- subscriptions and their sequence numbers survive a restart (SIGTERM, same
  spool): the SIGTERM answers the wait held at that moment, and after the
  restart the subscription is there and its numbers go on above the last
  one seen.

Progress is read from the gateway's log and from its answers, never waited
for with sleeps; every step has a deadline.
"""

from __future__ import annotations

import datetime
import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from gateway.ipp import DelimiterTag, Operation, StatusCode
from tests import peers
from tests.gateway_process import GatewayProcess
from tests.ipp_harness import Answer, parse_ipptool, post, request

STEP = 60.0
LATENCY = 0.100  # the acceptance criterion: an event within 100 ms of its change


def write_config(tmp_path: Path, wait_max: str = "30s", extra: str = "") -> Path:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    path = tmp_path / "gateway.toml"
    path.write_text(
        f"""
[gateway]
spool_dir = "{tmp_path / "spool"}"

[lpd]
listen = []

[ipp]
listen = ["127.0.0.1:0"]
notify_wait_max = "{wait_max}"
{extra}

[queues.lp]
backend = "{out.as_uri()}"
"""
    )
    return path


async def start(config: Path) -> GatewayProcess:
    def run() -> GatewayProcess:
        args = ["--config", str(config), "--log-level", "debug", "--log-format", "json"]
        gateway = GatewayProcess(args)
        gateway.wait_for(r'"message": "spool in ', STEP)  # ready (JSON lines)
        for line in gateway.lines:
            found = re.search(r"listening for IPP on 127\.0\.0\.1:(\d+)", line)
            if found:
                gateway.ports["IPP"].append(int(found.group(1)))
        return gateway

    return await trio.to_thread.run_sync(run)


async def log_line(gateway: GatewayProcess, pattern: str) -> dict[str, Any]:
    """The first JSON log record whose line matches `pattern`."""
    match = await trio.to_thread.run_sync(gateway.wait_for, pattern, STEP)
    line = next(line for line in gateway.lines if match.group(0) in line)
    record: dict[str, Any] = json.loads(line)
    return record


def logged_at(record: dict[str, Any]) -> float:
    return datetime.datetime.fromisoformat(str(record["time"])).timestamp()


class Printer:
    """The gateway's queue lp over one HTTP client."""

    def __init__(self, gateway: GatewayProcess, client: httpx.AsyncClient) -> None:
        port = gateway.ports["IPP"][0]
        self.uri = f"ipp://127.0.0.1:{port}/printers/lp"
        self.url = f"http://127.0.0.1:{port}/printers/lp"
        self.client = client

    async def call(self, operation: Operation, **ints: int) -> Answer:
        message = request(operation, self.uri)
        for name, value in ints.items():
            message.operation.add_integer(name.replace("_", "-"), value)
        return await post(self.client, self.url, message)

    async def subscribe(self, *events: str) -> int:
        message = request(Operation.CREATE_PRINTER_SUBSCRIPTIONS, self.uri)
        template = message.add_group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
        template.add_keyword("notify-pull-method", "ippget")
        template.add_keyword("notify-events", *events)
        template.add_integer("notify-lease-duration", 0)
        answer = await post(self.client, self.url, message)
        assert answer.status == StatusCode.SUCCESSFUL_OK
        number = answer.message.value(
            DelimiterTag.SUBSCRIPTION_ATTRIBUTES, "notify-subscription-id"
        )
        assert isinstance(number, int)
        return number

    async def print_held(self) -> int:
        message = request(Operation.PRINT_JOB, self.uri)
        message.operation.add_mime_media_type("document-format", "text/plain")
        job = message.add_group(DelimiterTag.JOB_ATTRIBUTES)
        job.add_keyword("job-hold-until", "indefinite")
        answer = await post(self.client, self.url, message, b"held job\n")
        assert answer.status in (StatusCode.SUCCESSFUL_OK, 1), answer.message
        job_id = answer.job.value("job-id")
        assert isinstance(job_id, int)
        return job_id

    async def notifications(self, sub: int, first: int, *, wait: bool) -> tuple[Answer, float]:
        """Get-Notifications; the answer and the client's clock when it was read."""
        message = request(Operation.GET_NOTIFICATIONS, self.uri)
        message.operation.add_integer("notify-subscription-ids", sub)
        message.operation.add_integer("notify-sequence-numbers", first)
        if wait:
            message.operation.add_boolean("notify-wait", True)
        answer = await post(self.client, self.url, message)
        return answer, time.time()


def events_of(answer: Answer) -> list[Any]:
    return answer.message.groups_of(DelimiterTag.EVENT_NOTIFICATION_ATTRIBUTES)


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "http2"])
async def test_held_wait_answers_each_job_change_within_100ms(tmp_path: Path, http2: bool) -> None:
    gateway = await start(write_config(tmp_path))
    with gateway, trio.fail_after(4 * STEP):
        timeout = httpx.Timeout(STEP)
        async with (
            httpx.AsyncClient(http1=not http2, http2=http2, timeout=timeout) as waiter,
            httpx.AsyncClient(timeout=timeout) as mover,
        ):
            watch, move = Printer(gateway, waiter), Printer(gateway, mover)
            sub = await watch.subscribe("job-state-changed", "job-created", "job-completed")
            job_id = await move.print_held()
            answer, _ = await watch.notifications(sub, 1, wait=False)
            assert answer.message.operation.value("notify-get-interval") == 30
            seen = [
                (e.value("notify-subscribed-event"), e.value("job-state"))
                for e in events_of(answer)
            ]
            assert seen == [("job-created", 4), ("job-state-changed", 4)]
            following = 3
            # The queue is paused so that the released job stays pending.
            assert (await move.call(Operation.PAUSE_PRINTER)).status == StatusCode.SUCCESSFUL_OK
            steps = [
                (Operation.RELEASE_JOB, "released", 3),
                (Operation.HOLD_JOB, "held", 4),
                (Operation.CANCEL_JOB, "canceled", 7),
            ]
            latencies = []
            for operation, logged, state in steps:
                result: list[tuple[Answer, float]] = []

                async def wait_once(
                    first: int = following, into: list[tuple[Answer, float]] = result
                ) -> None:
                    into.append(await watch.notifications(sub, first, wait=True))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(wait_once)
                    # The wait is held (the gateway says so) before the change.
                    await log_line(gateway, rf"held for subscriptions {sub} \(from {following}\)")
                    changed = await move.call(operation, job_id=job_id)
                    assert changed.status == StatusCode.SUCCESSFUL_OK, changed.message
                answer, received = result[0]
                record = await log_line(gateway, rf"job {job_id} {logged} ")
                events = events_of(answer)
                assert events, answer.message
                first_event = events[0]
                assert first_event.value("notify-subscribed-event") == "job-state-changed"
                assert first_event.value("job-state") == state
                assert first_event.value("notify-sequence-number") == following
                assert answer.message.operation.value("notify-get-interval") == 0
                latency = received - logged_at(record)
                latencies.append(latency)
                following += len(events)
            print("event latencies (ms):", [round(1000 * t, 1) for t in latencies])
            assert all(-LATENCY < t < LATENCY for t in latencies), latencies


async def test_wait_ends_after_notify_wait_max_with_get_interval(tmp_path: Path) -> None:
    # The request deadline and body-rate window are shorter than the wait: they
    # cover reading the request, not the wait for its answer.
    deadlines = 'request_timeout = "1s"\nbody_rate_window = "1s"\nmin_body_rate = 100000'
    gateway = await start(write_config(tmp_path, wait_max="2s", extra=deadlines))
    with gateway, trio.fail_after(2 * STEP):
        async with httpx.AsyncClient(timeout=httpx.Timeout(STEP)) as client:
            printer = Printer(gateway, client)
            sub = await printer.subscribe("job-completed")
            began = time.monotonic()
            answer, _ = await printer.notifications(sub, 1, wait=True)
            took = time.monotonic() - began
    assert answer.status == StatusCode.SUCCESSFUL_OK
    assert events_of(answer) == []
    assert answer.message.operation.get("notify-get-interval") is not None
    assert isinstance(answer.message.operation.value("printer-up-time"), int)
    assert 2.0 <= took < 10.0, took


async def test_subscriptions_and_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    gateway = await start(config)
    with gateway, trio.fail_after(4 * STEP):
        async with httpx.AsyncClient(timeout=httpx.Timeout(STEP)) as client:
            printer = Printer(gateway, client)
            sub = await printer.subscribe("job-created", "job-state-changed")
            for _ in range(2):
                await printer.print_held()
            answer, _ = await printer.notifications(sub, 1, wait=False)
            numbers = [e.value("notify-sequence-number") for e in events_of(answer)]
            assert numbers == [1, 2, 3, 4]
            # A wait held when the gateway stops is answered, not dropped.
            result: list[tuple[Answer, float]] = []

            async def wait_held() -> None:
                result.append(await printer.notifications(sub, 5, wait=True))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(wait_held)
                await log_line(gateway, rf"held for subscriptions {sub} \(from 5\)")
                gateway.signal(signal.SIGTERM)
            assert result[0][0].status == StatusCode.SUCCESSFUL_OK
            assert events_of(result[0][0]) == []
        code, log = await trio.to_thread.run_sync(gateway.finish, STEP)
        assert code == 0, log
    gateway = await start(config)
    with gateway, trio.fail_after(4 * STEP):
        async with httpx.AsyncClient(timeout=httpx.Timeout(STEP)) as client:
            printer = Printer(gateway, client)
            kept = await printer.call(
                Operation.GET_SUBSCRIPTION_ATTRIBUTES, notify_subscription_id=sub
            )
            assert kept.status == StatusCode.SUCCESSFUL_OK, kept.message
            group = kept.message.group(DelimiterTag.SUBSCRIPTION_ATTRIBUTES)
            assert group is not None
            assert set(group.values("notify-events")) == {"job-created", "job-state-changed"}
            job_id = await printer.print_held()
            answer, _ = await printer.notifications(sub, 5, wait=True)
            events = events_of(answer)
            assert [e.value("notify-job-id") for e in events] == [job_id, job_id]
            numbers = [e.value("notify-sequence-number") for e in events]
            assert numbers[0] > 4 and numbers[1] == numbers[0] + 1, numbers


async def test_ipptool_notifications_file(tmp_path: Path) -> None:
    gateway = await start(write_config(tmp_path, wait_max="20s"))
    test = Path(__file__).parent / "ipptool" / "notifications.test"
    document = tmp_path / "doc.txt"
    document.write_text("watched job\n")
    uri = f"ipp://127.0.0.1:{gateway.ports['IPP'][0]}/printers/lp"
    argv = [str(peers.require("ipptool")), "-t", "-f", str(document), uri, str(test)]
    with gateway, trio.fail_after(STEP):
        done = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    result = parse_ipptool(
        done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace"),
        done.returncode,
    )
    assert result.failed == 0 and result.returncode == 0, result.output + gateway.log
    assert result.passed == 7, result.output


async def test_held_waits_are_capped_per_source(tmp_path: Path) -> None:
    # 4 requests at once per address: at most one of them held (a quarter).
    gateway = await start(write_config(tmp_path, extra="max_connections_per_source = 4"))
    with gateway, trio.fail_after(2 * STEP):
        timeout = httpx.Timeout(STEP)
        async with (
            httpx.AsyncClient(timeout=timeout) as first,
            httpx.AsyncClient(timeout=timeout) as second,
        ):
            one, two = Printer(gateway, first), Printer(gateway, second)
            sub = await one.subscribe("job-created")
            result: list[tuple[Answer, float]] = []

            async def held() -> None:
                result.append(await one.notifications(sub, 1, wait=True))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(held)
                await log_line(gateway, rf"held for subscriptions {sub} \(from 1\)")
                began = time.monotonic()
                answer, _ = await two.notifications(sub, 1, wait=True)
                assert time.monotonic() - began < 10.0  # not held: answered at once
                assert answer.message.operation.value("notify-get-interval") == 30
                assert events_of(answer) == []
                job_id = await two.print_held()  # the event that ends the held wait
            (event,) = events_of(result[0][0])
            assert event.value("notify-job-id") == job_id
            assert result[0][0].message.operation.value("notify-get-interval") == 0
