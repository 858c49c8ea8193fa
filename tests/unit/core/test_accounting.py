"""Accounting: one record per ended job, with the fields the README lists, exactly
once across a crash between the write and the mark, rotated by size and on
request, in CUPS's page_log format too, and kept (not lost) while the disk is full.

Every test runs a real `Spool` on disk and a real `Accountant`; a "crash" is the
state a SIGKILL leaves (a record written, its job not marked), made on disk and
then read by a freshly opened spool and accountant. The disk-full test mounts a
small tmpfs (root only, as in CI and tests/integration/test_disk_full.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from gateway.backends.file import FileBackend
from gateway.config import AccountingConfig, QueueConfig
from gateway.core import accounting
from gateway.core.accounting import (
    SPOOL_ID_KEY,
    Accountant,
    accounting_backend,
    append,
    clf_time,
    page_log_line,
    record,
    record_line,
)
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.metrics import Metrics
from tests.helpers import spool_job

OUT = "file:///srv/print-out"


def queues(*names: str) -> Queues:
    return Queues([Queue(QueueConfig(n, OUT), FileBackend(OUT)) for n in names or ("lp",)])


def lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def ended_job(
    spool: Spool,
    state: JobState = JobState.COMPLETED,
    *,
    queue: str = "lp",
    user: str = "alice",
    pages: int | None = None,
    **attributes: object,
) -> Job:
    """A job spooled, forwarded and ended in ``state``."""
    attrs: dict[str, object] = {
        "job-name": "Q3 report",
        "requesting-user-name": user,
        "job-originating-host-name": "ws1.example",
        "copies": 1,
        **attributes,
    }
    job = await spool_job(
        spool,
        [(b"%!PS\n" + b"x" * 95, "application/postscript", "q3.ps")],
        queue=queue,
        attributes=attrs,
        origin=Origin(Frontend.LPD, peer="10.0.0.7", host="ws1", user=user),
    )
    if pages is not None:
        docs = tuple(dataclasses.replace(d, pages=pages) for d in job.documents)
        await spool.update(job.id, documents=docs)
    await spool.transition(job.id, JobState.PROCESSING, reasons=("job-printing",))
    await spool.update(job.id, backend_job_id="417")
    reasons = {
        JobState.COMPLETED: ("job-completed-successfully",),
        JobState.CANCELED: ("job-canceled-by-user",),
        JobState.ABORTED: ("aborted-by-system",),
    }[state]
    return await spool.transition(job.id, state, reasons=reasons, message=state.keyword)


async def wait_accounted(spool: Spool, ids: list[int]) -> None:
    """Wait, woken by the spool's change listener, until every job is accounted."""
    events = [trio.Event()]
    spool.add_listener(lambda job, old: events[-1].set())
    while True:
        jobs = [spool.get(i) for i in ids]
        if all(j is not None and j.accounted for j in jobs):
            return
        await events[-1].wait()
        events.append(trio.Event())


@asynccontextmanager
async def accountant_running(
    spool: Spool, settings: AccountingConfig, names: Queues | None = None
) -> AsyncIterator[Accountant]:
    accountant = Accountant(spool, names or queues(), settings, spool_dir=spool.root)
    async with trio.open_nursery() as nursery:
        await nursery.start(accountant.run)
        yield accountant
        nursery.cancel_scope.cancel()


# ----------------------------------------------------------------------
# Records


