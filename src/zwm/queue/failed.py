"""The failed-job store: jobs that failed for good, whatever driver ran them.

Failed jobs live in the database even when the queue is Redis, so the CLI and dashboard
read them one way. ``retry`` re-queues each job on its original connection and queue with
fresh attempts and removes its row in the same transaction: when the driver is the
database on the same database, the two are atomic (nothing lost, nothing doubled); with
another driver the push happens before the row's deletion commits, so a crash between the
two can at worst leave the row to be retried again, never lose the job.
"""

from __future__ import annotations

import dataclasses
import traceback as tb
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from zwm.queue.connections import check_connection, get_driver
from zwm.queue.job import Envelope, Job
from zwm.queue.models import FailedJob


class FailedJobNotFound(LookupError):
    """Some failed-job ids do not exist (nothing was done)."""

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(f"no failed job with id {', '.join(missing)}")
        self.missing = list(missing)


@dataclasses.dataclass(frozen=True)
class FailureInfo:
    """What is known of a failure when there is no exception object to hand over.

    A job killed for its timeout, or whose worker process died, failed in another process:
    the worker describes the failure with this instead.
    """

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> FailureInfo:
        kind = type(exc)
        name = (
            kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        )
        return cls(type=name, message=str(exc), traceback="".join(tb.format_exception(exc)))


def record_failure(envelope: Envelope, connection: str, failure: BaseException | FailureInfo) -> FailedJob:
    """Store a job that failed for good. Recording the same job id twice keeps one row."""
    info = failure if isinstance(failure, FailureInfo) else FailureInfo.from_exception(failure)
    row, _ = FailedJob.objects.update_or_create(
        uuid=envelope.id,
        defaults={
            "connection": connection,
            "queue": envelope.queue,
            "job_class": envelope.job,
            "payload": envelope.to_json(),
            "exception_type": info.type[:255],
            "exception_message": info.message,
            "exception_traceback": info.traceback,
            "failed_at": timezone.now(),
        },
    )
    return row


def _since(since: datetime | timedelta | None) -> datetime | None:
    if since is None or isinstance(since, datetime):
        return since
    if since < timedelta(0):
        raise ValueError("since must be a non-negative duration")
    return timezone.now() - since


def _selected(queue: str | None, since: datetime | timedelta | None) -> QuerySet[FailedJob]:
    rows = FailedJob.objects.all()
    if queue is not None:
        rows = rows.filter(queue=queue)
    start = _since(since)
    if start is not None:
        rows = rows.filter(failed_at__gte=start)
    return rows


def _by_id(job_id: str | int) -> Q:
    """A failed job is named by its numeric id or by its uuid."""
    text = str(job_id).strip()
    return Q(id=int(text)) if text.isdigit() else Q(uuid=text)


def find(job_id: str | int) -> FailedJob | None:
    return FailedJob.objects.filter(_by_id(job_id)).first()


def list_failed(
    queue: str | None = None, since: datetime | timedelta | None = None, limit: int = 100, offset: int = 0
) -> list[FailedJob]:
    """Failed jobs, most recent first."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must be non-negative")
    return list(_selected(queue, since).order_by("-failed_at", "-id")[offset : offset + limit])


def retry(
    ids: Iterable[str | int] | Literal["all"],
    queue: str | None = None,
    since: datetime | timedelta | None = None,
) -> list[str]:
    """Re-queue failed jobs with fresh attempts; return the uuids re-queued, oldest first.

    ``ids`` is a list of numeric ids or uuids, or ``"all"``; ``queue``/``since`` narrow
    the selection. An unknown id raises :class:`FailedJobNotFound` before anything is done.
    """
    rows = _selected(queue, since)
    if ids != "all":
        wanted = [str(i) for i in ids]
        query = Q(pk__in=[])
        for job_id in wanted:
            query |= _by_id(job_id)
        rows = rows.filter(query)
        found = {str(r.id) for r in rows} | {r.uuid for r in rows}
        missing = [i for i in wanted if i.strip() not in found]
        if missing:
            raise FailedJobNotFound(missing)
    requeued: list[str] = []
    for pk in rows.order_by("id").values_list("id", flat=True):
        job_uuid = _retry_one(pk)
        if job_uuid is not None:
            requeued.append(job_uuid)
    return requeued


def _retry_one(pk: int) -> str | None:
    with transaction.atomic():
        row = FailedJob.objects.select_for_update().filter(pk=pk).first()
        if row is None:  # retried or forgotten meanwhile by someone else
            return None
        envelope = Envelope.from_json(row.payload)
        envelope = dataclasses.replace(envelope, attempts=0, queue=row.queue)
        driver = get_driver(check_connection(row.connection))
        if envelope.unique_key is not None:
            # The operator asked for this run: take the lock if free, run anyway if not.
            driver.acquire_unique(envelope.unique_key, envelope.id, Job.unique_for)
        row.delete()
        driver.push([envelope])
        return envelope.id


def forget(job_id: str | int) -> bool:
    """Delete one failed job by id or uuid; ``False`` if there was none."""
    deleted, _ = FailedJob.objects.filter(_by_id(job_id)).delete()
    return deleted > 0


def prune(hours: float) -> int:
    """Delete failed jobs older than ``hours``; return how many."""
    if hours < 0:
        raise ValueError("hours must be non-negative")
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = FailedJob.objects.filter(failed_at__lt=cutoff).delete()
    return deleted


def flush(hours: float | None = None) -> int:
    """Delete every failed job, or only those older than ``hours``; return how many."""
    if hours is not None:
        return prune(hours)
    deleted, _ = FailedJob.objects.all().delete()
    return deleted
