"""The Infrastructure Printer model (gateway/core/infra.py): held jobs, ownership,
state reports, output devices kept in the spool's meta, and the proxy rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from gateway.config import INFRA_BACKEND, ConfigError, from_mapping
from gateway.core import infra
from gateway.core.infra import NotFetchable, OutputDevices, ProxyHold, TooManyDevices
from gateway.core.job import Frontend, Job, JobState, Origin
from gateway.core.policy import proxy_refusal
from gateway.core.spool import NewDocument, Spool
from tests.helpers import restarted

A = "urn:uuid:00000000-0000-4000-8000-00000000000a"
B = "urn:uuid:00000000-0000-4000-8000-00000000000b"


async def held(spool: Spool) -> Job:
    """A job of queue ``cloud`` as the dispatcher leaves it: held for proxies."""
    folder = spool.new_folder()
    async with folder.document() as writer:
        await writer.write(b"for a proxy\n")
        staged = await writer.finish()
    job = await spool.submit(
        "cloud",
        {"job-name": "letter", "requesting-user-name": "alice"},
        [NewDocument(staged, "text/plain", "letter.txt")],
        Origin(Frontend.API, peer="127.0.0.1", user="alice"),
        folder=folder,
    )
    done = await infra.hold(spool, job)
    assert done is not None
    return done


async def test_a_held_job_is_fetchable_until_a_device_acknowledges_it(spool: Spool) -> None:
    job = await held(spool)
    assert job.state == JobState.PROCESSING_STOPPED
    assert job.state_reasons == ("job-fetchable",)
    assert infra.is_fetchable(job)
    devices = OutputDevices(spool)
    owned = await devices.acknowledge(job.id, A)
    assert owned.backend_job_id == A
    assert owned.state == JobState.PROCESSING
    assert not infra.is_fetchable(owned)
    assert (await devices.acknowledge(job.id, A)).backend_job_id == A  # again: no change
    with pytest.raises(NotFetchable, match="not fetchable"):
        await devices.acknowledge(job.id, B)


async def test_two_devices_at_once_one_owns_the_job(spool: Spool) -> None:
    job = await held(spool)
    devices = OutputDevices(spool)
    outcomes: dict[str, str] = {}

    async def ack(uuid: str) -> None:
        try:
            await devices.acknowledge(job.id, uuid)
            outcomes[uuid] = "owner"
        except NotFetchable:
            outcomes[uuid] = "refused"

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ack, A)
            nursery.start_soon(ack, B)
    assert sorted(outcomes.values()) == ["owner", "refused"]
    winner = next(u for u, o in outcomes.items() if o == "owner")
    current = spool.get(job.id)
    assert current is not None and current.backend_job_id == winner


async def test_the_job_follows_its_device_and_stays_ended(spool: Spool) -> None:
    job = await held(spool)
    devices = OutputDevices(spool)
    await devices.acknowledge(job.id, A)
    with pytest.raises(NotFetchable):
        await devices.job_status(
            job.id, B, state=JobState.COMPLETED, reasons=None, message=None, impressions=None
        )
    printing = await devices.job_status(
        job.id,
        A,
        state=JobState.PENDING,  # pending at the device: still processing here
        reasons=("job-printing",),
        message="printing",
        impressions=None,
    )
    assert printing.state == JobState.PROCESSING
    assert printing.state_reasons == ("job-printing",)
    done = await devices.job_status(
        job.id, A, state=JobState.COMPLETED, reasons=None, message=None, impressions=2
    )
    assert done.state == JobState.COMPLETED
    assert done.state_reasons == ("job-completed-successfully",)
    assert done.impressions_completed == 2
    again = await devices.job_status(
        job.id, A, state=JobState.ABORTED, reasons=None, message=None, impressions=None
    )
    assert again.state == JobState.COMPLETED


async def test_ownership_and_devices_survive_a_restart(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        job = await held(spool)
        devices = OutputDevices(spool)
        await devices.register(A, "cloud", "proxy")
        await devices.set_attributes(
            A, "cloud", "proxy", {"media-supported": {"tag": 0x44, "values": ["iso_a4_210x297mm"]}}
        )
        await devices.acknowledge(job.id, A)
    finally:
        await spool.aclose()
    spool = await Spool.open(tmp_path / "spool")
    try:
        kept = spool.get(job.id)
        assert kept is not None
        assert kept.state == JobState.PROCESSING and kept.backend_job_id == A
        devices = OutputDevices(spool)
        await devices.load()
        device = devices.get(A)
        assert device is not None and device.user == "proxy"
        assert device.attributes["media-supported"]["values"] == ["iso_a4_210x297mm"]
        assert [j.id for j in devices.active_jobs(A)] == [job.id]
    finally:
        await spool.aclose()


async def test_a_fetchable_job_is_held_again_after_a_restart(tmp_path: Path) -> None:
    spool = await Spool.open(tmp_path / "spool")
    try:
        job = await held(spool)
    finally:
        await spool.aclose()
    spool = await restarted(tmp_path / "spool")
    try:
        again = spool.get(job.id)
        # No owner yet: back to pending, and the dispatcher holds it again.
        assert again is not None and again.state == JobState.PENDING
        assert await infra.hold(spool, again) is not None
    finally:
        await spool.aclose()


async def test_output_devices_are_bounded(spool: Spool) -> None:
    devices = OutputDevices(spool, limit=1)
    await devices.register(A, "cloud", "proxy")
    await devices.register(A, "cloud", "proxy")  # the same one again
    with pytest.raises(TooManyDevices):
        await devices.register(B, "cloud", "proxy")
    await devices.deregister(A, "cloud")
    await devices.register(B, "cloud", "proxy")
    with pytest.raises(infra.UnknownDevice):
        await devices.deregister(A, "cloud")


async def test_the_hold_backend_sends_nothing_and_reports_the_devices() -> None:
    hold = ProxyHold("cloud")
    assert hold.uri == INFRA_BACKEND
    assert hold.capabilities().document_formats is None
    hold.report(("application/pdf",), {"media-supported": object()})
    caps = hold.capabilities()
    assert caps.document_formats == ("application/pdf",)
    assert hold.capabilities() is caps  # the same object until the devices change


def test_an_infrastructure_queue_needs_no_backend() -> None:
    cfg = from_mapping(
        {"queues": {"cloud": {"infrastructure": True}}, "infra": {"proxy_users": ["p"]}}
    )
    assert cfg.queues[0].infrastructure and cfg.queues[0].backend == INFRA_BACKEND
    assert cfg.infra.proxy_users == ("p",) and cfg.infra.max_output_devices == 16
    with pytest.raises(ConfigError, match=r"queues\.cloud\.backend: an infrastructure queue"):
        from_mapping({"queues": {"cloud": {"infrastructure": True, "backend": "file:///tmp"}}})
    with pytest.raises(ConfigError, match=r"infra\.max_output_devices"):
        from_mapping({"infra": {"max_output_devices": 0}})


def test_only_proxies_may_use_the_proxy_operations() -> None:
    open_cfg = from_mapping({})
    assert proxy_refusal(open_cfg, user=None, peer="127.0.0.1") is None
    assert proxy_refusal(open_cfg, user=None, peer="192.0.2.7") is not None
    cfg = from_mapping(
        {
            "ipp": {
                "auth": "jobs",
                "password_file": "/etc/passwd-gw",
                "tls_listen": ["127.0.0.1:0"],
            },
            "infra": {"proxy_users": ["proxy"], "proxy_group": "root"},
        }
    )
    assert proxy_refusal(cfg, user=None, peer="127.0.0.1") is not None
    assert proxy_refusal(cfg, user="proxy", peer="192.0.2.7") is None
    assert proxy_refusal(cfg, user="root", peer="192.0.2.7") is None  # in group root
    assert "not a proxy" in (proxy_refusal(cfg, user="bob", peer="127.0.0.1") or "")
