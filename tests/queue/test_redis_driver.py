"""What the conformance suite does not cover about the Redis driver: wake-ups bounded by
delayed jobs, chained wake-ups of many idle workers, redelivery order, corrupt entries
specific to Redis' layout, connection errors, start-up warnings and the key layout.

Each test uses its own key prefix and deletes its keys afterwards; nothing here flushes a
database -- other people's tests share this Redis.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from zwm.queue.drivers.base import Reservation
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.job import Envelope, PayloadError
from zwm.queue.redis_safety import QueueConnectionError

pytestmark = pytest.mark.redis


def job(queue: str = "default", **args: object) -> Envelope:
    return Envelope(job="zwm.queue.diagnostics.Noop", args=dict(args), queue=queue)


@pytest.fixture
def driver(redis_url: str) -> Iterator[RedisDriver]:
    d = RedisDriver(redis_url, prefix=f"zwm-test-{uuid.uuid4().hex}")
    yield d
    d.delete_all_keys()
    d.close()


def idle_loop(driver: RedisDriver, limit: float = 10) -> list[Reservation]:
    """A worker's idle loop: wait (20 s at most each time), reserve, until a job comes."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        driver.wait(["default"], timeout=20)
        if got := driver.reserve(["default"], lease=30):
            return got
    raise AssertionError(f"no job within {limit} s: wait() slept past the moment one became available")


def test_wait_returns_when_a_delayed_job_comes_due(driver: RedisDriver) -> None:
    driver.push([job()], available_at=time.time() + 0.3)
    assert len(idle_loop(driver)) == 1


def test_wait_returns_when_a_lease_lapses(driver: RedisDriver) -> None:
    driver.push([job()])
    driver.reserve(["default"], lease=0.3)
    assert [(r.envelope.attempts, r.envelope.recoveries) for r in idle_loop(driver)] == [(1, 1)]


def test_wait_never_sleeps_while_work_is_waiting(driver: RedisDriver) -> None:
    """Wake-up tokens are consumed by every wait; a waiting job must still mean no sleep."""
    driver.push([job()])
    started = time.monotonic()
    for _ in range(100):
        driver.wait(["default"], timeout=20)
    assert time.monotonic() - started < 10


def test_one_push_wakes_every_idle_worker_it_has_work_for(driver: RedisDriver) -> None:
    woken: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(4)

    def idle_worker() -> None:
        ready.wait(timeout=10)
        driver.wait(["default"], timeout=20)
        with lock:
            woken.append(time.monotonic())
        driver.reserve(["default"], lease=30)

    threads = [threading.Thread(target=idle_worker) for _ in range(3)]
    for t in threads:
        t.start()
    ready.wait(timeout=10)
    time.sleep(0.2)  # let the three block
    pushed = time.monotonic()
    driver.push([job(n=i) for i in range(3)])
    for t in threads:
        t.join(timeout=30)
    assert len(woken) == 3
    assert max(woken) - pushed < 10, "an idle worker slept through work meant for it"


def test_redelivered_job_goes_before_the_backlog(driver: RedisDriver) -> None:
    first = job(n=0)
    driver.push([first])
    driver.reserve(["default"], lease=0.2)
    driver.push([job(n=i) for i in range(1, 4)])
    time.sleep(0.3)
    [again] = driver.reserve(["default"], lease=30)
    assert (again.envelope.id, again.envelope.attempts, again.envelope.recoveries) == (first.id, 1, 1)


def test_missing_or_garbage_entries_are_failed_with_the_reason(driver: RedisDriver) -> None:
    garbage, missing, fine = job(n=1), job(n=2), job(n=3)
    driver.push([garbage, missing, fine])
    payloads = f"{{{driver.prefix}}}:payload"
    driver.client.hset(payloads, garbage.id, b'\xff{"job":"pkg.mod.Sync","args":')
    driver.client.hdel(payloads, missing.id)
    reservations = driver.reserve(["default"], lease=30, limit=3)
    assert [r.envelope.id for r in reservations] == [garbage.id, missing.id, fine.id]
    broken, absent, good = (r.envelope for r in reservations)
    assert (broken.job, broken.queue, broken.attempts) == ("pkg.mod.Sync", "default", 1)
    with pytest.raises(PayloadError, match="payload is not valid JSON"):
        broken.build()
    with pytest.raises(PayloadError, match="payload is missing from Redis"):
        absent.build()
    assert good.invalid is None
    assert good.args == {"n": 3}
    assert driver.complete_many(reservations) == [True, True, True]
    assert driver.waiting() == []


