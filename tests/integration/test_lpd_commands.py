"""Queue state (``\\3``/``\\4``), remove jobs (``\\5``), print waiting (``\\1``)
and access control, as raw bytes against the running gateway
(reference/lpd.md 7.1 cases 37, 38, 39 and the allow-list)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from gateway.core.job import JobState
from gateway.lpd.status import parse_status
from tests.lpd_harness import Gateway, LogWatch, control, gateway

DATA = b"some text\n"


async def held(nursery: trio.Nursery, tmp_path: Path, **lpd: object) -> Gateway:
    return await gateway(
        nursery,
        tmp_path,
        lpd=lpd,
        queues={"lp": {"backend": (tmp_path / "out").as_uri(), "enabled": False}},
    )


async def submit(gw: Gateway, jobs: list[tuple[str, int]]) -> None:
    """Send jobs (user, client job number) on one connection."""
    client = await gw.connect()
    await client.send(b"\x02lp\n")
    assert await client.ack() == 0
    for user, number in jobs:
        df = f"dfA{number:03d}client"
        assert await client.data_file(df, DATA) == (0, 0)
        cf = control(user=user, files=(("f", df, f"{user}.txt"),))
        assert await client.control_file(f"cfA{number:03d}client", cf) == (0, 0)
    await client.aclose()


async def command(gw: Gateway, line: bytes) -> bytes:
    client = await gw.connect()
    await client.send(line)
    return await client.read_all()


async def test_case37_filters(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held(nursery, tmp_path)
    await submit(gw, [("alice", 500), ("bob", 501), ("carol", 502), ("dave", 503)])
    alice, bob, carol, dave = gw.jobs()
    # alice by name, carol by the gateway id, dave by the client's own number,
    # and numbers that match nothing.
    reply = await command(gw, b"\x03lp alice %d 503 9999999 7bob\n" % carol.id)
    jobs = parse_status(reply).jobs
    assert sorted(j.owner for j in jobs) == ["alice", "carol", "dave"]
    assert {j.job_number for j in jobs} == {alice.id, carol.id, dave.id}
    long = parse_status(await command(gw, b"\x04lp bob\n"))
    assert [(j.owner, j.job_number) for j in long.jobs] == [("bob", bob.id)]
    assert long.jobs[0].files == ("bob.txt",)
    assert long.jobs[0].size == len(DATA)


async def test_no_entries_and_status_line(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    assert await command(gw, b"\x03lp\n") == b"lp is ready\nno entries\n"
    assert await command(gw, b"\x04lp\n") == b"lp is ready\nno entries\n"


async def test_stopped_and_rejecting_queue_status(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(
        nursery,
        tmp_path,
        queues={
            "lp": {"backend": (tmp_path / "out").as_uri(), "enabled": False, "accepting": False}
        },
    )
    status = parse_status(await command(gw, b"\x03lp\n"))
    assert status.printer_state == "stopped"
    assert not status.accepting_jobs


async def test_queue_state_unknown_queue(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    assert b"unknown printer" in await command(gw, b"\x03nosuch\n")


async def test_ended_jobs_are_not_listed(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    await submit(gw, [("alice", 1)])
    [job] = gw.jobs()
    await gw.completed(job.id)
    assert b"no entries" in await command(gw, b"\x03lp\n")


async def test_case38_user_removes_own_job_by_number(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held(nursery, tmp_path)
    await submit(gw, [("alice", 10), ("bob", 11)])
    alice, bob = gw.jobs()
    with LogWatch() as logs:
        reply = await command(gw, b"\x05lp alice %d\n" % alice.id)
        assert logs.find(rf"job {alice.id} removed queue=lp")
    assert reply.endswith(b"cfA010client dequeued\n")
    assert gw.spool.get(alice.id).state == JobState.CANCELED  # type: ignore[union-attr]
    assert gw.spool.get(bob.id).state == JobState.PENDING  # type: ignore[union-attr]


async def test_case38_user_may_not_remove_others(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held(nursery, tmp_path)
    await submit(gw, [("alice", 10), ("bob", 11)])
    _, bob = gw.jobs()
    reply = await command(gw, b"\x05lp alice %d bob\n" % bob.id)
    assert b"Permission denied" in reply
    assert gw.spool.get(bob.id).state == JobState.PENDING  # type: ignore[union-attr]


async def test_case38_empty_list_removes_the_agents_job(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await held(nursery, tmp_path)
    await submit(gw, [("bob", 1), ("alice", 2), ("alice", 3)])
    bob, first, second = gw.jobs()
    reply = await command(gw, b"\x05lp alice\n")
    assert reply.endswith(b"cfA002client dequeued\n")
    states = [gw.spool.get(j.id).state for j in (bob, first, second)]  # type: ignore[union-attr]
    assert states == [JobState.PENDING, JobState.CANCELED, JobState.PENDING]


async def test_case38_by_user_name_and_all(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held(nursery, tmp_path)
    await submit(gw, [("alice", 1), ("alice", 2), ("bob", 3)])
    await command(gw, b"\x05lp alice alice\n")
    assert [j.state for j in gw.jobs()] == [JobState.CANCELED, JobState.CANCELED, JobState.PENDING]
    await command(gw, b"\x05lp bob all\n")
    assert all(j.state == JobState.CANCELED for j in gw.jobs())


async def test_case38_root_from_trusted_host(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await held(nursery, tmp_path)  # default trusted_hosts: 127.0.0.1, ::1
    await submit(gw, [("alice", 1), ("bob", 2)])
    alice, bob = gw.jobs()
    await command(gw, b"\x05lp root bob\n")
    assert gw.spool.get(bob.id).state == JobState.CANCELED  # type: ignore[union-attr]
    await command(gw, b"\x05lp root %d\n" % alice.id)
    assert gw.spool.get(alice.id).state == JobState.CANCELED  # type: ignore[union-attr]


async def test_case38_root_from_untrusted_host_is_just_a_user(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await held(nursery, tmp_path, trusted_hosts=["192.0.2.0/24"])
    await submit(gw, [("alice", 1), ("root", 2)])
    alice, root = gw.jobs()
    await command(gw, b"\x05lp root %d all\n" % alice.id)
    assert gw.spool.get(alice.id).state == JobState.PENDING  # type: ignore[union-attr]
    assert gw.spool.get(root.id).state == JobState.CANCELED  # type: ignore[union-attr]


async def test_case38_dash_all_removes_jobs_from_that_host(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await held(nursery, tmp_path, trusted_hosts=["192.0.2.0/24"])
    await submit(gw, [("alice", 1), ("bob", 2)])
    await command(gw, b"\x05lp -all\n")
    assert all(j.state == JobState.CANCELED for j in gw.jobs())


async def test_remove_processing_job_marks_it_for_the_backend(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A job already being forwarded is canceled through the spool, which
    flags it for the dispatcher to cancel at the backend."""
    gw = await held(nursery, tmp_path)
    await submit(gw, [("alice", 1)])
    [job] = gw.jobs()
    await gw.spool.transition(job.id, JobState.PROCESSING)
    reply = await command(gw, b"\x05lp alice\n")  # the active job
    assert b"dequeued" in reply
    canceled = gw.spool.get(job.id)
    assert canceled is not None and canceled.state == JobState.CANCELED
    assert canceled.cancel_requested


