"""The lpd:// backend against a real LPRng lpd (tests/peers/lprng.py).

Jobs go spool -> dispatcher -> LpdBackend -> LPRng; LPRng "prints" to a file
(so jobs leave its queue) and keeps each job's hold file, where the test
reads what it stored from our control file."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway.backends.lpd import LpdBackend
from gateway.core.job import Job, JobState
from gateway.core.queues import Queue
from gateway.core.spool import Spool
from gateway.lpd.client import DataFile, LpdClient
from gateway.lpd.status import parse_status
from tests import helpers
from tests.gateway_process import GatewayProcess
from tests.helpers import spool_job, wait_for_state
from tests.peers.lprng import lprng

HOST = "gateway.test"


@asynccontextmanager
async def forwarding(
    spool: Spool, uri: str, options: dict[str, Any] | None = None, *, hostname: str = HOST
) -> AsyncIterator[Queue]:
    """Spool + Dispatcher + one queue ``office`` whose backend is ``uri``."""
    backend = LpdBackend(uri, {"timeout": 10, **(options or {})}, hostname=hostname)
    async with helpers.forwarding(spool, backend) as queue:
        yield queue


async def wait_until(spool: Spool, job_id: int, predicate: Any) -> Job:
    """Wait, woken by the spool's listener, until ``predicate(job)`` holds."""
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set() if job.id == job_id else None)
    while True:
        job = spool.get(job_id)
        assert job is not None
        if predicate(job):
            return job
        await events[-1].wait()
        events.append(trio.Event())


def hf_copies(hold: dict[str, str]) -> list[tuple[str, int]]:
    """(N, copies) per data file from LPRng's ``hfdatafiles`` field."""
    out = []
    for entry in hold["hfdatafiles"].split("\x01"):
        fields = dict(part.split("=", 1) for part in entry.split("\x02") if "=" in part)
        if fields:
            out.append((fields.get("N", ""), int(fields.get("copies", "0x1"), 16)))
    return out


async def test_job_arrives_with_its_attributes_and_completes(spool: Spool) -> None:
    first = b"Quarterly figures\n" * 3000  # several chunks
    second = bytes(range(256)) * 40  # binary, every byte value
    with trio.fail_after(60):
        async with lprng() as peer, forwarding(spool, peer.uri()):
            job = await spool_job(
                spool,
                [
                    (first, "text/plain", "figures.txt"),
                    (second, "application/octet-stream", "blob.bin"),
                ],
                queue="office",
                attributes={
                    "job-name": "Quarterly report",
                    "requesting-user-name": "alice",
                    "copies": 2,
                    "job-sheets": "standard",
                },
            )
            done = await wait_for_state(spool, job.id, JobState.COMPLETED)
            (hold,) = peer.hold_files()
            data_files = {p.name: p.read_bytes() for p in peer.spool().glob("df*")}
            printed = peer.printed()
    number = int(done.backend_job_id or "0")
    assert number == job.id % 1000
    assert done.state_reasons == ("job-completed-successfully",)
    assert hold["H"] == HOST
    assert hold["P"] == "alice"
    assert hold["J"] == "Quarterly report"
    assert hold["L"] == "alice"
    assert int(hold["number"]) == number
    assert hf_copies(hold) == [("figures.txt", 2), ("blob.bin", 2)]
    assert data_files == {
        f"dfA{number:03d}{HOST}": first,
        f"dfB{number:03d}{HOST}": second,
    }
    assert printed.count(first) == 2 and printed.count(second) == 2


@pytest.mark.parametrize(
    "query",
    ["order=data,control&format=o", "mode=stream", "manual_copies=on+sanitize_title=on"],
)
async def test_uri_options(spool: Spool, query: str) -> None:
    data = b"%!PS-Adobe-3.0\n%%EOF\n" * 100
    with trio.fail_after(60):
        async with lprng() as peer, forwarding(spool, peer.uri(query=query)):
            job = await spool_job(
                spool,
                [(data, "application/postscript", "a b.ps")],
                queue="office",
                attributes={"job-name": "q/1", "requesting-user-name": "bob", "copies": 2},
            )
            await wait_for_state(spool, job.id, JobState.COMPLETED)
            (hold,) = peer.hold_files()
            (data_file,) = peer.spool().glob("df*")
            stored = data_file.read_bytes()
    ((name, copies),) = hf_copies(hold)
    if "manual_copies=on" in query:
        assert stored == data * 2 and copies == 1
        assert hold["J"] == "q_1" and name == "a b_ps"  # CUPS keeps spaces
    else:
        assert stored == data and copies == 2
        assert hold["J"] == "q/1" and name == "a b.ps"
    if "format=o" in query:
        assert "format=o" in hold["hfdatafiles"]
    else:
        assert "format=l" in hold["hfdatafiles"]


