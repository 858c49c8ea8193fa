"""Two gateways on one PostgreSQL store: a queue's forwarding gateway is SIGKILLed
and the other forwards the queue's next job within the lease time (measured and
logged); the health endpoint says who holds what.

Real gateway processes (tests/gateway_process.py), a real PostgreSQL server
(tests/pgcluster.py), the file:// backend on a shared output folder.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import httpx
import trio

from tests import fleet

log = logging.getLogger(__name__)
MARGIN = 2.5  # seconds on a loaded 2-core machine: process start-up is not in it


async def test_takeover_after_sigkill_within_lease_time(tmp_path: Path, pg_dsn: str) -> None:
    with trio.fail_after(150):
        a_conf = fleet.write_config(tmp_path, "gw-a", pg_dsn)
        b_conf = fleet.write_config(tmp_path, "gw-b", pg_dsn)
        a = await fleet.start(a_conf)
        b = None
        try:
            await fleet.wait_log(a, r"fleet: gw-a holds queue lp")
            b = await fleet.start(b_conf)
            async with httpx.AsyncClient(timeout=20) as http:
                health = await http.get(f"http://127.0.0.1:{b.ports['IPP'][0]}/health.json")
                assert health.status_code == 200
                assert health.json()["instance"] == "gw-b"
                assert health.json()["queues_not_held"] == ["lp"]
                health = await http.get(f"http://127.0.0.1:{a.ports['IPP'][0]}/health.json")
                assert list(health.json()["queues_held"]) == ["lp"]

                # A job accepted by B is forwarded by A, the lease holder, at once.
                assert await fleet.lpd_print(b.ports["LPD"][0], "first", b"one\n")
                line = await fleet.wait_log(a, r"job (\d+) completed ")
                first = int(re.search(r"job (\d+) completed", line).group(1))  # type: ignore[union-attr]
                assert first in fleet.delivered(tmp_path / "out")

                a.kill()  # SIGKILL: no lease is given up
                killed = time.monotonic()
                status = await fleet.ipp_print(http, b.ports["IPP"][0], "second", b"two\n")
                assert status < 0x100
                line = await fleet.wait_log(b, r"job (\d+) completed ", timeout=60)
                took = time.monotonic() - killed
                second = int(re.search(r"job (\d+) completed", line).group(1))  # type: ignore[union-attr]
                log.warning("takeover: B forwarded the next job %.2f s after A's SIGKILL", took)
                print(f"takeover time: {took:.2f} s (lease_time {fleet.LEASE_TIME} s)")
                assert took <= fleet.LEASE_TIME + MARGIN, took
                assert second > first
                assert b.wait_for(r"fleet: gw-b holds queue lp \(lease epoch 2\)", 1)
                health = await http.get(f"http://127.0.0.1:{b.ports['IPP'][0]}/health.json")
                assert health.status_code == 200
                held = health.json()["queues_held"]
                assert held["lp"]["epoch"] == 2 and held["lp"]["expires_in"] > 0
                text = await http.get(f"http://127.0.0.1:{b.ports['IPP'][0]}/health")
                assert "holds lp epoch 2" in text.text
            out = fleet.delivered(tmp_path / "out")
            assert sorted(out) == [first, second]  # each exactly once (one sidecar per id)
        finally:
            a.kill()
            if b is not None:
                b.kill()
