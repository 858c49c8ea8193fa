"""Crash safety of the proxy role (IPP INFRA, PWG 5100.18): SIGKILL the proxy
gateway at random moments while 100 jobs flow through it.

Gateway A (Infrastructure Printer queue ``infra``) holds 100 jobs; gateway B
fetches them into its spool and prints to a file:// folder. B is killed
(SIGKILL: no shutdown code runs) 4 times, each time just after a randomly
chosen step of a randomly chosen job (A acknowledged it, B spooled its
document, B reported it completed), and restarted on the same spool and
configuration. At the end every job A saw acknowledged is completed at A and
printed exactly once in B's folder: counted by the unique marker each
document carries, since the file names carry B's local job ids.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.gateway_process import GatewayProcess
from tests.integration.drained import DrainedGateway
from tests.integration.test_infra_proxy import DEADLINE, a_jobs, gateways
from tests.integration.test_infra_proxy_pair import drained, printed, submit_many

JOBS = 100
__all__ = ["drained"]  # the fixture, used by name
KILLS = 4


def restart(config: Path) -> GatewayProcess:
    """B again, on the same configuration (and so the same spool)."""
    proxy = DrainedGateway(["--config", str(config)])
    proxy.ready(DEADLINE)
    proxy.wait_for(r"queue office: proxy of ipps://127\.0\.0\.1:\d+/printers/infra", DEADLINE)
    return proxy


def run(
    a: GatewayProcess,
    b: GatewayProcess,
    out: Path,
    tmp_path: Path,
    rng: random.Random,
    restarted: list[GatewayProcess],
    seed: int,
) -> list[tuple[int, str]]:
    """The flow and the kills; returns (A's job id, step) of each kill."""
    # Four batches of 25; after each, B is killed at a random step of a random
    # job of the batch, and restarted: jobs pile up at A meanwhile.
    ids: dict[int, int] = {}
    kills = []
    for batch in range(KILLS):
        numbers = range(batch * JOBS // KILLS + 1, (batch + 1) * JOBS // KILLS + 1)
        these = submit_many(a, tmp_path / "docs", "crash", numbers)
        ids.update(these)
        victim = rng.choice(sorted(these))
        step = rng.choice(("acknowledged", "spooled", "reported"))
        if step == "acknowledged":
            a.wait_for(rf"job {victim} acknowledged queue=infra ", DEADLINE)
        elif step == "spooled":
            b.wait_for(rf"document 1 spooled: queue=office .* job {victim}$", DEADLINE)
        else:
            b.wait_for(rf"reported: queue=office completed to \S+ job {victim}$", DEADLINE)
        b.kill()
        kills.append((victim, step))
        b = restart(tmp_path / "b.toml")
        restarted.append(b)
    order = sorted(ids)
    for job_id in order:
        a.wait_for(rf"job {job_id} completed queue=infra ", DEADLINE)
    acknowledged = {j for j in order if f"job {j} acknowledged queue=infra " in a.log}
    assert acknowledged == set(order)
    finished = a_jobs(a, "completed")
    assert all(finished.get(j) == "completed" for j in order), finished
    counts = printed(out, "crash")
    assert counts == {ids[j]: 1 for j in acknowledged}, (seed, kills, counts)
    return kills


@pytest.mark.usefixtures("drained")
def test_sigkill_of_the_proxy_neither_loses_nor_doubles_an_acknowledged_job(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    started = time.monotonic()
    restarted: list[GatewayProcess] = []
    try:
        with gateways(tmp_path, "b") as (a, proxies, outs):
            try:
                kills = run(a, proxies["b"], outs["b"], tmp_path, rng, restarted, seed)
            except BaseException:
                a.signal(signal.SIGTERM)  # A's whole log, shown by pytest with the failure
                print(f"seed {seed}; A's log:\n{a.finish()[1]}")
                raise
    finally:
        for proxy in restarted:
            proxy.__exit__()
    print(
        f"seed {seed}: {JOBS} jobs, {len(kills)} SIGKILLs of B at {kills}, "
        f"{time.monotonic() - started:.1f} s"
    )
