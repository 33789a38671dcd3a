"""A sync always ends, with its reason: crashes in export workers, its deadline, 403s."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zwm.catalog.models import Customer, SyncRun, Workflow
from zwm.catalog.services import credentials_for, sync_customer
from zwm.catalog.token_cache import shared_token_cache
from zwm.zuora import WorkflowExport, ZuoraClient, ZuoraPermissionError
from zwm.zuora.simulator import Faults, ZuoraSimulator

MakeCustomer = Callable[..., Customer]

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


class CrashingExports(ZuoraClient):
    """A real client whose export of some workflows raises what no Zuora error is -- as a
    database lock timeout, a ``RecursionError`` or a ``MemoryError`` would in a worker thread."""

    crash_on: frozenset[str] = frozenset()

    def export_workflow(self, workflow_id: str, version: str | None = None) -> WorkflowExport:
        export = super().export_workflow(workflow_id, version)
        if workflow_id in self.crash_on:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON object")
        return export


def no_run_left_running() -> bool:
    return not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()


@pytest.mark.timeout(60)  # the defect was a hang: fail, do not wait forever
def test_a_crash_in_an_export_worker_fails_the_run_with_its_reason(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=40)
    client = CrashingExports(credentials_for(customer), token_cache=shared_token_cache(), concurrency=8)
    client.crash_on = frozenset(sim.workflow_ids("acme")[5:30])

    with pytest.raises(RecursionError), client:
        sync_customer(customer, client=client, workers=8)

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("RecursionError: maximum recursion depth exceeded")
    assert run.finished_at is not None
    assert no_run_left_running()
    customer.refresh_from_db()
    assert customer.last_sync_status == "failed"
    assert sync_customer(customer).status == SyncRun.Status.SUCCEEDED  # nothing left locked


def test_a_sync_past_its_deadline_stops_keeps_its_work_and_fails(
    sim: ZuoraSimulator, make_customer: MakeCustomer, configure: Callable[..., None]
) -> None:
    configure(ZWM_SYNC_DEADLINE="1")
    customer = make_customer(workflows=200)
    sim.latency = 0.05  # 200 exports on 2 workers: about 5 s, past the 1 s deadline

    with pytest.raises(Exception, match="past its deadline"):
        sync_customer(customer, workers=2)

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert "ZWM_SYNC_DEADLINE" in run.error
    assert 0 < run.created < 200
    assert Workflow.objects.count() == run.created
    assert run.deleted == 0
    assert no_run_left_running()


def test_403_on_every_export_fails_the_run_naming_the_permission(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=4)
    sim.set_faults("acme", Faults(forbidden_exports=True))

    with pytest.raises(ZuoraPermissionError):
        sync_customer(customer)

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert "refused all 4 export(s) with HTTP 403" in run.error
    assert "Workflow View Access" in run.error
    customer.refresh_from_db()
    assert customer.last_sync_status == "failed"
    assert customer.last_synced_at is None


def test_403_on_some_exports_is_partial(sim: ZuoraSimulator, make_customer: MakeCustomer) -> None:
    customer = make_customer(workflows=4)
    denied = sim.workflow_ids("acme")[1]
    sim.set_faults("acme", Faults(forbidden_export_ids=frozenset({int(denied)})))

    run = sync_customer(customer)

    assert (run.status, run.created, run.failed) == (SyncRun.Status.PARTIAL, 3, 1)
    assert "refused 1 export(s) with HTTP 403" in run.error
    assert any(denied in warning for warning in run.warnings)
    customer.refresh_from_db()
    assert customer.last_sync_status == "partial"


def test_403_on_the_listing_fails_the_run_naming_the_permission(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=2)
    sim.fail_next("acme", count=1, status=403)

    with pytest.raises(ZuoraPermissionError):
        sync_customer(customer)

    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.FAILED
    assert "Workflow View Access" in run.error
