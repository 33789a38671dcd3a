"""The catalog's jobs on the real job engine: retry policy, failures, progress, the "sync all" batch."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from zwm.catalog.jobs import SyncAllCustomers, SyncCustomerWorkflows, SyncWorkflowTasks, dispatch_sync
from zwm.catalog.models import Customer, SyncRun, Task, Workflow
from zwm.catalog.services import sync_customer
from zwm.queue import dispatch, dispatch_now
from zwm.queue.batches import find
from zwm.queue.models import FailedJob, JobExecution, QueuedJob
from zwm.queue.worker import Worker, WorkerOptions
from zwm.zuora import ZuoraAuthenticationError, ZuoraTransientError
from zwm.zuora.simulator import Faults, ZuoraSimulator

pytestmark = pytest.mark.django_db(transaction=True)

MakeCustomer = Callable[..., Customer]


def work_until_empty() -> None:
    """A real worker on the database queue, in this process, until both queues are empty.

    No ``--memory`` limit: in this process the worker would measure the whole test run's memory.
    """
    options = WorkerOptions(
        connection="database", queues=("high", "default"), sleep=0.05, stop_when_empty=True, memory=0
    )
    assert Worker(options, out=io.StringIO()).run() == 0


def test_sync_job_through_a_worker_reports_progress(sim: ZuoraSimulator, make_customer: MakeCustomer) -> None:
    customer = make_customer(workflows=5)
    job_id = dispatch_sync(customer)
    assert QueuedJob.objects.get().queue == "high"  # the UI's queue

    work_until_empty()

    execution = JobExecution.objects.get(job_uuid=job_id)
    assert (execution.status, execution.progress) == ("succeeded", 100)
    assert Workflow.objects.filter(customer=customer).count() == 5
    assert SyncRun.objects.get().trigger == "ui"


def test_bad_credentials_fail_the_job_at_once_without_retry(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3, secret="not-the-secret")

    with pytest.raises(ZuoraAuthenticationError):
        dispatch_now(SyncCustomerWorkflows(customer.pk))

    assert JobExecution.objects.count() == 1  # tries = 3, but never retried
    failed = FailedJob.objects.get()
    assert failed.exception_type.endswith("ZuoraAuthenticationError")
    assert "not-the-secret" not in failed.exception_message + failed.exception_traceback
    assert sim.stats("acme")["token_denied"] == 1
    customer.refresh_from_db()
    assert customer.last_sync_error.startswith("Zuora refused the credentials")


def test_transient_failures_are_retried_three_times_then_recorded(
    sim: ZuoraSimulator, make_customer: MakeCustomer, configure: Callable[..., None]
) -> None:
    configure(ZWM_ZUORA_MAX_RETRIES="0")  # the client gives up at once; the job engine retries
    customer = make_customer(workflows=3)
    sim.set_faults("acme", Faults(list_page_error=1))

    with pytest.raises(ZuoraTransientError):
        dispatch_now(SyncCustomerWorkflows(customer.pk, trigger="cli"))

    assert JobExecution.objects.count() == 3
    assert FailedJob.objects.count() == 1
    assert list(SyncRun.objects.values_list("status", flat=True)) == ["failed"] * 3


def test_sync_job_is_unique_per_customer(sim: ZuoraSimulator, make_customer: MakeCustomer) -> None:
    first, second = make_customer("one"), make_customer("two")

    assert dispatch(SyncCustomerWorkflows(first.pk)) is not None
    assert dispatch(SyncCustomerWorkflows(first.pk, full=True)) is None
    assert dispatch(SyncCustomerWorkflows(second.pk)) is not None


def test_a_job_for_a_deleted_customer_does_nothing(sim: ZuoraSimulator) -> None:
    dispatch_now(SyncCustomerWorkflows(999_999))
    assert not SyncRun.objects.exists()
    assert not FailedJob.objects.exists()


def test_sync_all_is_a_batch_of_the_active_customers(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    make_customer("one", workflows=2)
    make_customer("two", workflows=3)
    inactive = make_customer("three", workflows=1)
    inactive.active = False
    inactive.save()
    make_customer("four", workflows=1, secret="wrong-secret")

    dispatch(SyncAllCustomers())
    work_until_empty()

    runs = dict(SyncRun.objects.values_list("customer__name", "status"))
    assert runs == {"one": "succeeded", "two": "succeeded", "four": "failed"}
    assert set(SyncRun.objects.values_list("trigger", flat=True)) == {"schedule"}
    batch_id = JobExecution.objects.exclude(batch_id=None).values_list("batch_id", flat=True).first()
    assert batch_id is not None
    batch = find(batch_id)
    assert (batch.total_jobs, batch.failed_jobs) == (3, 1)
    assert batch.finished_at is not None  # failures allowed: one bad tenant does not cancel the rest


def test_sync_workflow_tasks_rebuilds_from_the_stored_export_without_zuora(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=2)
    sync_customer(customer)
    workflow = Workflow.objects.first()
    assert workflow is not None
    expected = set(workflow.tasks.values_list("zuora_task_id", flat=True))
    Task.objects.filter(workflow=workflow).delete()
    sim.reset_stats("acme")

    dispatch_now(SyncWorkflowTasks(workflow.pk))

    assert set(workflow.tasks.values_list("zuora_task_id", flat=True)) == expected
    assert sum(sim.stats("acme").values()) == 0
