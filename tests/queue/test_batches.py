"""Batches: callbacks fire once, counters stay exact under concurrent workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from workerkit import Workers, lines
from zwm_test_jobs import BatchCallback, FailUntil, Mark, MarkOrFail, UniqueMark

from zwm.queue import batches
from zwm.queue.batches import Batch
from zwm.queue.models import JobBatch, JobExecution, QueuedJob, UniqueLock

pytestmark = [pytest.mark.backends]
FAST = ("--sleep", "0.2", "--lease", "2", "--stop-when-empty")


def callbacks(path: Path) -> dict[str, object]:
    return {
        "then": BatchCallback(str(path), "then"),
        "catch": BatchCallback(str(path), "catch"),
        "finally_": BatchCallback(str(path), "finally"),
    }


def events(path: Path) -> list[str]:
    return sorted(line.split()[0] for line in lines(path) if line.split()[0] in {"then", "catch", "finally"})


def test_all_succeed_over_two_workers_then_and_finally_fire_once(workers: Workers, marker: Path) -> None:
    batch_id = Batch(
        [Mark(str(marker), "member") for _ in range(60)], name="bulk", **callbacks(marker)
    ).dispatch()

    result = workers.work("--processes", "2", *FAST)

    assert result.returncode == 0, result.stderr
    assert lines(marker).count("member") == 60
    assert events(marker) == ["finally", "then"]
    # Callbacks know their batch both through their batch_id argument and their context.
    assert f"then {batch_id} {batch_id}" in lines(marker)
    info = batches.find(batch_id)
    assert (info.total_jobs, info.pending_jobs, info.failed_jobs, info.progress) == (60, 0, 0, 100)
    assert info.finished
    assert not info.cancelled
    assert JobExecution.objects.filter(batch_id=batch_id, status="succeeded").count() == 60 + 2


def test_first_failure_fires_catch_cancels_and_the_rest_is_skipped(workers: Workers, marker: Path) -> None:
    members = [MarkOrFail(str(marker), fail=True)] + [MarkOrFail(str(marker)) for _ in range(4)]
    batch_id = Batch(members, **callbacks(marker)).dispatch()

    workers.work("--prefetch", "1", *FAST)

    assert "member" not in lines(marker)  # skipped, not run
    assert events(marker) == ["catch", "finally"]
    info = batches.find(batch_id)
    assert info.cancelled
    assert (info.pending_jobs, info.failed_jobs, len(info.failed_job_ids)) == (1, 1, 1)
    assert info.finished
    assert QueuedJob.objects.count() == 0


def test_allow_failures_runs_everything_and_a_retry_completes_the_batch(
    workers: Workers, marker: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    members = [FailUntil(str(marker), str(flag))] + [Mark(str(marker), "member") for _ in range(3)]
    batch_id = Batch(members, allow_failures=True, **callbacks(marker)).dispatch()

    workers.work(*FAST)

    assert lines(marker).count("member") == 3
    assert events(marker) == ["catch", "finally"]
    info = batches.find(batch_id)
    assert (info.pending_jobs, info.failed_jobs, info.progress, info.cancelled) == (1, 1, 75, False)

    flag.touch()
    assert len(batches.retry_failed(batch_id)) == 1
    workers.work(*FAST)

    assert "member fixed" in lines(marker)
    assert events(marker) == ["catch", "finally", "then"]  # settled again after the retry, finally once
    info = batches.find(batch_id)
    assert (info.pending_jobs, info.failed_jobs, info.failed_job_ids, info.progress) == (0, 0, [], 100)


def test_retry_of_a_batch_cancelled_by_its_failure_uncancels_it(
    workers: Workers, marker: Path, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    batch_id = Batch([FailUntil(str(marker), str(flag))], **callbacks(marker)).dispatch()
    workers.work(*FAST)
    assert batches.find(batch_id).cancelled

    flag.touch()
    batches.retry_failed(batch_id)
    assert not batches.find(batch_id).cancelled
    workers.work(*FAST)

    assert lines(marker).count("member fixed") == 1
    assert events(marker) == ["catch", "finally", "then"]


def test_cancelled_batch_is_skipped_and_finally_still_fires(workers: Workers, marker: Path) -> None:
    batch_id = Batch([Mark(str(marker), "member") for _ in range(3)], **callbacks(marker)).dispatch()
    batches.cancel(batch_id)

    workers.work(*FAST)

    assert "member" not in lines(marker)
    assert events(marker) == ["finally"]
    info = batches.find(batch_id)
    assert (info.pending_jobs, info.progress, info.cancelled, info.finished) == (0, 100, True, True)


def test_progress_while_half_done(workers: Workers, marker: Path) -> None:
    batch_id = Batch([Mark(str(marker)) for _ in range(4)]).dispatch()

    workers.work("--max-jobs", "2", "--prefetch", "1", "--sleep", "0.2")

    info = batches.find(batch_id)
    assert (info.processed_jobs, info.progress, info.finished) == (2, 50, False)


def test_empty_batch_settles_at_once(workers: Workers, marker: Path) -> None:
    batch_id = Batch([], then=BatchCallback(str(marker), "then")).dispatch()
    workers.work(*FAST)
    assert events(marker) == ["then"]
    assert batches.find(batch_id).finished


def test_unknown_batch_and_pruning(transactional_db: None, marker: Path) -> None:
    with pytest.raises(batches.BatchNotFound):
        batches.find("nope")
    with pytest.raises(batches.BatchNotFound):
        batches.cancel("nope")
    batch_id = Batch([], connection="sync").dispatch()
    assert batches.prune(1) == 0
    assert batches.prune(0) == 1
    assert not JobBatch.objects.filter(id=batch_id).exists()


def test_batch_members_keep_their_unique_key(workers: Workers, marker: Path) -> None:
    """Issue point 10: a member holds its unique lock while it waits and runs, so a
    duplicate dispatched meanwhile is dropped; the lock is released with the member's ack."""
    Batch([UniqueMark(str(marker), "customer-7")]).dispatch()
    assert UniqueMark(str(marker), "customer-7").dispatch() is None  # the member holds it

    result = workers.work("--stop-when-empty", "--sleep", "0.1")

    assert result.returncode == 0, result.stderr
    assert lines(marker) == ["customer-7"]
    assert not UniqueLock.objects.exists()
    assert UniqueMark(str(marker), "customer-7").dispatch() is not None  # free again


def test_a_retried_batch_whose_member_fails_again_settles_with_each_callback_once(
    workers: Workers, marker: Path
) -> None:
    """Issue point 6: the re-failure settles the batch again (it was stuck pending before);
    then/catch/finally each fire at most once over the batch's life."""
    batch_id = Batch([MarkOrFail(str(marker), fail=True)], **callbacks(marker)).dispatch()
    workers.work(*FAST)
    assert batches.find(batch_id).finished

    assert len(batches.retry_failed(batch_id)) == 1
    assert not batches.find(batch_id).finished
    workers.work(*FAST)

    info = batches.find(batch_id)
    assert info.finished
    assert (info.pending_jobs, info.failed_jobs, info.cancelled) == (1, 1, True)
    assert events(marker) == ["catch", "finally"]
