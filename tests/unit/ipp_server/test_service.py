"""Routing, Host allow-list, certificates and subscriptions of the IPP front-end."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.core.job import JobState
from gateway.core.spool import Spool
from gateway.ipp.server.asgi import HostAllowList, split_host
from gateway.ipp.server.subscription_store import Subscriptions
from gateway.ipp.server.tls import certificate_for
from tests.helpers import spool_job


@pytest.mark.parametrize(
    ("header", "host"),
    [("example.com:631", "example.com"), ("[::1]:631", "::1"), ("[::1]", "::1"), ("h", "h")],
)
def test_split_host(header: str, host: str) -> None:
    assert split_host(header) == host


def test_host_allow_list() -> None:
    allow = HostAllowList("printhost", ["print.example.com"])
    for host in ["localhost", "LOCALHOST", "printhost", "printhost.local", "127.0.0.5", "::1",
                 "print.example.com", "foo.localhost"]:  # fmt: skip
        assert allow.allows(host, None), host
    for host in ["evil.example.com", "", "10.1.2.3"]:
        assert not allow.allows(host, None), host
    assert allow.allows("10.1.2.3", "10.1.2.3")  # the address the client connected to
    assert HostAllowList("printhost", ["*"]).allows("anything.example", None)


def test_self_signed_certificate_is_made_once_and_reused(tmp_path: Path) -> None:
    first = certificate_for(tmp_path, "printhost")
    assert first.generated
    assert first.private_key.stat().st_mode & 0o077 == 0
    again = certificate_for(tmp_path, "printhost")
    assert not again.generated
    assert again.certificate.read_bytes() == first.certificate.read_bytes()
    configured = certificate_for(tmp_path, "printhost", tmp_path / "c.pem", tmp_path / "k.pem")
    assert configured.certificate == tmp_path / "c.pem"


async def test_subscriptions_collect_job_events_and_expire(spool: Spool) -> None:
    now = [1000.0]
    subs = Subscriptions(clock=lambda: now[0])
    subs.attach(spool)
    printer = subs.create("lp", frozenset({"job-created", "job-completed"}), "alice", 60)
    other = subs.create("other", frozenset({"job-created"}), "alice", 0)
    assert printer is not None and other is not None
    job = await spool_job(spool)
    await spool.transition(job.id, JobState.PROCESSING)
    await spool.transition(job.id, JobState.COMPLETED)
    assert [(e.sequence, e.event) for e in printer.log] == [
        (1, "job-created"),
        (2, "job-completed"),
    ]
    assert list(other.log) == []
    now[0] += 61
    assert subs.get(printer.id) is None
    assert subs.get(other.id) is other  # lease 0: no expiry
