"""The history buffer: batched writes, running rows, stale rows, pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from zwm.queue.history import WORKER_LOST, HistoryBuffer, finish, new_execution, prune_finished
from zwm.queue.job import Envelope
from zwm.queue.models import JobExecution

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def envelope(attempts: int = 1, job_id: str | None = None) -> Envelope:
    env = Envelope(job="x.Job", args={}, attempts=attempts)
    if job_id:
        env.id = job_id
    return env


def test_a_short_execution_is_written_once_already_finished() -> None:
    buffer = HistoryBuffer(interval=60)
    rows = [new_execution(envelope(), connection="database", reserved_at=None) for _ in range(3)]
    for row in rows:
        buffer.started(row)
        finish(row, "succeeded")
        buffer.changed(row)
    assert not buffer.due
    assert JobExecution.objects.count() == 0

    buffer.flush()

    assert list(JobExecution.objects.values_list("status", flat=True)) == ["succeeded"] * 3
    assert all(r.duration_ms is not None and r.finished_at is not None for r in JobExecution.objects.all())


def test_a_long_execution_is_visible_running_then_updated() -> None:
    buffer = HistoryBuffer(interval=0)
    row = new_execution(envelope(), connection="database", reserved_at=None)
    buffer.started(row)
    assert buffer.due
    buffer.flush()
    assert JobExecution.objects.get().status == "running"

    row.progress = 30
    buffer.changed(row)
    buffer.flush()
    assert JobExecution.objects.get().progress == 30

    finish(row, "succeeded")
    buffer.changed(row)
    buffer.flush()
    stored = JobExecution.objects.get()
    assert (stored.status, stored.progress) == ("succeeded", 100)


def test_rows_written_in_a_rolled_back_transaction_are_written_again() -> None:
    buffer = HistoryBuffer()
    row = new_execution(envelope(), connection="database", reserved_at=None)
    buffer.started(row)
    flushed = []

    def flush_then_fail() -> None:
        with transaction.atomic():
            flushed.append(buffer.flush())
            raise RuntimeError("acknowledgement failed")

    with pytest.raises(RuntimeError):
        flush_then_fail()
    assert JobExecution.objects.count() == 0
    buffer.restore(flushed[0])
    buffer.flush()
    assert JobExecution.objects.count() == 1


def test_the_next_attempt_closes_a_dead_workers_running_row() -> None:
    buffer = HistoryBuffer()
    first = new_execution(envelope(1, "job1"), connection="database", reserved_at=None)
    buffer.started(first)
    buffer.flush()
    buffer.started(new_execution(envelope(2, "job1"), connection="database", reserved_at=None))
    buffer.flush()
    rows = {r.attempt: r for r in JobExecution.objects.filter(job_uuid="job1")}
    assert (rows[1].status, rows[1].exception_message) == ("failed", WORKER_LOST)
    assert rows[2].status == "running"


def test_prune_finished_keeps_running_and_recent_rows() -> None:
    buffer = HistoryBuffer()
    old, recent, running = (new_execution(envelope(), connection="d", reserved_at=None) for _ in range(3))
    for row in (old, recent):
        finish(row, "succeeded")
    old.finished_at = timezone.now() - timedelta(hours=3)
    running.started_at = timezone.now() - timedelta(hours=5)
    for row in (old, recent, running):
        buffer.started(row)
    buffer.flush()

    assert prune_finished(2) == 1
    assert set(JobExecution.objects.values_list("status", flat=True)) == {"succeeded", "running"}
    with pytest.raises(ValueError, match="non-negative"):
        prune_finished(-1)
