"""``lpd-ipp-gateway admin`` against the real gateway command, run as
``python -m gateway admin ...`` subprocesses.

- over ipp:// on loopback (no authentication: loopback clients are the
  operator): queues; add an ``lpd://`` queue with LPRng behind it
  (tests/peers/lprng.py) and --start; a job through it reaches LPRng; pause,
  a job waits and ``jobs`` shows it pending; resume, it completes and is
  printed; hold, release and cancel on a paused queue; move a job from the
  paused queue to a file queue and see it written there; remove refused with
  a job, done with --cancel-jobs, and a queue without jobs removed plainly;
  ``--json`` parsed throughout.
- over ipps:// with ``ipp.auth = "jobs"``, a password file and operators:
  the operator succeeds (password from --password-file and from the
  environment), a wrong password exits 4, no password exits 4, a user who is
  not an operator exits 1 with client-error-forbidden, the self-signed
  certificate is refused (exit 3) unless --insecure or --ca-file names it;
  plain ipp:// with authentication on exits 4.
- a gateway that is not there exits 3.

Progress is read from the gateway's log and LPRng's output, never waited for
with sleeps; every step has a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from gateway.ipp.client import IppClient
from gateway.ipp.message import Message
from gateway.ipp.operations import Operation
from gateway.ipp.server.auth import set_password
from gateway.ipp.status import StatusCode
from gateway.ipp.tags import DelimiterTag
from tests.gateway_process import GatewayProcess
from tests.peers.eve import free_port
from tests.peers.lprng import Lprng, lprng

pytestmark = pytest.mark.peer

STEP = 60.0  # one command, one job through LPRng, one start or stop of the gateway
ENV_NAMES = ("LPD_IPP_GATEWAY_SERVER", "LPD_IPP_GATEWAY_PASSWORD", "LPD_IPP_GATEWAY_TOKEN")


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """IPP and IPPS on loopback port 0, no LPD listener, file queues lp and office."""
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
tls_listen = ["127.0.0.1:0"]
{extra}

[queues.lp]
backend = "{out.as_uri()}"

[queues.office]
backend = "{out.as_uri()}"
"""
    )
    return path


@asynccontextmanager
async def running(config: Path) -> AsyncIterator[GatewayProcess]:
    def start() -> GatewayProcess:
        return GatewayProcess(["--config", str(config), "--log-level", "info"]).ready(STEP)

    gateway = await trio.to_thread.run_sync(start)
    with gateway:
        yield gateway
        gateway.signal(signal.SIGTERM)
        code, log = await trio.to_thread.run_sync(gateway.finish, STEP)
        assert code == 0, log


async def admin(*args: str, env: Mapping[str, str] | None = None) -> Outcome:
    """``python -m gateway admin ARGS`` with stdin not a terminal (no prompt)."""
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    with trio.fail_after(STEP):
        result = await trio.run_process(
            [sys.executable, "-m", "gateway", "admin", *args],
            stdin=b"",
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env={**clean, **(env or {})},
        )
    return Outcome(result.returncode, result.stdout.decode(), result.stderr.decode())


def ok(outcome: Outcome) -> Outcome:
    assert outcome.code == 0, outcome
    assert outcome.stderr == "", outcome
    return outcome


def refused(outcome: Outcome, code: int, text: str) -> None:
    assert outcome.code == code, outcome
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1 and text in lines[0], outcome  # one line, never a traceback


async def print_job(
    printer: str, token: str, *, user: str = "alice", password: str | None = None
) -> int:
    """Print-Job of a small text document holding `token` with the project's IPP
    client; the new job's id."""
    data = f"{token}\nprinted by the admin command test\n".encode()
    client = IppClient(
        printer, verify=False, auth=(user, password) if password else None, http2=False
    )

    def build(version: tuple[int, int], request_id: int) -> Message:
        message = Message.request(
            Operation.PRINT_JOB,
            request_id,
            version=version,
            printer_uri=printer,
            requesting_user_name=user,
        )
        message.operation.add_name("job-name", token)
        message.operation.add_mime_media_type("document-format", "text/plain")
        return message

    async def document() -> AsyncIterator[bytes]:
        yield data

    try:
        with trio.fail_after(STEP):
            response = await client.send(build, document, len(data), use_auth=password is not None)
    finally:
        await client.aclose()
    assert response.status == StatusCode.SUCCESSFUL_OK, response.message
    job_id = response.message.value(DelimiterTag.JOB_ATTRIBUTES, "job-id")
    assert isinstance(job_id, int)
    return job_id


async def wait_for(gateway: GatewayProcess, pattern: str) -> None:
    await trio.to_thread.run_sync(gateway.wait_for, pattern, STEP)


