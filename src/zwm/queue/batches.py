"""Batches of jobs with ``then`` / ``catch`` / ``finally`` callbacks (Laravel's ``Bus::batch``).

::

    batch_id = Batch(
        [SyncCustomerWorkflows(1), SyncCustomerWorkflows(2)],
        name="nightly sync",
        then=NotifyDone(),         # every job succeeded
        catch=AlertOps(),          # the first job failed for good
        finally_=CloseReport(),    # every job ran, with or without failures
    ).dispatch()

Counters follow Laravel's ``job_batches`` semantics so the dashboard reads like Horizon's:
``pending_jobs`` counts members that have not succeeded (a job that failed for good stays
pending until a retry succeeds), ``failed_jobs``/``failed_job_ids`` the members currently
failed, progress is ``(total - pending) / total``. The batch is *settled* when
``pending == failed``: every member either succeeded or failed for good.

Every counter change runs in one transaction with the batch row locked
(``SELECT ... FOR UPDATE``; SQLite's single writer does the same), so concurrent workers
never lose a count and a callback fires exactly once per event. With the database driver
the update also shares its transaction with the job's acknowledgement.

Callbacks are ordinary jobs queued when the event happens, on the batch's queue and
connection. They learn the batch id through a ``batch_id`` argument when their class has
one, and through ``self.context.batch_id`` in any case; they are not members (they never
change the counters and run even when the batch is cancelled).

A member of a cancelled batch is skipped by the worker, not run: it counts as done so
``finally`` still fires, but a batch with skipped members never fires ``then``. Without
``allow_failures`` the first failure cancels the batch. :func:`retry_failed` re-queues the
failed members (un-cancelling a batch its own failure cancelled); members that were
skipped are gone and are not re-run.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from zwm.config import get_config
from zwm.queue import failed
from zwm.queue.connections import check_connection, get_driver
from zwm.queue.counting import CappedCount, capped_count
from zwm.queue.job import Envelope, Job
from zwm.queue.models import FailedJob, JobBatch

EVENTS = ("then", "catch", "finally")


class BatchNotFound(LookupError):
    """No batch has this id."""


def _callbacks(value: Job | Sequence[Job] | None) -> list[Job]:
    if value is None:
        return []
    jobs = [value] if isinstance(value, Job) else list(value)
    for job in jobs:
        if not isinstance(job, Job):
            raise TypeError(f"a batch callback must be a Job, got {job!r}")
    return jobs


class Batch:
    """A set of jobs dispatched together and tracked as one (see the module docstring)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        name: str = "",
        then: Job | Sequence[Job] | None = None,
        catch: Job | Sequence[Job] | None = None,
        finally_: Job | Sequence[Job] | None = None,
        allow_failures: bool = False,
        queue: str | None = None,
        connection: str | None = None,
    ) -> None:
        self.jobs = list(jobs)
        for job in self.jobs:
            if not isinstance(job, Job):
                raise TypeError(f"a batch holds Job instances, got {job!r}")
        self.name = name
        self.callbacks = {
            "then": _callbacks(then),
            "catch": _callbacks(catch),
            "finally": _callbacks(finally_),
        }
        self.allow_failures = allow_failures
        self.queue = queue
        self.connection = connection

    def dispatch(self) -> str:
        """Store the batch and queue its jobs (atomically with the database driver); its id."""
        batch_id = str(uuid.uuid4())
        connection = check_connection(self.connection or get_config().queue_connection)
        members = [
            dataclasses.replace(Envelope.for_job(job, queue=self.queue), batch_id=batch_id)
            for job in self.jobs
        ]
        options: dict[str, Any] = {
            event: [_callback_envelope(job, batch_id, self.queue).to_json() for job in jobs]
            for event, jobs in self.callbacks.items()
        }
        options.update(
            allow_failures=self.allow_failures, queue=self.queue, connection=connection, callback_ids=[]
        )
        with transaction.atomic():
            batch = JobBatch.objects.create(
                id=batch_id,
                name=self.name[:255],
                total_jobs=len(members),
                pending_jobs=len(members),
                options=options,
                created_at=timezone.now(),
            )
            if members:
                _lock_members(self.jobs, members, connection)
                _push(members, connection)
            else:  # nothing to wait for: the batch is settled and succeeded at once
                batch.finished_at = timezone.now()
                _fire(batch, "then")
                _fire(batch, "finally")
                batch.save(update_fields=["finished_at", "options"])
        return batch_id


