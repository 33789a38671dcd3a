"""At-least-once under SIGKILL: nothing lost, successes recorded once, poison jobs stop."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from workerkit import Workers, lines, wait_for
from zwm_test_jobs import KillsItsWorker, SlowMark

from zwm.queue import diagnostics
from zwm.queue.dispatch import dispatch, dispatch_many
from zwm.queue.history import WORKER_LOST
from zwm.queue.models import FailedJob, JobExecution, QueuedJob, Worker

pytestmark = [pytest.mark.backends]


def succeeded(job_id: str) -> int:
    return JobExecution.objects.filter(job_uuid=job_id, status="succeeded").count()


def test_a_job_whose_worker_is_killed_completes_later_exactly_once(workers: Workers, marker: Path) -> None:
    job_id = dispatch(SlowMark(str(marker), 2.0))
    first = workers.start("queue:work", "--lease", "1", "--sleep", "0.2")
    wait_for(lambda: any(line.startswith("start") for line in lines(marker)), what="job start")
    wait_for(lambda: JobExecution.objects.filter(status="running").exists(), what="its running row")

    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = workers.start("queue:work", "--lease", "1", "--sleep", "0.2")
    wait_for(lambda: succeeded(str(job_id)) == 1, timeout=30, what="the job to succeed in the second worker")
    code, _, err = workers.stop(second)

    assert code == 0, err
    runs = lines(marker)
    assert [line.split()[0] for line in runs] == ["start", "start", "done"]
    # The killed worker's executor died with it: the first run never reached "done".
    assert runs[0] != runs[1]
    time.sleep(1.5)  # a lingering orphan would have written a second "done" by now
    assert lines(marker).count("done") == 1
    assert succeeded(str(job_id)) == 1
    assert QueuedJob.objects.count() == 0
    assert not FailedJob.objects.exists()
    # Issue point 2: the worker's death used none of the job's tries (the default, one: the
    # recovery makes the same attempt again), and the dead execution's row is closed as
    # "worker lost", not left running.
    rows = list(JobExecution.objects.filter(job_uuid=job_id).order_by("id"))
    assert [(r.attempt, r.status) for r in rows] == [(1, "failed"), (1, "succeeded")]
    assert rows[0].exception_message == WORKER_LOST


def test_a_poison_job_stops_after_its_recoveries_and_lands_in_failed_jobs(
    workers: Workers, marker: Path
) -> None:
    job_id = dispatch(KillsItsWorker(str(marker)))  # max_recoveries = 2
    codes = []
    for _ in range(5):
        # Start each worker only once the dead one's lease has lapsed, so every run takes the job.
        wait_for(
            lambda: (
                QueuedJob.objects.filter(uuid=job_id, available_at__lte=time.time()).exists()
                or FailedJob.objects.filter(uuid=job_id).exists()
            ),
            what="the job to be available again",
        )
        result = workers.work("--once", "--lease", "1", "--sleep", "3")
        codes.append(result.returncode)
        if FailedJob.objects.filter(uuid=job_id).exists():
            break

    assert codes == [-signal.SIGKILL, -signal.SIGKILL, 0]
    assert lines(marker) == ["attempt", "attempt"]
    failure = FailedJob.objects.get(uuid=job_id)
    assert "failed as poison: its worker was lost 2 times" in failure.exception_message
    assert failure.exception_type == "zwm.queue.executor.PoisonJob"
    assert QueuedJob.objects.count() == 0
    # Issue point 12: the poison ending is an execution that failed, so the totals count it,
    # and failed_jobs is what queue:failed lists.
    assert JobExecution.objects.filter(job_uuid=job_id, status="failed").exists()
    assert not JobExecution.objects.filter(status="running").exists()
    totals = json.loads(workers.run("queue:monitor", "--json").stdout)["totals"]
    listed = json.loads(workers.run("queue:failed", "--json").stdout)
    assert totals["failed"] == JobExecution.objects.filter(status="failed").count() >= 1
    assert totals["failed_jobs"] == len(listed) == 1


def test_jobs_prefetched_by_a_killed_worker_run_later_without_using_a_try(
    workers: Workers, marker: Path
) -> None:
    """Issue points 1 and 2: the jobs held behind the one running when the worker died are
    recovered; with the default of one try, none of them may land in failed jobs."""
    warm_up = dispatch_many([diagnostics.Noop() for _ in range(100)])
    killer = dispatch(KillsItsWorker(str(marker)))
    behind = dispatch_many([diagnostics.Noop() for _ in range(100)])

    codes = []
    while QueuedJob.objects.exists() and len(codes) < 5:
        wait_for(
            lambda: not QueuedJob.objects.filter(available_at__gt=time.time()).exists(),
            what="the dead worker's leases to lapse",
        )
        codes.append(workers.work("--stop-when-empty", "--lease", "1", "--sleep", "0.1").returncode)

    # The killer kills its worker twice (max_recoveries = 2), then fails as poison.
    assert codes == [-signal.SIGKILL, -signal.SIGKILL, 0]
    succeeded = set(JobExecution.objects.filter(status="succeeded").values_list("job_uuid", flat=True))
    assert succeeded >= {str(i) for i in warm_up + behind}
    assert set(FailedJob.objects.values_list("uuid", flat=True)) == {str(killer)}
    assert not JobExecution.objects.filter(status="succeeded", attempt__gt=1).exists()


def test_thousand_jobs_two_processes_and_a_kill_lose_nothing(workers: Workers) -> None:
    ids = set(dispatch_many([diagnostics.Noop() for _ in range(1000)]))
    # Default tries (1): a killed worker's jobs must be recovered, not failed (issue 8's report).
    supervisor = workers.start(
        "queue:work", "--processes", "2", "--lease", "1", "--sleep", "0.2", "--name", "t"
    )

    def done() -> int:
        return JobExecution.objects.filter(status="succeeded").values("job_uuid").distinct().count()

    wait_for(lambda: done() >= 200, timeout=60, what="200 jobs processed")
    victim = wait_for(
        lambda: Worker.objects.exclude(status="stopped").values_list("pid", flat=True).first(),
        what="a worker pid",
    )
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: done() == 1000 and QueuedJob.objects.count() == 0, timeout=90, what="every job done")
    wait_for(lambda: Worker.objects.count() >= 3, what="the supervisor to replace the killed worker")
    code, _, err = workers.stop(supervisor, timeout=30)

    assert code == 0, err
    succeeded_ids = set(JobExecution.objects.filter(status="succeeded").values_list("job_uuid", flat=True))
    assert succeeded_ids == ids
    assert not FailedJob.objects.exists()


def test_stop_when_empty_waits_for_jobs_a_dead_worker_held(workers: Workers, marker: Path) -> None:
    """A dead worker's job is not "empty queue": a --stop-when-empty worker recovers it."""
    job_id = dispatch(SlowMark(str(marker), 1.0))
    first = workers.start("queue:work", "--lease", "2", "--sleep", "0.2")
    wait_for(lambda: any(line.startswith("start") for line in lines(marker)), what="job start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    result = workers.work("--stop-when-empty", "--lease", "2", "--sleep", "0.2")

    assert result.returncode == 0, result.stderr
    assert succeeded(str(job_id)) == 1
    assert QueuedJob.objects.count() == 0