async def printed(daemon: Lprng, token: bytes) -> None:
    """Wait until LPRng's output file holds `token` (bounded poll of the peer's file)."""
    with trio.fail_after(STEP):
        while token not in daemon.printed():
            await trio.sleep(0.05)


def jobs_by_id(outcome: Outcome) -> dict[int, dict[str, Any]]:
    return {job["id"]: job for job in ok(outcome).json()["jobs"]}


async def test_admin_over_ipp_manages_queues_and_jobs(tmp_path: Path) -> None:
    async with lprng() as daemon, running(write_config(tmp_path)) as gateway:
        port = gateway.ports["IPP"][0]
        server = ("--server", f"ipp://127.0.0.1:{port}")
        floor3 = f"ipp://127.0.0.1:{port}/printers/floor3"

        listed = ok(await admin(*server, "queues", "--json")).json()["queues"]
        assert [q["name"] for q in listed] == ["lp", "office"]
        assert all(q["accepting"] and q["state"] == "idle" for q in listed)
        table = ok(await admin(*server, "queues")).stdout.splitlines()
        assert table[0].split() == [
            "NAME",
            "ID",
            "STATE",
            "ACCEPTING",
            "JOBS",
            "BACKEND",
            "LOCATION",
        ]
        assert table[1].split()[:4] == ["lp", "1", "idle", "yes"]

        added = ok(
            await admin(
                *server,
                "add",
                "floor3",
                daemon.uri("lp"),
                "--location",
                "Floor 3",
                "--start",
                "--option",
                "reserve=none",
                "--json",
            )
        ).json()
        assert added == {
            "ok": True,
            "operation": "add",
            "queue": "floor3",
            "printer_id": 3,
            "backend": daemon.uri("lp"),
            "started": True,
        }
        queues = {
            q["name"]: q for q in ok(await admin(*server, "queues", "--json")).json()["queues"]
        }
        assert queues["floor3"]["location"] == "Floor 3"
        assert queues["floor3"]["accepting"] and queues["floor3"]["state"] == "idle"

        first = await print_job(floor3, "first-admin-token")
        await wait_for(gateway, rf"job {first} completed queue=floor3")
        await printed(daemon, b"first-admin-token")

        ok(await admin(*server, "pause", "floor3"))
        second = await print_job(floor3, "second-admin-token")
        listed_jobs = jobs_by_id(await admin(*server, "jobs", "floor3", "--json"))
        assert listed_jobs[second]["state"] == "pending"
        assert listed_jobs[second]["queue"] == "floor3"
        assert listed_jobs[second]["user"] == "alice"
        assert listed_jobs[second]["name"] == "second-admin-token"
        text = ok(await admin(*server, "jobs")).stdout
        assert any(
            line.split()[:5] == [str(second), "floor3", "alice", "second-admin-token", "pending"]
            for line in text.splitlines()
        ), text
        assert b"second-admin-token" not in daemon.printed()
        assert "queue floor3 resumed" in ok(await admin(*server, "resume", "floor3")).stdout
        await wait_for(gateway, rf"job {second} completed queue=floor3")
        await printed(daemon, b"second-admin-token")
        done = jobs_by_id(await admin(*server, "jobs", "floor3", "--completed", "--json"))
        assert done[second]["state"] == "completed"

        # hold, release, cancel and move on a paused queue
        ok(await admin(*server, "pause", "floor3"))
        third = await print_job(floor3, "third-admin-token")
        fourth = await print_job(floor3, "fourth-admin-token")
        ok(await admin(*server, "hold", str(third)))
        assert jobs_by_id(await admin(*server, "jobs", "--json"))[third]["state"] == "pending-held"
        ok(await admin(*server, "release", str(third)))
        assert jobs_by_id(await admin(*server, "jobs", "--json"))[third]["state"] == "pending"
        assert f"job {fourth} canceled" in ok(await admin(*server, "cancel", str(fourth))).stdout
        everything = jobs_by_id(await admin(*server, "jobs", "--all", "--json"))
        assert everything[fourth]["state"] == "canceled"
        assert fourth not in jobs_by_id(await admin(*server, "jobs", "--json"))
        refused(await admin(*server, "cancel", str(fourth)), 1, "client-error-not-possible")
        refused(await admin(*server, "cancel", "999"), 1, "client-error-not-found")

        refused(await admin(*server, "move", str(third), "nowhere"), 1, "client-error-not-found")
        moved = ok(await admin(*server, "move", str(third), "office", "--json")).json()
        assert moved == {"ok": True, "operation": "move", "job": third, "queue": "office"}
        await wait_for(gateway, rf"job {third} completed queue=office")
        sidecar = json.loads((tmp_path / "out" / f"job-{third}.json").read_text())
        assert sidecar["job-name"] == "third-admin-token"
        refused(await admin(*server, "move", str(third), "floor3"), 1, "client-error-not-possible")
        assert b"third-admin-token" not in daemon.printed()

        # remove: refused with a job, done with --cancel-jobs; a queue without jobs plainly
        fifth = await print_job(floor3, "fifth-admin-token")
        refused(await admin(*server, "remove", "floor3"), 1, "client-error-not-possible")
        ok(await admin(*server, "remove", "floor3", "--cancel-jobs"))
        # Its queue is gone, so Get-Jobs lists it no more; Cancel-Job still finds it.
        refused(await admin(*server, "cancel", str(fifth)), 1, "is already canceled")
        ok(await admin(*server, "add", "spare", (tmp_path / "out").as_uri()))
        assert "queue spare removed" in ok(await admin(*server, "remove", "spare")).stdout
        names = [q["name"] for q in ok(await admin(*server, "queues", "--json")).json()["queues"]]
        assert names == ["lp", "office"]
        refused(await admin(*server, "remove", "lp"), 1, "client-error-not-possible")
        refused(await admin(*server, "pause", "floor3"), 1, "client-error-not-found")
        assert b"fifth-admin-token" not in daemon.printed()


