"""Room in the spool: reservations (LPD ack 1), the job-total size limit, the
one-process lock on the folder, and the record of a commit that failed."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from gateway.core.spool import NoSpace, Spool, SpoolLocked
from gateway.core.spool import groupcommit as groupcommit_module
from gateway.core.spool.staging import Staging
from tests.helpers import spool_job


def staging(tmp_path: Path, free: int, **limits: int) -> Staging:
    s = Staging(tmp_path, **limits)
    s.free_space = lambda: free  # type: ignore[method-assign]
    return s


def test_reservations_count_as_used_until_written_or_released(tmp_path: Path) -> None:
    s = staging(tmp_path, free=1000, min_free_space=100)
    first = s.reserve(600)
    assert s.reserved == 600
    with pytest.raises(NoSpace, match="not enough free space"):
        s.reserve(400)  # 1000 - 600 - 400 < 100
    second = s.reserve(300)
    first.written(250)  # 250 of its bytes are on the disk now (and in free_space)
    assert s.reserved == 350 + 300
    first.written(10_000)  # more than announced: never below zero
    assert first.left == 0 and s.reserved == 300
    second.release()
    second.release()  # idempotent
    assert s.reserved == 0


def test_a_reservation_is_released_by_its_with_block(tmp_path: Path) -> None:
    s = staging(tmp_path, free=1000)
    with pytest.raises(RuntimeError), s.reserve(500):
        assert s.reserved == 500
        raise RuntimeError("the connection dropped")
    assert s.reserved == 0


def test_check_room_limits_the_job_total(tmp_path: Path) -> None:
    s = staging(tmp_path, free=10**9, max_job_size=1000)
    s.check_room(400, job_size=1000)
    with pytest.raises(NoSpace, match="job of 1001 bytes is larger than the limit"):
        s.check_room(400, job_size=1001)
    assert not s.has_room(1001)


async def test_the_writer_counts_the_documents_before_it(tmp_path: Path) -> None:
    """max_job_size is for the job: the second document may not take it over."""
    small = await Spool.open(tmp_path / "small", max_job_size=1000, min_free_space=0)
    try:
        folder = small.new_folder()
        async with folder.document() as writer:
            await writer.write(b"a" * 600)
            await writer.finish()
        assert folder.size == 600
        async with folder.document() as writer:
            await writer.write(b"b" * 400)
            with pytest.raises(NoSpace, match="larger than the limit of 1000"):
                await writer.write(b"b")
    finally:
        await small.aclose()


async def test_the_writer_uses_up_and_releases_its_reservation(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "s", min_free_space=0)
    try:
        folder = spool.new_folder()
        room = spool.reserve(2_000_000)
        async with folder.document(reservation=room) as writer:
            await writer.write(b"x" * 100)  # buffered: not on the disk yet
            assert spool.reserved == 2_000_000
            await writer.write(b"x" * 1_000_000)  # past the buffer: written out
            assert spool.reserved == 2_000_000 - 1_000_100
            await writer.finish()
        assert spool.reserved == 0
        room = spool.reserve(500)
        async with folder.document(reservation=room) as writer:
            await writer.write(b"y" * 10)
        assert spool.reserved == 0  # discarded: released too
    finally:
        await spool.aclose()


async def test_a_second_spool_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    first = await Spool.open(root)
    try:
        with pytest.raises(SpoolLocked, match=rf"{root} is in use by process \d+"):
            await Spool.open(root)
    finally:
        await first.aclose()
    again = await Spool.open(root)  # closing gave the lock up
    await again.aclose()


async def test_a_failed_commit_is_recorded_until_one_works(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spool.commit_failure is None

    def full(path: str) -> OSError:
        return OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(groupcommit_module, "fsync_path", full)
    with pytest.raises(NoSpace):
        await spool_job(spool)
    assert spool.commit_failure == "no space left in the spool"
    monkeypatch.undo()
    await spool_job(spool)
    assert spool.commit_failure is None
