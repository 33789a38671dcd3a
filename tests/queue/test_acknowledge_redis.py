"""Acknowledging successes on Redis, where the database side commits first.

A recovered job is checked for a success an earlier execution recorded (that one's worker
died before its acknowledgement), so a repeat run records nothing twice. The check must not
mistake the execution's own row -- written as succeeded by a periodic history flush before
the acknowledgement -- for an earlier run's: that dropped the job's only success.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from zwm.queue import history
from zwm.queue.acknowledge import Acknowledger
from zwm.queue.drivers.base import Reservation
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.executor import Result
from zwm.queue.job import Envelope
from zwm.queue.models import JobExecution
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
    time.sleep(SHORT + 0.1)
    return driver.reserve(["default"], lease=30)[0]


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