async def test_print_waiting(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path)
    assert await command(gw, b"\x01lp\n") == b"\0"
    assert (await command(gw, b"\x01nosuch\n"))[:1] == b"\x01"


async def test_allow_networks_refuses_others(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"allow_networks": ["192.0.2.0/24"]})
    with LogWatch() as logs:
        assert await command(gw, b"\x03lp\n") == b""
        assert logs.find("refused: not in lpd.allow_networks")


async def test_allow_networks_admits_listed(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await gateway(nursery, tmp_path, lpd={"allow_networks": ["127.0.0.0/8"]})
    assert b"no entries" in await command(gw, b"\x03lp\n")


@pytest.mark.parametrize("port_low", [True, False])
async def test_case39_any_source_port(
    nursery: trio.Nursery, tmp_path: Path, port_low: bool
) -> None:
    """Reserved source ports are neither required nor refused."""
    gw = await gateway(nursery, tmp_path)
    sock = trio.socket.socket()
    if port_low:
        for port in range(721, 1024):
            try:
                await sock.bind(("127.0.0.1", port))
                break
            except OSError:
                continue
    with trio.fail_after(10):
        await sock.connect(("127.0.0.1", gw.port))
        stream = trio.SocketStream(sock)
        await stream.send_all(b"\x03lp\n")
        reply = b""
        while chunk := await stream.receive_some(4096):
            reply += chunk
    assert b"no entries" in reply


async def test_recently_aborted_job_is_reported_with_its_reason(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """The list shows active jobs only (BSD); a job aborted in the last hour
    is reported in a status line with its job-state-message."""
    gw = await held(nursery, tmp_path)
    await submit(gw, [("alice", 1), ("bob", 2)])
    alice, _ = gw.jobs()
    await gw.spool.transition(
        alice.id,
        JobState.ABORTED,
        reasons=["document-format-not-supported"],
        message="the printer does not take text/plain",
    )
    for line in (b"\x03lp\n", b"\x04lp\n", b"\x03lp alice\n"):
        text = (await command(gw, line)).decode()
        assert f"Warning: job {alice.id} (alice) aborted: the printer does not take" in text
        status = parse_status(text)
        assert alice.id not in {j.job_number for j in status.jobs}
    text = (await command(gw, b"\x03lp bob\n")).decode()
    assert "aborted" not in text and "bob" in text


async def test_hold_new_jobs_holds_lpd_jobs_too(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Hold-New-Jobs is the queue's policy, not the IPP front-end's: an LPD job that
    arrives while it is set waits pending-held, one that arrives after is printed."""
    gw = await gateway(nursery, tmp_path)
    queue = gw.running.context.queues.get("lp")
    assert queue is not None
    queue.hold_new_jobs = True
    await submit(gw, [("alice", 600)])
    queue.hold_new_jobs = False
    await submit(gw, [("bob", 601)])
    first, second = gw.jobs()
    assert first.state == JobState.PENDING_HELD
    assert "job-hold-until-specified" in first.state_reasons
    await gw.completed(second.id)
    still = gw.spool.get(first.id)
    assert still is not None
    assert still.state == JobState.PENDING_HELD