async def test_one_record_per_ended_job_with_its_fields(spool: Spool, tmp_path: Path) -> None:
    settings = AccountingConfig(file=tmp_path / "acct.jsonl")
    with trio.fail_after(20):
        async with accountant_running(spool, settings) as accountant:
            done = await ended_job(
                spool, pages=3, copies=2, media="iso_a4_210x297mm", sides="two-sided-long-edge"
            )
            canceled = await ended_job(spool, JobState.CANCELED, user="bob")
            aborted = await ended_job(spool, JobState.ABORTED)
            pending = await spool_job(spool)  # not ended: no record
            await wait_accounted(spool, [done.id, canceled.id, aborted.id])
    records = lines(settings.file or Path())
    assert [r["job_id"] for r in records] == [done.id, canceled.id, aborted.id]
    assert pending.id not in [r["job_id"] for r in records]
    spool_id = await spool.get_meta(SPOOL_ID_KEY)
    first = records[0]
    final = spool.get(done.id)
    assert final is not None and final.completed is not None
    assert first == {
        "schema": 1,
        "time": accounting.rfc3339(final.completed),
        "spool": spool_id,
        "queue": "lp",
        "job_id": done.id,
        "job_uuid": done.attributes["job-uuid"],
        "user": "alice",
        "host": "ws1.example",
        "peer": "10.0.0.7",
        "frontend": "lpd",
        "authenticated": False,
        "job_name": "Q3 report",
        "document_count": 1,
        "documents": [
            {
                "number": 1,
                "name": "q3.ps",
                "format": "application/postscript",
                "size": 100,
                "pages": 3,
            }
        ],
        "bytes": 100,
        "pages": 3,
        "impressions_completed": None,
        "impressions": 6,  # 3 pages, 2 copies
        "copies": 2,
        "media": "iso_a4_210x297mm",
        "sides": "two-sided-long-edge",
        "billing": None,
        "result": "completed",
        "reasons": ["job-completed-successfully"],
        "message": "completed",
        "backend": OUT,
        "backend_job_id": "417",
        "created": accounting.rfc3339(final.created),
        "processing": accounting.rfc3339(final.processing),
        "completed": accounting.rfc3339(final.completed),
    }
    assert str(first["time"]).endswith("Z")
    assert records[1]["result"] == "canceled" and records[1]["user"] == "bob"
    assert records[1]["impressions"] is None  # pages not counted
    assert records[2]["result"] == "aborted"
    assert records[2]["reasons"] == ["aborted-by-system"]
    assert accountant.accounted == 3
    assert all(j.accounted for j in spool.jobs() if j.state.is_terminal)


def test_backend_is_shown_without_credentials_query_or_fragment() -> None:
    uri = "ipps://user:s3cret@printer.example:631/ipp/print?token=abc&waitjob=false#x"
    assert accounting_backend(uri) == "ipps://printer.example:631/ipp/print"
    assert (
        accounting_backend("lpd://[fd00::7]:515/raw?reserve=rfc1179") == "lpd://[fd00::7]:515/raw"
    )
    assert accounting_backend("file:///var/spool/out") == "file:///var/spool/out"


async def test_media_from_media_col_and_impressions_reported_by_the_printer(
    spool: Spool,
) -> None:
    col = {"media-size": {"x-dimension": 21590, "y-dimension": 27940}}
    job = await ended_job(spool, pages=2, copies=3, **{"media-col": col})
    job = await spool.update(job.id, impressions_completed=5)
    data = record(job, spool_id="s", backend=None)
    assert data["media"] == "custom_215.9x279.4mm"
    assert data["impressions"] == 5  # the printer's count wins over pages x copies
    assert data["impressions_completed"] == 5


def test_a_name_that_is_not_valid_unicode_is_escaped_not_lost() -> None:
    line = record_line({"user": "bad\udcffname"})
    assert line.endswith(b"\n")
    assert json.loads(line) == {"user": "bad\udcffname"}


# ----------------------------------------------------------------------
# CUPS page_log


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_common_log_format_time_is_local_with_english_months(berlin: None) -> None:
    assert clf_time(1764649775.9) == "[02/Dec/2025:05:29:35 +0100]"  # 04:29:35 UTC
    assert clf_time(1751427000) == "[02/Jul/2025:05:30:00 +0200]"  # summer time


