"""Acknowledging outcomes on Redis, where the database side commits first.

A recovered job is checked for a success an earlier execution recorded (that one's worker
died before its acknowledgement), so a repeat run records nothing twice. The check must not
mistake the execution's own row -- written as succeeded by a periodic history flush before
the acknowledgement -- for an earlier run's: that dropped the job's only success.

A final failure is recorded (failed-job row, batch counters) before Redis hears of it; a
recovered job whose failure is recorded is acknowledged without running again.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator

import pytest
from django.utils import timezone

from zwm.queue import batches, connections, failed, history
from zwm.queue.acknowledge import Acknowledger
from zwm.queue.drivers.base import QueueCounts, Reservation
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.executor import Result
from zwm.queue.failed import FailureInfo
from zwm.queue.job import Envelope
from zwm.queue.models import FailedJob, JobBatch, JobExecution
from zwm.queue.policy import Defaults

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SHORT = 0.2


@pytest.fixture
def driver(redis_url: str) -> Iterator[RedisDriver]:
    d = RedisDriver(redis_url, prefix=f"zwm-test-{uuid.uuid4().hex}")
    yield d
    d.delete_all_keys()
    d.close()


def recovered(driver: RedisDriver) -> Reservation:
    """A job reserved once, lost with its lease, and reserved again: a recovery."""
    driver.push([Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue="default")])
    driver.reserve(["default"], lease=SHORT)
    return recover(driver)


def recover(driver: RedisDriver) -> Reservation:
    """The next worker's reservation, once the lease of the job reserved last has lapsed."""
    time.sleep(SHORT + 0.1)
    return driver.reserve(["default"], lease=30)[0]


def acknowledger(driver: RedisDriver) -> Acknowledger:
    """One worker's acknowledger (each worker has its own history buffer)."""
    return Acknowledger(driver, "redis", history.HistoryBuffer(), Defaults(), lambda kind, envelope: None)


@pytest.mark.parametrize("written_as_running", [False, True], ids=["fast job", "long job"])
def test_a_recovered_jobs_own_success_flushed_before_its_acknowledgement_is_kept(
    driver: RedisDriver, written_as_running: bool
) -> None:
    reservation = recovered(driver)
    assert reservation.envelope.recoveries == 1
    buffer = history.HistoryBuffer()
    acks = Acknowledger(driver, "redis", buffer, Defaults(), lambda kind, envelope: None)
    row = history.new_execution(reservation.envelope, connection="redis", reserved_at=time.time())
    buffer.started(row, recovered=True)
    if written_as_running:
        buffer.flush()
    acks.settle(reservation, row, Result(status="succeeded"), tries=1)
    buffer.flush()  # the worker's periodic flush, before the acknowledgement is due

    acks.flush()

    assert JobExecution.objects.filter(job_uuid=reservation.envelope.id, status="succeeded").count() == 1
    assert acks.processed == 1
    assert driver.counts(["default"])["default"].reserved == 0


def test_a_success_an_earlier_execution_recorded_is_not_recorded_again(driver: RedisDriver) -> None:
    reservation = recovered(driver)
    earlier = history.new_execution(reservation.envelope, connection="redis", reserved_at=time.time())
    history.finish(earlier, JobExecution.Status.SUCCEEDED)
    earlier.worker_pid = -1  # another worker, which died before its acknowledgement
    earlier.save()
    buffer = history.HistoryBuffer()
    acks = Acknowledger(driver, "redis", buffer, Defaults(), lambda kind, envelope: None)
    row = history.new_execution(reservation.envelope, connection="redis", reserved_at=time.time())
    buffer.started(row, recovered=True)
    acks.settle(reservation, row, Result(status="succeeded"), tries=1)

    acks.flush()

    assert JobExecution.objects.filter(job_uuid=reservation.envelope.id, status="succeeded").count() == 1
    assert acks.processed == 0


def batch_member(driver: RedisDriver) -> Envelope:
    """A member of a one-job batch, pushed to Redis."""
    batch = JobBatch.objects.create(
        id=str(uuid.uuid4()),
        total_jobs=1,
        pending_jobs=1,
        options={"callback_ids": []},
        created_at=timezone.now(),
    )
    envelope = Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue="default", batch_id=batch.id)
    driver.push([envelope])
    return envelope


