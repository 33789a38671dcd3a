"""One sync per customer at a time, whoever starts it: the lock, its takeover, two processes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from zwm.catalog.models import Customer, SyncLock, SyncRun, Task, Workflow
from zwm.catalog.services import sync_customer
from zwm.catalog.services.bulk import insert_models
from zwm.catalog.services.sync_lock import sync_lock
from zwm.zuora.simulator import ZuoraSimulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "queue"))

from workerkit import Workers, workers

__all__ = ["workers"]

MakeCustomer = Callable[..., Customer]

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def test_a_sync_while_another_runs_is_skipped_and_names_the_running_one(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3)
    with sync_lock(customer, lifetime=60, wait=0) as lock:
        running = SyncRun.objects.create(customer=customer, trigger="cli", started_at=timezone.now())
        lock.attach(running)

        skipped = sync_customer(customer, wait=0.3)

    assert skipped.status == SyncRun.Status.SKIPPED
    assert skipped.error == f"skipped: a sync of acme is running (run {running.pk})"
    assert sim.stats("acme")["list"] == 0
    assert not Workflow.objects.exists()
    assert sync_customer(customer).status == SyncRun.Status.SUCCEEDED  # released: the next one runs
    assert not SyncLock.objects.exists()


def test_the_lock_of_a_dead_process_is_taken_over_and_its_run_closed(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3)
    dead = SyncRun.objects.create(customer=customer, trigger="ui", started_at=timezone.now())
    SyncLock.objects.create(customer=customer, run=dead, owner="gone", expires_at=time.time() - 1)

    run = sync_customer(customer, wait=0)

    assert run.status == SyncRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert "interrupted" in dead.error


def test_a_duplicate_row_from_the_fast_insert_path_is_djangos_integrity_error(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    """The fast path writes through the drivers' own cursors; their errors must still be
    Django's, or the sync's ``except IntegrityError`` never sees a concurrent insert."""
    customer = make_customer(workflows=1)
    sync_customer(customer)
    workflow = Workflow.objects.get()

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_models([Workflow(customer=customer, zuora_id=workflow.zuora_id)])
    task = Task.objects.filter(workflow=workflow).first()
    assert task is not None
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_models([Task(workflow=workflow, zuora_task_id=task.zuora_task_id)])
    assert Workflow.objects.count() == 1


def test_two_cli_syncs_started_together_end_with_one_done_and_a_consistent_catalog(
    sim: ZuoraSimulator, make_customer: MakeCustomer, workers: Workers
) -> None:
    customer = make_customer(workflows=150)
    sim.latency = 0.01  # long enough for the two to overlap

    first = workers.start("sync-workflows", "--customer=acme", "--sync")
    second = workers.start("sync-workflows", "--customer=acme", "--sync")
    results = [process.communicate(timeout=90) for process in (first, second)]

    assert (first.returncode, second.returncode) == (0, 0), results
    runs = list(SyncRun.objects.filter(customer=customer).order_by("id"))
    statuses = sorted(run.status for run in runs)
    # Either the second waited for the first and found nothing to do, or it gave up waiting.
    assert statuses in (["skipped", "succeeded"], ["succeeded", "succeeded"]), [r.as_dict() for r in runs]
    assert sum(run.created for run in runs) == 150, repr([r.as_dict() for r in runs])
    output = "".join(out for out, _ in results)
    assert "skipped: a sync of acme is running" in output or "unchanged 150" in output
    assert sorted(Workflow.objects.values_list("zuora_id", flat=True)) == sorted(sim.workflow_ids("acme"))
    for workflow in Workflow.objects.all():
        assert workflow.tasks.count() == len(workflow.export["tasks"])  # type: ignore[index]
    assert not SyncLock.objects.exists()
