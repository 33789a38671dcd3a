"""Deletion is safe: what still exists in Zuora is never deleted, whatever its listing does.

Against the simulator over real HTTP, on every database backend: short pages, ``next_page``
on Zuora's own host, workflows deleted between two pages, and a share limit on deletions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zwm.catalog.models import Customer, SyncRun, Workflow
from zwm.catalog.services import sync_customer
from zwm.zuora.simulator import Faults, ZuoraSimulator

MakeCustomer = Callable[..., Customer]

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def stored_ids(customer: Customer) -> list[str]:
    return sorted(Workflow.objects.filter(customer=customer).values_list("zuora_id", flat=True))


def test_short_pages_with_a_next_page_on_zuoras_host_delete_nothing(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    """The reported case: 120 stored, page 1 returns 49 items and a next_page on rest.zuora.com."""
    customer = make_customer(workflows=120)
    sync_customer(customer)
    sim.set_faults("acme", Faults(short_page_length=49, next_page_base="https://rest.zuora.com"))

    run = sync_customer(customer)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.listed, run.unchanged, run.deleted, run.failed) == (120, 120, 0, 0)
    assert stored_ids(customer) == sorted(sim.workflow_ids("acme"))
    assert sim.stats("acme")["list"] == 3 + 3  # this run's three short pages, after the first run's three


def test_a_first_sync_follows_next_page_on_zuoras_host(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=60)
    sim.set_faults("acme", Faults(next_page_base="https://rest.zuora.com"))

    run = sync_customer(customer)

    assert (run.status, run.listed, run.created) == (SyncRun.Status.SUCCEEDED, 60, 60)


def test_workflows_deleted_mid_listing_never_delete_a_live_one(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    """Two deleted right after page 1 was served: page 2 shifts by two, so two live workflows
    are never listed. They are asked for, found and kept; the two deleted, listed on page 1,
    go on the next sync."""
    customer = make_customer(workflows=120)
    sync_customer(customer)
    doomed = sim.workflow_ids("acme")[:2]
    sim.set_faults("acme", Faults(delete_during_listing_ids=frozenset(int(i) for i in doomed)))

    run = sync_customer(customer)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.listed, run.deleted) == (118, 0)
    assert stored_ids(customer) == sorted([*sim.workflow_ids("acme"), *doomed])
    kept = [w for w in run.warnings if "missing from Zuora's listing but Zuora still has it" in w]
    assert len(kept) == 2

    sim.set_faults("acme", Faults())
    assert sync_customer(customer).deleted == 2
    assert stored_ids(customer) == sorted(sim.workflow_ids("acme"))


def test_deleting_more_than_the_limit_deletes_nothing_until_a_full_sync(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=10)
    sync_customer(customer)
    for workflow_id in sim.workflow_ids("acme")[:3]:  # 30 % > 20 %
        sim.delete_workflow("acme", workflow_id)

    run = sync_customer(customer)

    assert (run.status, run.deleted, run.withheld) == (SyncRun.Status.SUCCEEDED, 0, 3)
    assert run.as_dict()["withheld"] == 3  # what a UI asks to confirm before a full sync
    assert Workflow.objects.filter(customer=customer).count() == 10
    assert any("lacks 3 of the 10 stored workflows (30 %" in w and "--full" in w for w in run.warnings)

    confirmed = sync_customer(customer, full=True)

    assert (confirmed.deleted, confirmed.withheld) == (3, 0)
    assert stored_ids(customer) == sorted(sim.workflow_ids("acme"))


def test_the_deletion_limit_is_a_setting(
    sim: ZuoraSimulator, make_customer: MakeCustomer, configure: Callable[..., None]
) -> None:
    configure(ZWM_SYNC_MAX_DELETE_PERCENT="50")
    customer = make_customer(workflows=10)
    sync_customer(customer)
    for workflow_id in sim.workflow_ids("acme")[:3]:
        sim.delete_workflow("acme", workflow_id)

    assert sync_customer(customer).deleted == 3


def test_an_empty_listing_deletes_nothing_even_in_a_full_sync_while_zuora_has_them(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=5)
    sync_customer(customer)
    sim.set_faults("acme", Faults(empty_listing=True))

    assert sync_customer(customer).deleted == 0
    full = sync_customer(customer, full=True)

    assert full.deleted == 0
    assert Workflow.objects.filter(customer=customer).count() == 5
    assert sum("Zuora still has it" in w for w in full.warnings) == 5


def test_an_unreadable_listing_item_is_skipped_named_and_not_deleted(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=6)
    sync_customer(customer)
    broken = int(sim.workflow_ids("acme")[2])
    sim.set_faults("acme", Faults(missing_field_listing_ids=frozenset({broken})))

    run = sync_customer(customer)

    assert (run.status, run.listed, run.failed, run.deleted) == (SyncRun.Status.SUCCEEDED, 5, 1, 0)
    assert any("unreadable item" in w and "'id' is missing" in w for w in run.warnings)
    assert Workflow.objects.filter(customer=customer, zuora_id=str(broken)).exists()