def test_unreachable_redis_is_a_one_line_connection_error() -> None:
    driver = RedisDriver("redis://:hunter2@127.0.0.1:1/0", prefix="zwm-test-unreachable")
    for call in (driver.check, lambda: driver.reserve(["default"], lease=1), lambda: driver.push([job()])):
        with pytest.raises(QueueConnectionError) as info:
            call()
        message = str(info.value)
        assert message.startswith("cannot reach Redis at 127.0.0.1:1/0: ")
        assert "hunter2" not in message
        assert "\n" not in message


def test_start_up_check_warns_once_about_missing_persistence(
    driver: RedisDriver, caplog: pytest.LogCaptureFixture
) -> None:
    """The shared test Redis runs without persistence, as development servers do: the
    check warns and does not fail."""
    if (
        driver.client.config_get("appendonly")["appendonly"] != "no"
        or driver.client.config_get("save")["save"]
    ):
        pytest.skip("this Redis has persistence on")
    driver.location = f"{driver.location} ({driver.prefix})"  # a location never warned about
    with caplog.at_level(logging.WARNING, logger="zwm.queue.redis"):
        driver.check()
        driver.reserve(["default"], lease=30)
        driver.check()
    warnings = [r.getMessage() for r in caplog.records if "persistence is off" in r.getMessage()]
    assert len(warnings) == 1


def test_every_key_shares_one_cluster_hash_tag(driver: RedisDriver) -> None:
    driver.push([job("a"), job("b")], available_at=time.time() + 60)
    driver.push([job("a")])
    driver.reserve(["a"], lease=30)
    driver.acquire_unique("k", "o", ttl=30)
    keys = {k.decode() for k in driver.client.scan_iter(match=driver.keys_pattern())}
    tag = f"{{{driver.prefix}}}"
    assert {f"{tag}:payload", f"{tag}:r:a", f"{tag}:d:b", f"{tag}:u:k"} <= keys
    assert all(k.startswith(f"{tag}:") for k in keys)
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_every_key_shares_one_cluster_hash_tag_including_tombstones(driver: RedisDriver) -> None:
    driver.push([job("a")])
    (reservation,) = driver.reserve(["a"], lease=30)
    driver.complete(reservation)
    keys = {k.decode() for k in driver.client.scan_iter(match=driver.keys_pattern())}
    assert f"{{{driver.prefix}}}:t:{reservation.token}" in keys
    assert len({key_slot(k.encode()) for k in keys}) == 1


def lost_then_taken_over(driver: RedisDriver) -> tuple[Reservation, Reservation]:
    """A reservation whose lease lapsed, and the one another worker took the job over with."""
    driver.push([job()])
    (lost,) = driver.reserve(["default"], lease=0.1)
    time.sleep(0.2)
    (taken,) = driver.reserve(["default"], lease=30)
    return lost, taken


def in_doubt(driver: RedisDriver, reservation: Reservation) -> None:
    """What the driver records when an acknowledgement's reply is lost with the connection."""
    driver._in_doubt.add(reservation.token)


@pytest.mark.parametrize("settle", ["complete", "release"])
def test_an_in_doubt_retry_of_a_lost_lease_is_still_refused(driver: RedisDriver, settle: str) -> None:
    lost, taken = lost_then_taken_over(driver)
    assert driver.complete(taken)  # the other worker finished the job
    in_doubt(driver, lost)

    answer = driver.complete(lost) if settle == "complete" else driver.release(lost)

    assert answer is False  # not ours: the job was another reservation's to acknowledge


@pytest.mark.parametrize("settle", ["complete", "release"])
def test_an_in_doubt_retry_whose_earlier_try_landed_is_answered_yes(driver: RedisDriver, settle: str) -> None:
    driver.push([job()])
    (reservation,) = driver.reserve(["default"], lease=30)
    acknowledge = driver.complete if settle == "complete" else driver.release
    assert acknowledge(reservation)  # this try landed, its reply is taken as lost:
    in_doubt(driver, reservation)

    assert acknowledge(reservation) is True
    assert acknowledge(reservation) is False  # an answered ack, repeated, is not in doubt


def test_an_in_doubt_release_of_a_lost_lease_is_refused_while_the_job_waits(driver: RedisDriver) -> None:
    lost, taken = lost_then_taken_over(driver)
    assert driver.release(taken)
    in_doubt(driver, lost)

    assert driver.release(lost) is False
    assert driver.counts(["default"])["default"].waiting == 1


def test_push_once_queues_an_id_once_even_after_its_job_ran(driver: RedisDriver) -> None:
    envelope = job()
    driver.push_once([envelope], keep=60)
    driver.push_once([envelope], keep=60)
    (reservation,) = driver.reserve(["default"], lease=30)
    assert driver.complete(reservation)

    driver.push_once([envelope], keep=60)

    assert driver.counts(["default"])["default"].waiting == 0
    driver.push([envelope])  # an ordinary push keeps no marker and checks none
    assert driver.counts(["default"])["default"].waiting == 1
