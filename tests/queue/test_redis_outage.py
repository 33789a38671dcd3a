"""Redis going away under running workers: a SIGKILLed and restarted server, and dropped
client connections. Every job must complete exactly once, and workers must ride it out.

These tests start a private ``redis-server`` on a free loopback port (AOF with
``appendfsync always``, as docs/redis.md recommends) so they can kill it and drop every
client without disturbing anyone else's tests on the shared Redis.

The workers here are threads driving the driver directly (what ``zwm queue:work`` does per
job: reserve, run, acknowledge, back off on ``QueueConnectionError``); the worker CLI was
not available when these were written.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rediskit import DURABLE, PrivateServers

from zwm.queue.drivers.base import Reservation
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.job import Envelope
from zwm.queue.redis_safety import QueueConnectionError, unsafe_settings, warn_if_unsafe

pytestmark = pytest.mark.redis


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[PrivateServers]:
    with PrivateServers(tmp_path) as private:
        yield private


class Workers:
    """Threads that reserve, run (a short sleep), acknowledge, and back off on errors."""

    def __init__(self, driver: RedisDriver, count: int) -> None:
        self.driver = driver
        self.succeeded: Counter[str] = Counter()
        self.connection_errors = 0
        self.failures: list[BaseException] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _backoff(self, delay: float) -> float:
        with self._lock:
            self.connection_errors += 1
        self.stop.wait(delay)
        return min(delay * 2, 0.5)

    def _ack(self, reservation: Reservation) -> None:
        delay = 0.02
        while not self.stop.is_set():
            try:
                accepted = self.driver.complete(reservation)
            except QueueConnectionError:
                delay = self._backoff(delay)
                continue
            if accepted:  # False: the lease lapsed and the job belongs to someone else
                with self._lock:
                    self.succeeded[reservation.envelope.id] += 1
            return

    def _run(self) -> None:
        delay = 0.02
        try:
            while not self.stop.is_set():
                try:
                    batch = self.driver.reserve(["default"], lease=2.0, limit=5)
                    if not batch:
                        self.driver.wait(["default"], 0.2)
                        continue
                except QueueConnectionError:
                    delay = self._backoff(delay)
                    continue
                delay = 0.02
                for reservation in batch:
                    time.sleep(0.002)  # the job's work
                    self._ack(reservation)
        except BaseException as exc:  # anything but a connection error is a bug
            self.failures.append(exc)

    def __enter__(self) -> Workers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def wait_for(self, done: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.succeeded) < done and time.monotonic() < deadline and not self.failures:
            time.sleep(0.02)


def push_jobs(driver: RedisDriver, count: int) -> set[str]:
    envelopes = [Envelope(job="zwm.queue.diagnostics.Noop", args={}) for _ in range(count)]
    driver.push(envelopes)
    return {e.id for e in envelopes}


def test_every_job_completes_once_across_a_redis_crash_and_restart(
    servers: PrivateServers,
) -> None:
    server = servers.start(*DURABLE)
    driver = RedisDriver(server.url, prefix=f"zwm-test-{uuid.uuid4().hex}")
    ids = push_jobs(driver, 400)
    with Workers(driver, count=2) as workers:
        workers.wait_for(100, timeout=30)
        server.kill()  # SIGKILL: no shutdown, no final fsync
        time.sleep(1.0)  # workers keep failing, backing off
        server.start()
        workers.wait_for(len(ids), timeout=60)
    assert workers.failures == []
    assert workers.connection_errors > 0, "the outage was not noticed; the test proved nothing"
    assert set(workers.succeeded) == ids
    assert [job_id for job_id, n in workers.succeeded.items() if n > 1] == []
    counts = driver.counts(["default"])["default"]
    assert (counts.waiting, counts.delayed, counts.reserved) == (0, 0, 0)


def test_dropped_connections_lose_no_job(servers: PrivateServers) -> None:
    server = servers.start(*DURABLE)
    driver = RedisDriver(server.url, prefix=f"zwm-test-{uuid.uuid4().hex}")
    admin = redis.Redis.from_url(server.url)
    ids = push_jobs(driver, 400)
    with Workers(driver, count=2) as workers:
        for _ in range(5):  # cut every client connection, five times, mid-processing
            workers.wait_for(len(workers.succeeded) + 40, timeout=30)
            admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        workers.wait_for(len(ids), timeout=60)
    assert workers.failures == []
    assert set(workers.succeeded) == ids
    assert [job_id for job_id, n in workers.succeeded.items() if n > 1] == []


def test_unsafe_server_settings_are_reported(
    servers: PrivateServers, caplog: pytest.LogCaptureFixture
) -> None:
    server = servers.start("--appendonly", "no", "--save", "", "--maxmemory-policy", "allkeys-lru")
    client = redis.Redis.from_url(server.url)
    problems = unsafe_settings(client)
    assert len(problems) == 2
    assert "allkeys-lru" in problems[0]
    assert "persistence is off" in problems[1]
    with caplog.at_level(logging.WARNING, logger="zwm.queue.redis"):
        warn_if_unsafe(client, server.url)
        warn_if_unsafe(client, server.url)
    assert len(caplog.records) == 2  # each problem once, not once per call
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("appendonly", "yes")
    assert unsafe_settings(client) == []
    client.config_set("appendonly", "no")
    client.config_set("save", "3600 1")
    assert unsafe_settings(client) == []  # RDB snapshots: some persistence, no warning
