"""Prometheus metrics (served as text at ``/metrics`` on the IPP listener and on
the metrics listener, `gateway.web.metrics_listener`).

Labels are queues, front-ends, backends, listeners and job states: never a job
name or a user name, so the text is safe to show to any scraper.

Job counters are fed by the spool's change listener, so every front-end and
backend is counted the same way without calls scattered through the code:
a new job is "received", a job that reaches the backend is "forwarded", a
transient failure sends it back to pending ("retry"), an abort is a
"failure". Queue depth is read from the spool at scrape time. Front-ends
count their open connections with `Metrics.connection`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.core.job import Job, JobState
from gateway.core.queues import Queues
from gateway.core.spool import Spool

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class _QueueDepth(Collector):
    def __init__(self, spool: Spool, queues: Queues) -> None:
        self._spool = spool
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "gateway_queue_depth",
            "Jobs not yet ended, by queue and state",
            labels=["queue", "state"],
        )
        for queue in self._queues:
            counts = dict.fromkeys(
                (
                    JobState.PENDING,
                    JobState.PENDING_HELD,
                    JobState.PROCESSING,
                    JobState.PROCESSING_STOPPED,
                ),
                0,
            )
            for job in self._spool.active_jobs(queue.name):
                counts[job.state] = counts.get(job.state, 0) + 1
            for state, count in counts.items():
                depth.add_metric([queue.name, state.keyword], count)
        yield depth


class Metrics:
    """Every metric of one gateway, in its own registry."""

    def __init__(self, spool: Spool, queues: Queues) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._backends = {q.name: q.backend.uri for q in queues}
        self.jobs_received = Counter(
            "gateway_jobs_received",
            "Jobs received, by front-end and queue",
            ["frontend", "queue"],
            registry=self.registry,
        )
        self.bytes_received = Counter(
            "gateway_bytes_received",
            "Document bytes received, by front-end and queue",
            ["frontend", "queue"],
            registry=self.registry,
        )
        self.jobs_forwarded = Counter(
            "gateway_jobs_forwarded",
            "Jobs handed to a backend, by queue and backend",
            ["queue", "backend"],
            registry=self.registry,
        )
        self.jobs_completed = Counter(
            "gateway_jobs_ended",
            "Jobs ended, by queue and final state",
            ["queue", "state"],
            registry=self.registry,
        )
        self.failures = Counter(
            "gateway_backend_failures",
            "Jobs aborted by a backend error, by backend",
            ["queue", "backend"],
            registry=self.registry,
        )
        self.retries = Counter(
            "gateway_backend_retries",
            "Transient backend errors (job retried), by backend",
            ["queue", "backend"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_job_latency_seconds",
            "Time from receipt to completion",
            ["queue"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tls_refused = Counter(
            "gateway_tls_handshakes_refused",
            "TLS handshakes refused (no or wrong client certificate, not TLS, too old), "
            "by listener",
            ["listener"],
            registry=self.registry,
        )
        self.connections = Gauge(
            "gateway_open_connections",
            "Open client connections, by listener",
            ["listener"],
            registry=self.registry,
        )
        self.registry.register(_QueueDepth(spool, queues))
        spool.add_listener(self._on_change)

    def _on_change(self, job: Job, old: Job | None) -> None:
        backend = self._backends.get(job.queue, "")
        if old is None:
            frontend = job.origin.frontend.value
            self.jobs_received.labels(frontend, job.queue).inc()
            self.bytes_received.labels(frontend, job.queue).inc(job.size)
            return
        if len(job.documents) > len(old.documents):
            added = sum(d.size for d in job.documents[len(old.documents) :])
            self.bytes_received.labels(job.origin.frontend.value, job.queue).inc(added)
        if job.state == old.state:
            if job.backend_job_id and not old.backend_job_id:
                self.jobs_forwarded.labels(job.queue, backend).inc()
            return
        if old.state == JobState.PROCESSING and job.state == JobState.PENDING:
            self.retries.labels(job.queue, backend).inc()
        if job.state.is_terminal:
            self.jobs_completed.labels(job.queue, job.state.keyword).inc()
            if job.state == JobState.COMPLETED:
                if not job.backend_job_id:  # done at once (folder): forwarded and ended
                    self.jobs_forwarded.labels(job.queue, backend).inc()
                if job.completed is not None:
                    self.latency.labels(job.queue).observe(max(0.0, job.completed - job.created))
            elif job.state == JobState.ABORTED and old.state == JobState.PROCESSING:
                self.failures.labels(job.queue, backend).inc()

    @contextmanager
    def connection(self, listener: str) -> Iterator[None]:
        """Count one open connection of ``listener`` (``lpd``, ``ipp``, ``ipps``)."""
        gauge = self.connections.labels(listener)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def render(self) -> bytes:
        """The text exposition format, for ``GET /metrics``."""
        return generate_latest(self.registry)
