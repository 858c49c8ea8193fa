"""Metrics move as jobs flow (fed by the spool listener)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from gateway.backends.file import FileBackend
from gateway.config import PER_QUEUE_AUTO_MAX, MetricsConfig, QueueConfig
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


def file_queues(names: list[str]) -> Queues:
    return Queues(
        [Queue(QueueConfig(n, "file:///tmp/x"), FileBackend("file:///tmp/x")) for n in names]
    )


def queue_labels(s: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> set[str]:
    return {value for _, labels in s for key, value in labels if key == "queue"}


async def test_per_queue_series_only_for_the_queues_asked_for(spool: Spool) -> None:
    queues = file_queues(["lp", "office-1", "office-2", "shop", "store"])
    metrics = Metrics(spool, queues, MetricsConfig(per_queue=("lp", "office-*")))
    lpd = Origin(Frontend.LPD, peer="10.0.0.1")
    office = await spool_job(spool, [(b"x" * 10, "text/plain", "a")], queue="office-1", origin=lpd)
    shop = await spool_job(spool, [(b"y" * 20, "text/plain", "b")], queue="shop", origin=lpd)
    await spool_job(spool, [(b"z" * 30, "text/plain", "c")], queue="store", origin=lpd)
    for job in (office, shop):
        await spool.transition(job.id, JobState.PROCESSING)
        await spool.transition(job.id, JobState.COMPLETED)
    s = samples(metrics)
    # Chosen queues by name, the others together as "*" (backend "*" too).
    assert queue_labels(s) == {"lp", "office-1", "office-2", "*"}
    received = "gateway_jobs_received_total"
    assert s[(received, (("frontend", "lpd"), ("queue", "office-1")))] == 1
    assert s[(received, (("frontend", "lpd"), ("queue", "*")))] == 2
    assert s[("gateway_bytes_received_total", (("frontend", "lpd"), ("queue", "*")))] == 50
    others = (("backend", "*"), ("queue", "*"))
    assert s[("gateway_jobs_forwarded_total", others)] == 1
    assert s[("gateway_queue_depth", (("queue", "*"), ("state", "pending")))] == 1
    assert s[("gateway_queue_depth", (("queue", "office-2"), ("state", "pending")))] == 0
    # Summed over the queue label: the totals across all queues.
    assert sum(v for (n, labels), v in s.items() if n == received) == 3
    ended = [v for (n, _), v in s.items() if n == "gateway_jobs_ended_total"]
    assert sum(ended) == 2
    text = metrics.render().decode()
    assert "shop" not in text and "store" not in text


async def test_default_is_every_queue_up_to_the_limit_then_none(spool: Spool) -> None:
    few = [f"q{i:02}" for i in range(PER_QUEUE_AUTO_MAX)]
    assert queue_labels(samples(Metrics(spool, file_queues(few)))) == set(few)
    many = Metrics(spool, file_queues([*few, "one-more"]))
    s = samples(many)
    # A fleet: one series per metric and label set, there (at 0) before any job.
    assert queue_labels(s) == {"*"}
    assert s[("gateway_jobs_received_total", (("frontend", "lpd"), ("queue", "*")))] == 0
    assert s[("gateway_job_latency_seconds_count", (("queue", "*"),))] == 0
    await spool_job(spool, queue="q07")
    s = samples(many)
    assert s[("gateway_jobs_received_total", (("frontend", "api"), ("queue", "*")))] == 1
    assert s[("gateway_queue_depth", (("queue", "*"), ("state", "pending")))] == 1
    # Listed explicitly, a fleet's queue has its series; [] means none at all.
    chosen = Metrics(spool, file_queues([*few, "one-more"]), MetricsConfig(per_queue=("q07",)))
    assert queue_labels(samples(chosen)) == {"q07", "*"}
    none = Metrics(spool, file_queues(["lp"]), MetricsConfig(per_queue=()))
    assert queue_labels(samples(none)) == {"*"}
