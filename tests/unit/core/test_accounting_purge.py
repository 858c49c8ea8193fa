"""History retention keeps an ended job until its accounting record is written."""

from __future__ import annotations

from pathlib import Path

import trio

from gateway.config import AccountingConfig
from gateway.core.accounting import Accountant
from gateway.core.job import JobState
from gateway.core.spool import Spool
from tests.unit.core.test_accounting import ended_job, lines, queues, wait_accounted


async def test_purge_keeps_ended_jobs_until_they_are_accounted(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "spool", history_max_jobs=1, history_max_age=0.0)
    try:
        settings = AccountingConfig(file=tmp_path / "acct.jsonl")
        accountant = Accountant(spool, queues(), settings, spool_dir=spool.root)
        jobs = [await ended_job(spool) for _ in range(3)]
        assert await spool.purge() == []  # none accounted yet: none forgotten
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(accountant.run)
                await wait_accounted(spool, [j.id for j in jobs])
                nursery.cancel_scope.cancel()
        assert sorted(await spool.purge()) == [j.id for j in jobs]
        assert [r["job_id"] for r in lines(tmp_path / "acct.jsonl")] == [j.id for j in jobs]
        other = await Spool.open(tmp_path / "plain", history_max_jobs=1, history_max_age=0.0)
        try:  # without an accountant, retention is as before
            job = await ended_job(other, JobState.CANCELED)
            assert await other.purge() == [job.id]
        finally:
            await other.aclose()
    finally:
        await spool.aclose()
