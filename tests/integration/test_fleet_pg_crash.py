"""The fleet harness of issue 15: three gateways on one PostgreSQL store, 8 LPD and
IPP clients spread over them, 500 jobs on three queues, one gateway SIGKILLed five
times at random moments and started again.

Checked afterwards:
- every job a client saw acknowledged reached the file backend (a shared output
  folder, one per queue) exactly once: one job id per client token, its bytes intact;
- each queue's jobs went to the backend in the order they were accepted (job id
  order): the queue's forwarding, followed through the lease epochs of the
  gateways that held it, first sends each job after every smaller id.

CRASH_JOBS / CRASH_KILLS change the size.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from tests import fleet
from tests.gateway_process import GatewayProcess
from tests.gateway_process import drain_log as drain

JOBS = int(os.environ.get("CRASH_JOBS", "500"))
KILLS = int(os.environ.get("CRASH_KILLS", "5"))
CLIENTS = 8
GATEWAYS = 3
QUEUES = ("q1", "q2", "q3")
HOLDS = re.compile(r"fleet: (\S+) holds queue (\S+) \(lease epoch (\d+)\)")
FORWARDING = re.compile(r"job (\d+) forwarding queue=(\S+) ")


@dataclass
class Fleet:
    configs: list[Path]
    gateways: list[GatewayProcess | None]
    runs: list[GatewayProcess] = field(default_factory=list)  # every process, for the logs
    changed: trio.Event = field(default_factory=trio.Event)

    def live(self, preferred: int) -> GatewayProcess | None:
        for step in range(GATEWAYS):
            gw = self.gateways[(preferred + step) % GATEWAYS]
            if gw is not None:
                return gw
        return None


def payload(token: str) -> bytes:
    rnd = random.Random(int(hashlib.sha256(token.encode()).hexdigest()[:8], 16))
    return f"{token}\n".encode() + rnd.randbytes(rnd.choice([200, 3000, 40_000]))


async def start(fl: Fleet, index: int, nursery: trio.Nursery) -> None:
    gw = await fleet.start(fl.configs[index])
    fl.gateways[index] = gw
    fl.runs.append(gw)
    nursery.start_soon(drain, gw)
    fl.changed.set()
    fl.changed = trio.Event()


async def client(
    index: int,
    count: int,
    fl: Fleet,
    sent: dict[str, bytes],
    acked: dict[str, str],
    retried: set[str],
) -> None:
    queue = QUEUES[index % len(QUEUES)]
    lpd = index % 2 == 0
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(count):
            token = f"c{index}-j{n}"
            data = sent[token] = payload(token)
            while True:
                gw = fl.live(index % GATEWAYS)
                changed = fl.changed
                ok = False
                if gw is not None:
                    try:
                        with trio.fail_after(20):
                            if lpd:
                                ok = await fleet.lpd_print(gw.ports["LPD"][0], token, data, queue)
                            else:
                                status = await fleet.ipp_print(
                                    http, gw.ports["IPP"][0], token, data, queue
                                )
                                ok = status < 0x100
                    except (
                        OSError,
                        trio.BrokenResourceError,
                        trio.TooSlowError,
                        httpx.HTTPError,
                        AssertionError,
                        ValueError,
                    ):
                        ok = False
                if ok:
                    acked[token] = queue
                    break
                retried.add(token)  # a second submission: two jobs if the first was committed
                if gw is None or gw.proc.poll() is not None:
                    await changed.wait()  # wait for a restart


async def killer(fl: Fleet, nursery: trio.Nursery, done: trio.Event) -> None:
    rnd = random.Random(15)
    for _ in range(KILLS):
        await trio.sleep(rnd.uniform(0.3, 1.5))  # a random moment, not a synchronisation
        victim = rnd.randrange(GATEWAYS)
        gw = fl.gateways[victim]
        assert gw is not None
        fl.gateways[victim] = None
        gw.kill()
        await start(fl, victim, nursery)
    done.set()


def forwarding_order(runs: list[GatewayProcess]) -> dict[str, list[int]]:
    """Per queue, the job ids in the order their forwarding started, following the
    lease epochs (one holder at a time)."""
    by_epoch: dict[tuple[str, int], list[int]] = {}
    for gw in runs:
        epoch_of: dict[str, int] = {}
        for line in list(gw.lines):
            holds = HOLDS.search(line)
            if holds:
                epoch_of[holds.group(2)] = int(holds.group(3))
                continue
            fwd = FORWARDING.search(line)
            if fwd and fwd.group(2) in epoch_of:
                queue = fwd.group(2)
                by_epoch.setdefault((queue, epoch_of[queue]), []).append(int(fwd.group(1)))
    order: dict[str, list[int]] = {q: [] for q in QUEUES}
    for queue, _epoch in sorted(by_epoch):
        order[queue].extend(by_epoch[(queue, _epoch)])
    return order


async def test_three_gateways_sigkilled_lose_nothing_and_keep_order(
    tmp_path: Path, pg_dsn: str
) -> None:
    configs = []
    for i in range(GATEWAYS):
        configs.append(fleet.write_config(tmp_path, f"gw-{i}", pg_dsn, queues=QUEUES))
    lines = configs[0].read_text()
    for config in configs:  # one output folder per queue
        text = config.read_text()
        for queue in QUEUES:
            text = text.replace(
                f'[queues.{queue}]\nbackend = "file://{tmp_path / "out"}"',
                f'[queues.{queue}]\nbackend = "file://{tmp_path / "out" / queue}"',
            )
        config.write_text(text)
    assert lines != configs[0].read_text()
    for queue in QUEUES:
        (tmp_path / "out" / queue).mkdir(parents=True)
    fl = Fleet(configs, [None] * GATEWAYS)
    sent: dict[str, bytes] = {}
    acked: dict[str, str] = {}
    retried: set[str] = set()
    with trio.fail_after(170):
        async with trio.open_nursery() as nursery:
            for i in range(GATEWAYS):
                await start(fl, i, nursery)
            done = trio.Event()
            nursery.start_soon(killer, fl, nursery, done)
            async with trio.open_nursery() as clients:
                for i in range(CLIENTS):
                    count = JOBS // CLIENTS + (1 if i < JOBS % CLIENTS else 0)
                    clients.start_soon(client, i, count, fl, sent, acked, retried)
            await done.wait()  # all the kills happened while clients printed
            # Every acknowledged job reaches its queue's folder (asked until it has).
            while True:
                found = {q: fleet.delivered(tmp_path / "out" / q) for q in QUEUES}  # id -> sidecar
                names = {str(j["job-name"]) for out in found.values() for j in out.values()}
                if set(acked) <= names:
                    break
                await trio.sleep(0.2)  # asking again for a state, within the deadline
            order = forwarding_order(fl.runs)
            for gw in fl.gateways:
                if gw is not None:
                    gw.kill()
            nursery.cancel_scope.cancel()

    assert len(acked) == JOBS
    kills = sum(1 for gw in fl.runs if gw.proc.returncode == -9) - GATEWAYS
    assert kills == KILLS, kills
    tokens_to_ids: dict[str, set[int]] = {}
    for queue, out in found.items():
        for job_id, sidecar in out.items():
            token = str(sidecar["job-name"])
            tokens_to_ids.setdefault(token, set()).add(job_id)
            assert token in sent, token  # nothing half-received or invented
            docs = sidecar["documents"]
            assert isinstance(docs, list) and len(docs) == 1
            data = (tmp_path / "out" / queue / str(docs[0]["file"])).read_bytes()
            assert data == sent[token], token
            if token in acked:
                assert acked[token] == queue
    # One job per submission: a token has two jobs only when its client sent it again
    # because a kill cut the first attempt off before the ack (that job was committed).
    duplicates = {t for t, ids in tokens_to_ids.items() if len(ids) > 1}
    assert duplicates <= retried, duplicates - retried
    # Each job reached the backend once per gateway run: sent again only by the
    # next holder when a kill came between the delivery and its record.
    for gw in fl.runs:
        completed = [int(m.group(1)) for x in gw.lines if (m := fleet.COMPLETED.search(x))]
        assert len(completed) == len(set(completed))
    lines = [x for gw in fl.runs for x in gw.lines if fleet.COMPLETED.search(x)]
    resent = len(lines) - len(fleet.completed_ids(fl.runs))
    print(f"fleet crash: {len(acked)} acknowledged, {len(retried)} retried, {resent} re-sent")
    assert set(acked) <= set(tokens_to_ids)
    # Order: a client's next job is submitted after the last one was accepted, so
    # each client's jobs must reach the backend in that order (jobs of different
    # clients accepted at the same moment on different gateways have no order).
    for queue, ids in order.items():
        first_seen = list(dict.fromkeys(ids))
        assert set(found[queue]) <= set(first_seen)  # every delivery was seen in the order
        by_client: dict[str, list[tuple[int, int]]] = {}
        for job_id in first_seen:
            if job_id not in found[queue]:
                continue
            c, n = str(found[queue][job_id]["job-name"]).split("-j")
            by_client.setdefault(c, []).append((int(n), job_id))
        for c, seq in by_client.items():
            assert seq == sorted(seq), (queue, c, seq)
        assert len(by_client) >= 2
