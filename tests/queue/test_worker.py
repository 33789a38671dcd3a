"""The worker as users run it: real ``zwm queue:work`` processes on the test database."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from workerkit import HERE, Workers, lines, wait_for
from zwm_test_jobs import (
    BadCredentials,
    Chatty,
    Crash,
    FailsFirst,
    Flaky,
    Hangs,
    KillsItsExecutorLater,
    Mark,
    Progress,
    SlowMark,
    StartsAChildAndHangs,
    UniqueSlow,
)

from zwm.queue import diagnostics
from zwm.queue.dispatch import dispatch, dispatch_many
from zwm.queue.models import FailedJob, JobExecution, QueuedJob, Worker

pytestmark = [pytest.mark.backends]

FAST = ("--sleep", "0.2", "--lease", "2")


def statuses(job_id: str) -> list[str]:
    return list(
        JobExecution.objects.filter(job_uuid=job_id).order_by("attempt").values_list("status", flat=True)
    )


def test_runs_jobs_records_history_failures_and_registry(workers: Workers, marker: Path) -> None:
    ok = dispatch_many([Mark(str(marker), f"job {i}") for i in range(5)])
    bad = dispatch(diagnostics.Fail("boom"))

    result = workers.work("--stop-when-empty", *FAST)

    assert result.returncode == 0, result.stderr
    assert sorted(lines(marker)) == [f"job {i}" for i in range(5)]
    assert QueuedJob.objects.count() == 0
    for job_id in ok:
        assert statuses(str(job_id)) == ["succeeded"]
    assert statuses(str(bad)) == ["failed"]
    failure = FailedJob.objects.get(uuid=bad)
    assert failure.exception_type == "zwm.queue.diagnostics.DiagnosticFailure"
    assert failure.exception_message == "boom"
    assert "DiagnosticFailure: boom" in failure.exception_traceback
    row = JobExecution.objects.get(job_uuid=bad)
    assert row.exception_message == "boom"
    assert row.worker_pid
    assert row.duration_ms is not None
    worker = Worker.objects.get()
    assert (worker.status, worker.jobs_processed, worker.jobs_failed) == ("stopped", 5, 1)
    assert worker.stopped_at is not None


def test_verbose_prints_the_seed_lines(workers: Workers, marker: Path) -> None:
    ok = dispatch(Mark(str(marker)))
    bad = dispatch(diagnostics.Fail("no"))

    result = workers.work("--stop-when-empty", "--verbose", "--concurrency", "1", *FAST)

    stamp = r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\]"
    assert re.fullmatch(
        rf"{stamp}\[{ok}\] Processing: zwm_test_jobs.Mark\n"
        rf"{stamp}\[{ok}\] Processed: zwm_test_jobs.Mark\n"
        rf"{stamp}\[{bad}\] Processing: zwm.queue.diagnostics.Fail\n"
        rf"{stamp}\[{bad}\] Failed: zwm.queue.diagnostics.Fail\n",
        result.stdout,
    ), result.stdout


def test_strict_queue_priority(workers: Workers, marker: Path) -> None:
    dispatch_many([Mark(str(marker), "low") for _ in range(3)], queue="low")
    dispatch_many([Mark(str(marker), "high") for _ in range(3)], queue="high")

    workers.work("--queue", "high,low", "--stop-when-empty", "--concurrency", "1", *FAST)

    assert lines(marker) == ["high"] * 3 + ["low"] * 3


def test_timeout_kills_a_hanging_job_and_the_worker_carries_on(workers: Workers, marker: Path) -> None:
    hung = dispatch(Hangs(str(marker)))
    after = dispatch(Mark(str(marker), "after"))
    started = time.monotonic()

    result = workers.work("--stop-when-empty", "--concurrency", "1", *FAST)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    assert lines(marker) == ["hanging", "failed hook: JobTimedOut: timed out after 1 s", "after"]
    assert statuses(str(hung)) == ["timed_out"]
    assert FailedJob.objects.get(uuid=hung).exception_message == "timed out after 1 s"
    assert statuses(str(after)) == ["succeeded"]


def test_a_timed_out_job_with_tries_left_is_retried(workers: Workers, marker: Path) -> None:
    hung = dispatch(Hangs(str(marker)))

    workers.work("--stop-when-empty", "--tries", "2", *FAST)

    assert statuses(str(hung)) == ["timed_out", "timed_out"]
    assert lines(marker).count("hanging") == 2
    assert FailedJob.objects.filter(uuid=hung).exists()


def test_dont_retry_exception_fails_at_once(workers: Workers, marker: Path) -> None:
    job_id = dispatch(BadCredentials(str(marker)))

    workers.work("--stop-when-empty", "--tries", "5", *FAST)

    assert lines(marker) == ["attempt", "failed hook: AuthError"]
    assert statuses(str(job_id)) == ["failed"]
    assert FailedJob.objects.get(uuid=job_id).exception_type == "zwm_test_jobs.AuthError"


def test_retry_then_success(workers: Workers, marker: Path) -> None:
    job_id = dispatch(FailsFirst(str(marker)))

    workers.work("--stop-when-empty", "--tries", "2", *FAST)

    assert lines(marker) == ["attempt 1", "attempt 2"]
    assert statuses(str(job_id)) == ["released", "succeeded"]
    assert not FailedJob.objects.exists()


def test_backoff_list_releases_with_its_delays(workers: Workers, marker: Path) -> None:
    job_id = dispatch(Flaky(str(marker)))

    before = time.time()
    workers.work("--once", *FAST)
    row = QueuedJob.objects.get(uuid=job_id)
    assert row.attempts == 1
    assert row.lease_token is None
    assert before + 60 <= row.available_at <= time.time() + 60

    QueuedJob.objects.filter(uuid=job_id).update(available_at=time.time())
    before = time.time()
    workers.work("--once", *FAST)
    row = QueuedJob.objects.get(uuid=job_id)
    assert row.attempts == 2
    assert before + 120 <= row.available_at <= time.time() + 120
    assert statuses(str(job_id)) == ["released", "released"]


def test_worker_backoff_option_applies_when_the_job_has_none(workers: Workers, marker: Path) -> None:
    job_id = dispatch(FailsFirst(str(marker)))
    before = time.time()

    workers.work("--once", "--tries", "3", "--backoff", "30,90", *FAST)

    assert before + 30 <= QueuedJob.objects.get(uuid=job_id).available_at <= time.time() + 30


def test_executor_crash_is_a_failure_and_the_worker_survives(workers: Workers, marker: Path) -> None:
    crashed = dispatch(Crash(str(marker)))
    after = dispatch(Mark(str(marker), "after"))

    result = workers.work("--stop-when-empty", "--tries", "2", *FAST)

    assert result.returncode == 0, result.stderr
    assert sorted(lines(marker)) == ["after", "attempt", "attempt"]
    assert statuses(str(crashed)) == ["released", "failed"]
    assert FailedJob.objects.get(uuid=crashed).exception_message == "executor process exited with code 3"
    assert statuses(str(after)) == ["succeeded"]


def test_broken_payloads_fail_with_the_reason_and_nothing_is_lost(workers: Workers, marker: Path) -> None:
    now = time.time()
    broken = {
        "corrupt": ("x.Y", "{not json"),
        "gone": ("gone.module.Job", '{"job":"gone.module.Job","args":{},"id":"gone"}'),
        "misfit": ("zwm_test_jobs.Mark", '{"job":"zwm_test_jobs.Mark","args":{"nope":1},"id":"misfit"}'),
    }
    for uuid, (job_class, payload) in broken.items():
        QueuedJob.objects.create(
            uuid=uuid, queue="default", job_class=job_class, payload=payload, available_at=now, created_at=now
        )
    dispatch(Mark(str(marker), "after"))

    result = workers.work("--stop-when-empty", "--tries", "3", *FAST)

    assert result.returncode == 0, result.stderr
    failures = {f.uuid: f for f in FailedJob.objects.all()}
    assert set(failures) == set(broken)
    assert "not valid JSON" in failures["corrupt"].exception_message
    assert failures["corrupt"].payload  # the raw text is kept for the operator
    assert "cannot import module 'gone.module'" in failures["gone"].exception_message
    assert "arguments do not fit zwm_test_jobs.Mark" in failures["misfit"].exception_message
    assert all(statuses(uuid) == ["failed"] for uuid in broken)  # no retries of hopeless payloads
    assert lines(marker) == ["after"]
    assert QueuedJob.objects.count() == 0


def test_max_jobs_once_and_stop_when_empty(workers: Workers, marker: Path) -> None:
    dispatch_many([Mark(str(marker)) for _ in range(5)])

    assert workers.work("--max-jobs", "2", *FAST).returncode == 0
    assert len(lines(marker)) == 2
    assert workers.work("--once", *FAST).returncode == 0
    assert len(lines(marker)) == 3
    assert workers.work("--stop-when-empty", *FAST).returncode == 0
    assert len(lines(marker)) == 5
    started = time.monotonic()
    assert workers.work("--once", "--sleep", "0.3").returncode == 0  # nothing arrives: gives up
    assert time.monotonic() - started < 15


def test_max_time_stops_an_idle_worker(workers: Workers) -> None:
    started = time.monotonic()
    result = workers.work("--max-time", "1", "--sleep", "5")
    assert result.returncode == 0, result.stderr
    assert 1 <= time.monotonic() - started < 15


def test_progress_and_running_row_are_visible_while_the_job_runs(
    workers: Workers, marker: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    job_id = dispatch(Progress(str(marker), str(release)))
    worker = workers.start("queue:work", *FAST)

    row = wait_for(
        lambda: JobExecution.objects.filter(job_uuid=job_id, status="running", progress=40).first(),
        timeout=20,
        what="a running row with progress 40",
    )
    assert row.finished_at is None
    assert row.attempt == 1
    assert (
        Worker.objects.filter(status="busy").exists()
        or Worker.objects.filter(current_job_uuid=job_id).exists()
    )
    release.touch()
    wait_for(lambda: statuses(str(job_id)) == ["succeeded"], what="success")
    assert JobExecution.objects.get(job_uuid=job_id).progress == 100
    code, _, err = workers.stop(worker)
    assert code == 0, err


def test_sigterm_finishes_the_current_job_then_exits(workers: Workers, marker: Path) -> None:
    job_id = dispatch(Mark(str(marker), "warm-up"))
    worker = workers.start("queue:work", *FAST)
    wait_for(lambda: statuses(str(job_id)) == ["succeeded"], what="warm-up job")
    slow = dispatch(SlowMark(str(marker), 1.5))
    wait_for(lambda: any(line.startswith("start") for line in lines(marker)), what="slow job start")

    code, _, err = workers.stop(worker)

    assert code == 0, err
    assert lines(marker)[-1] == "done"
    assert statuses(str(slow)) == ["succeeded"]
    assert QueuedJob.objects.count() == 0
    assert Worker.objects.get().status == "stopped"


def test_queue_restart_stops_running_workers_gracefully(workers: Workers) -> None:
    worker = workers.start("queue:work", *FAST)
    wait_for(lambda: Worker.objects.filter(status="idle").exists(), what="worker registered")

    assert workers.run("queue:restart").returncode == 0

    assert worker.wait(timeout=20) == 0
    assert Worker.objects.get().status == "stopped"
    # A worker started after the signal is not affected by it.
    later = workers.start("queue:work", *FAST)
    wait_for(lambda: Worker.objects.filter(status="idle").exists(), what="second worker registered")
    time.sleep(1.5)
    assert later.poll() is None
    assert workers.stop(later)[0] == 0


def test_without_timeout_a_job_runs_inline_and_keeps_its_lease(workers: Workers, marker: Path) -> None:
    job_id = dispatch(SlowMark(str(marker), 2.5))
    options = ("queue:work", "--timeout", "0", "--lease", "1", "--sleep", "0.1", "--concurrency", "1")
    first, second = workers.start(*options), workers.start(*options)

    wait_for(lambda: statuses(str(job_id)) == ["succeeded"], timeout=30, what="success")

    assert [line.split()[0] for line in lines(marker)] == ["start", "done"]  # the lease held: one run
    pid = int(lines(marker)[0].split()[1])
    assert pid in {first.pid, second.pid}  # ran in the worker process itself
    assert workers.stop(first)[0] == 0
    assert workers.stop(second)[0] == 0


def test_a_job_reporting_progress_many_times_a_second_keeps_its_lease(workers: Workers, marker: Path) -> None:
    """Issue point 3: the heartbeat runs by the clock, not when the job is quiet. Without it
    the one-second lease lapses under the chatty job and the second worker runs it again."""
    job_id = dispatch(Chatty(str(marker), 3.0))
    options = ("queue:work", "--lease", "1", "--sleep", "0.1")
    first, second = workers.start(*options), workers.start(*options)

    wait_for(lambda: statuses(str(job_id)) == ["succeeded"], timeout=30, what="success")

    assert [line.split()[0] for line in lines(marker)] == ["start", "done"]
    assert workers.stop(first)[0] == 0
    assert workers.stop(second)[0] == 0


def test_an_executor_that_died_while_idle_is_replaced_and_the_next_job_runs(
    workers: Workers, marker: Path
) -> None:
    """Issue point 9: nothing ran in the dead child, so the next job must not fail for it."""
    first = dispatch(KillsItsExecutorLater(str(marker)))
    worker = workers.start("queue:work", *FAST)
    wait_for(lambda: "killed" in lines(marker), what="the idle executor to be killed")
    second = dispatch(Mark(str(marker), "next"))

    wait_for(lambda: statuses(str(second)) == ["succeeded"], what="the next job to succeed")

    assert statuses(str(first)) == ["succeeded"]
    assert not FailedJob.objects.exists()
    assert workers.stop(worker)[0] == 0


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie is dead, only not reaped yet


def test_a_timeout_kills_the_processes_the_job_started(workers: Workers, marker: Path) -> None:
    """Issue point 9: the whole process group of the executor goes, not only the child."""
    job_id = dispatch(StartsAChildAndHangs(str(marker)))

    result = workers.work("--stop-when-empty", *FAST)

    assert result.returncode == 0, result.stderr
    assert statuses(str(job_id)) == ["timed_out"]
    grandchild = int(lines(marker)[0])
    wait_for(lambda: not _alive(grandchild), timeout=5, what="the job's own subprocess to be killed")


def test_a_failure_message_no_database_can_store_fails_only_its_job(workers: Workers) -> None:
    """Issue point 5: a NUL byte (PostgreSQL rejects it, in COPY too) and a lone surrogate
    in an exception message are escaped; the job fails with its reason, the others run."""
    bad = dispatch(diagnostics.Fail("before\x00after \udcff end"))
    good = dispatch_many([diagnostics.Noop() for _ in range(3)])

    result = workers.work("--stop-when-empty", *FAST)

    assert result.returncode == 0, result.stderr
    failure = FailedJob.objects.get(uuid=bad)
    assert failure.exception_message == "before\\x00after \\udcff end"
    assert JobExecution.objects.get(job_uuid=bad).exception_message == failure.exception_message
    assert all(statuses(str(job_id)) == ["succeeded"] for job_id in good)


def test_a_running_unique_job_keeps_its_lock_past_its_unique_for(workers: Workers, marker: Path) -> None:
    """Issue point 10: the lock is renewed with the lease, so it lasts as long as the job
    runs, not only ``unique_for`` (half a second here) from its dispatch."""
    job_id = dispatch(UniqueSlow(str(marker), "k"))
    worker = workers.start("queue:work", "--lease", "1", "--sleep", "0.1")
    wait_for(lambda: lines(marker) == ["start k"], what="the job to start")
    time.sleep(1.0)  # past unique_for and a lease renewal

    assert dispatch(UniqueSlow(str(marker), "k")) is None

    wait_for(lambda: statuses(str(job_id)) == ["succeeded"], what="success")
    assert workers.stop(worker)[0] == 0


def test_a_host_whose_clock_runs_ahead_does_not_steal_a_live_lease(workers: Workers, marker: Path) -> None:
    """Issue point 11: leases are read on the database server's clock, not the host's."""
    job_id = dispatch(SlowMark(str(marker), 3.0))
    normal = workers.start("queue:work", "--lease", "5", "--sleep", "0.1")
    wait_for(lambda: any(line.startswith("start") for line in lines(marker)), what="job start")
    ahead = Workers(
        {**workers.env, "PYTHONPATH": f"{HERE / 'clock_ahead'}{os.pathsep}{workers.env['PYTHONPATH']}"}
    )
    fast_clock = ahead.start("queue:work", "--lease", "5", "--sleep", "0.1")
    try:
        wait_for(lambda: statuses(str(job_id)) == ["succeeded"], timeout=30, what="success")
        assert [line.split()[0] for line in lines(marker)] == ["start", "done"]  # one run: not stolen
        assert fast_clock.poll() is None
    finally:
        ahead.cleanup()
    assert workers.stop(normal)[0] == 0
