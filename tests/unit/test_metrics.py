"""Metrics move as jobs flow (fed by the spool listener)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.backends.file import FileBackend
from gateway.config import QueueConfig
from gateway.core.job import Frontend, JobState, Origin
from gateway.core.queues import Queue, Queues
from gateway.core.spool import Spool
from gateway.metrics import Metrics
from tests.helpers import spool_job


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def test_counters_follow_jobs(spool: Spool) -> None:
    queues = Queues([Queue(QueueConfig("lp", "file:///tmp/x"), FileBackend("file:///tmp/x"))])
    metrics = Metrics(spool, queues)
    lpd = Origin(Frontend.LPD, peer="10.0.0.1")
    a = await spool_job(spool, [(b"x" * 100, "text/plain", "a")], origin=lpd)
    b = await spool_job(spool, [(b"y" * 50, "text/plain", "b")], origin=lpd)
    s = samples(metrics)
    assert s[("gateway_jobs_received_total", (("frontend", "lpd"), ("queue", "lp")))] == 2
    assert s[("gateway_bytes_received_total", (("frontend", "lpd"), ("queue", "lp")))] == 150
    assert s[("gateway_queue_depth", (("queue", "lp"), ("state", "pending")))] == 2

    await spool.transition(a.id, JobState.PROCESSING)
    await spool.transition(a.id, JobState.PENDING)  # a transient error
    await spool.transition(a.id, JobState.PROCESSING)
    await spool.transition(a.id, JobState.COMPLETED)
    await spool.transition(b.id, JobState.PROCESSING)
    await spool.transition(b.id, JobState.ABORTED)
    s = samples(metrics)
    backend = ("backend", "file:///tmp/x")
    assert s[("gateway_backend_retries_total", (backend, ("queue", "lp")))] == 1
    assert s[("gateway_jobs_forwarded_total", (backend, ("queue", "lp")))] == 1
    assert s[("gateway_backend_failures_total", (backend, ("queue", "lp")))] == 1
    assert s[("gateway_jobs_ended_total", (("queue", "lp"), ("state", "completed")))] == 1
    assert s[("gateway_job_latency_seconds_count", (("queue", "lp"),))] == 1
    assert s[("gateway_queue_depth", (("queue", "lp"), ("state", "pending")))] == 0

    with metrics.connection("lpd"):
        assert samples(metrics)[("gateway_open_connections", (("listener", "lpd"),))] == 1
    assert samples(metrics)[("gateway_open_connections", (("listener", "lpd"),))] == 0
