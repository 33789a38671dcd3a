"""Prometheus metrics, through the official ``prometheus_client``.

Two kinds:

* **Counted as it happens**, in whichever process it happens, summed across processes
  (multi-process mode, :mod:`.metrics_dir`): jobs by queue, class and outcome and their
  durations (from :mod:`zwm.queue.events`), Zuora calls by endpoint and status, rate-limit
  answers and token refreshes (from :mod:`zwm.zuora.observe`).
* **Read from the stores at scrape time** (:class:`StoreCollector`), so they are right
  whatever process changed them: backlog and oldest waiting age per queue, failed jobs
  kept, workers alive, sync runs kept by outcome, each customer's last sync, workflows per
  customer.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from zwm.config import get_config
from zwm.ops import metrics_dir
from zwm.ops.backlog import oldest_waiting_ages
from zwm.queue import events
from zwm.zuora import observe

log = logging.getLogger(__name__)

JOBS = Counter(
    "zwm_jobs", "Job executions that ended, by outcome.", ["queue", "job_class", "outcome"], registry=None
)
JOB_DURATION = Histogram(
    "zwm_job_duration_seconds",
    "How long job executions took.",
    ["queue", "job_class"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600),
    registry=None,
)
ZUORA_REQUESTS = Counter(
    "zwm_zuora_requests", "Zuora API responses by endpoint and status.", ["endpoint", "status"], registry=None
)
ZUORA_RATE_LIMITED = Counter(
    "zwm_zuora_rate_limited", "Zuora answers 429 (rate or concurrency limit).", ["endpoint"], registry=None
)
ZUORA_TOKEN_REFRESHES = Counter(
    "zwm_zuora_token_refreshes",
    "Tokens replaced after Zuora refused them (HTTP 401).",
    ["endpoint"],  # labelled, so a process that never refreshes writes no value file
    registry=None,
)


def on_job_event(event: events.JobEvent) -> None:
    if event.kind == "started":
        return
    _jobs(event.queue, event.job_class, event.kind).inc()
    if event.duration is not None:
        _job_duration(event.queue, event.job_class).observe(event.duration)


# Every job's end passes here: the labelled series are looked up once per label set, not
# through labels() each time (half of this listener's cost per job, measured).
@functools.cache
def _jobs(queue: str, job_class: str, outcome: str) -> Counter:
    return JOBS.labels(queue, job_class, outcome)


@functools.cache
def _job_duration(queue: str, job_class: str) -> Histogram:
    return JOB_DURATION.labels(queue, job_class)


def on_zuora_event(event: observe.ZuoraEvent) -> None:
    if event.kind == "refresh":
        ZUORA_TOKEN_REFRESHES.labels(event.endpoint).inc()
        return
    ZUORA_REQUESTS.labels(event.endpoint, str(event.status) if event.status is not None else "error").inc()
    if event.status == 429:
        ZUORA_RATE_LIMITED.labels(event.endpoint).inc()


def install() -> None:
    """Count this process's jobs and Zuora calls (called once, from the app's ``ready()``)."""
    events.subscribe(on_job_event)
    observe.subscribe(on_zuora_event)


class StoreCollector(Collector):
    """Gauges read from the database and the queue when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        for section in (self._queues, self._workers, self._catalog):
            try:
                yield from section()
            except Exception as exc:  # a store that is down costs its gauges, not the scrape
                log.warning("metrics: %s unavailable: %s", section.__name__.strip("_"), type(exc).__name__)

    def _queues(self) -> Iterator[Metric]:
        from zwm.queue.connections import get_driver
        from zwm.queue.models import FailedJob

        connection = get_config().queue_connection
        jobs = GaugeMetricFamily("zwm_queue_jobs", "Jobs in each queue by state.", labels=["queue", "state"])
        for queue, counts in sorted(get_driver(connection).counts().items()):
            for state in ("waiting", "delayed", "reserved"):
                jobs.add_metric([queue, state], getattr(counts, state))
        yield jobs
        oldest = GaugeMetricFamily(
            "zwm_queue_oldest_waiting_seconds",
            "Age of the oldest job each queue could run now but has not.",
            labels=["queue"],
        )
        for queue, age in oldest_waiting_ages(connection).items():
            oldest.add_metric([queue], age)
        yield oldest
        failed = GaugeMetricFamily("zwm_failed_jobs", "Failed jobs kept, by queue.", labels=["queue"])
        for row in FailedJob.objects.values("queue").order_by("queue").annotate(n=Count("id")):
            failed.add_metric([row["queue"]], row["n"])
        yield failed

    def _workers(self) -> Iterator[Metric]:
        from zwm.queue.models import Worker

        since = timezone.now() - timedelta(seconds=get_config().health_worker_stale)
        alive = Worker.objects.filter(last_heartbeat_at__gte=since).exclude(status=Worker.Status.STOPPED)
        yield GaugeMetricFamily("zwm_workers_alive", "Workers with a recent heartbeat.", value=alive.count())

    def _catalog(self) -> Iterator[Metric]:
        from zwm.catalog.models import Customer, SyncRun, Workflow

        runs = GaugeMetricFamily("zwm_sync_runs", "Sync runs kept, by outcome.", labels=["status"])
        for row in SyncRun.objects.values("status").order_by("status").annotate(n=Count("id")):
            runs.add_metric([row["status"]], row["n"])
        yield runs
        workflows = GaugeMetricFamily(
            "zwm_workflows", "Workflows in the catalog per customer.", labels=["customer"]
        )
        counts = dict(
            Workflow.objects.values("customer")
            .order_by()
            .annotate(n=Count("id"))
            .values_list("customer", "n")
        )
        ok = GaugeMetricFamily(
            "zwm_customer_last_sync_ok", "1 when the customer's latest sync succeeded.", labels=["customer"]
        )
        last = GaugeMetricFamily(
            "zwm_customer_last_sync_timestamp_seconds",
            "When the customer last synced successfully (Unix time; absent if never).",
            labels=["customer"],
        )
        for customer in Customer.objects.order_by("name").only(
            "pk", "name", "last_sync_status", "last_synced_at"
        ):
            workflows.add_metric([customer.name], counts.get(customer.pk, 0))
            ok.add_metric([customer.name], 1 if customer.last_sync_status == SyncRun.Status.SUCCEEDED else 0)
            if customer.last_synced_at is not None:
                last.add_metric([customer.name], customer.last_synced_at.timestamp())
        yield from (workflows, ok, last)


def exposition() -> bytes:
    """The text Prometheus scrapes: every process's counters plus the store gauges."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir.current()))  # type: ignore[no-untyped-call]
    registry.register(StoreCollector())
    started = time.monotonic()
    body = generate_latest(registry)
    log.debug("metrics rendered in %.3f s", time.monotonic() - started)
    return body
