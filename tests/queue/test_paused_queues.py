"""A running worker skips a paused queue until it is resumed, on the database and on Redis.

No timing is asserted: the paused queue comes first in the worker's strict priority order,
so a worker that did not skip it would run its job before the open queue's.
"""

from __future__ import annotations

import uuid

import pytest
from workerkit import Workers, wait_for

from zwm.queue.backlog import backlog_of
from zwm.queue.drivers.base import Driver
from zwm.queue.drivers.database import DatabaseDriver
from zwm.queue.job import Envelope
from zwm.queue.models import JobExecution

pytestmark = [pytest.mark.backends]

NOOP = "zwm.queue.diagnostics.Noop"


def succeeded(job_id: str) -> bool:
    return JobExecution.objects.filter(job_uuid=job_id, status="succeeded").exists()


def exercise(workers: Workers, driver: Driver, connection: str) -> None:
    backlog = backlog_of(driver)
    held, free = Envelope(job=NOOP, args={}, queue="held"), Envelope(job=NOOP, args={}, queue="free")
    assert workers.run("queue:pause", "held", "--connection", connection).returncode == 0
    driver.push([held])
    driver.push([free])
    worker = workers.start("queue:work", "--connection", connection, "--queue", "held,free", "--sleep", "0.2")
    wait_for(lambda: succeeded(free.id), what="the open queue's job")
    assert not succeeded(held.id)
    got = backlog.get(held.id)
    assert got is not None
    assert got.attempts == 0
    assert workers.run("queue:resume", "held", "--connection", connection).returncode == 0
    wait_for(lambda: succeeded(held.id), what="the resumed queue's job")
    code, _, err = workers.stop(worker)
    assert code == 0, err


def test_database_worker_skips_a_paused_queue_until_resumed(workers: Workers) -> None:
    exercise(workers, DatabaseDriver(), "database")


@pytest.mark.redis
def test_redis_worker_skips_a_paused_queue_until_resumed(workers: Workers, redis_url: str) -> None:
    from zwm.queue.drivers.redis import RedisDriver

    driver = RedisDriver(redis_url, prefix=f"zwm-test-{uuid.uuid4().hex}")
    workers.env.update(QUEUE_CONNECTION="redis", REDIS_URL=redis_url, ZWM_QUEUE_PREFIX=driver.prefix)
    try:
        exercise(workers, driver, "redis")
    finally:
        driver.delete_all_keys()
        driver.close()