async def test_page_log_line_is_cups_default_format_with_total(spool: Spool, berlin: None) -> None:
    job = await ended_job(
        spool,
        pages=4,
        copies=2,
        media="na_letter_8.5x11in",
        sides="one-sided",
        **{"job-account-id": "acme-123", "job-name": "my report.pdf"},
    )
    line = page_log_line(job)
    assert job.completed is not None
    # printer user job-id date-time total num-impressions job-billing
    # job-originating-host-name job-name media sides (cupsd-logs(5), PAGE LOG FILE FORMAT)
    assert line == (
        f"lp alice {job.id} {clf_time(job.completed)} total 8 acme-123 ws1.example "
        "my_report.pdf na_letter_8.5x11in one-sided\n"
    )
    fields = line.split(" ")
    assert len(fields) == 12  # the date-time holds one space, as in CUPS's lines
    unknown = await ended_job(spool, JobState.CANCELED, **{"job-name": ""})
    assert page_log_line(unknown).split(" ")[5:] == [
        "total",
        "0",
        "-",
        "ws1.example",
        "q3.ps",  # job-name falls back to the document's name
        "-",
        "-\n",
    ]


async def test_page_log_gets_one_line_per_job_after_the_json_line(
    spool: Spool, tmp_path: Path
) -> None:
    settings = AccountingConfig(file=tmp_path / "acct.jsonl", page_log=tmp_path / "page_log")
    with trio.fail_after(20):
        async with accountant_running(spool, settings):
            jobs = [await ended_job(spool, pages=1) for _ in range(3)]
            await wait_accounted(spool, [j.id for j in jobs])
    page = (tmp_path / "page_log").read_text().splitlines()
    assert [int(p.split(" ")[2]) for p in page] == [j.id for j in jobs]
    assert all(" total 1 " in p for p in page)
    assert len(lines(tmp_path / "acct.jsonl")) == 3


# ----------------------------------------------------------------------
# Exactly once across a crash


