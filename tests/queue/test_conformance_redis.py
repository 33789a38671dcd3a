"""The Redis driver against the shared driver conformance suite, on a real Redis.

Each test gets its own key prefix, deleted afterwards (never FLUSHDB: the server is shared).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from conformance import DriverConformance

from zwm.queue.drivers.base import Driver
from zwm.queue.drivers.redis import RedisDriver

pytestmark = pytest.mark.redis


class TestRedisDriver(DriverConformance):
    @pytest.fixture
    def driver(self, redis_url: str) -> Iterator[Driver]:
        driver = RedisDriver(redis_url, prefix=f"zwm-test-{uuid.uuid4().hex}")
        yield driver
        driver.delete_all_keys()
        driver.close()

    def store_raw_payload(self, driver: Driver, queue: str, job_id: str, raw: str) -> None:
        assert isinstance(driver, RedisDriver)
        tag = "{" + driver.prefix + "}"
        pipe = driver.client.pipeline()
        pipe.hset(f"{tag}:payload", job_id, raw)
        pipe.hset(f"{tag}:attempts", job_id, 0)
        pipe.hset(f"{tag}:queue", job_id, queue)
        pipe.hset(f"{tag}:since", job_id, int(time.time() * 1_000_000))
        pipe.rpush(f"{tag}:q:{queue}", job_id)
        pipe.sadd(f"{tag}:queues", queue)
        pipe.execute()
