"""The failed-job store: jobs that failed for good, whatever driver ran them.

Failed jobs live in the database even when the queue is Redis, so the CLI and dashboard
read them one way. ``retry`` re-queues each job on its original connection and queue with
fresh attempts and removes its row in the same transaction: when the driver is the
database on the same database, the two are atomic (nothing lost, nothing doubled); with
another driver the push happens before the row's deletion commits, so a crash between the
two can at worst leave the row to be retried again, never lose the job.

Bulk actions (the dashboard's "retry / delete everything matching") work in chunks of
:data:`CHUNK` rows, one transaction each, and stop at a deadline: any number of failed
jobs is handled in bounded time per call, and the caller reports what was done and
whether more remains.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback as tb
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from zwm.queue.connections import check_connection, get_driver
from zwm.queue.counting import COUNT_CAP, CappedCount, capped_count
from zwm.queue.drivers.base import check_queue_names
from zwm.queue.filters import check_filter_text
from zwm.queue.job import Envelope, Job, PayloadError
from zwm.queue.models import FailedJob
from zwm.queue.storable import storable

CHUNK = 1000
"""Failed jobs retried or deleted per transaction by the bulk actions."""
MAX_SELECTION = 500
"""Most failed jobs one selection may name (a bigger set is acted on through its filter)."""


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
            "job_class": storable(envelope.job, 255),
            "payload": envelope.to_json(),
            "exception_type": storable(info.type, 255),
            "exception_message": storable(info.message),
            "exception_traceback": storable(info.traceback),
            "failed_at": timezone.now(),
        },
    )
    return row


def failure_recorded(envelope: Envelope) -> bool:
    """Is this attempt of this job recorded as failed for good already?

    Keyed by the job id and the attempt in the recorded payload: a worker lost after it
    recorded a failure and before its queue (Redis) heard of it leaves the same attempt to be
    recovered, while a job ``queue:retry`` put back counts its attempts afresh.
    """
    payload = FailedJob.objects.filter(uuid=envelope.id).values_list("payload", flat=True).first()
    if payload is None:
        return False
    try:
        recorded = json.loads(payload)
    except ValueError:
        return False
    return isinstance(recorded, dict) and recorded.get("attempts") == envelope.attempts


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
    pks = list(rows.order_by("id").values_list("id", flat=True))
    requeued: list[str] = []
    for start in range(0, len(pks), CHUNK):
        requeued += _retry_chunk(pks[start : start + CHUNK])[0]
    return requeued


def _retry_chunk(pks: Sequence[int]) -> tuple[list[str], int]:
    """Re-queue the failed jobs ``pks`` in one transaction: the uuids re-queued (oldest
    first), and how many were left because their payload cannot be decoded. Rows retried or
    forgotten meanwhile by someone else are simply not there any more."""
    requeued: list[str] = []
    skipped = 0
    with transaction.atomic():
        rows = list(FailedJob.objects.select_for_update().filter(pk__in=pks).order_by("id"))
        by_connection: dict[str, list[Envelope]] = {}
        taken: list[int] = []
        for row in rows:
            try:
                envelope = Envelope.from_json(row.payload)
            except PayloadError:
                skipped += 1
                continue
            envelope = dataclasses.replace(envelope, attempts=0, queue=row.queue)
            by_connection.setdefault(check_connection(row.connection), []).append(envelope)
            taken.append(row.pk)
        FailedJob.objects.filter(pk__in=taken).delete()
        for connection, envelopes in by_connection.items():
            driver = get_driver(connection)
            for envelope in envelopes:
                if envelope.unique_key is not None:
                    # The operator asked for this run: take the lock if free, run anyway if not.
                    driver.acquire_unique(envelope.unique_key, envelope.id, Job.unique_for)
            driver.push(envelopes)
            requeued += [envelope.id for envelope in envelopes]
    return requeued, skipped


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


# -- the dashboard's selections and bulk actions ---------------------------------------


@dataclasses.dataclass(frozen=True)
class FailedFilter:
    """Which failed jobs; ``None`` means any. ``search`` matches a job id exactly or a
    substring of the exception message -- and of the payload when ``search_payload`` (only
    for people allowed to see payloads, or the search would reveal them)."""

    queue: str | None = None
    job_class: str | None = None
    search: str | None = None
    since: datetime | None = None
    search_payload: bool = False

    def __post_init__(self) -> None:
        if self.queue is not None:
            check_queue_names([self.queue])
        check_filter_text(self.job_class, self.search)
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since must be timezone-aware")


def matching(where: FailedFilter) -> QuerySet[FailedJob]:
    rows = _selected(where.queue, where.since)
    if where.job_class is not None:
        rows = rows.filter(job_class=where.job_class)
    if where.search is not None:
        text = where.search.strip()
        found = Q(uuid=text) | Q(exception_message__icontains=text) | Q(exception_type__icontains=text)
        if where.search_payload:
            found |= Q(payload__icontains=text)
        rows = rows.filter(found)
    return rows


def count_failed(where: FailedFilter, *, cap: int = COUNT_CAP) -> CappedCount:
    return capped_count(matching(where), cap)


def failed_page(where: FailedFilter, *, limit: int = 50, offset: int = 0) -> list[FailedJob]:
    """Failed jobs matching ``where``, most recent first."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must be non-negative")
    return list(matching(where).order_by("-failed_at", "-id")[offset : offset + limit])