async def test_unknown_queue_aborts_the_job_with_the_servers_words(spool: Spool) -> None:
    with trio.fail_after(30):
        async with lprng() as peer, forwarding(spool, peer.uri("nosuchqueue")):
            job = await spool_job(spool, queue="office")
            done = await wait_for_state(spool, job.id, JobState.ABORTED)
    assert "does not exist" in done.state_message


@pytest.mark.parametrize(
    ("hostname", "agents"),
    [
        # H resolves to the connecting address (127.0.0.1 here, the
        # gateway's own name in production): LPRng's default lpd.perms
        # (SAMEHOST SAMEUSER) lets the job's own user remove it.
        ("localhost", ["alice"]),
        # H does not resolve: "no permissions" for alice, then root (SERVER
        # REMOTEUSER=root) removes it.
        (HOST, ["alice", "root"]),
    ],
)
async def test_cancel_on_gateway_removes_the_job_from_lprng(
    spool: Spool, caplog: pytest.LogCaptureFixture, hostname: str, agents: list[str]
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.backends.lpd")
    with trio.fail_after(60):
        async with lprng() as peer, forwarding(spool, peer.uri(), hostname=hostname) as queue:
            await peer.lpc("stop")  # the job stays queued at LPRng
            job = await spool_job(spool, queue="office")
            forwarded = await wait_until(spool, job.id, lambda j: j.backend_job_id is not None)
            number = int(forwarded.backend_job_id or "0")
            client = LpdClient("127.0.0.1", peer.port, timeout=10)
            listed = parse_status(await client.queue_state("lp"))
            assert [j.job_number for j in listed.jobs] == [number]
            # The remote printer is stopped and our job waits there.
            await wait_until(spool, job.id, lambda j: j.state == JobState.PROCESSING_STOPPED)
            await queue.backend.printer_status()
            status = await queue.backend.printer_status()
            assert status.state == "stopped" and "paused" in status.reasons

            await spool.cancel(job.id)
            await wait_until(spool, job.id, lambda j: not j.cancel_requested)
            after = parse_status(await client.queue_state("lp"))
            lpq = await peer.client("lpq", "-P", f"lp@127.0.0.1%{peer.port}")
    assert after.jobs == ()
    assert peer.hold_files() == []
    assert "alice" not in lpq
    assert spool.get(job.id).state == JobState.CANCELED  # type: ignore[union-attr]
    removes = [r.getMessage() for r in caplog.records if "remove LPD job" in r.getMessage()]
    assert [m.split(" as ", 1)[1].split(":", 1)[0] for m in removes] == agents


async def test_lpd_down_then_back_delivers_each_job_once(spool: Spool) -> None:
    payloads = [f"job number {i:02d}\n".encode() * 50 for i in range(5)]
    with trio.fail_after(90):
        async with lprng(start=False) as peer, forwarding(spool, peer.uri()) as queue:
            jobs = [
                await spool_job(
                    spool,
                    [(p, "text/plain", f"doc{i}.txt")],
                    queue="office",
                    attributes={"job-name": f"job {i}", "requesting-user-name": "carol"},
                )
                for i, p in enumerate(payloads)
            ]
            await wait_until(spool, jobs[0].id, lambda j: "retrying" in j.state_message)
            state = queue.state()
            assert "connecting-to-device" in state.reasons
            assert "cannot connect" in state.message
            await peer.start()  # the same port again
            for job in jobs:
                await wait_for_state(spool, job.id, JobState.COMPLETED)
            holds = peer.hold_files()
            printed = peer.printed()
    assert sorted(h["J"] for h in holds) == [f"job {i}" for i in range(5)]
    for payload in payloads:
        assert printed.count(payload) == 1
    assert queue.problem is None


async def test_lpd_to_lpd_through_the_gateway_command(tmp_path: Path) -> None:
    """The whole product: an LPD client -> `lpd-ipp-gateway serve` (its LPD
    listener, spool, dispatcher) -> lpd:// backend -> LPRng."""
    data = b"through the gateway\n" * 10
    control = (
        b"Hclient.example\nPbob\nJChain test\n"
        b"fdfA321client\nfdfA321client\nUdfA321client\nNchain.txt\n"
    )

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    with trio.fail_after(60):
        async with lprng() as peer:
            args = ["--spool-dir", str(tmp_path / "spool"), "--lpd-listen", "127.0.0.1:0"]
            args += ["--ipp-listen", "127.0.0.1:0", "--queue", f"office={peer.uri()}"]
            with GatewayProcess(args) as gateway:
                await trio.to_thread.run_sync(gateway.ready)
                client = LpdClient("127.0.0.1", gateway.ports["LPD"][0], timeout=10)
                await client.send_job(
                    "office", "cfA321client", control, [DataFile("dfA321client", len(data), chunks)]
                )
                await trio.to_thread.run_sync(lambda: gateway.wait_for(r"job \d+ completed", 30))
            (hold,) = peer.hold_files()
            printed = peer.printed()
    assert hold["P"] == "bob" and hold["J"] == "Chain test"
    assert hf_copies(hold) == [("chain.txt", 2)]
    assert printed.count(data) == 2
