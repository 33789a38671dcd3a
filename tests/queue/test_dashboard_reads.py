"""What the dashboard reads from the queue's tables: failed-job filters and bulk actions,
execution history, chart series, the overview, batches, workers and the schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from zwm.queue import batches, charts, executions, overview, registry, schedule
from zwm.queue import failed as store
from zwm.queue.counting import CappedCount
from zwm.queue.diagnostics import Noop
from zwm.queue.failed import FailedFilter, FailureInfo
from zwm.queue.job import Envelope
from zwm.queue.models import ChartBucket, FailedJob, JobBatch, JobExecution, QueuedJob, Worker

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]

Status = JobExecution.Status


def fail(queue: str = "default", message: str = "boom", job: str = "zwm.queue.diagnostics.Noop") -> FailedJob:
    envelope = Envelope(job=job, args={"customer": "acme"}, queue=queue)
    return store.record_failure(envelope, "database", FailureInfo("X", message))


def execution(minutes_ago: float, status: str = Status.SUCCEEDED, **fields: object) -> JobExecution:
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    values: dict[str, object] = {
        "job_uuid": "u" * 32,
        "job_class": "pkg.Job",
        "queue": "default",
        "connection": "database",
        "attempt": 1,
        "status": status,
        "started_at": finished - timedelta(milliseconds=float(fields.get("duration_ms", 1.0))),  # type: ignore[arg-type]
        "finished_at": finished,
        "duration_ms": 1.0,
    }
    values.update(fields)
    return JobExecution(**values)  # type: ignore[arg-type]


def test_capped_count_reads_like_a_person_would() -> None:
    assert str(CappedCount(10_000, capped=True)) == "10,000+"
    assert str(CappedCount(1234)) == "1,234"


def test_failed_filters_search_and_payload_privacy() -> None:
    a = fail("mail", "Connection refused by host")
    fail("mail", "other", job="zwm.queue.diagnostics.Fail")
    fail("sync", "timeout")
    assert store.count_failed(FailedFilter(queue="mail")).value == 2
    assert [r.pk for r in store.failed_page(FailedFilter(search="REFUSED"))] == [a.pk]
    assert store.count_failed(FailedFilter(job_class="zwm.queue.diagnostics.Fail")).value == 1
    assert store.count_failed(FailedFilter(search=a.uuid)).value == 1
    # the payload ("acme") is searched only for those who may see it
    assert store.count_failed(FailedFilter(search="acme")).value == 0
    assert store.count_failed(FailedFilter(search="acme", search_payload=True)).value == 3


def test_retry_matching_requeues_in_chunks_and_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "CHUNK", 7)
    rows = [fail("bulk") for _ in range(20)]
    fail("other")
    FailedJob.objects.filter(pk=rows[0].pk).update(payload="{not json")
    outcome = store.retry_matching(FailedFilter(queue="bulk"))
    assert (outcome.done, outcome.skipped, outcome.finished) == (19, 1, True)
    assert QueuedJob.objects.filter(queue="bulk").count() == 19
    assert list(FailedJob.objects.values_list("queue", flat=True).order_by("queue")) == ["bulk", "other"]


def test_bulk_actions_stop_at_the_deadline_and_say_more_remains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "CHUNK", 5)
    for _ in range(12):
        fail("slow")
    outcome = store.forget_matching(FailedFilter(queue="slow"), seconds=-1)
    assert (outcome.done, outcome.finished) == (0, False)
    outcome = store.forget_matching(FailedFilter(queue="slow"))
    assert (outcome.done, outcome.finished) == (12, True)


def test_selected_actions_count_jobs_someone_else_already_moved() -> None:
    a, b = fail(), fail()
    store.forget(b.pk)
    outcome = store.retry_selected([a.pk, b.pk])
    assert (outcome.done, outcome.skipped) == (1, 1)
    outcome = store.forget_selected([a.pk])
    assert (outcome.done, outcome.skipped) == (0, 1)
    with pytest.raises(ValueError, match="at most"):
        store.retry_selected(list(range(store.MAX_SELECTION + 1)))


def test_executions_filter_page_by_keyset_and_search() -> None:
    rows = JobExecution.objects.bulk_create(
        [execution(n, job_uuid=f"{n:032d}") for n in range(6)]
        + [execution(1, Status.FAILED, exception_message="Zuora said 503", job_class="pkg.Sync")]
    )
    everything = executions.ExecutionFilter()
    first = executions.executions(everything, limit=4)
    assert len(first) == 4
    assert first[0].id > first[-1].id
    rest = executions.executions(everything, limit=4, before=first[-1].id)
    assert len(rest) == 3
    assert executions.count(executions.ExecutionFilter(status=Status.FAILED)).value == 1
    assert [r.job_class for r in executions.executions(executions.ExecutionFilter(search="said 503"))] == [
        "pkg.Sync"
    ]
    assert executions.count(executions.ExecutionFilter(search=rows[2].job_uuid)).value == 1
    assert len(executions.attempts(rows[2].job_uuid)) == 1
    with pytest.raises(ValueError, match="status"):
        executions.ExecutionFilter(status="exploded")


def test_chart_series_counts_and_nearest_rank_percentiles() -> None:
    durations = [float(d) for d in range(1, 21)]  # 1..20 ms in one bucket
    JobExecution.objects.bulk_create(
        [execution(0.5, duration_ms=d, wait_ms=d * 10) for d in durations]
        + [execution(0.5, Status.FAILED), execution(0.5, Status.TIMED_OUT), execution(0.5, Status.RUNNING)]
        + [execution(60 * 24 * 8)]  # outside every window
    )
    data = charts.series("hours")
    assert len(data["t"]) == len(data["succeeded"]) == 6 * 12 + 1
    assert sum(data["succeeded"]) == 20
    assert sum(data["failed"]) == 2
    filled = [i for i, v in enumerate(data["runtime_p50"]) if v is not None]
    assert len(filled) == 1
    i = filled[0]
    assert (data["runtime_p50"][i], data["runtime_p95"][i]) == (10.0, 19.0)
    assert (data["wait_p50"][i], data["wait_p95"][i]) == (100.0, 190.0)
    assert sum(charts.series("days")["succeeded"]) == 20
    with pytest.raises(ValueError, match="window"):
        charts.series("weeks")


def test_buckets_that_are_over_are_computed_once_and_kept() -> None:
    JobExecution.objects.bulk_create([execution(60, duration_ms=5.0)])  # an hour ago: over
    assert sum(charts.series("hours")["succeeded"]) == 1
    kept = ChartBucket.objects.filter(step=300)
    assert kept.count() >= 6 * 12 - 2  # every bucket that is over, empty ones too
    assert kept.filter(succeeded=1, runtime_p50=5.0).count() == 1
    JobExecution.objects.all().delete()  # pruned: the chart still shows what happened
    assert sum(charts.series("hours")["succeeded"]) == 1
    JobExecution.objects.bulk_create([execution(0.5)])  # the buckets still filling are read live
    assert sum(charts.series("hours")["succeeded"]) == 2


def test_overview_counts_each_store() -> None:
    Noop().dispatch(connection="database", queue="ov")
    Noop().dispatch(connection="database", queue="ov", delay=600)
    fail("ov")
    JobExecution.objects.bulk_create([execution(2), execution(30), execution(120)])
    now = timezone.now()
    Worker.objects.create(
        name="h:1", host="h", pid=1, connection="database", queues="ov", status="idle",
        started_at=now, last_heartbeat_at=now,
    )  # fmt: skip
    Worker.objects.create(
        name="h:2", host="h", pid=2, connection="database", queues="ov", status="idle",
        started_at=now, last_heartbeat_at=now - timedelta(minutes=5),
    )  # fmt: skip
    figures = overview.overview("database")
    assert (figures.waiting.value, figures.delayed.value, figures.running.value) == (1, 1, 0)
    assert (figures.failed.value, figures.failed_24h.value, figures.processed_1h.value) == (1, 1, 2)
    assert figures.per_minute == pytest.approx(0.2)
    [queue] = [q for q in figures.queues if q.name == "ov"]
    assert (queue.waiting.value, queue.failed, queue.paused) == (1, 1, False)
    assert queue.oldest_age is not None
    assert queue.oldest_age >= 0
    assert [w.name for w in figures.workers] == ["h:1"]
    assert [w.name for w in registry.alive()] == ["h:1"]


def test_batches_list_by_state_and_search() -> None:
    now = timezone.now()
    JobBatch.objects.create(id="b1", name="nightly sync", total_jobs=2, pending_jobs=1, created_at=now)
    JobBatch.objects.create(id="b2", name="other", total_jobs=1, created_at=now, finished_at=now)
    JobBatch.objects.create(id="b3", name="broken", total_jobs=1, pending_jobs=1, failed_jobs=1,
                            created_at=now, cancelled_at=now)  # fmt: skip
    assert [b.id for b in batches.list_batches("running")] == ["b1"]
    assert [b.id for b in batches.list_batches("finished")] == ["b2"]
    assert [b.id for b in batches.list_batches("failed")] == ["b3"]
    assert [b.id for b in batches.list_batches(search="NIGHTLY")] == ["b1"]
    assert batches.count_batches().value == 3
    with pytest.raises(ValueError, match="state"):
        batches.list_batches("exploded")


def test_schedule_status_and_run_now() -> None:
    [entry] = schedule.load_entries(
        [{"name": "tick", "cron": "*/5 * * * *", "job": "zwm.queue.diagnostics.Noop"}]
    )
    [before] = schedule.status([entry])
    assert before.last_run is None
    assert before.last_status is None
    assert before.next_at > timezone.now()
    run = schedule.run_now(entry)
    assert QueuedJob.objects.filter(uuid=run.job_id).exists()
    [after] = schedule.status([entry])
    assert after.last_run is not None
    assert after.last_run.job_id == run.job_id
    assert after.last_status == "queued"
    JobExecution.objects.bulk_create([execution(0, job_uuid=run.job_id)])
    assert schedule.status([entry])[0].last_status == Status.SUCCEEDED


def test_capped_counts_add_up_to_a_lower_bound() -> None:
    assert CappedCount(2) + CappedCount(3) == CappedCount(5)
    assert str(CappedCount(2) + CappedCount(10_000, capped=True)) == "10,002+"


def test_overview_of_the_sync_connection_shows_failures_and_no_backlog() -> None:
    fail("inline")
    figures = overview.overview("sync")
    assert (figures.connection, figures.waiting.value, figures.failed.value) == ("sync", 0, 1)
    assert [(q.name, q.failed, q.oldest_age) for q in figures.queues] == [("inline", 1, None)]
