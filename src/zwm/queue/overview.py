"""The dashboard's live figures: one call per refresh, every figure from its store.

Waiting, delayed and reserved come from the connection's backlog (the database or Redis);
failures, throughput and workers from the database tables the workers write anyway -- no
snapshot job, nothing to fall behind. Every count over a table that grows is capped
(:mod:`zwm.queue.counting`), so a refresh costs a few index range scans whatever the size.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from zwm.queue import registry
from zwm.queue.backlog import Backlog, NoBacklog, backlog_of
from zwm.queue.connections import get_driver
from zwm.queue.counting import CappedCount, capped_count
from zwm.queue.models import FailedJob, JobExecution
from zwm.queue.models import Worker as WorkerRow

THROUGHPUT_CAP = 100_000
"""Executions counted per refresh for "processed in the last hour" before saying "N+"."""


@dataclass(frozen=True)
class QueueFigures:
    name: str
    waiting: CappedCount
    delayed: CappedCount
    reserved: CappedCount
    failed: int
    oldest_age: float | None
    """Seconds the oldest waiting job has waited; ``None`` when none waits."""
    paused: bool


@dataclass(frozen=True)
class Overview:
    connection: str
    waiting: CappedCount
    delayed: CappedCount
    running: CappedCount
    failed: CappedCount
    failed_24h: CappedCount
    processed_1h: CappedCount
    per_minute: float
    """Executions finished per minute over the last five minutes."""
    queues: list[QueueFigures]
    workers: list[WorkerRow]


_NONE = CappedCount(0)


def _total(counts: Iterable[CappedCount]) -> CappedCount:
    return sum(counts, _NONE)


def overview(connection: str | None = None) -> Overview:
    """The figures of ``connection`` (default ``QUEUE_CONNECTION``); the ``sync`` connection
    has nothing waiting, but its failures and throughput are shown all the same."""
    driver = get_driver(connection)
    try:
        backlog: Backlog | None = backlog_of(driver)
    except NoBacklog:
        backlog = None
    counts = backlog.queue_counts() if backlog else {}
    paused = backlog.paused() if backlog else set()
    failed_by_queue = dict(
        FailedJob.objects.values("queue").order_by().annotate(n=Count("id")).values_list("queue", "n")
    )
    names = sorted(set(counts) | paused | set(failed_by_queue))
    oldest = backlog.oldest_available(names) if backlog else {}
    now = time.time()
    queues = [
        QueueFigures(
            name=name,
            waiting=counts[name].waiting if name in counts else _NONE,
            delayed=counts[name].delayed if name in counts else _NONE,
            reserved=counts[name].reserved if name in counts else _NONE,
            failed=failed_by_queue.get(name, 0),
            oldest_age=max(0.0, now - oldest[name]) if name in oldest else None,
            paused=name in paused,
        )
        for name in names
    ]
    moment = timezone.now()
    finished = JobExecution.objects.exclude(status=JobExecution.Status.RUNNING)
    last_5m = finished.filter(finished_at__gte=moment - timedelta(minutes=5))
    return Overview(
        connection=driver.name,
        waiting=_total(q.waiting for q in queues),
        delayed=_total(q.delayed for q in queues),
        running=_total(q.reserved for q in queues),
        failed=capped_count(FailedJob.objects.all(), THROUGHPUT_CAP),
        failed_24h=capped_count(FailedJob.objects.filter(failed_at__gte=moment - timedelta(hours=24))),
        processed_1h=capped_count(
            finished.filter(finished_at__gte=moment - timedelta(hours=1)), THROUGHPUT_CAP
        ),
        per_minute=capped_count(last_5m, THROUGHPUT_CAP).value / 5,
        queues=queues,
        workers=registry.alive(),
    )
