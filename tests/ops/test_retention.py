"""Retention: old rows of every store go, what must survive stays; registered by default."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone
from workerkit import Workers

from zwm.catalog.models import Customer, SyncRun, Workflow, WorkflowVersion
from zwm.queue.models import FailedJob, JobBatch, JobExecution, ScheduledRun, UniqueLock, Worker

Status = JobExecution.Status


def execution(status: str, finished: datetime | None, n: int) -> JobExecution:
    return JobExecution.objects.create(
        job_uuid=f"job{n}",
        job_class="x.Job",
        queue="default",
        connection="database",
        attempt=1,
        status=status,
        started_at=finished or timezone.now(),
        finished_at=finished,
    )


def seed_stores(now: datetime) -> dict[str, Any]:
    """Rows just past and just within each default age, and rows that must always stay."""
    old, recent = now - timedelta(days=8), now - timedelta(days=6)
    execution(Status.SUCCEEDED, old, 1)
    keep_execution = execution(Status.FAILED, recent, 2)
    running = execution(Status.RUNNING, None, 3)
    JobExecution.objects.filter(pk=running.pk).update(started_at=old)
    JobBatch.objects.create(id="old-batch", created_at=old, finished_at=old)
    JobBatch.objects.create(id="open-batch", created_at=old)  # unsettled: kept
    for n, at in enumerate([now - timedelta(hours=73), now - timedelta(hours=71)]):
        FailedJob.objects.create(
            uuid=f"f{n}",
            connection="database",
            queue="default",
            job_class="x.Job",
            payload="{}",
            failed_at=at,
        )
    customer = Customer.objects.create(name="Acme", client_id="c", client_secret_encrypted="x")
    runs = [
        SyncRun.objects.create(
            customer=customer, trigger="cli", status="succeeded", started_at=at, finished_at=at
        )
        for at in (now - timedelta(days=40), now - timedelta(days=31))
    ]
    workflow = Workflow.objects.create(customer=customer, zuora_id="wf1")
    versions = [
        WorkflowVersion.objects.create(
            workflow=workflow,
            export_json="{}",
            content_hash=str(n),
            replaced_at=now - timedelta(days=400 + n),
        )
        for n in range(2)
    ]
    ScheduledRun.objects.create(name="sync", scheduled_for=old)
    ScheduledRun.objects.create(name="sync", scheduled_for=recent)
    for name, status, beat in [
        ("stopped", "stopped", now - timedelta(hours=25)),
        ("dead", "busy", now - timedelta(hours=30)),
        ("alive", "idle", now),
    ]:
        Worker.objects.create(
            name=name,
            host="h",
            pid=1,
            connection="database",
            queues="default",
            status=status,
            started_at=beat,
            last_heartbeat_at=beat,
        )
    UniqueLock.objects.create(key="expired", owner="a", expires_at=time.time() - 1)
    UniqueLock.objects.create(key="held", owner="b", expires_at=time.time() + 600)
    return {"execution": keep_execution, "running": running, "runs": runs, "versions": versions}


def test_retention_run_deletes_what_is_past_its_age(workers: Workers) -> None:
    kept = seed_stores(timezone.now())
    done = workers.run("retention:run", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "executions": 1,
        "batches": 1,
        "failed_jobs": 1,
        "sync_runs": 1,
        "schedule_runs": 1,
        "workflow_versions": 1,
        "workers": 2,
        "unique_locks": 1,
    }
    assert set(JobExecution.objects.values_list("pk", flat=True)) == {
        kept["execution"].pk,
        kept["running"].pk,
    }
    assert list(JobBatch.objects.values_list("id", flat=True)) == ["open-batch"]
    assert list(FailedJob.objects.values_list("uuid", flat=True)) == ["f1"]
    assert list(Worker.objects.values_list("name", flat=True)) == ["alive"]
    assert list(UniqueLock.objects.values_list("key", flat=True)) == ["held"]
    # both sync runs (31 and 40 days) and both versions are past their age: the latest stays
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [kept["runs"][1].pk]
    assert list(WorkflowVersion.objects.values_list("pk", flat=True)) == [kept["versions"][1].pk]


def test_shorter_ages_are_honoured_but_running_executions_stay(workers: Workers) -> None:
    kept = seed_stores(timezone.now())
    workers.env.update(ZWM_RETAIN_FINISHED_HOURS="1", ZWM_RETAIN_FAILED_HOURS="1")
    counts = json.loads(workers.run("retention:run", "--json").stdout)
    assert counts["executions"] == 2
    assert counts["failed_jobs"] == 2
    assert list(JobExecution.objects.values_list("pk", flat=True)) == [kept["running"].pk]


def test_pruning_is_in_the_schedule_by_default_and_alert_checks_with_a_channel(workers: Workers) -> None:
    names = [entry["name"] for entry in json.loads(workers.run("schedule:list", "--json").stdout)]
    assert "ops-prune-history" in names
    assert "ops-check-alerts" not in names
    workers.env["ZWM_ALERT_WEBHOOK_URL"] = "https://hooks.example.com/zwm"
    listed = json.loads(workers.run("schedule:list", "--json").stdout)
    assert {e["name"]: e["cron"] for e in listed}["ops-check-alerts"] == "* * * * *"


@pytest.mark.django_db(transaction=True)
def test_prune_history_job_runs_the_same_rules() -> None:
    from zwm.ops.jobs import PruneHistory

    seed_stores(timezone.now())
    PruneHistory().handle()
    assert Worker.objects.count() == 1
