"""The administration that lasts (gateway/core/admin.py): switches, printer
attributes, printer-ids and queues created at run time survive a restart of the
spool; the configuration file wins over a run-time queue of the same name; the
stored format is versioned and read back as written.

A "restart" here closes the spool and opens it again at the same folder, then
restores the queues from the configuration as the app does at start.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from gateway import backends
from gateway.backends.file import FileBackend
from gateway.config import QueueConfig
from gateway.core import admin as admin_module
from gateway.core.admin import (
    INDEX_KEY,
    QUEUE_KEY,
    SYSTEM_KEY,
    Administration,
    AdminStateError,
    QueueRefused,
)
from gateway.core.dispatcher import Dispatcher
from gateway.core.job import JobState
from gateway.core.queues import Queue, Queues, Switches
from gateway.core.spool import Spool
from tests.helpers import spool_job, wait_for_state


def config_queues(tmp_path: Path, names: Sequence[str]) -> list[Queue]:
    """File-backend queues as the app makes them from the configuration."""
    out = (tmp_path / "out").as_uri()
    return [Queue(QueueConfig(name, out), FileBackend(out)) for name in names]


def factory(tmp_path: Path) -> backends.Factory:
    """The app's backend factory (the real one: it checks backend options)."""
    return functools.partial(
        backends.create, context=backends.BackendContext("testhost", tmp_path / "spool")
    )


@asynccontextmanager
async def started(tmp_path: Path, names: Sequence[str] = ("lp", "office")) -> AsyncIterator[Queues]:
    """The spool opened and the queues restored, as at a gateway's start; closed after."""
    spool = await Spool.open(tmp_path / "spool")
    made = config_queues(tmp_path, names)
    try:
        yield await Queues.restore(spool, made, factory(tmp_path))
    finally:
        for queue in made:
            await queue.backend.aclose()
        await spool.aclose()


