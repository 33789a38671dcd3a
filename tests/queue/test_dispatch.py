"""dispatch / dispatch_many / get_driver on the database connection, every backend."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from zwm.queue import (
    Job,
    PayloadError,
    UnknownConnection,
    dispatch,
    dispatch_many,
    dispatch_now,
    get_driver,
)
from zwm.queue.drivers.base import QueueCounts
from zwm.queue.drivers.database import DatabaseDriver
from zwm.queue.job import Envelope, Exponential

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True, available_apps=["zwm.queue"])]

LEASE = 30.0


@dataclass
class Greet(Job):
    name: str
    times: int = 1

    queue = "dispatch-default"
    tries = 3
    backoff = Exponential(base=2, cap=60)
    timeout = 20

    def handle(self) -> None:
        pass


@dataclass
class SyncCustomer(Job):
    customer_id: int

    queue = "dispatch-unique"

    def unique_key(self) -> str:
        return f"sync-customer:{self.customer_id}"

    def handle(self) -> None:
        pass


class Elsewhere(Job):
    connection = "carrier-pigeon"


@pytest.fixture
def db() -> DatabaseDriver:
    driver = get_driver("database")
    assert isinstance(driver, DatabaseDriver)
    return driver


def counts(driver: DatabaseDriver, queue: str) -> QueueCounts:
    return driver.counts([queue])[queue]


def test_dispatch_queues_the_envelope(db: DatabaseDriver) -> None:
    job_id = dispatch(Greet("Ada", times=2), connection="database")
    (got,) = db.reserve([Greet.queue], lease=LEASE)
    assert got.envelope.id == job_id
    assert got.envelope.job == "test_dispatch.Greet"
    assert got.envelope.args == {"name": "Ada", "times": 2}
    assert (got.envelope.max_tries, got.envelope.timeout) == (3, 20)
    assert got.envelope.backoff == {"base": 2.0, "cap": 60.0}
    assert got.envelope.build() == Greet("Ada", times=2)


def test_queue_override_and_job_method(db: DatabaseDriver) -> None:
    Greet("Bo").dispatch(queue="dispatch-other", connection="database")
    assert counts(db, "dispatch-other").waiting == 1
    assert counts(db, Greet.queue).waiting == 0


@pytest.mark.parametrize(
    "delay",
    [30, 30.5, timedelta(minutes=1), datetime.now(UTC) + timedelta(hours=1)],
    ids=["int", "float", "timedelta", "datetime"],
)
def test_delays(db: DatabaseDriver, delay: float | timedelta | datetime) -> None:
    dispatch(Greet("later"), delay=delay, connection="database")
    assert counts(db, Greet.queue) == QueueCounts(delayed=1)


def test_past_datetime_means_now(db: DatabaseDriver) -> None:
    dispatch(Greet("late"), delay=datetime.now(UTC) - timedelta(hours=1), connection="database")
    assert counts(db, Greet.queue) == QueueCounts(waiting=1)


@pytest.mark.parametrize(
    ("delay", "error", "match"),
    [
        (-1, ValueError, "non-negative"),
        (timedelta(seconds=-5), ValueError, "non-negative"),
        (math.nan, ValueError, "non-negative"),
        (math.inf, ValueError, "non-negative"),
        (datetime(2030, 1, 1), ValueError, "timezone-aware"),
        ("5", TypeError, "delay must be seconds"),
        (True, TypeError, "delay must be seconds"),
    ],
)
def test_bad_delay_is_rejected(db: DatabaseDriver, delay: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        dispatch(Greet("x"), delay=delay, connection="database")  # type: ignore[arg-type]
    assert counts(db, Greet.queue) == QueueCounts()


def test_non_json_arguments_are_rejected(db: DatabaseDriver) -> None:
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        dispatch_many([Greet("fine"), Greet(name={1, 2})], connection="database")  # type: ignore[arg-type]
    assert counts(db, Greet.queue) == QueueCounts()  # all or nothing


def test_unknown_connection() -> None:
    with pytest.raises(UnknownConnection, match=r"unknown queue connection 'nope' \(known: database"):
        dispatch(Greet("x"), connection="nope")
    with pytest.raises(UnknownConnection, match="carrier-pigeon"):
        dispatch(Elsewhere())
    with pytest.raises(UnknownConnection):
        get_driver("nope")


def test_get_driver_is_cached_per_name() -> None:
    assert get_driver("database") is get_driver("database")
    assert get_driver() is get_driver("database")  # QUEUE_CONNECTION defaults to database


def test_dispatch_many_keeps_order(db: DatabaseDriver) -> None:
    ids = dispatch_many([Greet(f"n{i}") for i in range(500)], connection="database")
    assert len(set(ids)) == 500
    got = db.reserve([Greet.queue], lease=LEASE, limit=500)
    assert [r.envelope.id for r in got] == ids


def test_unique_job_is_dropped_while_one_waits(db: DatabaseDriver) -> None:
    first = dispatch(SyncCustomer(7), connection="database")
    assert first is not None
    assert dispatch(SyncCustomer(7), connection="database") is None
    assert dispatch(SyncCustomer(8), connection="database") is not None
    assert dispatch_many([SyncCustomer(9), SyncCustomer(9)], connection="database")[1] is None
    # The worker frees the key when the job finishes; then the key can be queued again.
    db.release_unique("sync-customer:7", first)
    assert dispatch(SyncCustomer(7), connection="database") is not None
    assert counts(db, SyncCustomer.queue).waiting == 4


def test_after_commit_waits_for_the_commit(db: DatabaseDriver) -> None:
    with transaction.atomic():
        job_id = dispatch(Greet("tx"), connection="database", after_commit=True)
        assert counts(db, Greet.queue) == QueueCounts()
    assert job_id is not None
    assert [j.envelope.id for j in db.waiting(Greet.queue)] == [job_id]


def test_after_commit_is_the_default(db: DatabaseDriver) -> None:
    """QUEUE_AFTER_COMMIT defaults to true: inside a transaction nothing is queued yet."""
    with transaction.atomic():
        dispatch(Greet("default"), connection="database")
        assert counts(db, Greet.queue) == QueueCounts()
    assert counts(db, Greet.queue) == QueueCounts(waiting=1)


def test_after_commit_drops_the_job_on_rollback(db: DatabaseDriver) -> None:
    class Boom(Exception):
        pass

    def work_then_fail() -> None:
        with transaction.atomic():
            dispatch(SyncCustomer(1), connection="database", after_commit=True)
            dispatch_many([Greet("a"), Greet("b")], connection="database", after_commit=True)
            raise Boom

    with pytest.raises(Boom):
        work_then_fail()
    assert counts(db, Greet.queue) == QueueCounts()
    # The unique lock was not taken either: the key is free.
    assert dispatch(SyncCustomer(1), connection="database") is not None


def test_without_after_commit_the_job_joins_the_transaction(db: DatabaseDriver) -> None:
    seen_inside: list[QueueCounts] = []

    def work_then_fail() -> None:
        with transaction.atomic():
            dispatch(Greet("in-tx"), connection="database", after_commit=False)
            seen_inside.append(counts(db, Greet.queue))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        work_then_fail()
    assert seen_inside == [QueueCounts(waiting=1)]  # visible to its own transaction
    assert counts(db, Greet.queue) == QueueCounts()


def test_a_payload_whose_class_is_gone_fails_to_build(db: DatabaseDriver) -> None:
    db.push([Envelope(job="zwm_removed_module.OldJob", args={}, queue="dispatch-gone")])
    (got,) = db.reserve(["dispatch-gone"], lease=LEASE)
    with pytest.raises(PayloadError, match="cannot import module 'zwm_removed_module'"):
        got.envelope.build()
    db.push([Envelope(job="test_dispatch.NotThere", args={}, queue="dispatch-gone")])
    (got,) = db.reserve(["dispatch-gone"], lease=LEASE)
    with pytest.raises(PayloadError, match="is not a job class"):
        got.envelope.build()


def test_dispatch_now_runs_the_job_in_process() -> None:
    ran: list[str] = []

    @dataclass
    class Record(Job):
        text: str

        def handle(self) -> None:
            ran.append(self.text)

    Record.__module__, Record.__qualname__ = __name__, "Record"
    globals()["Record"] = Record
    job_id = dispatch_now(Record("now"))
    assert ran == ["now"]
    assert len(job_id) == 32