def _callback_envelope(job: Job, batch_id: str, queue: str | None) -> Envelope:
    envelope = Envelope.for_job(job, queue=queue)
    if "batch_id" in envelope.args:
        envelope.args["batch_id"] = batch_id
    envelope.batch_id = batch_id
    return envelope


def _lock_members(jobs: Sequence[Job], members: Sequence[Envelope], connection: str) -> None:
    """Members keep their unique keys: each takes its lock when it is free, so a duplicate
    dispatched while the member waits or runs is dropped (a UI sync of a customer the
    hourly sync-all is about to sync). A member whose key another job holds is queued all
    the same -- a batch never loses a member -- and holds nothing (its release, checked
    by owner, frees nothing); the job's own run-time guard keeps the two apart."""
    driver = get_driver(connection)
    for job, envelope in zip(jobs, members, strict=True):
        if envelope.unique_key is not None:
            driver.acquire_unique(envelope.unique_key, envelope.id, type(job).unique_for)


def _push(envelopes: list[Envelope], connection: str) -> None:
    """Queue ``envelopes``: inside the current transaction for the database driver (the
    batch row and its jobs commit together), after commit for any other driver (a worker
    must never see a job whose batch row is not committed)."""
    driver = get_driver(connection)
    if connection == "database":
        driver.push(envelopes)
    else:
        transaction.on_commit(partial(driver.push, envelopes))


def _fire(batch: JobBatch, event: str) -> None:
    """Queue the callbacks of ``event`` with fresh ids, remembered as non-members.

    On the database queue they are pushed in the caller's transaction. On another queue
    (Redis) they are kept in the batch row (``options["unpushed"]``, committed with the
    event) and pushed after the commit; a push that fails there -- Redis down at that
    moment -- leaves them in the row for :func:`push_unpushed`, which workers run every
    few seconds: a callback is late then, never lost.
    """
    envelopes = []
    for raw in batch.options.get(event, []):
        envelope = dataclasses.replace(Envelope.from_json(raw), id=uuid.uuid4().hex, attempts=0)
        envelopes.append(envelope)
        batch.options.setdefault("callback_ids", []).append(envelope.id)
    if not envelopes:
        return
    connection = batch.options.get("connection") or get_config().queue_connection
    if connection == "database":
        get_driver(connection).push(envelopes)
        return
    batch.options.setdefault("unpushed", []).extend(e.to_json() for e in envelopes)
    transaction.on_commit(partial(push_unpushed, batch.id), robust=True)


def push_unpushed(batch_id: str | None = None) -> int:
    """Push the callbacks kept in batch rows because their push failed (or has not run
    yet); how many were pushed. A push repeated after a lost reply adds nothing twice
    (the Redis driver skips ids it already stores)."""
    rows = JobBatch.objects.filter(options__has_key="unpushed")
    if batch_id is not None:
        rows = rows.filter(id=batch_id)
    pushed = 0
    for found in list(rows.values_list("id", flat=True)):
        with transaction.atomic():
            batch = _locked(found)
            if batch is None or not batch.options.get("unpushed"):
                continue
            envelopes = [Envelope.from_json(raw) for raw in batch.options["unpushed"]]
            get_driver(batch.options.get("connection") or get_config().queue_connection).push(envelopes)
            del batch.options["unpushed"]
            batch.save(update_fields=["options"])
            pushed += len(envelopes)
    return pushed


# -- what workers report ---------------------------------------------------------------


def _locked(batch_id: str) -> JobBatch | None:
    return JobBatch.objects.select_for_update().filter(id=batch_id).first()


