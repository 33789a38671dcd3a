"""Execution history (``job_history``): one row per execution, for the dashboard.

A row per job must not cost a round trip per job, or history would halve throughput. The
worker therefore keeps a :class:`HistoryBuffer`: an execution that starts and ends within
one flush interval is inserted once, already finished, in a multi-row INSERT with its
neighbours (``COPY`` on PostgreSQL), built by hand: the ORM's ``bulk_create`` spent ~0.3 ms
of Python per row preparing values, more than the rest of a no-op job's path together;
only an execution still running at flush time is inserted as ``running`` (so
the dashboard shows a long job within about :attr:`HistoryBuffer.interval`) and updated
when it ends. Flushing happens between jobs and while the worker waits on a running job --
never inside a job.

A worker that is SIGKILLed loses its unflushed rows (at most one interval's worth) and
leaves its running row behind; when the job is recovered (or retried), its stale
``running`` rows are closed as failed ("worker lost"), so the dashboard does not show a
ghost forever and the totals count the lost execution as failed.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.utils import timezone

from zwm.queue import events
from zwm.queue.job import Envelope
from zwm.queue.models import JobExecution
from zwm.queue.storable import storable

log = logging.getLogger("zwm.queue")

Status = JobExecution.Status

_FINAL_FIELDS = ["status", "finished_at", "duration_ms", "progress", "exception_message"]
_COLUMNS = (
    "job_uuid",
    "job_class",
    "queue",
    "connection",
    "attempt",
    "status",
    "worker_host",
    "worker_pid",
    "reserved_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "progress",
    "exception_message",
    "batch_id",
    "wait_ms",
)
_DATETIMES = tuple(_COLUMNS.index(c) for c in ("reserved_at", "started_at", "finished_at"))
_STATUS = _COLUMNS.index("status")
_COPY = "COPY job_history ({columns}) FROM STDIN"
_INSERT = "INSERT INTO job_history ({columns}) VALUES {rows}"
WORKER_LOST = "worker lost: its lease expired before the job finished"


def _aware(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=UTC)


@functools.cache
def _field_defaults() -> tuple[tuple[str, Any], ...]:
    """Every column of the model in order, with its (constant) default."""
    return tuple((f.attname, f.get_default()) for f in JobExecution._meta.concrete_fields)


def new_execution(envelope: Envelope, *, connection: str, reserved_at: float | None) -> JobExecution:
    """An unsaved ``running`` row for the attempt of ``envelope`` starting now.

    Built with positional arguments in the model's column order: ``Model.__init__`` with
    keywords cost three times as much, which shows at thousands of jobs a second.
    """
    values = {
        "job_uuid": envelope.id,
        "job_class": storable(envelope.job, 255),
        "queue": envelope.queue,
        "connection": connection,
        "attempt": envelope.attempts,
        "status": Status.RUNNING,
        "worker_host": _host(),
        "worker_pid": os.getpid(),
        "reserved_at": _aware(reserved_at),
        "started_at": timezone.now(),
        "batch_id": envelope.batch_id,
        "wait_ms": _first_wait_ms(envelope, reserved_at),
    }
    model: Any = JobExecution  # the stubs type keyword construction only
    row = cast(JobExecution, model(*(values.get(name, default) for name, default in _field_defaults())))
    _emit(row, "started")
    return row


def _emit(row: JobExecution, kind: str) -> None:
    """Tell :mod:`zwm.queue.events` listeners; nothing is built when none listens."""
    if not events.listening():
        return
    events.emit(
        events.JobEvent(
            kind=kind,
            job_id=row.job_uuid,
            job_class=row.job_class,
            queue=row.queue,
            connection=row.connection,
            attempt=row.attempt,
            duration=row.duration_ms / 1000 if row.duration_ms is not None else None,
        )
    )


def _first_wait_ms(envelope: Envelope, reserved_at: float | None) -> float | None:
    """How long a first attempt waited in its queue; a retry's wait is its backoff, and a
    recovered job's includes its lost worker's time, not the queue's, so both are left out
    of the dashboard's queue-wait chart."""
    if envelope.attempts != 1 or envelope.recoveries or reserved_at is None:
        return None
    return round(max(0.0, reserved_at - envelope.created_at) * 1000, 3)


@functools.cache
def _host() -> str:
    return socket.gethostname()


