"""gateway.reload: the difference between two configurations and what each
kind of change does to a running gateway (started in-process with
`gateway.app.run`, reloaded through `Running.reloader`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from gateway import app, reload
from gateway.config import Config, ConfigError, from_mapping
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.spool import NewDocument, Spool
from gateway.ipp.server.serving import IppReconfig
from gateway.lpd.server.listener import LpdReconfig


def make(tmp_path: Path, queues: dict[str, dict[str, object]], **sections: object) -> Config:
    data: dict[str, object] = {
        "gateway": {"spool_dir": str(tmp_path / "spool")},
        "lpd": {"listen": ["127.0.0.1:0"]},
        "ipp": {"listen": ["127.0.0.1:0"]},
        "queues": queues,
    }
    for name, values in sections.items():
        merged = dict(data.get(name, {}))  # type: ignore[call-overload]
        merged.update(values)  # type: ignore[call-overload]
        data[name] = merged
    return from_mapping(data, source=str(tmp_path / "gateway.toml"))


def folder(tmp_path: Path, name: str) -> dict[str, object]:
    return {"backend": (tmp_path / name).as_uri()}


# ----------------------------------------------------------------------
# The plan (pure)


def test_queue_changes_name_added_removed_and_changed(tmp_path: Path) -> None:
    old = make(
        tmp_path,
        {"a": folder(tmp_path, "a"), "b": folder(tmp_path, "b"), "c": folder(tmp_path, "c")},
    )
    new = make(
        tmp_path,
        {
            "a": folder(tmp_path, "a"),
            "b": {**folder(tmp_path, "b"), "info": "second floor"},
            "c": folder(tmp_path, "c2"),
            "d": folder(tmp_path, "d"),
        },
    )
    changes = reload.queue_changes(old, new)
    assert [q.name for q in changes.added] == ["d"]
    assert changes.removed == ()
    assert [q.name for q in changes.changed] == ["b", "c"]
    assert changes.rebuilt == {"c"}  # b's info is shown only: b keeps its backend


def test_a_backend_option_or_capability_needs_a_new_backend(tmp_path: Path) -> None:
    base = make(tmp_path, {"a": folder(tmp_path, "a")}).queues[0]
    assert reload.needs_backend(base, dataclasses.replace(base, backend_options={"x": 1}))
    assert reload.needs_backend(base, dataclasses.replace(base, color=True))
    assert not reload.needs_backend(base, dataclasses.replace(base, location="hall", auth="all"))


def test_each_key_has_its_effect() -> None:
    assert reload.effect_of("lpd.job_timeout") is reload.Effect.NEW_CONNECTIONS
    assert reload.effect_of("lpd.listen") is reload.Effect.RESTART
    assert reload.effect_of("lpd.max_connections") is reload.Effect.RESTART
    assert reload.effect_of("ipp.certificate") is reload.Effect.NEW_CONNECTIONS
    assert reload.effect_of("ipp.password_file") is reload.Effect.NEW_CONNECTIONS
    assert reload.effect_of("ipp.listen") is reload.Effect.RESTART
    assert reload.effect_of("ipp.max_open_connections") is reload.Effect.RESTART
    assert reload.effect_of("oauth.issuer") is reload.Effect.NEW_CONNECTIONS
    assert reload.effect_of("spool_dir") is reload.Effect.RESTART
    assert reload.effect_of("user") is reload.Effect.RESTART
    assert reload.effect_of("dispatch.retry_max") is reload.Effect.RESTART


def test_restart_keys_keep_their_running_values(tmp_path: Path) -> None:
    old = make(tmp_path, {"a": folder(tmp_path, "a")})
    new = make(
        tmp_path,
        {"a": folder(tmp_path, "a")},
        lpd={"listen": ["127.0.0.1:5515"], "job_timeout": "10s"},
        dispatch={"retry_max": "1m"},
        gateway={"spool_dir": str(tmp_path / "elsewhere")},
    )
    steps = reload.plan(old, new)
    assert set(steps.restart) == {"spool_dir", "lpd.listen", "dispatch.retry_max"}
    assert steps.applied == ("lpd.job_timeout",)
    assert steps.effective.spool_dir == old.spool_dir
    assert steps.effective.lpd.listen == old.lpd.listen
    assert steps.effective.lpd.job_timeout == 10.0
    assert steps.effective.dispatch == old.dispatch
    assert not steps.queues


def test_operator_attributes_stay_over_the_file(tmp_path: Path) -> None:
    queue = make(tmp_path, {"a": {**folder(tmp_path, "a"), "info": "file"}}).queues[0]
    taken = reload.with_attributes(queue, {"printer-location": "by the door"})
    assert (taken.info, taken.location) == ("file", "by the door")


def test_the_file_loader_refuses_without_a_file(tmp_path: Path) -> None:
    running = from_mapping({}, source="<command line>")
    with pytest.raises(ConfigError, match="started without --config"):
        reload.file_loader(running)()


# ----------------------------------------------------------------------
# A running gateway


async def held_job(spool: Spool, queue: str) -> Job:
    """A job held (job-hold-until indefinite) in `queue`."""
    folder = spool.new_folder()
    async with folder.document() as writer:
        await writer.write(b"held\n")
        staged = await writer.finish()
    return await spool.submit(
        queue,
        {"job-name": "held", "requesting-user-name": "alice"},
        [NewDocument(staged, "text/plain", "held.txt")],
        Origin(Frontend.API, peer="127.0.0.1", host="client.example", user="alice"),
        folder=folder,
        held=True,
    )


class Gateway:
    """`app.run` in a nursery with a loader that returns `self.next`."""

    def __init__(self, first: Config) -> None:
        self.next: Config | Callable[[], Config] = first
        self.running: app.Running | None = None

    def load(self) -> Config:
        value = self.next
        return value() if callable(value) else value

    async def start(self, nursery: trio.Nursery, config: Config) -> app.Running:
        self.running = await nursery.start(
            lambda task_status: app.run(
                config, task_status=task_status, handle_signals=False, loader=self.load
            )
        )
        assert self.running is not None and self.running.reloader is not None
        return self.running

    async def reload(self, config: Config | Callable[[], Config]) -> bool:
        assert self.running is not None and self.running.reloader is not None
        self.next = config
        return await self.running.reloader.reload()


async def test_a_refused_reload_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = make(tmp_path, {"a": folder(tmp_path, "a")})
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gw = Gateway(first)
            running = await gw.start(nursery, first)

            def broken() -> Config:
                raise ConfigError(first.source, "queues.b.backend", "missing (a backend URI)")

            assert not await gw.reload(broken)
            # a backend it cannot make: refused too, and the queue list is unchanged
            bad = make(
                tmp_path, {"a": folder(tmp_path, "a"), "b": {"backend": "ipp://127.0.0.1:1/x"}}
            )
            bad = dataclasses.replace(
                bad, queues=(bad.queues[0], dataclasses.replace(bad.queues[1], backend="nope://x"))
            )
            assert not await gw.reload(bad)
            assert [q.name for q in running.context.queues] == ["a"]
            assert running.context.config is first
            nursery.cancel_scope.cancel()
    refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert refused[0] == (
        f"reload refused: {first.source}: queues.b.backend: missing (a backend URI); "
        "the running configuration stays"
    )
    assert refused[1].startswith(f"reload refused: {first.source}: queues.b.backend: ")
    assert len(refused) == 2


async def test_added_queue_changed_info_and_restart_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = make(tmp_path, {"a": folder(tmp_path, "a")})
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gw = Gateway(first)
            running = await gw.start(nursery, first)
            queue_a = running.context.queues.get("a")
            backend_a = queue_a.backend  # type: ignore[union-attr]
            second = make(
                tmp_path,
                {"a": {**folder(tmp_path, "a"), "info": "new info"}, "b": folder(tmp_path, "b")},
                lpd={"listen": ["127.0.0.1:5515"], "max_connections_per_source": 3},
            )
            assert await gw.reload(second)
            queues = running.context.queues
            assert [q.name for q in queues] == ["a", "b"]
            assert queues.get("a") is queue_a and queue_a.backend is backend_a  # type: ignore[union-attr]
            assert queue_a.config.info == "new info"  # type: ignore[union-attr]
            assert queues.get("b").printer_id > 0  # type: ignore[union-attr]
            assert running.context.config.lpd.max_connections_per_source == 3
            assert running.context.config.lpd.listen == first.lpd.listen
            kinds = {type(p) for p in running.context.reconfigurables}
            assert {IppReconfig, LpdReconfig} <= kinds
            nursery.cancel_scope.cancel()
    warnings = [
        r.getMessage() for r in caplog.records if "not applied until a restart" in r.getMessage()
    ]
    assert warnings == [
        f"reload: {first.source}: changed but not applied until a restart: lpd.listen"
    ]


async def test_a_removed_queue_stays_until_its_jobs_end(tmp_path: Path) -> None:
    """Its held job keeps it (listed, not accepting); released and delivered,
    the queue goes."""
    first = make(tmp_path, {"a": folder(tmp_path, "a"), "b": folder(tmp_path, "b")})
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gw = Gateway(first)
            running = await gw.start(nursery, first)
            spool = running.context.spool
            job = await held_job(spool, "b")
            assert await gw.reload(make(tmp_path, {"a": folder(tmp_path, "a")}))
            queue_b = running.context.queues.get("b")
            assert queue_b is not None and not queue_b.accepting
            await spool.transition(job.id, JobState.PENDING)  # Release-Job
            while "b" in running.context.queues:
                await trio.sleep(0.01)
            assert (tmp_path / "b" / f"job-{job.id}.json").exists()
            # its administration stays by name: it comes back with its printer-id
            printer_id = queue_b.printer_id
            assert await gw.reload(first)
            assert running.context.queues.get("b").printer_id == printer_id  # type: ignore[union-attr]
            nursery.cancel_scope.cancel()


async def test_a_new_backend_uri_takes_the_next_jobs(tmp_path: Path) -> None:
    first = make(tmp_path, {"a": folder(tmp_path, "a1")})
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            gw = Gateway(first)
            running = await gw.start(nursery, first)
            spool = running.context.spool
            queue = running.context.queues.get("a")
            assert queue is not None
            before = await held_job(spool, "a")
            await spool.transition(before.id, JobState.PENDING)
            while not (tmp_path / "a1" / f"job-{before.id}.json").exists():
                await trio.sleep(0.01)
            old_backend = queue.backend
            assert await gw.reload(make(tmp_path, {"a": folder(tmp_path, "a2")}))
            while queue.backend is old_backend:
                await trio.sleep(0.01)
            assert queue.enabled and running.context.queues.get("a") is queue
            after = await held_job(spool, "a")
            await spool.transition(after.id, JobState.PENDING)
            while not (tmp_path / "a2" / f"job-{after.id}.json").exists():
                await trio.sleep(0.01)
            assert not (tmp_path / "a1" / f"job-{after.id}.json").exists()
            nursery.cancel_scope.cancel()
