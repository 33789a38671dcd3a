"""Real ``zwm queue:work --connection redis`` processes: SIGKILL of a worker mid-job, a
corrupt payload, and a Redis crash + restart under two worker processes.

Jobs are queued in Redis under a per-test prefix; history and failed jobs go to the test
database (the ``workers`` fixture of conftest.py points the subprocesses at it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rediskit import DURABLE, PrivateRedis, PrivateServers
from workerkit import Workers, lines, wait_for
from zwm_test_jobs import BatchCallback, KillsRedis, Mark, SlowMark

from zwm.queue import diagnostics, history
from zwm.queue.acknowledge import Acknowledger
from zwm.queue.batches import Batch
from zwm.queue.connections import close_drivers
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.failed import FailureInfo
from zwm.queue.job import Envelope
from zwm.queue.models import FailedJob, JobBatch, JobExecution
from zwm.queue.policy import Defaults

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_workers(workers: Workers, redis_url: str) -> Iterator[tuple[Workers, RedisDriver]]:
    driver = workers.on_redis(redis_url)
    yield workers, driver
    driver.delete_all_keys()
    driver.close()


def succeeded_ids() -> set[str]:
    return set(JobExecution.objects.filter(status="succeeded").values_list("job_uuid", flat=True))


def test_a_job_whose_worker_is_killed_completes_later_exactly_once(
    redis_workers: tuple[Workers, RedisDriver], marker: Path
) -> None:
    workers, driver = redis_workers
    envelope = Envelope.for_job(SlowMark(str(marker), 2.0))
    driver.push([envelope])
    options = ("queue:work", "--connection", "redis", "--lease", "1", "--sleep", "0.2")
    first = workers.start(*options)
    wait_for(lambda: any(line.startswith("start") for line in lines(marker)), what="job start")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = workers.start(*options)
    wait_for(
        lambda: envelope.id in succeeded_ids(), timeout=30, what="the job to succeed in the second worker"
    )
    code, _, err = workers.stop(second)

    assert code == 0, err
    assert [line.split()[0] for line in lines(marker)] == ["start", "start", "done"]
    runs = JobExecution.objects.filter(job_uuid=envelope.id, status="succeeded")
    assert [r.attempt for r in runs] == [1]  # the recovery used no try
    assert driver.counts(["default"]) == {"default": driver.counts(["empty"])["empty"]}


def test_a_job_whose_failure_was_recorded_before_its_worker_was_lost_does_not_run_again(
    redis_workers: tuple[Workers, RedisDriver], marker: Path
) -> None:
    workers, driver = redis_workers
    envelope = Envelope.for_job(Mark(str(marker)))
    driver.push([envelope])
    (reservation,) = driver.reserve(["default"], lease=0.2)
    lost = Acknowledger(driver, "redis", history.HistoryBuffer(), Defaults(), lambda kind, envelope: None)
    lost.fail(reservation, None, FailureInfo("Boom", "boom"), "failed", run_hook=False)  # no ack: killed
    time.sleep(0.3)

    done = workers.run("queue:work", "--connection", "redis", "--stop-when-empty", "--sleep", "0.2")

    assert done.returncode == 0, done.stderr
    assert lines(marker) == []
    assert FailedJob.objects.filter(uuid=envelope.id).count() == 1
    assert driver.counts(["default"]) == {"default": driver.counts(["empty"])["empty"]}


def test_a_corrupt_payload_fails_with_the_reason_and_the_worker_carries_on(
    redis_workers: tuple[Workers, RedisDriver],
) -> None:
    workers, driver = redis_workers
    bad, good = Envelope.for_job(diagnostics.Noop()), Envelope.for_job(diagnostics.Noop())
    driver.push([bad, good])
    driver.client.hset(
        f"{{{driver.prefix}}}:payload", bad.id, '{"job": "zwm.queue.diagnostics.Noop", "args": ['
    )
    result = workers.work("--connection", "redis", "--stop-when-empty", "--sleep", "0.1")

    assert result.returncode == 0, result.stderr
    failure = FailedJob.objects.get(uuid=bad.id)
    assert "payload is not valid JSON" in failure.exception_message
    assert succeeded_ids() == {good.id}


def test_every_job_completes_when_redis_crashes_and_restarts_under_workers(
    workers: Workers, tmp_path: Path
) -> None:
    with PrivateServers(tmp_path) as servers:
        server = servers.start(*DURABLE)
        driver = workers.on_redis(server.url)
        envelopes = [Envelope.for_job(diagnostics.Noop()) for _ in range(600)]
        driver.push(envelopes)
        # Default tries (1): a reservation whose reply died with the server lapses and is
        # recovered, which uses no try (as a killed worker's jobs are).
        supervisor = workers.start(
            "queue:work", "--connection", "redis", "--processes", "2", "--lease", "2", "--sleep", "0.2"
        )
        wait_for(lambda: len(succeeded_ids()) >= 100, timeout=60, what="100 jobs processed")
        server.kill()
        time.sleep(1.0)  # the workers hit the outage and back off
        server.start()
        wait_for(lambda: len(succeeded_ids()) == len(envelopes), timeout=90, what="every job done")
        code, _, err = workers.stop(supervisor, timeout=30)

        assert code == 0, err
        assert succeeded_ids() == {e.id for e in envelopes}
        counts = driver.counts(["default"])["default"]
        assert (counts.waiting, counts.delayed, counts.reserved) == (0, 0, 0)
        assert not FailedJob.objects.exists()


def _work_through_the_outage(
    workers: Workers, server: PrivateRedis, log: Path, *options: str, log_level: str = "WARNING"
) -> int:
    """Run one ``--stop-when-empty`` worker (long lease) while a job SIGKILLs ``server``;
    restart the server once the worker has met the outage; the worker's exit code."""
    with log.open("w") as stderr:
        args: tuple[str, ...] = ("queue:work", "--connection", "redis", "--lease", "600", *options)
        args += ("--stop-when-empty", "--sleep", "0.1")
        env = {**workers.env, "LOG_LEVEL": log_level}
        worker = subprocess.Popen(workers.command(*args), env=env, stderr=stderr)
    try:
        wait_for(lambda: server.process is not None and server.process.poll() is not None, what="kill")
        wait_for(lambda: "queue backend unavailable" in log.read_text(), what="the outage in the log")
        server.kill()
        server.start()
        return worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)