def finish(row: JobExecution, status: str, *, message: str = "", progress: int | None = None) -> None:
    """Mark ``row`` finished now (in memory; the buffer or the caller saves it)."""
    row.status = status
    row.finished_at = timezone.now()
    row.duration_ms = round((row.finished_at - row.started_at).total_seconds() * 1000, 3)
    if progress is not None:
        row.progress = progress
    if status == Status.SUCCEEDED and row.progress is not None:
        row.progress = 100  # a job that reported progress and finished is done
    row.exception_message = storable(message)
    _emit(row, status)


@dataclass(frozen=True)
class Flushed:
    new: list[JobExecution]
    changed: list[JobExecution]
    retried: list[tuple[str, int]]


def _unsave(rows: list[JobExecution]) -> None:
    """Rows whose INSERT was rolled back: make them new again."""
    for row in rows:
        row.pk = None
        row._state.adding = True


class HistoryBuffer:
    """Collects execution rows and writes them in bulk every ``interval`` seconds."""

    def __init__(self, *, interval: float = 0.5, max_rows: int = 500, max_backlog: int = 20_000) -> None:
        self.interval = interval
        self.max_rows = max_rows
        self.max_backlog = max_backlog
        self._new: list[JobExecution] = []
        self._changed: dict[int, JobExecution] = {}
        self._retried: list[tuple[str, int]] = []
        self._dropped: list[int] = []
        self._oldest: float | None = None

    def _touch(self) -> None:
        if self._oldest is None:
            self._oldest = time.monotonic()

    def started(self, row: JobExecution, *, recovered: bool = False) -> None:
        """``row`` started; ``recovered``: its job comes back from a lost worker, whose
        execution (same attempt) is closed as "worker lost" if it is still ``running``."""
        self._new.append(row)
        if row.attempt > 1 or recovered:
            self._retried.append((row.job_uuid, row.attempt))
        self._touch()

    def drop(self, row: JobExecution) -> None:
        """Do not record ``row`` after all (a repeat of an execution already recorded): taken
        out of the buffer, or deleted at the next flush if it was written as running."""
        self._new = [r for r in self._new if r is not row]
        if row.pk is not None:
            self._changed.pop(row.pk, None)
            self._dropped.append(row.pk)
            self._touch()

    def changed(self, row: JobExecution) -> None:
        """``row`` (progress, final status) changed; written at the next flush."""
        if row.pk is not None:
            self._changed[row.pk] = row
            self._touch()

    @property
    def due(self) -> bool:
        if self._oldest is None:
            return False
        return len(self._new) >= self.max_rows or time.monotonic() - self._oldest >= self.interval

    def flush(self) -> Flushed:
        """Write everything buffered; what was written.

        On a database error the rows stay buffered for the next try. A caller flushing
        inside its own transaction that then rolls back hands the rows to :meth:`restore`.
        """
        if self._oldest is None:
            return Flushed([], [], [])
        new, retried = self._new, self._retried
        changed = [row for row in self._changed.values() if row.pk is not None]
        try:
            with transaction.atomic():
                if retried:  # before inserting: the rows inserted now are live ones
                    _close_stale(retried)
                running = [row for row in new if row.status == Status.RUNNING]
                if len(running) < len(new):
                    _insert_finished([row for row in new if row.status != Status.RUNNING])
                if running:  # few (long jobs only), and they need their pks for the update
                    JobExecution.objects.bulk_create(running, batch_size=self.max_rows)
                    _resolve_missing_pks(running)
                if changed:
                    JobExecution.objects.bulk_update(changed, _FINAL_FIELDS, batch_size=self.max_rows)
                if self._dropped:
                    JobExecution.objects.filter(pk__in=self._dropped).delete()
        except DatabaseError:
            _unsave(new)
            self._trim()
            log.warning("could not write %d execution history rows; will retry", len(new) + len(changed))
            raise
        self._new, self._changed, self._retried, self._dropped, self._oldest = [], {}, [], [], None
        return Flushed(new, changed, retried)

    def restore(self, flushed: Flushed) -> None:
        """Buffer again what a flush wrote inside a transaction the caller rolled back."""
        _unsave(flushed.new)
        self._new[:0] = flushed.new
        for row in flushed.changed:
            self._changed.setdefault(row.pk, row)
        self._retried[:0] = flushed.retried
        self._touch()

    def _trim(self) -> None:
        """Bound memory while the database is unreachable: the oldest finished rows go first."""
        excess = len(self._new) - self.max_backlog
        if excess > 0:
            log.warning("dropping %d unwritten execution history rows", excess)
            del self._new[:excess]