async def test_crash_between_write_and_mark_neither_loses_nor_doubles(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    file, page = tmp_path / "acct.jsonl", tmp_path / "page_log"
    settings = AccountingConfig(file=file, page_log=page)
    # First run: jobs end and are accounted normally; then three more end while
    # the gateway "crashes" at three different moments.
    with trio.fail_after(30):
        spool = await Spool.open(root)
        try:
            async with accountant_running(spool, settings):
                before = [await ended_job(spool, pages=1) for _ in range(2)]
                await wait_accounted(spool, [j.id for j in before])
            spool_id = await spool.get_meta(SPOOL_ID_KEY)
            assert spool_id
            written_both = await ended_job(spool, pages=2)  # JSON and page_log written
            written_json = await ended_job(spool, pages=2)  # JSON written, page_log not
            not_written = await ended_job(spool, pages=2)  # crash before the write
            append(file, record_line(record(written_both, spool_id=spool_id, backend=OUT)))
            append(page, page_log_line(written_both).encode())
            append(file, record_line(record(written_json, spool_id=spool_id, backend=OUT)))
            # Another gateway's record with the same job id, in the same file.
            other = record(not_written, spool_id="another-spool", backend=OUT)
            append(file, record_line(other))
            # A line a crash cut in the middle of the write.
            with file.open("ab") as fh:
                fh.write(record_line(record(not_written, spool_id=spool_id, backend=OUT))[:40])
        finally:
            await spool.aclose()

        # The restart: a new spool and accountant read what the crash left.
        spool = await Spool.open(root)
        try:
            ids = [written_both.id, written_json.id, not_written.id]
            assert not any(j.accounted for j in spool.jobs() if j.id in ids)
            async with accountant_running(spool, settings) as accountant:
                await wait_accounted(spool, ids)
            assert accountant.accounted == 3
        finally:
            await spool.aclose()

    mine = [r["job_id"] for r in lines(file) if r["spool"] == spool_id]
    assert sorted(mine) == sorted([j.id for j in before] + ids)  # each exactly once
    assert [r["spool"] for r in lines(file)].count("another-spool") == 1
    page_ids = [int(p.split(" ")[2]) for p in page.read_text().splitlines()]
    assert sorted(page_ids) == sorted([j.id for j in before] + ids)


def test_start_up_check_reads_only_records_of_its_own_spool(tmp_path: Path) -> None:
    file = tmp_path / "acct.jsonl"
    rows = [
        {"spool": "other", "job_id": 7},  # another gateway's job 7
        {"spool": "mine", "job_id": 8, "job_name": '"job_id":7,'},  # a name that looks like one
        {"spool": "mine", "job_id": 9},
    ]
    file.write_bytes(b"".join(record_line(r) for r in rows) + b'{"spool":"mine","job_id":7')
    assert accounting.written_ids([file, tmp_path / "missing"], "mine", {7, 8, 10}) == {8}


async def test_full_queue_is_caught_up_by_a_spool_scan(
    spool: Spool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounting, "QUEUE_MAX", 2)
    settings = AccountingConfig(file=tmp_path / "acct.jsonl")
    accountant = Accountant(spool, queues(), settings, spool_dir=spool.root)
    jobs = [await ended_job(spool) for _ in range(7)]  # ended before the task runs
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(accountant.run)
            await wait_accounted(spool, [j.id for j in jobs])
            nursery.cancel_scope.cancel()
    assert sorted(r["job_id"] for r in lines(tmp_path / "acct.jsonl")) == [j.id for j in jobs]


# ----------------------------------------------------------------------
# Rotation


async def test_rotation_by_size_keeps_every_record_once(spool: Spool, tmp_path: Path) -> None:
    file = tmp_path / "acct.jsonl"
    settings = AccountingConfig(file=file, max_size=1000, keep=3)  # a record is ~800 bytes
    ids = []
    with trio.fail_after(30):
        async with accountant_running(spool, settings):
            for _ in range(16):
                ids.append((await ended_job(spool)).id)
                await wait_accounted(spool, ids)
    # Each file passed 1000 bytes with its second record and was rotated then (the
    # last one perhaps not yet when the block ended).
    rotated = [lines(file.with_name(f"acct.jsonl.{n}")) for n in (3, 2, 1)]
    assert [len(r) for r in rotated] == [2, 2, 2]
    assert len(lines(file)) <= 2
    kept = [r["job_id"] for f in [*rotated, lines(file)] for r in f]
    assert kept == ids[-len(kept) :]  # in order, none twice, only the oldest gone
    assert not file.with_name("acct.jsonl.4").exists()  # keep = 3


async def test_rotate_now_and_after_an_external_logrotate(spool: Spool, tmp_path: Path) -> None:
    file = tmp_path / "acct.jsonl"
    settings = AccountingConfig(file=file, page_log=tmp_path / "page_log")
    with trio.fail_after(30):
        async with accountant_running(spool, settings) as accountant:
            first = await ended_job(spool)
            await wait_accounted(spool, [first.id])
            accountant.rotate()  # SIGUSR1
            second = await ended_job(spool)
            await wait_accounted(spool, [second.id])
            assert [r["job_id"] for r in lines(file.with_name("acct.jsonl.1"))] == [first.id]
            assert [r["job_id"] for r in lines(file)] == [second.id]
            assert (tmp_path / "page_log.1").exists()
            # logrotate renames the file itself, then sends SIGUSR1 (postrotate).
            file.rename(file.with_name("acct.jsonl.1"))
            accountant.rotate()
            third = await ended_job(spool)
            await wait_accounted(spool, [third.id])
    assert [r["job_id"] for r in lines(file.with_name("acct.jsonl.1"))] == [second.id]
    assert not file.with_name("acct.jsonl.2").exists()  # not rotated a second time
    assert [r["job_id"] for r in lines(file)] == [third.id]


# ----------------------------------------------------------------------
# A full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False, timeout=30)


def fill(folder: Path, leave: int) -> Path:
    filler = folder / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                st = os.statvfs(folder)
                free = st.f_bavail * st.f_frsize - leave
                if free <= 0:
                    break
                fh.write(b"\0" * min(free, 65536))
                fh.flush()
        except OSError:
            pass
    return filler


def test_an_append_the_disk_cannot_hold_is_cut_back(small_disk: Path) -> None:
    file = small_disk / "acct.jsonl"
    append(file, b'{"job_id":1}\n')
    fill(small_disk, leave=4096)
    with pytest.raises(OSError, match="No space"):
        append(file, b"x" * 20_000 + b"\n")  # part of it fits, the rest does not
    assert file.read_bytes() == b'{"job_id":1}\n'


async def test_disk_full_keeps_records_and_writes_them_once_room_returns(
    spool: Spool, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    file = small_disk / "acct.jsonl"
    settings = AccountingConfig(file=file)
    caplog.set_level(logging.INFO, "gateway.accounting")
    with trio.fail_after(60):
        async with accountant_running(spool, settings):
            first = await ended_job(spool)
            await wait_accounted(spool, [first.id])
            filler = fill(small_disk, leave=0)
            jobs = [await ended_job(spool) for _ in range(20)]
            while not any("cannot write" in r.getMessage() for r in caplog.records):
                await trio.sleep(0.05)  # polling the log, with the deadline above
            # What the disk took is accounted; the rest waits in the spool.
            waiting = [j.id for j in spool.jobs() if not j.accounted]
            assert waiting
            assert file.read_bytes().endswith(b"\n")
            assert not {r["job_id"] for r in lines(file)} & set(waiting)
            filler.unlink()
            await wait_accounted(spool, [j.id for j in jobs])
    failures = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(failures) == 1  # one line, however many retries
    assert "no space left" in failures[0].getMessage()
    assert any("writing again" in r.getMessage() for r in caplog.records)
    ids = [r["job_id"] for r in lines(file)]
    assert ids == [first.id] + [j.id for j in jobs]


# ----------------------------------------------------------------------
# Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_metrics_count_accounted_jobs_by_queue_and_capped_users(
    spool: Spool, tmp_path: Path
) -> None:
    names = queues("lp", "office")
    metrics = Metrics(spool, names, user_series=2)
    settings = AccountingConfig(file=tmp_path / "acct.jsonl")
    with trio.fail_after(20):
        async with accountant_running(spool, settings, names):
            jobs = [
                await ended_job(spool, pages=2, copies=2, user="alice"),
                await ended_job(spool, pages=1, user="bob", queue="office"),
                await ended_job(spool, JobState.CANCELED, user="carol"),  # the third user
                await ended_job(spool, pages=5, user="dave"),  # the fourth
                await ended_job(spool, pages=1, user="alice"),
            ]
            await wait_accounted(spool, [j.id for j in jobs])
    s = samples(metrics)
    lp = ("queue", "lp")
    assert s[("gateway_accounting_jobs_total", (lp, ("result", "completed")))] == 3
    assert s[("gateway_accounting_jobs_total", (lp, ("result", "canceled")))] == 1
    assert s[("gateway_accounting_pages_total", (lp,))] == 4 + 5 + 1
    assert s[("gateway_accounting_pages_total", (("queue", "office"),))] == 1
    assert s[("gateway_accounting_bytes_total", (lp,))] == 400
    assert s[("gateway_accounting_user_jobs_total", (("user", "alice"),))] == 2
    assert s[("gateway_accounting_user_pages_total", (("user", "alice"),))] == 5
    assert s[("gateway_accounting_user_jobs_total", (("user", "bob"),))] == 1
    assert s[("gateway_accounting_user_jobs_total", (("user", "*"),))] == 2  # carol, dave
    assert s[("gateway_accounting_user_pages_total", (("user", "*"),))] == 5
    assert ("gateway_accounting_user_jobs_total", (("user", "carol"),)) not in s
