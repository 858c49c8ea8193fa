"""A database outage: while the PostgreSQL server is down, a gateway of the fleet
answers "busy" (LPD NAK, IPP server-error-busy) and its health endpoint 503, lpq
still answers from memory with the reason; once the server is back, jobs are
accepted and forwarded again and nothing acknowledged before was lost.

This test stops and starts a PostgreSQL server of its own (tests/pgcluster.py).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import trio

from gateway.ipp import StatusCode
from tests import fleet, pgcluster
from tests.lpd_peers import endpoint, lprng


async def test_busy_while_the_store_is_down(tmp_path: Path) -> None:
    cluster = await trio.to_thread.run_sync(pgcluster.PgCluster.start)
    gw = None
    try:
        dsn = await trio.to_thread.run_sync(cluster.create_database)
        with trio.fail_after(150):
            gw = await fleet.start(fleet.write_config(tmp_path, "gw-a", dsn))
            await fleet.wait_log(gw, r"fleet: gw-a holds queue lp")
            lpd, ipp = gw.ports["LPD"][0], gw.ports["IPP"][0]
            async with httpx.AsyncClient(timeout=20) as http:
                assert await fleet.lpd_print(lpd, "before", b"before\n")
                await fleet.wait_log(gw, r"job 1 completed ")

                await trio.to_thread.run_sync(cluster.pause)
                await fleet.wait_log(gw, r"fleet: the job store is unreachable")
                assert not await fleet.lpd_print(lpd, "during", b"during\n")
                await fleet.wait_log(gw, r"job refused \(busy\): queue lp")
                status = await fleet.ipp_print(http, ipp, "during", b"during\n")
                assert status == StatusCode.SERVER_ERROR_BUSY
                health = await http.get(f"http://127.0.0.1:{ipp}/health.json")
                assert health.status_code == 503
                assert health.json()["store_reachable"] is False
                assert "unreachable" in health.json()["store_problem"]
                listing = await lprng("lpq", ["-P", endpoint(lpd)], tmp_path)  # from memory
                assert b"unreachable" in listing.stdout, listing.stdout

                await trio.to_thread.run_sync(cluster.resume)
                await fleet.wait_log(gw, r"fleet: the job store is reachable again", 60)
                assert await fleet.lpd_print(lpd, "after-lpd", b"after lpd\n")
                assert await fleet.ipp_print(http, ipp, "after-ipp", b"after ipp\n") < 0x100
                health = await http.get(f"http://127.0.0.1:{ipp}/health.json")
                assert health.status_code == 200
            await fleet.wait_completed(gw, 3)
            names = sorted(str(j["job-name"]) for j in fleet.delivered(tmp_path / "out").values())
            assert names == ["after-ipp", "after-lpd", "before"]
    finally:
        if gw is not None:
            gw.kill()
        await trio.to_thread.run_sync(cluster.stop)