def _insert_finished(rows: list[JobExecution]) -> None:
    """Insert finished rows without reading back their pks (nothing updates them later,
    except :func:`amend`, which finds them by their natural key)."""
    connection = connections[router.db_for_write(JobExecution)]
    columns = ", ".join(_COLUMNS)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw: Any = cursor.cursor  # psycopg's own cursor, for COPY
            with raw.copy(_COPY.format(columns=columns)) as copy:
                for row in rows:
                    copy.write_row(_values(row, None))
        return
    adapt = _datetime_adapter(connection)
    per_row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    chunk = max(1, (connection.features.max_query_params or 10_000) // len(_COLUMNS))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sql = _INSERT.format(columns=columns, rows=", ".join([per_row] * len(part)))
            cursor.execute(sql, [value for row in part for value in _values(row, adapt)])


def _datetime_adapter(connection: Any) -> Callable[[datetime | None], Any]:
    """The backend's datetime adapter, or a direct equivalent of it.

    SQLite's and MySQL's adapters turn an aware datetime into the naive text of the
    connection's time zone through several layers of Django calls per value: three per row
    cost more than the rest of the row. With ``USE_TZ`` (this project's setting) the same
    text is ``str(value.astimezone(tz).replace(tzinfo=None))``, which is what is used then.
    """
    if not settings.USE_TZ or connection.vendor not in ("sqlite", "mysql"):
        return cast(Callable[[datetime | None], Any], connection.ops.adapt_datetimefield_value)
    tz = connection.timezone

    def adapt(value: datetime | None) -> str | None:
        return None if value is None else str(value.astimezone(tz).replace(tzinfo=None))

    return adapt


def _values(row: JobExecution, adapt: Any) -> list[Any]:
    """The row's column values; datetimes through ``adapt`` (the backend's adapter) if given."""
    values = [getattr(row, column) for column in _COLUMNS]
    values[_STATUS] = str(values[_STATUS])  # plain str: drivers need not know TextChoices
    if adapt is not None:
        for index in _DATETIMES:
            values[index] = adapt(values[index])
    return values


def amend(row: JobExecution) -> None:
    """Rewrite the final fields of a row already written, now (inside the caller's
    transaction). A finished row may have been inserted without a pk; it is found by its
    natural key -- one worker runs one attempt of a job once."""
    fields = {name: getattr(row, name) for name in _FINAL_FIELDS}
    if row.pk is not None:
        JobExecution.objects.filter(pk=row.pk).update(**fields)
        return
    JobExecution.objects.filter(
        job_uuid=row.job_uuid,
        attempt=row.attempt,
        worker_host=row.worker_host,
        worker_pid=row.worker_pid,
        started_at=row.started_at,
    ).update(**fields)


def _resolve_missing_pks(rows: list[JobExecution]) -> None:
    """Backends without INSERT ... RETURNING (MySQL) leave pks unset: look up running ones."""
    for row in rows:
        if row.pk is None and row.status == Status.RUNNING:
            row.pk = (
                JobExecution.objects.filter(
                    job_uuid=row.job_uuid,
                    attempt=row.attempt,
                    worker_pid=row.worker_pid,
                    status=Status.RUNNING,
                )
                .order_by("-id")
                .values_list("id", flat=True)
                .first()
            )


def _close_stale(retried: list[tuple[str, int]]) -> None:
    """Close the ``running`` rows of earlier executions of these jobs: their workers are gone
    (a recovered job makes the same attempt again, so "earlier" includes that attempt)."""
    for job_uuid, attempt in retried:
        JobExecution.objects.filter(job_uuid=job_uuid, attempt__lte=attempt, status=Status.RUNNING).update(
            status=Status.FAILED, finished_at=timezone.now(), exception_message=WORKER_LOST
        )


def record(row: JobExecution) -> None:
    """Save one row now (``run_now`` and the sync connection: no worker loop to batch)."""
    row.save()


def prune_finished(hours: float) -> int:
    """Delete finished executions older than ``hours``; running ones are kept."""
    if hours < 0:
        raise ValueError("hours must be non-negative")
    cutoff = timezone.now() - timedelta(hours=hours)
    deleted, _ = JobExecution.objects.exclude(status=Status.RUNNING).filter(finished_at__lt=cutoff).delete()
    return deleted
