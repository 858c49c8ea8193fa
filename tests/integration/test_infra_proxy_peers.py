"""Proxy and Infrastructure Printer, gateway to gateway, with real printers
behind the proxy (IPP INFRA, PWG 5100.18; issue 14's first acceptance test).

Gateway A holds the jobs of two Infrastructure Printer queues, ``office`` and
``photo``, and serves ipps:// with HTTP Basic authentication for its proxy;
gateway B (which only connects out) fetches ``office`` into a queue printing
to a real LPRng lpd and ``photo`` into one printing to a real ippeveprinter.
Clients print at A with ``ipptool`` (Print-Job) and LPRng ``lpr`` (A's LPD
port); the documents arrive byte-identical with user and job name.

What A shows while B prints is what B reports (Update-Job-Status): the LPRng
queue is held stopped (``lpc stop``), so the job waits there and A shows it
processing-stopped with ``printer-stopped``, listed active by ``lpq`` at A;
ippeveprinter runs a command that blocks on a FIFO, so A shows the job
processing with ``job-printing``. Once released, A shows each completed
(Get-Jobs and ``lpq``). A job canceled at A (Cancel-Job) while it waits at
the stopped LPRng queue is removed from LPRng.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import trio

from gateway.ipp.server.auth import set_password
from gateway.ipp.server.tls import self_signed
from gateway.ipp.tags import DelimiterTag
from tests import peers
from tests.gateway_process import GatewayProcess, log_line
from tests.integration.drained import DrainedGateway
from tests.integration.test_backend_ipp import remote_job
from tests.integration.test_infra_proxy import DEADLINE, _toml
from tests.lpd_peers import endpoint, lprng
from tests.peers.eve import Eve, ippeveprinter
from tests.peers.lprng import Lprng
from tests.peers.lprng import lprng as lprng_daemon

#: A state seen at A is read with Get-Jobs; this often while waiting for one.
POLL = 0.1


@dataclass
class Setup:
    a: GatewayProcess
    b: GatewayProcess
    lpd: Lprng
    eve: Eve
    release: Path  # the FIFO ippeveprinter's command waits on
    tmp: Path
    jobs: set[int] = field(default_factory=set)  # A's job ids seen so far

    def ipp_uri(self, queue: str) -> str:
        return f"ipp://127.0.0.1:{self.a.ports['IPP'][0]}/printers/{queue}"


def blocking_printer(tmp: Path) -> tuple[Path, Path]:
    """An ippeveprinter command that prints by waiting for a line on a FIFO."""
    fifo = tmp / "release.fifo"
    os.mkfifo(fifo)
    script = tmp / "print.sh"
    script.write_text(f"#!/bin/sh\nread line < '{fifo}'\nexit 0\n")
    script.chmod(0o755)
    return script, fifo


async def release_one(fifo: Path) -> None:
    """Let the waiting ippeveprinter command finish (opening the FIFO for
    writing waits for it to be reading)."""

    def write() -> None:
        with open(fifo, "w") as fh:
            fh.write("go\n")

    with trio.fail_after(DEADLINE):
        await trio.to_thread.run_sync(write, abandon_on_cancel=True)


def a_config(tmp: Path) -> Path:
    cert, key = self_signed("localhost")
    (tmp / "a.crt").write_bytes(cert)
    (tmp / "a.key").write_bytes(key)
    set_password(tmp / "passwd", "proxy", "fetch-secret")
    (tmp / "proxy-password").write_text("fetch-secret\n")
    path = tmp / "a.toml"
    path.write_text(
        _toml(
            {
                "gateway": {"spool_dir": str(tmp / "spool-a")},
                "lpd": {"listen": ["127.0.0.1:0"]},
                "ipp": {
                    "listen": ["127.0.0.1:0"],
                    "tls_listen": ["127.0.0.1:0"],
                    "certificate": str(tmp / "a.crt"),
                    "private_key": str(tmp / "a.key"),
                    "auth": "jobs",
                    "password_file": str(tmp / "passwd"),
                },
                "infra": {"proxy_users": ["proxy"]},
                "queues": {
                    "office": {"infrastructure": True, "auth": "none"},
                    "photo": {"infrastructure": True, "auth": "none"},
                },
            }
        )
    )
    return path


def b_config(tmp: Path, ipps: int, lpd: Lprng, eve: Eve) -> Path:
    fetch = {
        "fetch_user": "proxy",
        "fetch_password_file": str(tmp / "proxy-password"),
        "fetch_ca_file": str(tmp / "a.crt"),
    }
    path = tmp / "b.toml"
    path.write_text(
        _toml(
            {
                "gateway": {"spool_dir": str(tmp / "spool-b")},
                "lpd": {"listen": ["127.0.0.1:0"]},
                "ipp": {"listen": ["127.0.0.1:0"]},
                "queues": {
                    "office": {
                        "backend": lpd.uri(),
                        "fetch_from": f"ipps://127.0.0.1:{ipps}/printers/office",
                        **fetch,
                    },
                    "photo": {
                        "backend": eve.uri,
                        "fetch_from": f"ipps://127.0.0.1:{ipps}/printers/photo",
                        **fetch,
                    },
                },
            }
        )
    )
    return path


@asynccontextmanager
async def setup(tmp: Path) -> AsyncIterator[Setup]:
    command, fifo = blocking_printer(tmp)
    async with (
        lprng_daemon() as lpd,
        ippeveprinter(tmp / "eve", command=command) as eve,
    ):
        with DrainedGateway(["--config", str(a_config(tmp))]) as a:
            await trio.to_thread.run_sync(a.ready, DEADLINE)
            config = b_config(tmp, a.ports["IPPS"][0], lpd, eve)
            with DrainedGateway(["--config", str(config)]) as b:
                await trio.to_thread.run_sync(b.ready, DEADLINE)
                for queue in ("office", "photo"):
                    await log_line(b, rf"queue {queue}: proxy of ipps://\S+/printers/{queue} ")
                try:
                    yield Setup(a, b, lpd, eve, fifo, tmp)
                except BaseException:
                    b.signal(signal.SIGTERM)
                    print(f"--- B's log ---\n{b.finish()[1]}")
                    a.signal(signal.SIGTERM)
                    print(f"--- A's log ---\n{a.finish()[1]}")
                    raise


async def ipptool(s: Setup, queue: str, test: str, *defines: str) -> str:
    """Run an ipptool test (text) against A's ``queue``; its verbose output."""
    path = s.tmp / f"t{len(list(s.tmp.glob('t*.test')))}.test"
    path.write_text(test)
    args = [str(peers.require("ipptool")), "-tv"]
    for define in defines:
        args += ["-d", define]
    with trio.fail_after(DEADLINE):
        result = await trio.run_process(
            [*args, s.ipp_uri(queue), str(path)],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == 0, text
    return text


async def print_job(
    s: Setup, queue: str, doc: Path, user: str, name: str, fmt: str = "application/octet-stream"
) -> int:
    out = await ipptool(
        s,
        queue,
        "{ OPERATION Print-Job GROUP operation-attributes-tag "
        "ATTR charset attributes-charset utf-8 "
        "ATTR naturalLanguage attributes-natural-language en "
        "ATTR uri printer-uri $uri "
        f'ATTR name requesting-user-name "{user}" ATTR name job-name "{name}" '
        f"ATTR mimeMediaType document-format {fmt} "
        f'FILE "{doc}" STATUS successful-ok }}\n',
    )
    found = re.search(r"job-id \(integer\) = (\d+)", out)
    assert found, out
    s.jobs.add(int(found.group(1)))
    return int(found.group(1))


async def lpr(s: Setup, queue: str, doc: Path, user: str, name: str) -> int:
    """LPRng lpr at A's LPD port; A's job id, from A's log."""
    port = s.a.ports["LPD"][0]
    await lprng("lpr", ["-P", endpoint(port, queue), "-U", user, "-J", name, str(doc)], s.tmp)
    known = "|".join(str(j) for j in s.jobs) or "0"
    line = await log_line(s.a, rf"job (?!(?:{known}) )\d+ fetchable queue={queue} ")
    found = re.search(r"job (\d+) ", line)
    assert found
    s.jobs.add(int(found.group(1)))
    return int(found.group(1))


async def a_job(s: Setup, queue: str, job_id: int) -> tuple[str, list[str]]:
    """Job ``job_id`` at A: (job-state keyword, job-state-reasons), Get-Jobs."""
    out = await ipptool(
        s,
        queue,
        "{ OPERATION Get-Jobs GROUP operation-attributes-tag "
        "ATTR charset attributes-charset utf-8 "
        "ATTR naturalLanguage attributes-natural-language en "
        "ATTR uri printer-uri $uri ATTR keyword which-jobs all "
        "ATTR keyword requested-attributes job-id,job-state,job-state-reasons "
        "STATUS successful-ok }\n",
    )
    for block in out.split("job-id (integer) = ")[1:]:
        number = int(block.split()[0])
        if number == job_id:
            state = re.search(r"job-state \(enum\) = ([a-z-]+)", block)
            reasons = re.search(r"job-state-reasons \([^)]*\) = (\S+)", block)
            assert state and reasons, block
            return state.group(1), reasons.group(1).split(",")
    raise AssertionError(f"job {job_id} not in A's Get-Jobs:\n{out}")


async def a_state(
    s: Setup, queue: str, job_id: int, wanted: Callable[[str, list[str]], bool]
) -> tuple[str, list[str]]:
    """Wait (within the deadline) until A's Get-Jobs shows job ``job_id`` as wanted."""
    with trio.fail_after(DEADLINE):
        while True:
            state, reasons = await a_job(s, queue, job_id)
            if wanted(state, reasons):
                return state, reasons
            await trio.sleep(POLL)  # bounded poll of a remote state, not synchronisation


async def a_lpq(s: Setup, queue: str) -> str:
    port = s.a.ports["LPD"][0]
    return (await lprng("lpq", ["-P", endpoint(port, queue)], s.tmp)).stdout.decode()


def payload(tag: str) -> bytes:
    """A document of ~150 kB; binary, but text for ippeveprinter (which refuses
    application/octet-stream it cannot type)."""
    if tag.endswith("-eve"):
        return "".join(f"{tag} line {i:05d}\n" for i in range(7000)).encode()
    return f"{tag}\n".encode() + bytes((i * 31 + len(tag)) % 256 for i in range(150_000))


async def print_text(s: Setup, queue: str, doc: Path, user: str, name: str) -> int:
    return await print_job(s, queue, doc, user, name, "text/plain")


async def test_ipptool_and_lpr_at_a_print_behind_b_on_lprng_and_ippeveprinter(
    tmp_path: Path,
) -> None:
    with trio.fail_after(4 * DEADLINE):
        async with setup(tmp_path) as s:
            await s.lpd.lpc("stop")  # jobs wait at LPRng: A shows them stopped there
            docs = {tag: tmp_path / f"{tag}.bin" for tag in ("ipp-lpd", "lpr-lpd", "ipp-eve")}
            docs["lpr-eve"] = tmp_path / "lpr-eve.bin"
            for tag, path in docs.items():
                path.write_bytes(payload(tag))

            # --- to LPRng: ipptool and lpr at A ---
            office = [
                await print_job(s, "office", docs["ipp-lpd"], "alice", "Budget via IPP"),
                await lpr(s, "office", docs["lpr-lpd"], "bob", "Budget via LPR"),
            ]
            for job_id in office:
                await log_line(s.a, rf"job {job_id} acknowledged queue=office ")
                await log_line(s.a, rf"job {job_id} processing-stopped queue=office ")
                state, reasons = await a_job(s, "office", job_id)
                assert (state, "printer-stopped" in reasons) == ("processing-stopped", True)
            listing = await a_lpq(s, "office")
            assert "alice" in listing and "bob" in listing, listing
            assert "done" not in listing, listing
            held = s.lpd.hold_files()
            assert sorted((h["P"], h["J"]) for h in held) == [
                ("alice", "Budget via IPP"),
                ("bob", "Budget via LPR"),
            ], held
            await s.lpd.lpc("start")
            for job_id in office:
                await log_line(s.a, rf"job {job_id} completed queue=office ")
                assert await a_job(s, "office", job_id) == (
                    "completed",
                    ["job-completed-successfully"],
                )
            listing = await a_lpq(s, "office")
            stored = sorted(p.read_bytes() for p in s.lpd.spool().glob("df*"))

            # --- to ippeveprinter: ipptool and lpr at A, one at a time ---
            photo = []
            for tag, user, name, submit in (
                ("ipp-eve", "carol", "Photo via IPP", print_text),
                ("lpr-eve", "dave", "Photo via LPR", lpr),
            ):
                job_id = await submit(s, "photo", docs[tag], user, name)
                photo.append(job_id)
                await log_line(s.a, rf"job {job_id} acknowledged queue=photo ")
                # Printing at ippeveprinter (its command waits): processing at A.
                await a_state(s, "photo", job_id, lambda st, rs: "job-printing" in rs)
                assert (await a_job(s, "photo", job_id))[0] == "processing"
                await release_one(s.release)
                await log_line(s.a, rf"job {job_id} completed queue=photo ")
            photo_listing = await a_lpq(s, "photo")
            kept = s.eve.files()
            remote = {}
            for path in kept:
                number = int(path.name.split("-", 1)[0])
                attrs = (await remote_job(s.eve.uri, number)).group(DelimiterTag.JOB_ATTRIBUTES)
                assert attrs is not None
                remote[number] = (
                    attrs.value("job-originating-user-name"),
                    attrs.value("job-name"),
                    path.read_bytes(),
                )

    assert stored == sorted([payload("ipp-lpd"), payload("lpr-lpd")])
    for text in (listing, photo_listing):
        assert "done" in text, text
    assert "alice" in listing and "bob" in listing, listing
    assert "carol" in photo_listing and "dave" in photo_listing, photo_listing
    assert sorted(remote.values()) == [
        ("carol", "Photo via IPP", payload("ipp-eve")),
        ("dave", "Photo via LPR", payload("lpr-eve")),
    ]


async def test_a_job_canceled_at_a_is_removed_from_lprng(tmp_path: Path) -> None:
    with trio.fail_after(3 * DEADLINE):
        async with setup(tmp_path) as s:
            await s.lpd.lpc("stop")
            doc = tmp_path / "cancel.bin"
            doc.write_bytes(payload("cancel-me"))
            job_id = await print_job(s, "office", doc, "erin", "Cancel me")
            await log_line(s.a, rf"job {job_id} processing-stopped queue=office ")
            assert [h["J"] for h in s.lpd.hold_files()] == ["Cancel me"]
            await ipptool(
                s,
                "office",
                "{ OPERATION Cancel-Job GROUP operation-attributes-tag "
                "ATTR charset attributes-charset utf-8 "
                "ATTR naturalLanguage attributes-natural-language en "
                "ATTR uri printer-uri $uri ATTR integer job-id $job "
                'ATTR name requesting-user-name "erin" STATUS successful-ok }\n',
                f"job={job_id}",
            )
            line = await log_line(
                s.b, rf"job \d+ canceled: queue=office canceled at \S+ job {job_id}$"
            )
            local = re.search(r"job (\d+) ", line)
            assert local
            await log_line(s.b, rf"job {local.group(1)}: remove LPD job \d+ at ")
            lpq = await s.lpd.client("lpq", "-P", f"lp@127.0.0.1%{s.lpd.port}")
            held = s.lpd.hold_files()
            state, _ = await a_job(s, "office", job_id)
    assert state == "canceled"
    assert held == []
    assert "erin" not in lpq and "Cancel" not in lpq, lpq
