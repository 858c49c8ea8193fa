"""One identity model for both front-ends (gateway/core/policy.py), on a running gateway.

A job sent over ipps with a password is removed over LPD neither by a user of
that name from the same address (an LPD agent is only a claimed name) nor by
agent root from a trusted host, unless lpd.trusted_hosts_remove_authenticated
is on; IPP's Cancel-Job follows the same rule. Unauthenticated jobs keep every
rule they had (tests/integration/test_lpd_commands.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from gateway import config
from gateway.app import Running
from gateway.core.job import JobState
from gateway.ipp import Operation, StatusCode, ValueTag
from gateway.ipp.server.auth import set_password
from gateway.lpd.status import parse_status
from tests.ipp_harness import post, printer_uri, request, running_gateway, tls_context, url
from tests.lpd_harness import STEP, RawClient, control

PASSWORDS = {"alice": "wonderland", "bob": "builder", "carol": "admin"}


def make_config(tmp_path: Path, *, ipp: dict[str, Any], lpd: dict[str, Any] | None = None) -> Any:
    passwd = tmp_path / "passwd"
    for user, password in PASSWORDS.items():
        set_password(passwd, user, password)
    out = tmp_path / "out"
    return config.from_mapping(
        {
            "gateway": {"spool_dir": str(tmp_path / "spool")},
            "lpd": {"listen": ["127.0.0.1:0"], **(lpd or {})},
            "ipp": {
                "listen": ["127.0.0.1:0"],
                "tls_listen": ["127.0.0.1:0"],
                "password_file": str(passwd),
                "operators": ["carol"],
                **ipp,
            },
            # Stopped, so jobs stay pending and can be removed.
            "queues": {"lp": {"backend": out.as_uri(), "enabled": False}},
        }
    )


def client(user: str | None = None) -> httpx.AsyncClient:
    auth = (user, PASSWORDS[user]) if user else None
    return httpx.AsyncClient(verify=tls_context(), auth=auth)


async def print_over_ipps(running: Running, user: str) -> int:
    """Print-Job over ipps with `user`'s password; the new job's id."""
    uri = printer_uri(running, "/printers/lp", tls=True)
    message = request(Operation.PRINT_JOB, uri, user=user)
    message.operation.add("job-name", ValueTag.NAME, f"{user} plans")
    message.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "text/plain")
    async with client(user) as http:
        answer = await post(http, url(running, "/printers/lp", tls=True), message, b"secret\n")
    assert answer.status == StatusCode.SUCCESSFUL_OK
    job_id = answer.job.value("job-id")
    job = running.context.spool.get(job_id)
    assert job is not None and job.user == user and job.origin.authenticated
    return int(job_id)


async def lpd(running: Running, command: bytes) -> bytes:
    """One LPD command on a new connection from 127.0.0.1; the whole reply."""
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream(*running.lpd[0])
    raw = RawClient(stream)
    await raw.send(command)
    reply = await raw.read_all()
    await raw.aclose()
    return reply


async def print_over_lpd(running: Running, user: str) -> int:
    with trio.fail_after(STEP):
        stream = await trio.open_tcp_stream(*running.lpd[0])
    raw = RawClient(stream)
    await raw.send(b"\x02lp\n")
    assert await raw.ack() == 0
    assert await raw.control_file("cfA007client", control(user=user)) == (0, 0)
    assert await raw.data_file("dfA042client", b"by lpd\n") == (0, 0)
    await raw.aclose()
    # The last ack comes once the job is committed: it is in the spool now.
    [job] = [j for j in running.context.spool.jobs() if not j.origin.authenticated]
    return job.id


def state(running: Running, job_id: int) -> JobState:
    job = running.context.spool.get(job_id)
    assert job is not None
    return job.state


async def test_lpd_remove_of_a_job_sent_with_a_password_is_denied(tmp_path: Path) -> None:
    with trio.fail_after(60):
        async with running_gateway(make_config(tmp_path, ipp={"auth": "jobs"})) as running:
            sent = await print_over_ipps(running, "alice")
            # The same user name from the same address, by number, by name, by
            # empty list (the agent's job): refused, said so, the job stays.
            for command in (
                b"\x05lp alice %d\n" % sent,
                b"\x05lp alice alice\n",
                b"\x05lp alice\n",
            ):
                reply = await lpd(running, command)
                assert reply.endswith(b": Permission denied\n"), (command, reply)
                assert b"dequeued" not in reply
                assert state(running, sent) == JobState.PENDING
            # Agent root from a trusted host (127.0.0.1 by default) neither.
            for command in (b"\x05lp root %d\n" % sent, b"\x05lp root alice\n"):
                assert (await lpd(running, command)).endswith(b": Permission denied\n")
            for command in (b"\x05lp root all\n", b"\x05lp -all\n", b"\x05lp alice all\n"):
                assert b"dequeued" not in await lpd(running, command)
            assert state(running, sent) == JobState.PENDING
            # Alice's LPD job (a claimed name, like the agent's) she may remove.
            by_lpd = await print_over_lpd(running, "alice")
            reply = await lpd(running, b"\x05lp alice alice\n")
            assert b"cfA007client dequeued" in reply and b"Permission denied" in reply
            assert state(running, by_lpd) == JobState.CANCELED
            assert state(running, sent) == JobState.PENDING
            # Over ipps the same rule: bob may not cancel it, carol (an operator) may.
            uri = printer_uri(running, "/printers/lp", tls=True)
            target = url(running, "/printers/lp", tls=True)
            cancel = request(Operation.CANCEL_JOB, uri, user="bob")
            cancel.operation.add("job-id", ValueTag.INTEGER, sent)
            async with client("bob") as bob, client("carol") as carol:
                refused = await post(bob, target, cancel)
                assert refused.status == StatusCode.CLIENT_ERROR_NOT_AUTHORIZED
                assert refused.message.operation.value("status-message") == (
                    f"job {sent} is not yours"
                )
                assert state(running, sent) == JobState.PENDING
                assert (await post(carol, target, cancel)).status == StatusCode.SUCCESSFUL_OK
            assert state(running, sent) == JobState.CANCELED


async def test_trusted_root_removes_them_when_configured(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, ipp={"auth": "jobs"}, lpd={"trusted_hosts_remove_authenticated": True}
    )
    with trio.fail_after(60):
        async with running_gateway(cfg) as running:
            first = await print_over_ipps(running, "alice")
            second = await print_over_ipps(running, "bob")
            # The setting is for root from a trusted host only.
            assert (await lpd(running, b"\x05lp alice %d\n" % first)).endswith(
                b": Permission denied\n"
            )
            assert state(running, first) == JobState.PENDING
            assert (await lpd(running, b"\x05lp root %d\n" % first)).endswith(b" dequeued\n")
            assert state(running, first) == JobState.CANCELED
            assert b"dequeued" in await lpd(running, b"\x05lp root all\n")
            assert state(running, second) == JobState.CANCELED


async def test_a_claimed_ipp_name_cannot_cancel_a_job_sent_with_a_password(
    tmp_path: Path,
) -> None:
    """With ipp.auth = "none" names are believed and loopback clients are
    operators, but neither reaches a job whose owner proved who they are."""
    with trio.fail_after(60):
        async with running_gateway(make_config(tmp_path, ipp={"auth": "none"})) as running:
            sent = await print_over_ipps(running, "alice")
            plain = printer_uri(running, "/printers/lp")
            cancel = request(Operation.CANCEL_JOB, plain, user="alice")
            cancel.operation.add("job-id", ValueTag.INTEGER, sent)
            async with httpx.AsyncClient() as http:
                refused = await post(http, url(running, "/printers/lp"), cancel)
            assert refused.status == StatusCode.CLIENT_ERROR_NOT_AUTHORIZED
            assert "sent with a password" in refused.message.operation.value("status-message")
            assert state(running, sent) == JobState.PENDING
            # Alice, signed in, may.
            cancel = request(Operation.CANCEL_JOB, printer_uri(running, tls=True), user="alice")
            cancel.operation.add("job-id", ValueTag.INTEGER, sent)
            async with client("alice") as alice:
                done = await post(alice, url(running, "/printers/lp", tls=True), cancel)
            assert done.status == StatusCode.SUCCESSFUL_OK
            assert state(running, sent) == JobState.CANCELED


async def test_lpq_keeps_the_details_of_a_job_sent_with_a_password(tmp_path: Path) -> None:
    """lpq asks for no password: it shows a job sent over ipps with a password by
    its number only, as Get-Jobs shows it to those who did not sign in as its owner;
    a job sent over LPD is listed as before."""
    with trio.fail_after(60):
        async with running_gateway(make_config(tmp_path, ipp={"auth": "jobs"})) as running:
            sent = await print_over_ipps(running, "alice")
            by_lpd = await print_over_lpd(running, "bob")
            short = parse_status(await lpd(running, b"\x03lp\n"))
            shown = {j.job_number: j for j in short.jobs}
            assert set(shown) == {sent, by_lpd}
            assert shown[sent].owner == "-"
            assert shown[by_lpd].owner == "bob"
            long = await lpd(running, b"\x04lp\n")
            assert b"alice" not in long and b"plans" not in long
            assert b"bob" in long
