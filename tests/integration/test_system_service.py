"""The System Service (PWG 5100.22) of the real gateway, driven by CUPS's ipptool
with the test files in tests/integration/ipptool/, and administration that lasts
across a restart.

- system-attributes.test: Get-System-Attributes answers the REQUIRED System
  attributes; Set-System-Attributes / Get-System-Supported-Values.
- operators only: with ``ipp.auth = "jobs"``, a client without a user over
  ipp:// gets client-error-not-authenticated, a signed-in user who is not in
  ``ipp.operators`` client-error-forbidden (ipps://), an operator succeeds.
- Create-Printer of an ``lpd://`` queue with LPRng behind it
  (tests/peers/lprng.py); a job printed through it reaches LPRng;
  Pause-Printer; a job waits; the gateway is stopped (SIGTERM) and started
  again on the same spool: the queue is there and still paused, its job still
  waiting; Resume-Printer and the job reaches LPRng. Delete-Printer is refused
  for a configuration queue and while the queue has a job, and done with
  ``gateway-cancel-jobs``.
- a configuration queue held, disabled, paused and relocated with
  Set-Printer-Attributes is still so after a restart.

Every step has a deadline; progress is read from the gateway's log and from
LPRng's output, never waited for with sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

from gateway.ipp.server.auth import set_password
from tests.gateway_process import GatewayProcess
from tests.gateway_process import log_line as wait_for
from tests.gateway_process import start_gateway as start
from tests.gateway_process import stop_gateway as stop
from tests.ipp_harness import all_passed as passed
from tests.ipp_harness import ipptool_test as ipptool
from tests.peers.lprng import Lprng, lprng

pytestmark = pytest.mark.peer

TESTS = Path(__file__).parent / "ipptool"
STEP = 60.0  # one ipptool run, one restart, one job through LPRng


def write_config(tmp_path: Path, extra: str = "") -> Path:
    """A configuration: IPP on loopback port 0 (and IPPS), no LPD listener, two
    file-backend queues lp (the default) and office."""
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


def system_uri(gateway: GatewayProcess, *, tls: bool = False, user: str = "") -> str:
    port = gateway.ports["IPPS" if tls else "IPP"][0]
    who = f"{user}@" if user else ""
    return f"{'ipps' if tls else 'ipp'}://{who}127.0.0.1:{port}/ipp/system"


def printer_uri(gateway: GatewayProcess, name: str) -> str:
    return f"ipp://127.0.0.1:{gateway.ports['IPP'][0]}/printers/{name}"


async def printed(daemon: Lprng, token: bytes) -> None:
    """Wait until LPRng has printed a document holding `token` (its output file
    grows as LPRng prints; bounded)."""
    with trio.fail_after(STEP):
        while token not in daemon.printed():
            await trio.sleep(0.05)  # bounded poll of the peer's output file


def document(tmp_path: Path, token: str) -> Path:
    path = tmp_path / f"{token}.txt"
    path.write_text(f"{token}\nprinted through a queue created at run time\n")
    return path


async def test_system_attributes_answer_as_pwg_5100_22_requires(tmp_path: Path) -> None:
    work = tmp_path / "ipptool"
    work.mkdir()
    gateway = await start(write_config(tmp_path))
    with gateway:
        passed(await ipptool(system_uri(gateway), "system-attributes.test", work), 6)
        passed(await ipptool(system_uri(gateway), "system-printers.test", work), 4)
        await stop(gateway)
    # system-location set over IPP lasts too.
    gateway = await start(write_config(tmp_path))
    with gateway:
        last = await ipptool(system_uri(gateway), "system-attributes.test", work)
        assert last.failed == 0, last.output
        await stop(gateway)


async def test_the_system_service_is_for_operators_only(tmp_path: Path) -> None:
    work = tmp_path / "ipptool"
    work.mkdir()
    passwords = tmp_path / "passwd"
    set_password(passwords, "admin", "s3cret-admin")
    set_password(passwords, "bob", "builder")
    extra = f'auth = "jobs"\npassword_file = "{passwords}"\noperators = ["admin"]'
    gateway = await start(write_config(tmp_path, extra))
    with gateway:
        unauthenticated = await ipptool(
            system_uri(gateway), "system-refused.test", work, defines={"unauthenticated": "1"}
        )
        passed(unauthenticated, 4)
        forbidden = await ipptool(
            system_uri(gateway, tls=True, user="bob:builder"),
            "system-refused.test",
            work,
            defines={"forbidden": "1"},
        )
        passed(forbidden, 4)
        allowed = await ipptool(
            system_uri(gateway, tls=True, user="admin:s3cret-admin"), "system-allowed.test", work
        )
        passed(allowed, 2)
        await stop(gateway)
    assert "intruder" not in gateway.log  # Create-Printer never got as far as the core


async def test_a_printer_created_at_run_time_lasts_paused_and_is_deleted_with_its_jobs(
    tmp_path: Path,
) -> None:
    work = tmp_path / "ipptool"
    work.mkdir()
    config = write_config(tmp_path)
    async with lprng() as daemon:
        gateway = await start(config)
        with gateway:
            created = await ipptool(
                system_uri(gateway),
                "system-create-printer.test",
                work,
                defines={
                    "name": "floor3",
                    "device": daemon.uri("lp"),
                    "printer_uri": printer_uri(gateway, "floor3"),
                },
                document=document(tmp_path, "first-job-token"),
            )
            passed(created, 6)
            await wait_for(gateway, r"job \d+ completed queue=floor3")
            await printed(daemon, b"first-job-token")
            paused = await ipptool(
                system_uri(gateway),
                "system-pause-printer.test",
                work,
                defines={"printer_uri": printer_uri(gateway, "floor3")},
                document=document(tmp_path, "second-job-token"),
            )
            passed(paused, 2)
            await stop(gateway)
        assert b"second-job-token" not in daemon.printed()

        gateway = await start(config)
        with gateway:
            assert "queue floor3 -> lpd://" in gateway.log  # started with the others
            after = await ipptool(
                system_uri(gateway),
                "system-paused-after-restart.test",
                work,
                defines={
                    "name": "floor3",
                    "printer_id": "3",
                    "printer_uri": printer_uri(gateway, "floor3"),
                },
            )
            passed(after, 3)
            await wait_for(gateway, r"job \d+ completed queue=floor3")
            await printed(daemon, b"second-job-token")

            passed(
                await ipptool(
                    system_uri(gateway),
                    "system-pause-printer.test",
                    work,
                    defines={"printer_uri": printer_uri(gateway, "floor3")},
                    document=document(tmp_path, "third-job-token"),
                ),
                2,
            )
            deleted = await ipptool(
                system_uri(gateway),
                "system-delete-printer.test",
                work,
                defines={"printer_id": "3", "default_id": "1"},
            )
            passed(deleted, 5)
            await wait_for(gateway, r"queue floor3 deleted by ")
            await stop(gateway)
        assert b"third-job-token" not in daemon.printed()

        gateway = await start(config)
        with gateway:
            assert "floor3" not in gateway.log
            await stop(gateway)


async def test_configuration_queue_administration_survives_a_restart(tmp_path: Path) -> None:
    work = tmp_path / "ipptool"
    work.mkdir()
    config = write_config(tmp_path)
    gateway = await start(config)
    with gateway:
        uri = printer_uri(gateway, "office")
        passed(
            await ipptool(
                system_uri(gateway), "system-queue-admin.test", work, defines={"printer_uri": uri}
            ),
            5,
        )
        await stop(gateway)
    gateway = await start(config)
    with gateway:
        uri = printer_uri(gateway, "office")
        passed(
            await ipptool(
                system_uri(gateway),
                "system-queue-admin-kept.test",
                work,
                defines={"printer_uri": uri},
            ),
            1,
        )
        await stop(gateway)


def test_every_ipptool_file_here_is_used() -> None:
    """Each file in tests/integration/ipptool is run by a test above."""
    source = Path(__file__).read_text()
    files: Sequence[str] = sorted(p.name for p in TESTS.glob("system-*.test"))
    assert files and all(f'"{name}"' in source for name in files)
