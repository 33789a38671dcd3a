"""Several jobs in flight in one worker (``--concurrency N``): every guarantee still holds."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from workerkit import Workers, lines, wait_for
from zwm_test_jobs import Hangs, Mark, SlowMark

from zwm.queue.diagnostics import Noop
from zwm.queue.dispatch import dispatch, dispatch_many
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.job import Envelope, Job
from zwm.queue.models import FailedJob, JobExecution, QueuedJob
from zwm.queue.models import Worker as WorkerRow

pytestmark = [pytest.mark.backends]

FAST = ("--sleep", "0.1", "--lease", "1")


def statuses(job_id: str | None) -> list[str]:
    return list(
        JobExecution.objects.filter(job_uuid=job_id).order_by("attempt").values_list("status", flat=True)
    )


def starts(marker: Path) -> list[str]:
    return [line for line in lines(marker) if line.startswith("start")]


def test_n_jobs_in_flight_hold_n_leases_and_each_runs_once(workers: Workers, marker: Path) -> None:
    ids = dispatch_many([SlowMark(str(marker), 2.5) for _ in range(4)])
    first = workers.start("queue:work", "--concurrency", "4", *FAST)
    wait_for(lambda: len(starts(marker)) == 4, what="four jobs running at once")
    # A second worker takes any job whose lease lapses: none may, the jobs run 2.5 lease lengths.
    second = workers.start("queue:work", "--concurrency", "4", *FAST)

    held = list(QueuedJob.objects.values_list("lease_token", "lease_expires_at"))
    assert len(held) == 4  # one lease per job, each with its fencing token and its expiry
    assert all(token and expires > time.time() for token, expires in held)
    first_expiry = max(expires for _, expires in held)
    wait_for(
        lambda: min(QueuedJob.objects.values_list("lease_expires_at", flat=True) or [0]) > first_expiry,
        what="every lease renewed",
    )
    wait_for(lambda: all(statuses(i) == ["succeeded"] for i in ids), timeout=30, what="four successes")

    assert len({line.split()[1] for line in starts(marker)}) == 4  # four executor children
    assert lines(marker)[:4] == starts(marker)  # all four started before any finished
    assert lines(marker).count("done") == 4  # and none ran twice
    assert workers.stop(first)[0] == 0
    assert workers.stop(second)[0] == 0


def test_a_timeout_kills_only_the_job_that_overran(workers: Workers, marker: Path) -> None:
    hung = dispatch(Hangs(str(marker)))  # its timeout: 1 s
    slow = dispatch_many([SlowMark(str(marker), 2.0) for _ in range(3)])

    result = workers.work("--stop-when-empty", "--concurrency", "4", *FAST)

    assert result.returncode == 0, result.stderr
    assert statuses(hung) == ["timed_out"]
    assert FailedJob.objects.get(uuid=hung).exception_message == "timed out after 1 s"
    assert all(statuses(job_id) == ["succeeded"] for job_id in slow)
    log = lines(marker)
    hook = log.index("failed hook: JobTimedOut: timed out after 1 s")
    assert len(starts(marker)[:hook]) == 3  # the neighbours were running when it was killed
    assert log.count("done") == 3  # and every one of them ran to its end


def test_a_sigkill_with_n_jobs_in_flight_loses_none(workers: Workers, marker: Path) -> None:
    ids = dispatch_many([SlowMark(str(marker), 1.0) for _ in range(8)])
    victim = workers.start("queue:work", "--concurrency", "4", *FAST)
    wait_for(lambda: len(starts(marker)) >= 4, what="four jobs in flight")

    os.killpg(victim.pid, signal.SIGKILL)  # the executor children die with their worker
    victim.wait(timeout=10)
    survivor = workers.start("queue:work", "--concurrency", "4", *FAST)
    wait_for(lambda: not QueuedJob.objects.exists(), timeout=40, what="every job done")

    assert workers.stop(survivor)[0] == 0
    done = set(JobExecution.objects.filter(status="succeeded").values_list("job_uuid", flat=True))
    assert done == {str(job_id) for job_id in ids}
    assert not FailedJob.objects.exists()  # recovered, not failed: a lost worker uses no try


def test_jobs_start_in_strict_priority_order(workers: Workers, marker: Path) -> None:
    dispatch_many([Mark(str(marker), "low") for _ in range(4)], queue="low")
    dispatch_many([Mark(str(marker), "high") for _ in range(4)], queue="high")

    workers.work("--queue", "high,low", "--stop-when-empty", "--concurrency", "3", *FAST)

    started = JobExecution.objects.order_by("started_at", "id").values_list("queue", flat=True)
    assert list(started) == ["high"] * 4 + ["low"] * 4


class Queues:
    """Jobs into the database queue or Redis, and the worker options that work them."""

    def __init__(self, request: pytest.FixtureRequest, workers: Workers) -> None:
        self.workers = workers
        self.driver: RedisDriver | None = None
        self.args: tuple[str, ...] = FAST
        if request.param == "redis":
            self.driver = workers.on_redis(request.getfixturevalue("redis_url"))
            request.addfinalizer(self.driver.delete_all_keys)
            self.args += ("--connection", "redis")

    def push(self, jobs: list[Job], queue: str = "default") -> list[str]:
        if self.driver is None:
            return dispatch_many(jobs, queue=queue)
        envelopes = [Envelope.for_job(job, queue=queue) for job in jobs]
        self.driver.push(envelopes)
        return [envelope.id for envelope in envelopes]

    def warmed_up_worker(self, *args: str) -> subprocess.Popen[str]:
        """A worker that has run enough no-op jobs to reserve big batches (its average job
        is fast), now idle: the next jobs pushed are reserved in one batch, as a stream of
        fast jobs followed by slow ones would be."""
        ids = self.push([Noop() for _ in range(60)])
        worker = self.workers.start("queue:work", *args, *self.args)
        wait_for(lambda: JobExecution.objects.filter(job_uuid__in=ids, status="succeeded").count() == 60)
        return worker


@pytest.fixture(params=["database", "redis"])
def queues(request: pytest.FixtureRequest, workers: Workers) -> Queues:
    return Queues(request, workers)


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_a_high_job_waits_for_the_jobs_in_hand_not_for_prefetched_ones(
    queues: Queues, marker: Path, concurrency: str
) -> None:
    worker = queues.warmed_up_worker("--queue", "high,default", "--concurrency", concurrency)
    queues.push([SlowMark(str(marker), 0.3) for _ in range(12)])
    wait_for(lambda: starts(marker), what="a slow job running")

    queues.push([Mark(str(marker), "high")], queue="high")
    in_hand = len(starts(marker))
    wait_for(lambda: "high" in lines(marker), timeout=30, what="the high job")

    log = lines(marker)
    started_before = len([line for line in log[: log.index("high")] if line.startswith("start")])
    # The jobs running when it came, and at most one per child that was just starting.
    assert started_before - in_hand <= int(concurrency), log
    assert queues.workers.stop(worker)[0] == 0


def test_jobs_held_behind_a_slow_one_go_to_an_idle_worker(queues: Queues, marker: Path) -> None:
    first = queues.warmed_up_worker("--concurrency", "1")
    second = queues.workers.start("queue:work", "--concurrency", "1", *queues.args)
    wait_for(
        lambda: WorkerRow.objects.filter(pid=second.pid, status="idle").exists(), what="a second worker idle"
    )
    # The first, whose jobs were fast, reserves several at once: it must not keep them.
    ids = queues.push([SlowMark(str(marker), 0.5) for _ in range(8)])
    wait_for(lambda: lines(marker).count("done") == 8, timeout=30, what="every slow job done")

    ran_by = Counter(JobExecution.objects.filter(job_uuid__in=ids).values_list("worker_pid", flat=True))
    assert ran_by[second.pid] >= 3, ran_by  # about half: not left idle while the first held them
    assert sum(ran_by.values()) == 8  # given back unstarted: no job ran twice, none used a try
    assert set(JobExecution.objects.filter(job_uuid__in=ids).values_list("attempt", flat=True)) == {1}
    assert queues.workers.stop(first)[0] == 0
    assert queues.workers.stop(second)[0] == 0


def test_a_queue_limit_caps_that_queue_while_others_fill_the_pool(workers: Workers, marker: Path) -> None:
    dispatch_many([SlowMark(str(marker), 0.6) for _ in range(3)], queue="limited")
    dispatch_many([SlowMark(str(marker), 0.6) for _ in range(3)], queue="default")

    result = workers.work("--queue", "limited:1,default", "--stop-when-empty", "--concurrency", "4", *FAST)

    assert result.returncode == 0, result.stderr
    limited = list(
        JobExecution.objects.filter(queue="limited")
        .order_by("started_at")
        .values_list("started_at", "finished_at")
    )
    assert len(limited) == 3
    for (_, finished), (started, _) in itertools.pairwise(limited):
        assert started >= finished  # one at a time
    first_default = JobExecution.objects.filter(queue="default").order_by("started_at").first()
    assert first_default is not None
    assert first_default.started_at < limited[0][1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--concurrency", "0"), "--concurrency"),
        (("--queue", "a:0"), "a queue limit is NAME:N with N >= 1"),
        (("--queue", "a,b,a"), "queue 'a' is named twice"),
        (("--queue", "a:x"), None),  # not a limit: a queue named "a:x"
    ],
)
def test_bad_concurrency_options_are_refused(
    workers: Workers, args: tuple[str, ...], message: str | None
) -> None:
    result = workers.work(*args, "--stop-when-empty", *FAST)

    if message is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 2
        assert message in result.stderr
