"""Figures for ``queue:monitor`` (and the dashboard's counters).

Waiting, delayed and reserved come from the driver (they live wherever the queue lives);
failed jobs and execution totals come from the database, whatever the driver. Totals count
the executions in ``job_history``, so they cover what ``queue:prune-finished`` has kept:
an execution that succeeded counts as succeeded; every other ending counts as failed -- it
raised, timed out, was retried, its worker was lost, or the job failed as poison (a job that
succeeds on its third attempt adds two failed and one succeeded). Running executions count
as neither. ``failed_jobs`` is what ``queue:failed`` lists: jobs failed for good, not yet
retried or forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count

from zwm.queue.connections import get_driver
from zwm.queue.models import FailedJob, JobExecution


@dataclass(frozen=True)
class QueueStats:
    waiting: int
    delayed: int
    reserved: int
    failed: int


@dataclass(frozen=True)
class Stats:
    queues: dict[str, QueueStats]
    succeeded: int
    failed: int
    failed_jobs: int

    def to_json(self) -> dict[str, Any]:
        return {
            "queues": {name: vars(stats) for name, stats in self.queues.items()},
            "totals": {"succeeded": self.succeeded, "failed": self.failed, "failed_jobs": self.failed_jobs},
        }


def stats(queues: Sequence[str] | None = None, *, connection: str | None = None) -> Stats:
    """Per-queue counts (every queue with jobs or failures when ``queues`` is ``None``)."""
    counts = get_driver(connection).counts(list(queues) if queues is not None else None)
    failed_rows = FailedJob.objects.values("queue").order_by().annotate(n=Count("id"))
    if queues is not None:
        failed_rows = failed_rows.filter(queue__in=list(queues))
    failed = {row["queue"]: row["n"] for row in failed_rows}
    names = list(queues) if queues is not None else sorted(set(counts) | set(failed))
    per_queue = {}
    for name in names:
        count = counts.get(name)
        per_queue[name] = QueueStats(
            waiting=count.waiting if count else 0,
            delayed=count.delayed if count else 0,
            reserved=count.reserved if count else 0,
            failed=failed.get(name, 0),
        )
    totals: dict[str, int] = dict(
        JobExecution.objects.values("status").order_by().annotate(n=Count("id")).values_list("status", "n")
    )
    succeeded = totals.pop(JobExecution.Status.SUCCEEDED, 0)
    totals.pop(JobExecution.Status.RUNNING, None)
    return Stats(
        queues=per_queue,
        succeeded=succeeded,
        failed=sum(totals.values()),
        failed_jobs=FailedJob.objects.count(),
    )
