"""Accounting in the real gateway process: one record per ended job after 500 jobs
over LPD and IPP and a SIGKILL while they flow; the fields of an LPD and an IPP
job; SIGUSR1 rotation (and after an external logrotate); the counters in /metrics.

The first test is the issue's acceptance harness: 8 clients (4 LPD, 4 IPP) send
500 jobs, the gateway is killed with SIGKILL once a random number of them has
been acknowledged (jobs are in every stage then: arriving, spooled, forwarded,
ended, being accounted) and restarted; the clients send again what was not
acknowledged. When every job has ended, the accounting file (and page_log) must
hold exactly one record of each ended job id of the spool: none missing, none
twice. Set ACCOUNTING_JOBS / ACCOUNTING_KILLS to change the size of the run.

The second test drives the gateway with real clients (LPRng's lpr and CUPS's
ipptool) for the field checks, SIGUSR1 and /metrics.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from gateway.ipp import Message, Operation, ValueTag, decode, encode
from tests import peers, pgcluster
from tests.gateway_process import GatewayProcess
from tests.lpd_peers import endpoint, lprng

JOBS = int(os.environ.get("ACCOUNTING_JOBS", "500"))
KILLS = int(os.environ.get("ACCOUNTING_KILLS", "1"))
CLIENTS = 8
POLL = 0.05  # seconds between looks at the spool database (every wait has a deadline)


def write_config(tmp_path: Path, **accounting: Any) -> Path:
    """A TOML config: LPD and IPP on loopback port 0, one file queue ``lp``."""
    out = tmp_path / "out"
    acct = "".join(f"{k} = {json.dumps(v)}\n" for k, v in accounting.items())
    text = f"""
