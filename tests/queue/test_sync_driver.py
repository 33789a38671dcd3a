"""The sync connection and ``run_now``: in-process runs with the worker's policy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from workerkit import lines
from zwm_test_jobs import BadCredentials, BatchCallback, FailsFirst, Flaky, Mark, MarkOrFail

from zwm.queue import diagnostics
from zwm.queue.batches import Batch, find
from zwm.queue.dispatch import dispatch, dispatch_now
from zwm.queue.inprocess import run_now
from zwm.queue.models import FailedJob, JobExecution, QueuedJob

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def statuses(job_id: str) -> list[str]:
    return list(
        JobExecution.objects.filter(job_uuid=job_id).order_by("attempt").values_list("status", flat=True)
    )


def test_run_now_runs_in_process_and_records_history(marker: Path) -> None:
    job_id = run_now(Mark(str(marker)))
    assert lines(marker) == ["ran"]
    assert statuses(job_id) == ["succeeded"]
    assert JobExecution.objects.get(job_uuid=job_id).connection == "sync"


def test_run_now_records_then_raises_a_final_failure(marker: Path) -> None:
    with pytest.raises(Exception, match="invalid client credentials"):
        dispatch_now(BadCredentials(str(marker)))
    failure = FailedJob.objects.get()
    assert (failure.connection, failure.exception_type) == ("sync", "zwm_test_jobs.AuthError")
    assert lines(marker) == ["attempt", "failed hook: AuthError"]


def test_retries_happen_at_once_instead_of_sleeping_the_backoff(marker: Path) -> None:
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="temporary outage"):
        run_now(Flaky(str(marker)))  # tries 3, backoff [60, 120]
    assert time.monotonic() - started < 10
    assert lines(marker) == ["attempt"] * 3
    assert [s for s in JobExecution.objects.order_by("attempt").values_list("status", flat=True)] == [
        "released",
        "released",
        "failed",
    ]


def test_sync_connection_runs_on_dispatch_and_never_raises_into_the_caller(marker: Path) -> None:
    ok = dispatch(FailsFirst(str(marker)), connection="sync")
    assert ok is not None
    assert statuses(ok) == ["failed"]  # tries default to 1 in-process too
    bad = dispatch(diagnostics.Fail("nope"), connection="sync")
    assert FailedJob.objects.filter(uuid=bad, exception_message="nope").exists()
    assert QueuedJob.objects.count() == 0


def test_sync_batch_runs_members_and_callbacks_in_process(marker: Path) -> None:
    members = [MarkOrFail(str(marker)) for _ in range(3)]
    batch_id = Batch(
        members,
        then=BatchCallback(str(marker), "then"),
        finally_=BatchCallback(str(marker), "finally"),
        connection="sync",
    ).dispatch()
    assert lines(marker) == ["member"] * 3 + [f"then {batch_id} {batch_id}", f"finally {batch_id} {batch_id}"]
    assert find(batch_id).progress == 100
