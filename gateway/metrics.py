"""Prometheus metrics (served as text at ``/metrics`` on the IPP listener and on
the metrics listener, `gateway.web.metrics_listener`).

Labels are queues, front-ends, backends, listeners and job states, never a job
name; user names appear in the accounting counters by user only (below).

Cardinality is bounded for a fleet: only the queues chosen by ``[metrics]
per_queue`` (by default every queue of a gateway with at most 50, none of a
larger one) have series of their own; every other queue is counted in one
series with ``queue="*"`` (and ``backend="*"``), so summing a metric over its
``queue`` label always gives the total across all queues.

Job counters are fed by the spool's change listener, so every front-end and
backend is counted the same way without calls scattered through the code:
a new job is "received", a job that reaches the backend is "forwarded", a
transient failure sends it back to pending ("retry"), an abort is a
"failure". Queue depth is read from the spool at scrape time. Front-ends
count their open connections with `Metrics.connection`.

Accounting counters (``gateway_accounting_*``) move when a job's accounting
record is written (`gateway.core.accounting`: the spool change that sets
``accounted``), so they agree with the accounting file: jobs by queue and
result, pages (impressions, all copies, where known) and bytes by queue, and
the same three by user. Users are bounded the way an operator can live with:
the first ``user_series`` distinct users seen since the start (100 by default)
have series of their own, every later one is counted under ``user="*"``; a name
is cut to 64 characters. Like every counter here they restart from zero with the
gateway. Whoever may scrape ``/metrics`` sees those user names: keep the metrics
listener where only the scraper reaches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.config import MetricsConfig
from gateway.core.accounting import impressions
from gateway.core.job import Frontend, Job, JobState
from gateway.core.queues import Queues
from gateway.core.spool import Spool

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: The queue (and backend) label of every queue without series of its own.
OTHERS = "*"
#: Users with series of their own, by default (the first seen); the others: user="*".
USER_SERIES = 100
USER_LABEL_MAX = 64
ACTIVE_STATES = (
    JobState.PENDING,
    JobState.PENDING_HELD,
    JobState.PROCESSING,
    JobState.PROCESSING_STOPPED,
)


class _QueueDepth(Collector):
    def __init__(self, spool: Spool, queues: Queues, labelled: Sequence[str]) -> None:
        self._spool = spool
        self._queues = queues
        self._labelled = labelled

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "gateway_queue_depth",
            "Jobs not yet ended, by queue and state",
            labels=["queue", "state"],
        )
        for name in self._labelled:
            self._add(depth, name, self._spool.active_jobs(name))
        if len(self._labelled) < len(self._queues):  # the others, together
            labelled = set(self._labelled)
            others = (j for j in self._spool.active_jobs() if j.queue not in labelled)
            self._add(depth, OTHERS, others)
        yield depth

    @staticmethod
    def _add(depth: GaugeMetricFamily, label: str, jobs: Iterable[Job]) -> None:
        counts = dict.fromkeys(ACTIVE_STATES, 0)
        for job in jobs:
            counts[job.state] = counts.get(job.state, 0) + 1
        for state, count in counts.items():
            depth.add_metric([label, state.keyword], count)


class Metrics:
    """Every metric of one gateway, in its own registry; series of their own for
    the queues `settings` chooses (``[metrics] per_queue``), ``queue="*"`` for
    the others together."""

    def __init__(
        self,
        spool: Spool,
        queues: Queues,
        settings: MetricsConfig | None = None,
        *,
        user_series: int = USER_SERIES,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        chosen = (settings or MetricsConfig()).queue_series([q.name for q in queues])
        labelled = [q.name for q in queues if q.name in chosen]
        #: queue name -> (queue label, backend label); absent: the others.
        self._labels = {q.name: (q.name, q.backend.uri) for q in queues if q.name in chosen}
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
        self.accounted_jobs = Counter(
            "gateway_accounting_jobs",
            "Jobs accounted (record written), by queue and result",
            ["queue", "result"],
            registry=self.registry,
        )
        self.accounted_pages = Counter(
            "gateway_accounting_pages",
            "Impressions (pages, all copies) of accounted jobs where known, by queue",
            ["queue"],
            registry=self.registry,
        )
        self.accounted_bytes = Counter(
            "gateway_accounting_bytes",
            "Document bytes of accounted jobs, by queue",
            ["queue"],
            registry=self.registry,
        )
        self.user_jobs = Counter(
            "gateway_accounting_user_jobs",
            "Jobs accounted, by user (the first users seen; the others as *)",
            ["user"],
            registry=self.registry,
        )
        self.user_pages = Counter(
            "gateway_accounting_user_pages",
            "Impressions (pages, all copies) of accounted jobs where known, by user",
            ["user"],
            registry=self.registry,
        )
        self.user_bytes = Counter(
            "gateway_accounting_user_bytes",
            "Document bytes of accounted jobs, by user",
            ["user"],
            registry=self.registry,
        )
        self._user_series = user_series
        self._users: set[str] = set()
        for counter in (self.user_jobs, self.user_pages, self.user_bytes):
            counter.labels(OTHERS)
        self.registry.register(_QueueDepth(spool, queues, labelled))
        if len(labelled) < len(queues):  # the others' totals are there from the start
            for frontend in Frontend:
                self.jobs_received.labels(frontend.value, OTHERS)
                self.bytes_received.labels(frontend.value, OTHERS)
            for counter in (self.jobs_forwarded, self.failures, self.retries):
                counter.labels(OTHERS, OTHERS)
            self.accounted_pages.labels(OTHERS)
            self.accounted_bytes.labels(OTHERS)
            self.latency.labels(OTHERS)
        spool.add_listener(self._on_change)

    def _on_change(self, job: Job, old: Job | None) -> None:
        queue, backend = self._labels.get(job.queue, (OTHERS, OTHERS))
        if old is None:
            frontend = job.origin.frontend.value
            self.jobs_received.labels(frontend, queue).inc()
            self.bytes_received.labels(frontend, queue).inc(job.size)
            return
        if job.accounted and not old.accounted:
            self._accounted(job, queue)
        if len(job.documents) > len(old.documents):
            added = sum(d.size for d in job.documents[len(old.documents) :])
            self.bytes_received.labels(job.origin.frontend.value, queue).inc(added)
        if job.state == old.state:
            if job.backend_job_id and not old.backend_job_id:
                self.jobs_forwarded.labels(queue, backend).inc()
            return
        if old.state == JobState.PROCESSING and job.state == JobState.PENDING:
            self.retries.labels(queue, backend).inc()
        if job.state.is_terminal:
            self.jobs_completed.labels(queue, job.state.keyword).inc()
            if job.state == JobState.COMPLETED:
                if not job.backend_job_id:  # done at once (folder): forwarded and ended
                    self.jobs_forwarded.labels(queue, backend).inc()
                if job.completed is not None:
                    self.latency.labels(queue).observe(max(0.0, job.completed - job.created))
            elif job.state == JobState.ABORTED and old.state == JobState.PROCESSING:
                self.failures.labels(queue, backend).inc()

    def _accounted(self, job: Job, queue: str) -> None:
        """Count a job whose accounting record was just written."""
        pages = impressions(job) or 0
        user = self._user_label(job.user)
        self.accounted_jobs.labels(queue, job.state.keyword).inc()
        self.accounted_pages.labels(queue).inc(pages)
        self.accounted_bytes.labels(queue).inc(job.size)
        self.user_jobs.labels(user).inc()
        self.user_pages.labels(user).inc(pages)
        self.user_bytes.labels(user).inc(job.size)

    def _user_label(self, user: str) -> str:
        """The user's own label while fewer than ``user_series`` users have one, else *."""
        name = user[:USER_LABEL_MAX]
        if name in self._users:
            return name
        if len(self._users) < self._user_series and name != OTHERS:
            self._users.add(name)
            return name
        return OTHERS

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