async def test_admin_over_ipps_authenticates_like_ipp_clients(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    set_password(passwords, "admin", "s3cret-admin")
    set_password(passwords, "bob", "builder")
    secret = tmp_path / "admin.password"
    secret.write_text("s3cret-admin\n")
    extra = f'auth = "jobs"\npassword_file = "{passwords}"\noperators = ["admin"]'
    async with running(write_config(tmp_path, extra)) as gateway:
        tls_port = gateway.ports["IPPS"][0]
        server = ("--server", f"ipps://127.0.0.1:{tls_port}/ipp/system")
        as_admin = (*server, "--insecure", "--user", "admin", "--password-file", str(secret))

        listed = ok(await admin(*as_admin, "queues", "--json")).json()["queues"]
        assert [q["name"] for q in listed] == ["lp", "office"]
        cert = tmp_path / "spool" / "tls" / "ipps-cert.pem"
        with_ca = (*server, "--ca-file", str(cert), "--user", "admin")
        ok(await admin(*with_ca, "queues", env={"LPD_IPP_GATEWAY_PASSWORD": "s3cret-admin"}))

        ok(await admin(*as_admin, "pause", "office"))
        office = f"ipps://127.0.0.1:{tls_port}/printers/office"
        job = await print_job(office, "ipps-admin-token", user="admin", password="s3cret-admin")
        pending = jobs_by_id(await admin(*as_admin, "jobs", "office", "--json"))
        assert pending[job]["state"] == "pending" and pending[job]["user"] == "admin"
        ok(await admin(*as_admin, "add", "annex", (tmp_path / "out").as_uri(), "--start"))
        ok(await admin(*as_admin, "move", str(job), "annex"))
        await wait_for(gateway, rf"job {job} completed queue=annex")
        ok(await admin(*as_admin, "resume", "office"))
        ok(await admin(*as_admin, "remove", "annex"))

        wrong = await admin(
            *server,
            "--insecure",
            "--user",
            "admin",
            "queues",
            "--json",
            env={"LPD_IPP_GATEWAY_PASSWORD": "not-it"},
        )
        refused(wrong, 4, "refused the credentials of admin")
        assert wrong.json()["exit"] == 4
        refused(
            await admin(*server, "--insecure", "--user", "admin", "queues"),
            4,
            "asks for the password of admin",
        )
        forbidden = await admin(
            *server,
            "--insecure",
            "--user",
            "bob",
            "add",
            "intruder",
            "file:///tmp",
            "--json",
            env={"LPD_IPP_GATEWAY_PASSWORD": "builder"},
        )
        refused(forbidden, 1, "client-error-forbidden: printer administration is for operators")
        assert forbidden.json()["status"] == "client-error-forbidden"
        refused(
            await admin(*server, "--user", "admin", "--password-file", str(secret), "queues"),
            3,
            "CERTIFICATE_VERIFY_FAILED",
        )
        plain = ("--server", f"ipp://127.0.0.1:{gateway.ports['IPP'][0]}")
        refused(
            await admin(*plain, "--user", "admin", "--password-file", str(secret), "jobs"),
            4,
            "client-error-not-authenticated",
        )
    assert "intruder" not in gateway.log


async def test_admin_without_a_gateway_exits_3() -> None:
    outcome = await admin("--server", f"ipp://127.0.0.1:{free_port()}", "queues", "--json")
    refused(outcome, 3, "cannot connect to")
    assert outcome.json() == {
        "ok": False,
        "exit": 3,
        "error": outcome.stderr.split(": ", 1)[1].strip(),
    }