def _is_member(batch: JobBatch, envelope: Envelope) -> bool:
    return envelope.id not in batch.options.get("callback_ids", [])


def _settle(batch: JobBatch) -> None:
    """Every member succeeded or failed for good: the batch is finished. ``finally`` fires
    on the first settling only -- a batch retried with ``queue:retry-batch`` settles again
    (finished once more, whether its members now succeed or fail again) without a second
    ``finally``."""
    if batch.pending_jobs - batch.failed_jobs <= 0 and batch.finished_at is None:
        batch.finished_at = timezone.now()
        _fire_once(batch, "finally")


def _fire_once(batch: JobBatch, event: str) -> None:
    if not batch.options.get(f"{event}_fired"):
        batch.options[f"{event}_fired"] = True
        _fire(batch, event)


def record_success(envelope: Envelope, *, skipped: bool = False) -> None:
    """A member succeeded (or was skipped because its batch is cancelled).

    Must run inside the caller's transaction (the worker's acknowledgement).
    """
    if envelope.batch_id is None:
        return
    with transaction.atomic():
        batch = _locked(envelope.batch_id)
        if batch is None or not _is_member(batch, envelope):
            return
        batch.pending_jobs = max(0, batch.pending_jobs - 1)
        if envelope.id in batch.failed_job_ids:  # a failed member retried successfully
            batch.failed_job_ids = [i for i in batch.failed_job_ids if i != envelope.id]
            batch.failed_jobs = max(0, batch.failed_jobs - 1)
        if skipped:
            batch.options["skipped_jobs"] = batch.options.get("skipped_jobs", 0) + 1
        elif batch.pending_jobs == 0 and batch.cancelled_at is None and not batch.options.get("skipped_jobs"):
            _fire_once(batch, "then")
        _settle(batch)
        batch.save(update_fields=["pending_jobs", "failed_jobs", "failed_job_ids", "finished_at", "options"])


def record_failure(envelope: Envelope) -> None:
    """A member failed for good. Must run inside the caller's transaction."""
    if envelope.batch_id is None:
        return
    with transaction.atomic():
        batch = _locked(envelope.batch_id)
        if batch is None or not _is_member(batch, envelope):
            return
        if envelope.id not in batch.failed_job_ids:  # else: retried, and it failed again
            batch.failed_jobs += 1
            batch.failed_job_ids = [*batch.failed_job_ids, envelope.id]
        _fire_once(batch, "catch")
        if not batch.options.get("allow_failures") and batch.cancelled_at is None:
            batch.cancelled_at = timezone.now()
            batch.options["cancelled_by"] = "failure"
        _settle(batch)
        batch.save(update_fields=["failed_jobs", "failed_job_ids", "options", "cancelled_at", "finished_at"])


def should_skip(envelope: Envelope) -> bool:
    """Is ``envelope`` a member of a cancelled batch (so the worker must not run it)?"""
    if envelope.batch_id is None:
        return False
    row = JobBatch.objects.filter(id=envelope.batch_id).values_list("cancelled_at", "options").first()
    if row is None:
        return False
    cancelled_at, options = row
    return cancelled_at is not None and envelope.id not in options.get("callback_ids", [])


# -- operator API ----------------------------------------------------------------------


@dataclass(frozen=True)
class BatchInfo:
    id: str
    name: str
    total_jobs: int
    pending_jobs: int
    failed_jobs: int
    failed_job_ids: list[str]
    created_at: datetime
    cancelled_at: datetime | None
    finished_at: datetime | None

    @property
    def processed_jobs(self) -> int:
        return self.total_jobs - self.pending_jobs

    @property
    def progress(self) -> int:
        """Percent of members that succeeded (Laravel's ``progress()``)."""
        return 100 if self.total_jobs == 0 else round(100 * self.processed_jobs / self.total_jobs)

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(processed_jobs=self.processed_jobs, progress=self.progress)
        return data


def find(batch_id: str) -> BatchInfo:
    row = JobBatch.objects.filter(id=batch_id).first()
    if row is None:
        raise BatchNotFound(f"no batch with id {batch_id}")
    return _info(row)


