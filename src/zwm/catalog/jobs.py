"""Jobs of the catalog: sync one customer, re-extract a workflow's tasks, sync everyone.

Retry policy, from the seed: three attempts, 60 s then 120 s apart, for what may heal by
itself (Zuora down, timeouts, 429 storms). What cannot heal without a person -- refused
credentials, a denied permission, settings that cannot be used -- fails at once
(``dont_retry``) with the reason on the customer, instead of burning Zuora's per-IP
authentication limit three times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from zwm.catalog.crypto import SecretDecryptionError
from zwm.catalog.models import Customer, SyncRun, Workflow
from zwm.catalog.services.customers import InvalidCustomerConfiguration
from zwm.catalog.services.sync import sync_customer
from zwm.catalog.services.tasks import reextract_tasks
from zwm.queue.job import Job
from zwm.zuora import ZuoraAuthenticationError, ZuoraPermissionError, ZuoraRequestError

log = logging.getLogger(__name__)

SYNC_ALL_BATCH_NAME = "Sync all customers"


@dataclass
class SyncCustomerWorkflows(Job):
    """Synchronise one customer's workflows with Zuora (see :mod:`zwm.catalog.services.sync`).

    Unique per customer: while one sync of a customer waits or runs, another dispatch of it
    is dropped, so a double click or an overlapping schedule queues no second one. What runs
    outside the queue (``--sync``) is kept apart by the sync's own lock, which ends a second
    run as ``skipped``. ``timeout`` is above ``ZWM_SYNC_DEADLINE``, so a slow sync stops
    itself, with its reason, before the worker would kill it.
    """

    customer_id: int
    trigger: str = SyncRun.Trigger.UI
    full: bool = False

    queue = "default"
    tries = 3
    backoff = [60, 120]
    timeout = 1800
    dont_retry = (
        ZuoraAuthenticationError,
        ZuoraPermissionError,
        ZuoraRequestError,
        InvalidCustomerConfiguration,
        SecretDecryptionError,
    )

    def unique_key(self) -> str:
        return f"catalog:sync-customer:{self.customer_id}"

    def handle(self) -> None:
        customer = Customer.objects.filter(pk=self.customer_id).first()
        if customer is None:  # deleted after the dispatch: nothing left to sync
            log.info("customer %s no longer exists; sync skipped", self.customer_id)
            return
        progress = self.context.report_progress if self.context is not None else None
        sync_customer(customer, trigger=self.trigger, full=self.full, progress=progress)


@dataclass
class SyncWorkflowTasks(Job):
    """Re-extract one workflow's tasks and linkages from its stored export (no Zuora call)."""

    workflow_id: int

    queue = "default"
    tries = 1

    def handle(self) -> None:
        workflow = Workflow.objects.filter(pk=self.workflow_id).first()
        if workflow is None:
            log.info("workflow %s no longer exists; task extraction skipped", self.workflow_id)
            return
        reextract_tasks(workflow)


def dispatch_sync(customer: Customer, *, trigger: str = SyncRun.Trigger.UI, full: bool = False) -> str | None:
    """Queue a sync of ``customer``; the UI uses queue ``high``. None when one is already queued."""
    queue = "high" if trigger == SyncRun.Trigger.UI else None
    return SyncCustomerWorkflows(customer.pk, trigger, full).dispatch(queue=queue)


def dispatch_sync_all(*, trigger: str = SyncRun.Trigger.SCHEDULE, full: bool = False) -> str | None:
    """Queue one sync per active customer as a batch (progress = customers done); its id.

    Failures are allowed: one tenant with bad credentials must not cancel the others.
    None when there is no active customer.
    """
    from zwm.queue.batches import Batch

    jobs: list[Job] = [
        SyncCustomerWorkflows(pk, trigger, full)
        for pk in Customer.objects.filter(active=True).order_by("name").values_list("pk", flat=True)
    ]
    if not jobs:
        return None
    return Batch(jobs, name=SYNC_ALL_BATCH_NAME, allow_failures=True).dispatch()


@dataclass
class SyncAllCustomers(Job):
    """Queue the "sync all" batch: what the scheduler fires every hour (``ZWM_SYNC_SCHEDULE``).

    A job of its own, rather than the scheduler building the batch itself, so the scheduler
    stays ignorant of customers and the fan-out is retried like any job if the database
    hiccups at that moment.
    """

    trigger: str = SyncRun.Trigger.SCHEDULE
    full: bool = False

    queue = "default"
    tries = 3
    backoff = [5, 30]

    def handle(self) -> None:
        batch_id = dispatch_sync_all(trigger=self.trigger, full=self.full)
        log.info("sync all customers: %s", f"batch {batch_id}" if batch_id else "no active customer")