@asynccontextmanager
async def dispatching(queues: Queues) -> AsyncIterator[Dispatcher]:
    """A running dispatcher over `queues`."""
    admin = queues.admin
    assert admin is not None
    dispatcher = Dispatcher(admin.spool, queues, retry_initial=0.2, retry_max=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(dispatcher.run)
        yield dispatcher
        nursery.cancel_scope.cancel()


def admin_of(queues: Queues) -> Administration:
    assert queues.admin is not None
    return queues.admin


def lpd_uri(port: int = 9) -> str:
    return f"lpd://127.0.0.1:{port}/lp"


async def test_printer_ids_are_given_in_file_order_and_kept_across_restarts(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with started(tmp_path, ["lp", "office", "lab"]) as queues:
            assert [(q.name, q.printer_id) for q in queues] == [
                ("lp", 1),
                ("office", 2),
                ("lab", 3),
            ]
            assert queues.by_printer_id(2) is queues.get("office")
        # Reordered, one removed, one added: the known names keep their ids.
        async with started(tmp_path, ["lab", "new", "lp"]) as queues:
            assert [(q.name, q.printer_id) for q in queues] == [("lab", 3), ("new", 4), ("lp", 1)]
            assert queues.default.name == "lab"
        async with started(tmp_path, ["office"]) as queues:
            assert queues.get("office") is not None
            assert queues.get("office").printer_id == 2  # type: ignore[union-attr]


async def test_switches_of_configuration_queues_survive_a_restart(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with started(tmp_path) as queues:
            lp, office = queues.get("lp"), queues.get("office")
            assert lp is not None and office is not None
            await queues.set_switches(
                [
                    (lp, Switches(accepting=False, enabled=False, hold_new_jobs=True)),
                    (office, Switches(shutdown=True, enabled=False, accepting=False)),
                ]
            )
            assert (lp.enabled, lp.accepting, lp.hold_new_jobs) == (False, False, True)
            assert lp.state().reasons == ("paused", "hold-new-jobs")  # RFC 3998 7.1
            assert office.state().reasons == ("printer-shutdown",)
        async with started(tmp_path) as queues:
            lp, office = queues.get("lp"), queues.get("office")
            assert lp is not None and office is not None
            assert lp.switches == Switches(accepting=False, enabled=False, hold_new_jobs=True)
            assert office.switches == Switches(accepting=False, enabled=False, shutdown=True)
            assert lp.state().state == "stopped"
        # A queue removed from the file keeps its record by name, and gets it back.
        async with started(tmp_path, ["office"]) as queues:
            assert queues.get("office").shutdown  # type: ignore[union-attr]
        async with started(tmp_path, ["lp"]) as queues:
            assert queues.get("lp").hold_new_jobs  # type: ignore[union-attr]


async def test_the_stored_documents_are_versioned_json(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with started(tmp_path) as queues:
            lp = queues.get("lp")
            assert lp is not None
            await queues.set_switches([(lp, Switches(enabled=False))])
            spool = admin_of(queues).spool
            index = json.loads(await spool.get_meta(INDEX_KEY) or "")
            record = json.loads(await spool.get_meta(QUEUE_KEY + "lp") or "")
            system = json.loads(await spool.get_meta(SYSTEM_KEY) or "")
    assert index == {
        "version": 1,
        "next-printer-id": 3,
        "printer-ids": {"lp": 1, "office": 2},
        "records": ["lp"],
    }
    assert record == {
        "version": 1,
        "name": "lp",
        "switches": {
            "accepting": True,
            "enabled": False,
            "hold-new-jobs": False,
            "shutdown": False,
        },
    }
    assert system["version"] == 1 and system["uuid"].startswith("urn:uuid:")


async def test_printer_attributes_last_and_delete_attribute_goes_back_to_the_file(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with started(tmp_path) as queues:
            lp = queues.get("lp")
            assert lp is not None
            await admin_of(queues).set_printer_attributes(
                lp,
                {
                    "printer-location": "Building 7, room 12",
                    "printer-geo-location": "geo:52.37,4.89",
                    "printer-organization": "Finance",
                },
            )
            assert lp.config.location == "Building 7, room 12"
            assert lp.config.backend == (tmp_path / "out").as_uri()
        async with started(tmp_path) as queues:
            lp = queues.get("lp")
            assert lp is not None
            assert (lp.config.location, lp.config.geo_location, lp.config.organization) == (
                "Building 7, room 12",
                "geo:52.37,4.89",
                "Finance",
            )
            await admin_of(queues).set_printer_attributes(lp, {"printer-location": None})
            assert lp.config.location == ""  # the file's value
        async with started(tmp_path) as queues:
            lp = queues.get("lp")
            assert lp is not None
            assert (lp.config.location, lp.config.organization) == ("", "Finance")
            with pytest.raises(ValueError, match="not settable"):
                await admin_of(queues).set_printer_attributes(lp, {"printer-name": "x"})


async def test_a_queue_created_at_run_time_is_there_after_a_restart(tmp_path: Path) -> None:
    with trio.fail_after(15):
        async with started(tmp_path) as queues, dispatching(queues) as dispatcher:
            admin = admin_of(queues)
            created = await admin.create_queue(
                "floor3",
                lpd_uri() + "?reserve=none",
                dispatcher,
                backend_options={"order": "control,data"},
                attributes={"printer-info": "Floor 3 laser", "printer-location": "3rd floor"},
            )
            assert created.runtime and created.printer_id == 3
            assert queues.get("floor3") is created
            assert created.switches == Switches(accepting=False, enabled=False)
            assert created.state().reasons == ("paused",)
            assert queues.default.name == "lp"  # still the file's first queue
            changes = admin.system.config_changes
            await queues.set_switches([(created, Switches())])  # Startup-One-Printer
        async with started(tmp_path) as queues:
            floor3 = queues.get("floor3")
            assert floor3 is not None and floor3.runtime
            assert [q.name for q in queues] == ["lp", "office", "floor3"]
            assert floor3.printer_id == 3
            assert floor3.config.backend == lpd_uri() + "?reserve=none"
            assert dict(floor3.config.backend_options) == {"order": "control,data"}
            assert (floor3.config.info, floor3.config.location) == ("Floor 3 laser", "3rd floor")
            assert floor3.switches == Switches()
            assert floor3.backend.uri == lpd_uri() + "?reserve=none"
            assert admin_of(queues).system.config_changes == changes


async def test_create_refuses_a_taken_name_a_bad_uri_and_bad_backend_options(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with started(tmp_path) as queues, dispatching(queues) as dispatcher:
            admin = admin_of(queues)
            for name, uri, options, why in [
                ("lp", lpd_uri(), {}, "exists already"),
                ("bad name", lpd_uri(), {}, "not a valid queue name"),
                ("q", "smb://host/share", {}, "unknown backend scheme"),
                ("q", "lpd://host", {}, "needs a queue"),
                ("q", lpd_uri(), {"no-such-option": 1}, "unknown option"),
                ("q", lpd_uri(), {"reserve": 7}, "wrong type"),
            ]:
                with pytest.raises(QueueRefused, match=why):
                    await admin.create_queue(name, uri, dispatcher, backend_options=options)
            assert [q.name for q in queues] == ["lp", "office"]
            index = json.loads(await admin.spool.get_meta(INDEX_KEY) or "")
            assert "q" not in index["printer-ids"]


async def test_the_configuration_file_wins_over_a_run_time_queue_of_its_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(15):
        async with started(tmp_path) as queues, dispatching(queues) as dispatcher:
            made = await admin_of(queues).create_queue("annex", lpd_uri(), dispatcher)
            await queues.set_switches([(made, Switches(hold_new_jobs=True))])
        caplog.set_level(logging.WARNING, logger="gateway.admin")
        async with started(tmp_path, ["lp", "office", "annex"]) as queues:
            annex = queues.get("annex")
            assert annex is not None and not annex.runtime
            assert annex.config.backend == (tmp_path / "out").as_uri()
            assert annex.switches == Switches()  # the run-time queue's state went with it
            assert annex.printer_id == 3  # the name keeps its id
            lines = [r.getMessage() for r in caplog.records if "annex" in r.getMessage()]
            assert len(lines) == 1
            assert "configuration file defines it now" in lines[0]
            assert "lpd://127.0.0.1:9/lp" in lines[0]
            assert await admin_of(queues).spool.get_meta(QUEUE_KEY + "annex") == ""
        async with started(tmp_path) as queues:
            assert "annex" not in queues  # it is not back either


async def test_delete_refuses_file_queues_and_queues_with_jobs_unless_asked_to_cancel(
    tmp_path: Path,
) -> None:
    with trio.fail_after(20):
        async with started(tmp_path) as queues, dispatching(queues) as dispatcher:
            admin = admin_of(queues)
            with pytest.raises(QueueRefused, match="defined in the configuration file"):
                await admin.delete_queue("lp", dispatcher)
            with pytest.raises(QueueRefused, match="no queue") as missing:
                await admin.delete_queue("nope", dispatcher)
            assert missing.value.not_found
            made = await admin.create_queue("tmp", lpd_uri(), dispatcher)  # stopped
            job = await spool_job(admin.spool, queue="tmp")
            with pytest.raises(QueueRefused, match="1 job"):
                await admin.delete_queue("tmp", dispatcher)
            assert queues.get("tmp") is made
            await admin.delete_queue("tmp", dispatcher, cancel_jobs=True, by="ops")
            canceled = await wait_for_state(admin.spool, job.id, JobState.CANCELED)
            assert canceled.state_reasons == ("job-canceled-by-operator",)
            assert "deleted by ops" in canceled.state_message
            assert "tmp" not in queues
            assert await admin.spool.get_meta(QUEUE_KEY + "tmp") == ""
            # An empty one goes without asking; its printer-id is not reused.
            again = await admin.create_queue("tmp2", lpd_uri(), dispatcher)
            assert again.printer_id == 4
            await admin.delete_queue("tmp2", dispatcher)
        async with started(tmp_path) as queues:
            assert [q.name for q in queues] == ["lp", "office"]
            index = json.loads(await admin_of(queues).spool.get_meta(INDEX_KEY) or "")
            assert index["printer-ids"] == {"lp": 1, "office": 2}
            assert index["next-printer-id"] == 5


async def test_a_run_time_queue_whose_backend_cannot_be_made_is_left_out_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(15):
        async with started(tmp_path) as queues, dispatching(queues) as dispatcher:
            await admin_of(queues).create_queue("later", lpd_uri(), dispatcher)

        def refusing(config: QueueConfig, context: backends.BackendContext) -> FileBackend:
            raise backends.BackendUnavailable(f"queue {config.name}: no lpd today")

        monkeypatch.setitem(backends.FACTORIES, "lpd", refusing)
        async with started(tmp_path) as queues:
            assert "later" not in queues
            assert any("no lpd today" in r.getMessage() for r in caplog.records)
        monkeypatch.undo()
        async with started(tmp_path) as queues:
            assert "later" in queues


async def test_a_state_from_a_newer_version_is_refused_and_a_bad_record_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with started(tmp_path) as queues:
            lp = queues.get("lp")
            assert lp is not None
            await queues.set_switches([(lp, Switches(enabled=False))])
            await admin_of(queues).spool.set_meta(QUEUE_KEY + "lp", "{not json")
        async with started(tmp_path) as queues:
            assert queues.get("lp").enabled  # type: ignore[union-attr]
            assert any("admin.queue.lp cannot be read" in r.getMessage() for r in caplog.records)
            await admin_of(queues).spool.set_meta(
                INDEX_KEY, json.dumps({"version": 2, "printer-ids": {}})
            )
        with pytest.raises(AdminStateError, match="newer version"):
            async with started(tmp_path):
                pass


async def test_system_attributes_and_config_changes_last(tmp_path: Path) -> None:
    with trio.fail_after(10):
        async with started(tmp_path) as queues:
            admin = admin_of(queues)
            uuid = admin.system.uuid
            await admin.set_system_attributes(
                {"system-location": "Data centre", "system-owner-col": {"contact-name": "Ops"}}
            )
            assert admin.system.config_changes == 1
        async with started(tmp_path) as queues:
            admin = admin_of(queues)
            assert admin.system.uuid == uuid
            assert admin.system.attributes == {
                "system-location": "Data centre",
                "system-owner-col": {"contact-name": "Ops"},
            }
            assert admin.system.config_changes == 1
            await admin.set_system_attributes({"system-location": None})
            assert "system-location" not in admin.system.attributes


async def test_a_reload_adds_and_removes_configuration_queues_keeping_their_state(
    tmp_path: Path,
) -> None:
    """What a reload of the configuration file does with the primitives here:
    a queue taken out of the file keeps its state by name; one added gets its
    printer-id and state back; the file takes a run-time queue's name over."""
    with trio.fail_after(15):
        async with started(tmp_path) as queues, dispatching(queues) as dispatcher:
            admin = admin_of(queues)
            office = queues.get("office")
            assert office is not None
            await queues.set_switches([(office, Switches(enabled=False))])
            await admin.create_queue("annex", lpd_uri(), dispatcher)
            job = await spool_job(admin.spool, queue="annex")
            removed = await admin.remove_configured("office", dispatcher)
            assert removed is office and "office" not in queues
            with pytest.raises(QueueRefused, match="created at run time"):
                await admin.remove_configured("annex", dispatcher)
            back = config_queues(tmp_path, ["office"])[0]
            await admin.add_configured(back, dispatcher)
            assert back.printer_id == 2 and not back.enabled  # its id and state again
            file_annex = config_queues(tmp_path, ["annex"])[0]
            await admin.add_configured(file_annex, dispatcher)
            assert queues.get("annex") is file_annex and file_annex.printer_id == 3
            assert admin.spool.get(job.id).state == JobState.PENDING  # type: ignore[union-attr]
            with pytest.raises(ValueError, match="already exists"):
                await admin.add_configured(config_queues(tmp_path, ["lp"])[0], dispatcher)
            assert [q.name for q in queues] == ["lp", "office", "annex"]
            await back.backend.aclose()
            await file_annex.backend.aclose()
        async with started(tmp_path, ["lp", "office", "annex"]) as queues:
            assert not queues.get("annex").runtime  # type: ignore[union-attr]
            assert not queues.get("office").enabled  # type: ignore[union-attr]


async def test_queues_add_and_remove_keep_the_default_queue_rule(tmp_path: Path) -> None:
    out = (tmp_path / "out").as_uri()
    a, b = (Queue(QueueConfig(n, out), FileBackend(out)) for n in ("a", "b"))
    runtime = Queue(QueueConfig("r", out), FileBackend(out), runtime=True)
    queues = Queues([a])
    queues.add(runtime)
    assert queues.default is a
    with pytest.raises(ValueError, match="already exists"):
        queues.add(Queue(QueueConfig("r", out), FileBackend(out)))
    queues.add(b)
    assert [q.name for q in queues] == ["a", "r", "b"]
    assert queues.remove("a") is a
    assert queues.default is b  # the first queue of the file that is left
    queues.remove("b")
    assert queues.default is runtime
    with pytest.raises(ValueError, match="only queue"):
        queues.remove("r")
    with pytest.raises(KeyError):
        queues.remove("zz")


async def test_two_thousand_queues_restore_and_pause_all_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fleet's start and Pause-All-Printers: one record per queue, read back and
    written together (group commit), within a few seconds on a slow machine."""
    names = [f"q{i:04d}" for i in range(2000)]
    with trio.fail_after(120):
        async with started(tmp_path, names) as queues:
            began = time.perf_counter()
            await queues.set_switches([(q, Switches(enabled=False)) for q in queues])
            paused = time.perf_counter() - began
            batches, writes = admin_of(queues).spool.commit_stats
        began = time.perf_counter()
        async with started(tmp_path, names) as queues:
            restored = time.perf_counter() - began
            assert all(not q.enabled for q in queues)
            assert queues.get("q1999").printer_id == 2000  # type: ignore[union-attr]
    print(
        f"\n2,000 queues: pause all {paused * 1000:.0f} ms ({writes} writes in {batches} "
        f"transactions), open + restore {restored * 1000:.0f} ms"
    )
    assert batches < writes / 10  # shared transactions, not one flush per queue
    assert paused < 20 and restored < 20


def test_created_queues_start_stopped_and_not_accepting() -> None:
    assert Switches(accepting=False, enabled=False) == admin_module.CREATED_SWITCHES