def _info(row: JobBatch) -> BatchInfo:
    return BatchInfo(
        id=row.id,
        name=row.name,
        total_jobs=row.total_jobs,
        pending_jobs=row.pending_jobs,
        failed_jobs=row.failed_jobs,
        failed_job_ids=list(row.failed_job_ids),
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        finished_at=row.finished_at,
    )


BATCH_STATES = ("running", "finished", "cancelled", "failed")


def _matching(state: str | None, search: str | None) -> QuerySet[JobBatch]:
    rows = JobBatch.objects.all()
    if state == "running":
        rows = rows.filter(finished_at__isnull=True, cancelled_at__isnull=True)
    elif state == "finished":
        rows = rows.filter(finished_at__isnull=False)
    elif state == "cancelled":
        rows = rows.filter(cancelled_at__isnull=False)
    elif state == "failed":
        rows = rows.filter(failed_jobs__gt=0)
    elif state is not None:
        raise ValueError(f"batch state must be one of {', '.join(BATCH_STATES)}")
    if search:
        rows = rows.filter(Q(id=search.strip()) | Q(name__icontains=search.strip()))
    return rows


def list_batches(
    state: str | None = None, search: str | None = None, *, limit: int = 50, offset: int = 0
) -> list[BatchInfo]:
    """Batches newest first; ``state`` one of :data:`BATCH_STATES`, ``search`` an id or part of a name."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must be non-negative")
    rows = _matching(state, search).order_by("-created_at", "-id")[offset : offset + limit]
    return [_info(row) for row in rows]


def count_batches(state: str | None = None, search: str | None = None) -> CappedCount:
    return capped_count(_matching(state, search))


def cancel(batch_id: str) -> None:
    """Cancel a batch: its members not yet run are skipped by the workers."""
    with transaction.atomic():
        batch = _locked(batch_id)
        if batch is None:
            raise BatchNotFound(f"no batch with id {batch_id}")
        if batch.cancelled_at is None:
            batch.cancelled_at = timezone.now()
            batch.options["cancelled_by"] = "user"
            batch.save(update_fields=["cancelled_at", "options"])


def retry_failed(batch_id: str) -> list[str]:
    """Re-queue the batch's failed members; uuids re-queued.

    A batch cancelled by its own first failure is un-cancelled (its members would be
    skipped otherwise); a batch cancelled by an operator stays cancelled.
    """
    with transaction.atomic():
        batch = _locked(batch_id)
        if batch is None:
            raise BatchNotFound(f"no batch with id {batch_id}")
        ids = list(FailedJob.objects.filter(uuid__in=batch.failed_job_ids).values_list("id", flat=True))
        if not ids:
            return []
        if batch.options.get("cancelled_by") == "failure":
            batch.cancelled_at = None
            batch.options.pop("cancelled_by")
        batch.finished_at = None
        batch.save(update_fields=["cancelled_at", "finished_at", "options"])
        return failed.retry(ids)


def prune(
    hours: float, *, unfinished_hours: float | None = None, cancelled_hours: float | None = None
) -> int:
    """Delete settled batches older than ``hours`` (and, when given, unsettled or cancelled
    ones older than ``unfinished_hours`` / ``cancelled_hours``); how many were deleted."""
    for value in (hours, unfinished_hours, cancelled_hours):
        if value is not None and value < 0:
            raise ValueError("hours must be non-negative")
    now = timezone.now()
    deleted, _ = JobBatch.objects.filter(finished_at__lt=now - timedelta(hours=hours)).delete()
    if unfinished_hours is not None:
        cutoff = now - timedelta(hours=unfinished_hours)
        count, _ = JobBatch.objects.filter(finished_at__isnull=True, created_at__lt=cutoff).delete()
        deleted += count
    if cancelled_hours is not None:
        cutoff = now - timedelta(hours=cancelled_hours)
        count, _ = JobBatch.objects.filter(cancelled_at__lt=cutoff).delete()
        deleted += count
    return deleted
