"""Forwarding leases (gateway/core/leases.py) on a real PostgreSQL server (tests/pgcluster.py).

Two `LeaseKeeper`s on one database stand for two gateways: one holds each queue,
a clean stop hands the queues over at once, a holder that stops renewing (dead,
or cut off from the database) loses them within the lease time, and a keeper
that cannot reach the database stops forwarding before its lease expires and
says the store is unreachable, which makes every queue answer "busy".
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from gateway.backends.file import FileBackend
from gateway.config import ConfigError, QueueConfig, from_mapping
from gateway.core.leases import LeaseKeeper, instance_id
from gateway.core.queues import Queue, Queues
from tests import pgcluster

LEASE = 1.5  # seconds: short, so the tests are quick; the rule is the same at 10 s


class Seen:
    """What a keeper told its dispatcher: gained and lost queues, as events."""

    def __init__(self) -> None:
        self.gained: list[str] = []
        self.lost: list[str] = []
        self.changed = trio.Event()

    async def on_gained(self, queue: str) -> None:
        self.gained.append(queue)
        self.changed.set()

    def on_lost(self, queue: str) -> None:
        self.lost.append(queue)
        self.changed.set()

    async def until(self, check: object) -> None:
        while not check():  # type: ignore[operator]
            self.changed = trio.Event()
            await self.changed.wait()


def keeper(dsn: str, me: str, problems: list[str | None] | None = None) -> LeaseKeeper:
    return LeaseKeeper(
        dsn,
        me,
        lease_time=LEASE,
        queues=lambda: ["a", "b"],
        on_problem=(problems.append if problems is not None else lambda _: None),
    )


def test_instance_id_is_kept_in_the_spool_folder(tmp_path: Path) -> None:
    first = instance_id(tmp_path)
    assert first.startswith("gw-")
    assert instance_id(tmp_path) == first
    assert instance_id(tmp_path, "gw-east-1") == "gw-east-1"


async def test_one_holder_and_a_clean_stop_hands_over(pg_dsn: str) -> None:
    with trio.fail_after(30):
        one, two = keeper(pg_dsn, "one"), keeper(pg_dsn, "two")
        seen_one, seen_two = Seen(), Seen()
        async with trio.open_nursery() as nursery:
            scope_one = trio.CancelScope()

            async def run_one() -> None:
                with scope_one:
                    await one.run(seen_one.on_gained, seen_one.on_lost)

            nursery.start_soon(run_one)
            await seen_one.until(lambda: len(seen_one.gained) == 2)
            await nursery.start(two.run, seen_two.on_gained, seen_two.on_lost)
            assert sorted(one.held()) == ["a", "b"]
            assert one.holds("a") and not two.holds("a") and not two.holds("b")
            rows = {q: (h, e) for q, h, e, _ in await trio.to_thread.run_sync(two.holders)}
            assert rows == {"a": ("one", 1), "b": ("one", 1)}

            scope_one.cancel()  # a clean stop: the rows are deleted
            stopped = time.monotonic()
            await seen_two.until(lambda: len(seen_two.gained) == 2)
            assert time.monotonic() - stopped <= LEASE / 5 * 2 + 1.0  # the next round or two
            assert sorted(two.held()) == ["a", "b"]
            nursery.cancel_scope.cancel()


async def test_a_dead_holder_is_taken_over_within_the_lease_time(
    pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with trio.fail_after(30):
        dead, heir = keeper(pg_dsn, "dead"), keeper(pg_dsn, "heir")

        async def no_release() -> None:  # killed: nothing is given up
            return None

        monkeypatch.setattr(dead, "_release", no_release)
        seen_dead, seen_heir = Seen(), Seen()
        async with trio.open_nursery() as nursery:
            await nursery.start(dead.run, seen_dead.on_gained, seen_dead.on_lost)
            await seen_dead.until(lambda: len(seen_dead.gained) == 2)
            await nursery.start(heir.run, seen_heir.on_gained, seen_heir.on_lost)
            assert heir.held() == {}
            nursery.cancel_scope.cancel()
        killed = time.monotonic()
        async with trio.open_nursery() as nursery:
            await nursery.start(heir.run, seen_heir.on_gained, seen_heir.on_lost)
            await seen_heir.until(lambda: len(seen_heir.gained) == 2)
            took = time.monotonic() - killed
            rows = {q: (h, e) for q, h, e, _ in await trio.to_thread.run_sync(heir.holders)}
            nursery.cancel_scope.cancel()
        assert took <= LEASE + 0.5, took
        assert rows == {"a": ("heir", 2), "b": ("heir", 2)}  # the epoch says it changed hands


async def test_cut_off_holder_stops_before_its_lease_expires() -> None:
    cluster = pgcluster.PgCluster.start()  # its own server: this test stops it
    try:
        dsn = cluster.create_database()
        problems: list[str | None] = []
        cut = keeper(dsn, "cut", problems)
        seen = Seen()
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                await nursery.start(cut.run, seen.on_gained, seen.on_lost)
                await seen.until(lambda: len(seen.gained) == 2)
                renewed = cut.held()["a"].until
                await trio.to_thread.run_sync(cluster.pause)
                await seen.until(lambda: len(seen.lost) == 2)
                lost_at = time.monotonic()
                assert lost_at <= renewed + 0.2  # told before it may no longer forward
                assert not cut.holds("a") and not cut.holds("b")
                assert problems and problems[-1] is not None
                assert "unreachable" in problems[-1]
                await trio.to_thread.run_sync(cluster.resume)
                await seen.until(lambda: len(seen.gained) == 4)
                assert problems[-1] is None
                assert cut.holds("a")
                nursery.cancel_scope.cancel()
    finally:
        cluster.stop()


def test_an_unreachable_store_makes_every_queue_busy(tmp_path: Path) -> None:
    def queue(name: str) -> Queue:
        uri = f"file://{tmp_path / name}"
        return Queue(QueueConfig(name, uri), FileBackend(uri))

    queues = Queues([queue("a"), queue("b")])
    assert all(q.refuses_new_jobs is None for q in queues)
    queues.set_store_problem("the job store is unreachable: connection refused")
    for q in queues:
        assert q.refuses_new_jobs == "the job store is unreachable: connection refused"
        assert "other-error" in q.state().reasons
        assert "unreachable" in q.state().message
    late = queue("c")  # a queue added while the store is down is busy too
    queues.add(late)
    assert late.refuses_new_jobs is not None
    queues.set_store_problem(None)
    assert all(q.refuses_new_jobs is None for q in queues)
    assert all("other-error" not in q.state().reasons for q in queues)


def test_fleet_keys_are_validated() -> None:
    config = from_mapping({"fleet": {"lease_time": "30s", "instance_id": "gw-east-1"}})
    assert config.fleet.lease_time == 30.0 and config.fleet.instance_id == "gw-east-1"
    assert from_mapping({}).fleet.lease_time == 10.0
    for key, value in (("lease_time", "0.5s"), ("lease_time", "1h"), ("instance_id", "a b")):
        with pytest.raises(ConfigError) as caught:
            from_mapping({"fleet": {key: value}}, source="gw.toml")
        assert f"gw.toml: fleet.{key}:" in str(caught.value)