@dataclasses.dataclass(frozen=True)
class BulkOutcome:
    """What a bulk action did."""

    done: int
    """Failed jobs retried (or deleted)."""
    skipped: int = 0
    """Left alone: gone meanwhile (a selection), or a payload that cannot be decoded."""
    finished: bool = True
    """``False``: the deadline came first and more jobs match."""


def _chunks(rows: QuerySet[FailedJob], deadline: float) -> Iterable[list[int] | None]:
    """Ids of ``rows`` in chunks, oldest first, by keyset; ``None`` once past ``deadline``
    while rows remain."""
    last = 0
    while True:
        pks = list(rows.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:CHUNK])
        if not pks:
            return
        if time.monotonic() > deadline:
            yield None
            return
        yield pks
        last = pks[-1]


def retry_matching(where: FailedFilter, *, seconds: float = 5.0) -> BulkOutcome:
    """Retry every failed job matching ``where``, for at most about ``seconds``."""
    done = skipped = 0
    for pks in _chunks(matching(where), time.monotonic() + seconds):
        if pks is None:
            return BulkOutcome(done, skipped, finished=False)
        requeued, undecodable = _retry_chunk(pks)
        done, skipped = done + len(requeued), skipped + undecodable
    return BulkOutcome(done, skipped)


def forget_matching(where: FailedFilter, *, seconds: float = 5.0) -> BulkOutcome:
    """Delete every failed job matching ``where``, for at most about ``seconds``."""
    done = 0
    for pks in _chunks(matching(where), time.monotonic() + seconds):
        if pks is None:
            return BulkOutcome(done, finished=False)
        deleted, _ = FailedJob.objects.filter(pk__in=pks).delete()
        done += deleted
    return BulkOutcome(done)


def _selection(ids: Sequence[int]) -> list[int]:
    if len(ids) > MAX_SELECTION:
        raise ValueError(f"select at most {MAX_SELECTION} failed jobs at once (or act on the filter)")
    return sorted(set(ids))


def retry_selected(ids: Sequence[int]) -> BulkOutcome:
    """Retry the failed jobs ``ids``; those gone meanwhile count as skipped."""
    wanted = _selection(ids)
    requeued, _ = _retry_chunk(wanted)
    return BulkOutcome(len(requeued), len(wanted) - len(requeued))


def forget_selected(ids: Sequence[int]) -> BulkOutcome:
    """Delete the failed jobs ``ids``; those gone meanwhile count as skipped."""
    wanted = _selection(ids)
    deleted, _ = FailedJob.objects.filter(pk__in=wanted).delete()
    return BulkOutcome(deleted, len(wanted) - deleted)