[gateway]
spool_dir = {json.dumps(str(tmp_path / "spool"))}
[lpd]
listen = ["127.0.0.1:0"]
[ipp]
listen = ["127.0.0.1:0"]
[dnssd]
enabled = false
[accounting]
{acct}
[queues.lp]
backend = {json.dumps(out.as_uri())}
"""
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


async def start(conf: Path) -> GatewayProcess:
    args = ["--config", str(conf), "--log-level", "info"]
    return await trio.to_thread.run_sync(lambda: GatewayProcess(args).ready(timeout=60))


class Drain:
    """Reads a gateway's log in a thread while it runs, so that a busy gateway never
    blocks on a full stderr pipe; `ended` is set once the process has exited."""

    NEVER = r"(?!)"

    def __init__(self, gw: GatewayProcess) -> None:
        self.gw = gw
        self.ended = trio.Event()

    async def run(self) -> None:
        try:
            await trio.to_thread.run_sync(
                self.gw.wait_for, self.NEVER, 3600.0, abandon_on_cancel=True
            )
        except AssertionError:  # the process exited: the log is complete
            pass
        finally:
            self.ended.set()

    async def stop(self, signum: int) -> tuple[int, str]:
        """Send ``signum`` (SIGKILL: kill), wait for the exit; the code and the log."""
        self.gw.signal(signum)
        await self.ended.wait()
        code = await trio.to_thread.run_sync(self.gw.proc.wait)
        self.gw.__exit__(None, None, None)  # closes its pipes
        return code, self.gw.log


def jobs_in(spool: Path) -> list[tuple[int, int, bool]]:
    """(id, state, accounted) of every job, read from the running gateway's database."""
    if pgcluster.selected_store() == "postgresql":
        found = [(i, json.loads(data)) for i, data in pgcluster.rows(pgcluster.database_for(spool))]
        return [(i, int(d["state"]), bool(d.get("accounted"))) for i, d in found]
    db = sqlite3.connect(f"file:{spool / 'spool.db'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT id, state, json_extract(data, '$.accounted') FROM jobs ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    return [(int(i), int(s), bool(a)) for i, s, a in rows]


def spool_id(spool: Path) -> str:
    if pgcluster.selected_store() == "postgresql":
        return str(pgcluster.meta(pgcluster.database_for(spool), "spool-id"))
    db = sqlite3.connect(f"file:{spool / 'spool.db'}?mode=ro", uri=True)
    try:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'spool-id'").fetchone()
    finally:
        db.close()
    return str(value)


async def all_accounted(spool: Path, count: int | None = None) -> list[tuple[int, int, bool]]:
    """Poll the database until every job has ended and is accounted (and, with
    ``count``, there are that many); the caller's deadline bounds the wait."""
    while True:
        rows = await trio.to_thread.run_sync(jobs_in, spool)
        if (count is None or len(rows) >= count) and all(s >= 7 and a for _, s, a in rows):
            return rows
        await trio.sleep(POLL)


def records(*files: Path) -> list[dict[str, Any]]:
    out = []
    for path in files:
        if path.exists():
            out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


# ----------------------------------------------------------------------
# Clients


def payload(token: str) -> bytes:
    rnd = random.Random(int(hashlib.sha256(token.encode()).hexdigest()[:8], 16))
    return f"{token}\n".encode() + rnd.randbytes(rnd.choice([300, 4000, 30_000]))


async def lpd_print(port: int, token: str, user: str, data: bytes) -> bool:
    """One job by RFC 1179; True once the last ack came."""
    number = int(hashlib.sha256(token.encode()).hexdigest()[:6], 16) % 1000
    cf = f"Hws-lpd\nP{user}\nJ{token}\nldfA{number:03d}ws-lpd\nNdata.bin\n".encode()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        steps = [
            b"\x02lp\n",
            f"\x02{len(cf)} cfA{number:03d}ws-lpd\n".encode(),
            cf + b"\0",
            f"\x03{len(data)} dfA{number:03d}ws-lpd\n".encode(),
            data + b"\0",
        ]
        for step in steps:
            await stream.send_all(step)
            if await stream.receive_some(1) != b"\0":
                return False
    return True


async def ipp_print(
    client: httpx.AsyncClient, port: int, token: str, user: str, data: bytes
) -> bool:
    uri = f"ipp://127.0.0.1:{port}/printers/lp"
    request = Message.request(Operation.PRINT_JOB, 1, printer_uri=uri, requesting_user_name=user)
    request.operation.add("job-name", ValueTag.NAME, token)
    request.operation.add("document-format", ValueTag.MIME_MEDIA_TYPE, "application/octet-stream")
    response = await client.post(
        f"http://127.0.0.1:{port}/printers/lp",
        content=encode(request) + data,
        headers={"Content-Type": "application/ipp"},
    )
    if response.status_code != 200:
        return False
    message, _ = decode(response.content)
    return message.operation_id_or_status < 0x100


@dataclass
class Flow:
    """What the clients know, and where the gateway is now."""

    sent: dict[str, bytes] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    lpd: int = 0
    ipp: int = 0
    generation: int = 0
    restarted: trio.Event = field(default_factory=trio.Event)
    progress: trio.Event = field(default_factory=trio.Event)

    def moved(self, gw: GatewayProcess) -> None:
        self.lpd, self.ipp = gw.ports["LPD"][-1], gw.ports["IPP"][-1]
        self.generation += 1
        self.restarted.set()
        self.restarted = trio.Event()


async def client_loop(index: int, count: int, flow: Flow) -> None:
    kind = "lpd" if index % 2 == 0 else "ipp"
    user = f"{kind}user{index}"
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(count):
            token = f"c{index}-j{n}"
            data = flow.sent[token] = payload(token)
            while True:
                generation = flow.generation
                ok = False
                try:
                    with trio.fail_after(15):
                        if kind == "lpd":
                            ok = await lpd_print(flow.lpd, token, user, data)
                        else:
                            ok = await ipp_print(http, flow.ipp, token, user, data)
                except (OSError, trio.BrokenResourceError, trio.TooSlowError, httpx.HTTPError):
                    ok = False
                if ok:
                    flow.acknowledged.add(token)
                    flow.progress.set()
                    flow.progress = trio.Event()
                    break
                if generation == flow.generation:  # the gateway is down: wait for it
                    await flow.restarted.wait()


# ----------------------------------------------------------------------
# The acceptance harness


async def test_one_record_per_ended_job_across_a_sigkill(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    page_log = tmp_path / "page_log"
    conf = write_config(tmp_path, page_log=str(page_log))
    rnd = random.Random(int(os.environ.get("ACCOUNTING_SEED", "2569")))
    kill_at = sorted(rnd.sample(range(JOBS // 5, JOBS * 4 // 5), KILLS))
    flow = Flow()
    logs: list[str] = []
    gw: GatewayProcess | None = None
    try:
        with trio.fail_after(900):
            async with trio.open_nursery() as nursery:
                gw = await start(conf)
                drain = Drain(gw)
                nursery.start_soon(drain.run)
                flow.moved(gw)
                async with trio.open_nursery() as clients:
                    for i in range(CLIENTS):
                        count = JOBS // CLIENTS + (1 if i < JOBS % CLIENTS else 0)
                        clients.start_soon(client_loop, i, count, flow)
                    for threshold in kill_at:
                        while len(flow.acknowledged) < threshold:  # a random moment while jobs flow
                            await flow.progress.wait()
                        logs.append((await drain.stop(signal.SIGKILL))[1])
                        gw = await start(conf)
                        drain = Drain(gw)
                        nursery.start_soon(drain.run)
                        flow.moved(gw)
                assert len(flow.acknowledged) == JOBS
                with trio.fail_after(300):
                    rows = await all_accounted(spool)
                code, last = await drain.stop(signal.SIGTERM)
    finally:
        if gw is not None:
            gw.kill()  # a failed run leaves no gateway behind
    logs.append(last)
    assert code == 0, last

    ended = [job_id for job_id, state, _ in rows if state >= 7]
    assert len(ended) == len(rows) >= JOBS
    mine = spool_id(spool)
    written = [r for r in records(spool / "accounting.jsonl") if r["spool"] == mine]
    counts = collections.Counter(r["job_id"] for r in written)
    doubled = sorted(i for i, n in counts.items() if n > 1)
    missing = sorted(set(ended) - set(counts))
    assert not doubled, f"records written twice: {doubled[:10]}"
    assert not missing, f"ended jobs without a record: {missing[:10]}"
    assert set(counts) == set(ended)
    page_lines = page_log.read_text().splitlines()
    page_counts = collections.Counter(int(line.split(" ")[2]) for line in page_lines)
    assert page_counts == collections.Counter(ended), "page_log: not one line per ended job"
    names = {r["job_name"] for r in written}
    assert flow.acknowledged <= names, "an acknowledged job has no record"

    lpd = next(r for r in written if r["job_name"] == "c0-j3")
    assert lpd["frontend"] == "lpd"
    assert lpd["user"] == "lpduser0"
    assert lpd["host"] == "ws-lpd"
    assert lpd["peer"] == "127.0.0.1"
    assert lpd["queue"] == "lp"
    assert lpd["bytes"] == len(flow.sent["c0-j3"])
    assert lpd["document_count"] == 1
    assert lpd["documents"][0]["name"] == "data.bin"
    assert lpd["documents"][0]["size"] == len(flow.sent["c0-j3"])
    assert lpd["result"] == "completed"
    assert lpd["reasons"] == ["job-completed-successfully"]
    assert lpd["backend"] == (tmp_path / "out").as_uri()
    ipp = next(r for r in written if r["job_name"] == "c1-j3")
    assert ipp["frontend"] == "ipp"
    assert ipp["user"] == "ippuser1"
    assert ipp["host"] == "127.0.0.1"
    assert ipp["bytes"] == len(flow.sent["c1-j3"])
    assert ipp["documents"][0]["format"] == "application/octet-stream"
    assert ipp["result"] == "completed"
    assert ipp["created"] <= ipp["processing"] <= ipp["completed"] == ipp["time"]

    checks = re.findall(
        r"accounting: (\d+) ended job\(s\) to account, (\d+) already written", "\n".join(logs)
    )
    print(
        f"\naccounting harness: {JOBS} jobs, {KILLS} kill(s) after {kill_at} acknowledgements, "
        f"{len(ended)} gateway jobs ended, {len(written)} records; start-up checks "
        f"(to account, already written): {checks}"
    )


# ----------------------------------------------------------------------
# Real clients, SIGUSR1, /metrics


PRINT_JOB_TEST = """{
    NAME "Print-Job with accounting fields"
    OPERATION Print-Job
    GROUP operation-attributes-tag
    ATTR charset attributes-charset utf-8
    ATTR language attributes-natural-language en
    ATTR uri printer-uri $uri
    ATTR name requesting-user-name carol
    ATTR name job-name "Budget 2027"
    ATTR mimeMediaType document-format application/postscript
    GROUP job-attributes-tag
    ATTR integer copies 2
    ATTR keyword media na_letter_8.5x11in
    ATTR keyword sides two-sided-long-edge
    FILE $filename
    STATUS successful-ok
    EXPECT job-id
}
"""

POSTSCRIPT = b"%!PS-Adobe-3.0\n/Helvetica findfont 12 scalefont setfont\nshowpage\n"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.peer
async def test_real_clients_sigusr1_rotation_and_metrics(tmp_path: Path) -> None:
    ipptool = peers.require("ipptool")
    spool = tmp_path / "spool"
    file = tmp_path / "acct" / "jobs.jsonl"
    conf = write_config(tmp_path, file=str(file), page_log=str(tmp_path / "page_log"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "report.txt").write_bytes(b"The quick brown fox jumps over the lazy dog.\n" * 40)
    (docs / "budget.ps").write_bytes(POSTSCRIPT)
    (tmp_path / "print-job.test").write_text(PRINT_JOB_TEST)
    gw = await start(conf)
    try:
        lpd_port, ipp_port = gw.ports["LPD"][-1], gw.ports["IPP"][-1]
        with trio.fail_after(120):
            for user in ("alice", "alice", "bob"):
                await lprng(
                    "lpr",
                    ["-P", endpoint(lpd_port), "-U", user, "-J", "Quarterly report", "report.txt"],
                    tmp_path,
                    cwd=docs,
                )
            result = await trio.run_process(
                [
                    str(ipptool),
                    "-tq",
                    "-f",
                    str(docs / "budget.ps"),
                    f"ipp://127.0.0.1:{ipp_port}/printers/lp",
                    str(tmp_path / "print-job.test"),
                ],
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
            await all_accounted(spool, 4)

            first = records(file)
            assert len(first) == 4
            lpd, ipp = first[0], first[3]
            assert (lpd["frontend"], lpd["user"], lpd["job_name"]) == (
                "lpd",
                "alice",
                "Quarterly report",
            )
            assert lpd["host"]  # LPRng's H line: this machine's name
            assert lpd["documents"][0]["name"] == "report.txt"
            assert lpd["documents"][0]["format"] == "text/plain"
            assert lpd["bytes"] == (docs / "report.txt").stat().st_size
            assert (ipp["frontend"], ipp["user"], ipp["job_name"]) == (
                "ipp",
                "carol",
                "Budget 2027",
            )
            assert (ipp["copies"], ipp["media"], ipp["sides"]) == (
                2,
                "na_letter_8.5x11in",
                "two-sided-long-edge",
            )
            assert ipp["documents"][0]["format"] == "application/postscript"
            page = (tmp_path / "page_log").read_text().splitlines()
            assert page[3].split(" ")[:3] == ["lp", "carol", str(ipp["job_id"])]
            # total, impressions (not counted here), billing, host, name, media, sides
            assert page[3].split(" ")[5:] == [
                "total",
                "0",
                "-",
                "127.0.0.1",
                "Budget_2027",
                "na_letter_8.5x11in",
                "two-sided-long-edge",
            ]

            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{ipp_port}/metrics")).text
            s = samples(text)
            completed = (("queue", "lp"), ("result", "completed"))
            assert s[("gateway_accounting_jobs_total", completed)] == 4
            assert s[("gateway_accounting_user_jobs_total", (("user", "alice"),))] == 2
            assert s[("gateway_accounting_user_jobs_total", (("user", "bob"),))] == 1
            assert s[("gateway_accounting_user_jobs_total", (("user", "carol"),))] == 1
            assert s[("gateway_accounting_bytes_total", (("queue", "lp"),))] == sum(
                r["bytes"] for r in first
            )

            # SIGUSR1 (logrotate's postrotate): rotated at once, the gateway goes on.
            gw.signal(signal.SIGUSR1)
            await trio.to_thread.run_sync(
                gw.wait_for, r"accounting: rotated .*jobs\.jsonl to jobs\.jsonl\.1", 20
            )
            await lprng(
                "lpr", ["-P", endpoint(lpd_port), "-U", "dave", "report.txt"], tmp_path, cwd=docs
            )
            await all_accounted(spool, 5)
            assert [r["job_id"] for r in records(file.with_name("jobs.jsonl.1"))] == [
                r["job_id"] for r in first
            ]
            [fifth] = records(file)
            assert fifth["user"] == "dave"

            # An external logrotate renamed the file, then SIGUSR1: only started afresh.
            file.rename(file.with_name("jobs.jsonl.1"))
            gw.signal(signal.SIGUSR1)
            await trio.to_thread.run_sync(
                gw.wait_for, r"accounting: .*jobs\.jsonl starts afresh", 20
            )
            await lprng(
                "lpr", ["-P", endpoint(lpd_port), "-U", "erin", "report.txt"], tmp_path, cwd=docs
            )
            await all_accounted(spool, 6)
            assert [r["user"] for r in records(file)] == ["erin"]
            assert [r["user"] for r in records(file.with_name("jobs.jsonl.1"))] == ["dave"]
            assert not file.with_name("jobs.jsonl.2").exists()
        gw.signal(signal.SIGTERM)
        code, log = await trio.to_thread.run_sync(gw.finish)
        assert code == 0, log
    finally:
        gw.kill()
