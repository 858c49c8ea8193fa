"""Scenario 10 (issue 15): several gateways on one PostgreSQL store.

In the same run, with the same load generator (8 clients, closed loop, 1 KiB jobs):

- LPD ingest and IPP Print-Job ingest against one gateway on SQLite (the
  reference), one gateway on PostgreSQL, and two gateways on PostgreSQL with the
  clients spread over both (client i talks to gateway i % 2);
- the takeover time: two gateways on PostgreSQL, the holder of queue ``lp``'s
  lease SIGKILLed, a job submitted at the other; seconds from the kill until the
  other logs the job completed (``[fleet] lease_time`` 10 s, the default).

The PostgreSQL server is private (tests/pgcluster.py), on this machine, with
``fsync`` and ``synchronous_commit`` on. Target: two instances ingest at least
1.6x one SQLite instance. Every gateway, the server and the clients share the 2 cores.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path

import trio

from tests import fleet as fleet_gateways
from tests import pgcluster
from tests.bench import loadgen
from tests.bench.common import Figure, KiB
from tests.bench.scenarios import Settings, at_least, say
from tests.gateway_process import GatewayProcess
from tests.gateway_process import drain_log as _drain

JOB_SIZE = KiB
CLIENTS = 8
TAKEOVER_LEASE = 10.0
#: Accounting off in every configuration of this scenario: every instance of a fleet
#: now marks every ended job accounted (gateway/core/accounting.py), so two instances
#: update the same rows and PostgreSQL reports deadlocks (see the README's figures).
NO_ACCOUNTING = ("[history]", "max_jobs = 20000", "[accounting]", "enabled = false")


def _sqlite_config(root: Path) -> Path:
    (root / "out").mkdir(parents=True, exist_ok=True)
    path = root / "sqlite.toml"
    path.write_text(
        "\n".join(
            [
                "[gateway]",
                f'spool_dir = "{root / "sqlite"}"',
                "[lpd]",
                'listen = ["127.0.0.1:0"]',
                "[ipp]",
                'listen = ["127.0.0.1:0"]',
                "[history]",
                "max_jobs = 20000",
                *NO_ACCOUNTING[2:],
                "[dnssd]",
                "enabled = false",
                "[queues.lp]",
                f'backend = "file://{root / "out"}"',
            ]
        )
        + "\n"
    )
    return path


async def _start(stack: ExitStack, config: Path) -> GatewayProcess:
    gw = await fleet_gateways.start(config)
    stack.callback(gw.kill)
    return gw


async def _lpd_rate(ports: list[int], jobs: int) -> float:
    data = loadgen.document(JOB_SIZE)

    async def one(index: int) -> float:
        return await loadgen.lpd_job(ports[index % len(ports)], data)

    return (await loadgen.closed_loop(CLIENTS, jobs, one)).rate


async def _ipp_rate(ports: list[int], jobs: int) -> float:
    doc = loadgen.document(JOB_SIZE)
    conns = [loadgen.HttpConnection(ports[i % len(ports)], "/ipp/print") for i in range(CLIENTS)]
    uris = [f"ipp://127.0.0.1:{c.port}/ipp/print" for c in conns]
    try:

        async def one(index: int) -> float:
            start = time.perf_counter()
            with trio.fail_after(60):
                body = await conns[index].post(loadgen.print_job_head(uris[index]) + doc)
                loadgen.check_ipp(body, "Print-Job")
            return time.perf_counter() - start

        return (await loadgen.closed_loop(CLIENTS, jobs, one)).rate
    finally:
        for conn in conns:
            await conn.aclose()


async def _setup(
    kind: str, root: Path, cluster: pgcluster.PgCluster, stack: ExitStack, nursery: trio.Nursery
) -> list[GatewayProcess]:
    root.mkdir(parents=True)
    if kind == "sqlite":
        configs = [_sqlite_config(root)]
    else:
        dsn = await trio.to_thread.run_sync(cluster.create_database)
        count = 1 if kind == "pg-1" else 2
        configs = [
            fleet_gateways.write_config(
                root,
                f"gw-{i}",
                dsn,
                lease_time=TAKEOVER_LEASE,
                extra=NO_ACCOUNTING,
            )
            for i in range(count)
        ]
    gateways = [await _start(stack, c) for c in configs]
    for gw in gateways:
        nursery.start_soon(_drain, gw)
    return gateways


async def _takeover(root: Path, cluster: pgcluster.PgCluster, nursery: trio.Nursery) -> float:
    dsn = await trio.to_thread.run_sync(cluster.create_database)
    root.mkdir(parents=True)
    with ExitStack() as stack:
        a_conf = fleet_gateways.write_config(root, "gw-a", dsn, lease_time=TAKEOVER_LEASE)
        b_conf = fleet_gateways.write_config(root, "gw-b", dsn, lease_time=TAKEOVER_LEASE)
        a = await _start(stack, a_conf)
        await fleet_gateways.wait_log(a, r"fleet: gw-a holds queue lp")
        b = await _start(stack, b_conf)
        a.kill()
        killed = time.perf_counter()
        if not await fleet_gateways.lpd_print(b.ports["LPD"][0], "after-kill", b"x\n"):
            raise RuntimeError("gateway B refused the job")
        await fleet_gateways.wait_log(b, r"job \d+ completed ", timeout=60)
        took = time.perf_counter() - killed
        assert re.search(r"holds queue lp \(lease epoch 2\)", b.log)
        return took


async def pg_fleet(s: Settings, work: Path, out: list[Figure]) -> None:
    jobs = max(100, s.ingest_jobs)
    cluster = await trio.to_thread.run_sync(pgcluster.PgCluster.start)
    try:
        figures = {
            proto: Figure(
                "10 fleet ingest",
                f"1 KiB {proto}, {CLIENTS} clients: 2 gateways on PostgreSQL vs 1 on SQLite",
                "jobs/s",
                True,
                target=">=1.6x sqlite",
                check=at_least(1.6),
                versus="1 gw sqlite",
            )
            for proto in ("LPD", "IPP")
        }
        names = {"sqlite": "1 gw sqlite", "pg-1": "1 gw postgresql", "pg-2": None}
        for run in range(s.runs):
            for kind, label in names.items():
                async with trio.open_nursery() as nursery:
                    with ExitStack() as stack:
                        gateways = await _setup(
                            kind, work / f"fleet-{kind}-{run}", cluster, stack, nursery
                        )
                        if kind != "sqlite":
                            await fleet_gateways.wait_log(gateways[0], r"holds queue lp")
                        for proto, measure in (("LPD", _lpd_rate), ("IPP", _ipp_rate)):
                            port_kind = "LPD" if proto == "LPD" else "IPP"
                            ports = [gw.ports[port_kind][0] for gw in gateways]
                            await measure(ports, CLIENTS)  # warm up
                            rate = await measure(ports, jobs)
                            say(f"fleet {proto} {kind} #{run + 1}: {rate:.1f} jobs/s")
                            fig = figures[proto]
                            (fig.peer(label) if label else fig.gateway).append(rate)
                    nursery.cancel_scope.cancel()
        out.extend(figures.values())
        takeover = Figure(
            "10 fleet takeover",
            f"SIGKILL of the lease holder -> next job forwarded (lease_time {TAKEOVER_LEASE:.0f}s)",
            "s",
            False,
            target=f"<={TAKEOVER_LEASE:.0f}s",
            check=lambda g, _p: g <= TAKEOVER_LEASE,
        )
        for run in range(s.runs):
            async with trio.open_nursery() as nursery:
                took = await _takeover(work / f"takeover-{run}", cluster, nursery)
                nursery.cancel_scope.cancel()
            say(f"fleet takeover #{run + 1}: {took:.2f} s")
            takeover.gateway.append(took)
        out.append(takeover)
    finally:
        await trio.to_thread.run_sync(cluster.stop)
