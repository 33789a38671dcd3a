"""Reading execution history (``job_history``) for the dashboard's Jobs pages.

Pages go newest first by id (the primary key: no extra index on the worker's hot path) and
page by keyset (``before`` an id), so page 1,000 costs what page 1 costs. A text search is
a substring scan; it looks only at the latest :data:`SEARCH_SPAN` executions, so a search
that matches nothing costs one bounded scan rather than a walk through millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Max, Q, QuerySet

from zwm.queue.counting import COUNT_CAP, CappedCount, capped_count
from zwm.queue.drivers.base import check_queue_names
from zwm.queue.filters import check_filter_text
from zwm.queue.models import JobExecution

SEARCH_SPAN = 100_000
"""A search looks at this many most recent executions."""

Status = JobExecution.Status


@dataclass(frozen=True)
class ExecutionFilter:
    """Which executions to list; ``None`` means any. ``search`` matches a job id exactly or
    a substring of the job class or the exception message."""

    status: str | None = None
    queue: str | None = None
    job_class: str | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    batch_id: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in Status.values:
            raise ValueError(f"status must be one of {', '.join(Status.values)}")
        if self.queue is not None:
            check_queue_names([self.queue])
        check_filter_text(self.job_class, self.search)
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("since and until must be timezone-aware")


def _matching(where: ExecutionFilter) -> QuerySet[JobExecution]:
    wanted = {
        "status": where.status,
        "queue": where.queue,
        "job_class": where.job_class,
        "batch_id": where.batch_id,
        "started_at__gte": where.since,
        "started_at__lt": where.until,
    }
    rows = JobExecution.objects.filter(**{name: value for name, value in wanted.items() if value is not None})
    if where.search is not None:
        text = where.search.strip()
        latest = JobExecution.objects.aggregate(top=Max("id"))["top"] or 0
        rows = rows.filter(id__gt=latest - SEARCH_SPAN).filter(
            Q(job_uuid=text) | Q(job_class__icontains=text) | Q(exception_message__icontains=text)
        )
    return rows


def executions(where: ExecutionFilter, *, limit: int = 50, before: int | None = None) -> list[JobExecution]:
    """Executions matching ``where``, newest first; ``before`` an id for the next page."""
    if limit < 0:
        raise ValueError("limit must be non-negative")
    rows = _matching(where)
    if before is not None:
        rows = rows.filter(id__lt=before)
    return list(rows.order_by("-id")[:limit])


def count(where: ExecutionFilter, *, cap: int = COUNT_CAP) -> CappedCount:
    return capped_count(_matching(where), cap)


def attempts(job_uuid: str) -> list[JobExecution]:
    """Every recorded execution of one job, first attempt first."""
    return list(JobExecution.objects.filter(job_uuid=job_uuid).order_by("attempt", "id"))