def fail_for_good(acks: Acknowledger, reservation: Reservation) -> None:
    """The worker's path for a job out of tries (its execution row started first)."""
    row = history.new_execution(reservation.envelope, connection="redis", reserved_at=time.time())
    acks.history.started(row, recovered=reservation.envelope.recoveries > 0)
    acks.settle(reservation, row, Result(status="failed", failure=FailureInfo("Boom", "boom")), tries=1)


def assert_failed_once(envelope: Envelope) -> None:
    assert FailedJob.objects.filter(uuid=envelope.id).count() == 1
    batch = JobBatch.objects.get(id=envelope.batch_id)
    assert (batch.failed_jobs, batch.failed_job_ids, batch.finished_at is not None) == (
        1,
        [envelope.id],
        True,
    )
    assert batch.options["catch_fired"]
    assert batch.options["finally_fired"]


def test_a_worker_lost_while_recording_a_final_failure_leaves_the_job_in_redis(
    driver: RedisDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    envelope = batch_member(driver)
    (reservation,) = driver.reserve(["default"], lease=SHORT)

    def lost(envelope: Envelope) -> None:
        raise SystemExit("worker killed while its failure was being recorded")

    monkeypatch.setattr(batches, "record_failure", lost)
    with pytest.raises(SystemExit):
        fail_for_good(acknowledger(driver), reservation)
    monkeypatch.undo()

    assert not FailedJob.objects.filter(uuid=envelope.id).exists()  # rolled back...
    again = recover(driver)  # ...and the job was not acknowledged: it is recovered
    assert again.envelope.id == envelope.id


def test_a_recovered_job_whose_failure_was_recorded_is_acknowledged_without_running(
    driver: RedisDriver,
) -> None:
    envelope = batch_member(driver)
    (reservation,) = driver.reserve(["default"], lease=SHORT)
    fail_for_good(acknowledger(driver), reservation)  # committed; the worker dies before its ack

    again = recover(driver)
    acks = acknowledger(driver)
    assert acks.reconciled(again)
    acks.flush()

    assert driver.counts(["default"])["default"] == QueueCounts()
    assert_failed_once(envelope)


def test_a_failure_whose_acknowledgement_finds_the_lease_lost_is_settled_once(driver: RedisDriver) -> None:
    envelope = batch_member(driver)
    (reservation,) = driver.reserve(["default"], lease=SHORT)
    first = acknowledger(driver)
    fail_for_good(first, reservation)
    again = recover(driver)  # the first worker was paused past its lease before acknowledging

    first.flush()  # answered "lease lost": the job is the second worker's now
    second = acknowledger(driver)
    assert second.reconciled(again)
    second.flush()

    assert first.failed == 1
    assert second.failed == 0
    assert driver.counts(["default"])["default"].reserved == 0
    assert_failed_once(envelope)


def test_a_failure_retried_before_its_lost_worker_was_recovered_runs_again(
    driver: RedisDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connections._drivers, "redis", driver)
    envelope = batch_member(driver)
    (reservation,) = driver.reserve(["default"], lease=SHORT)
    fail_for_good(acknowledger(driver), reservation)  # the worker dies before its ack

    assert failed.retry([envelope.id]) == [envelope.id]
    again = recover(driver)

    assert not acknowledger(driver).reconciled(again)  # runs: the operator asked for it


def test_a_retried_job_recovered_later_is_not_taken_for_its_earlier_failure(
    driver: RedisDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(connections._drivers, "redis", driver)
    envelope = batch_member(driver)
    (reservation,) = driver.reserve(["default"], lease=SHORT)
    acks = acknowledger(driver)
    fail_for_good(acks, reservation)
    acks.flush()
    failed.record_failure(dataclasses.replace(envelope, attempts=3), "redis", FailureInfo("Boom", "again"))
    driver.push([dataclasses.replace(envelope, attempts=0)])  # a retry whose row outlived it
    driver.reserve(["default"], lease=SHORT)

    assert not acknowledger(driver).reconciled(recover(driver))  # attempt 1, not the 3rd
