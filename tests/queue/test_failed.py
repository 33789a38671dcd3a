"""The failed-job store: record, list, retry, forget, flush, prune -- every backend."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from zwm.queue import UnknownConnection, get_driver
from zwm.queue import failed as store
from zwm.queue.drivers.base import QueueCounts
from zwm.queue.job import Envelope
from zwm.queue.models import FailedJob

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True, available_apps=["zwm.queue"])]

LEASE = 30.0


def failing_function() -> None:
    raise ValueError("Zuora said no: ünïcode")


def a_failure() -> ValueError:
    try:
        failing_function()
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def record(queue: str = "failed-q", connection: str = "database", attempts: int = 3) -> FailedJob:
    envelope = Envelope(job="pkg.jobs.Sync", args={"customer_id": 7}, queue=queue, attempts=attempts)
    return store.record_failure(envelope, connection, a_failure())


def test_record_failure_from_an_exception() -> None:
    row = record()
    assert (row.connection, row.queue, row.job_class) == ("database", "failed-q", "pkg.jobs.Sync")
    assert row.exception_type == "ValueError"
    assert row.exception_message == "Zuora said no: ünïcode"
    assert "failing_function" in row.exception_traceback
    assert Envelope.from_json(row.payload).args == {"customer_id": 7}
    assert row.failed_at <= timezone.now()


def test_record_failure_from_info_and_twice_keeps_one_row() -> None:
    envelope = Envelope(job="pkg.jobs.Slow", args={}, queue="failed-q")
    info = store.FailureInfo(type="zwm.queue.TimedOut", message="killed after 5s")
    store.record_failure(envelope, "database", info)
    store.record_failure(envelope, "database", info)
    (row,) = FailedJob.objects.all()
    assert (row.uuid, row.exception_type, row.exception_traceback) == (envelope.id, info.type, "")


def test_list_failed_filters() -> None:
    old, a, b = record("q1"), record("q1"), record("q2")
    FailedJob.objects.filter(pk=old.pk).update(failed_at=timezone.now() - timedelta(days=2))
    assert [r.pk for r in store.list_failed()] == [b.pk, a.pk, old.pk]
    assert [r.pk for r in store.list_failed(queue="q1")] == [a.pk, old.pk]
    assert [r.pk for r in store.list_failed(since=timedelta(hours=1))] == [b.pk, a.pk]
    assert [r.pk for r in store.list_failed(limit=1, offset=1)] == [a.pk]
    with pytest.raises(ValueError, match="non-negative"):
        store.list_failed(limit=-1)


def test_retry_by_numeric_id_and_by_uuid() -> None:
    a, b, c = record(), record(), record()
    assert store.retry([str(a.pk), b.uuid]) == [a.uuid, b.uuid]
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [c.pk]
    got = get_driver("database").reserve(["failed-q"], lease=LEASE, limit=5)
    assert [r.envelope.id for r in got] == [a.uuid, b.uuid]
    assert [r.envelope.attempts for r in got] == [1, 1]  # fresh attempts
    assert got[0].envelope.args == {"customer_id": 7}


def test_retry_all_narrowed_by_queue_and_since() -> None:
    a, b, old = record("q1"), record("q2"), record("q1")
    FailedJob.objects.filter(pk=old.pk).update(failed_at=timezone.now() - timedelta(days=2))
    assert store.retry("all", queue="q1", since=timedelta(hours=1)) == [a.uuid]
    assert store.retry("all") == [b.uuid, old.uuid]
    assert FailedJob.objects.count() == 0
    assert get_driver("database").counts(["q1", "q2"]) == {
        "q1": QueueCounts(waiting=2),
        "q2": QueueCounts(waiting=1),
    }


def test_retry_of_unknown_ids_does_nothing() -> None:
    a = record()
    with pytest.raises(store.FailedJobNotFound, match="99999, nope") as info:
        store.retry([str(a.pk), "99999", "nope"])
    assert info.value.missing == ["99999", "nope"]
    assert FailedJob.objects.count() == 1
    assert get_driver("database").counts(["failed-q"])["failed-q"] == QueueCounts()


def test_retry_to_an_unknown_connection_keeps_the_row() -> None:
    row = record(connection="retired-connection")
    with pytest.raises(UnknownConnection):
        store.retry([row.pk])
    assert FailedJob.objects.filter(pk=row.pk).exists()


def test_concurrent_retries_requeue_each_job_once() -> None:
    rows = [record() for _ in range(20)]
    results: list[list[str]] = []

    def retry_all() -> None:
        try:
            results.append(store.retry("all"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=retry_all) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    requeued = sorted(results[0] + results[1])
    assert requeued == sorted(r.uuid for r in rows)
    assert get_driver("database").counts(["failed-q"])["failed-q"].waiting == 20


def test_forget_flush_prune() -> None:
    a, b, c, old = record(), record(), record(), record()
    FailedJob.objects.filter(pk=old.pk).update(failed_at=timezone.now() - timedelta(hours=30))
    assert store.forget(a.pk) is True
    assert store.forget(b.uuid) is True
    assert store.forget(b.uuid) is False
    assert store.prune(hours=24) == 1
    assert store.flush(hours=24) == 0
    assert list(FailedJob.objects.values_list("pk", flat=True)) == [c.pk]
    assert store.flush() == 1
    with pytest.raises(ValueError, match="non-negative"):
        store.prune(hours=-1)