def test_a_success_whose_acknowledgement_met_an_outage_is_acknowledged_after_it(
    workers: Workers, tmp_path: Path, marker: Path
) -> None:
    """The job kills Redis while it runs, so its acknowledgement fails; the worker must keep
    that acknowledgement and send it once Redis is back, not drop it. A lease far longer
    than the test means the job can leave Redis only through that acknowledgement (not by
    lapsing and running again)."""
    with PrivateServers(tmp_path) as servers:
        server = servers.start(*DURABLE)
        driver = workers.on_redis(server.url)
        assert server.process is not None
        envelope = Envelope.for_job(KillsRedis(str(marker), server.process.pid))
        driver.push([envelope])
        log = tmp_path / "worker.log"
        code = _work_through_the_outage(workers, server, log)

        assert code == 0, log.read_text()
        assert lines(marker) == ["ran"]
        runs = JobExecution.objects.filter(job_uuid=envelope.id)
        assert [r.status for r in runs] == ["succeeded"]
        counts = driver.counts(["default"])["default"]
        assert (counts.waiting, counts.delayed, counts.reserved) == (0, 0, 0)
        driver.close()


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_jobs_held_when_the_backend_fails_are_given_back_at_once_when_it_returns(
    workers: Workers, tmp_path: Path, marker: Path, concurrency: str
) -> None:
    """Issue point 1: the worker meets an outage with prefetched jobs in hand (inline jobs,
    ``--timeout 0``). It gives them back once Redis answers again, tries unused; a lease far
    longer than the test means they can only run again this soon through that give-back.
    With a pool, the jobs its children hold run on through the outage: every job still
    succeeds once, on its first try."""
    with PrivateServers(tmp_path) as servers:
        server = servers.start(*DURABLE)
        driver = workers.on_redis(server.url)
        assert server.process is not None
        warm_up = [Envelope.for_job(diagnostics.Noop()) for _ in range(60)]
        killer = Envelope.for_job(KillsRedis(str(marker), server.process.pid))
        behind = [Envelope.for_job(diagnostics.Sleep(0.01)) for _ in range(40)]
        driver.push([*warm_up, killer, *behind])
        log = tmp_path / "worker.log"
        code = _work_through_the_outage(
            workers, server, log, "--timeout", "0", "--concurrency", concurrency, log_level="INFO"
        )

        assert code == 0, log.read_text()
        if concurrency == "1":
            assert "jobs not started" in log.read_text()
        everyone = {e.id for e in (*warm_up, killer, *behind)}
        assert succeeded_ids() == everyone
        assert not JobExecution.objects.filter(attempt__gt=1).exists()
        assert not FailedJob.objects.exists()
        counts = driver.counts(["default"])["default"]
        assert (counts.waiting, counts.delayed, counts.reserved) == (0, 0, 0)
        driver.close()


def test_a_success_recorded_before_its_acknowledgement_is_not_recorded_again_when_rerun(
    workers: Workers, tmp_path: Path, marker: Path, configure: Callable[..., None]
) -> None:
    """Issue point 4: the database side of a success (history row, batch counter) commits
    before the Redis acknowledgement. The worker is killed while Redis is down, so the job
    is recovered and runs again: that run must not record a second success nor count the
    batch member twice, and the batch settles once."""
    with PrivateServers(tmp_path) as servers:
        server = servers.start(*DURABLE)
        driver = workers.on_redis(server.url)
        configure(REDIS_URL=server.url, ZWM_QUEUE_PREFIX=driver.prefix)  # where this test dispatches
        close_drivers()
        assert server.process is not None
        batch_id = Batch(
            [KillsRedis(str(marker), server.process.pid)],
            then=BatchCallback(str(marker), "then"),
            connection="redis",
        ).dispatch()
        member = JobBatch.objects.get(id=batch_id)
        log = tmp_path / "worker.log"
        with log.open("w") as stderr:
            args = ("queue:work", "--connection", "redis", "--lease", "2", "--sleep", "0.1")
            first = subprocess.Popen(workers.command(*args), env=workers.env, stderr=stderr)
        try:
            wait_for(lambda: "queue backend unavailable" in log.read_text(), what="the outage in the log")
            # The database side is in, although Redis never heard of the success.
            assert (
                JobExecution.objects.filter(status="succeeded")
                .exclude(job_class__endswith="Callback")
                .count()
                == 1
            )
            member.refresh_from_db()
            assert member.pending_jobs == 0
            first.kill()
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        server.kill()
        server.start()
        result = workers.work("--connection", "redis", "--stop-when-empty", "--lease", "2", "--sleep", "0.1")

        assert result.returncode == 0, result.stderr
        assert lines(marker).count("ran") == 2  # at least once: it ran again
        runs = JobExecution.objects.exclude(job_class__endswith="Callback")
        assert [r.status for r in runs] == ["succeeded"]
        member.refresh_from_db()
        assert (member.pending_jobs, member.finished_at is not None) == (0, True)
        assert [line.split()[0] for line in lines(marker) if line.startswith("then")] == ["then"]
        close_drivers()
