"""Change detection cannot silently miss (periodic verification), and version history stays bounded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from zwm.catalog.models import Customer, SyncRun, Task, Workflow, WorkflowVersion
from zwm.catalog.services import sync_customer
from zwm.zuora.simulator import Faults, ZuoraSimulator

MakeCustomer = Callable[..., Customer]

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def age_exports(customer: Customer, hours: float) -> None:
    """As if the exports had been downloaded ``hours`` ago (instead of waiting that long)."""
    Workflow.objects.filter(customer=customer).update(exported_at=timezone.now() - timedelta(hours=hours))


def test_an_in_place_edit_is_missed_by_the_listing_and_caught_by_verification(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=6)
    sync_customer(customer)
    edited = sim.workflow_ids("acme")[2]
    before = Workflow.objects.get(zuora_id=edited)
    sim.set_faults("acme", Faults(edited_in_place_ids=frozenset({int(edited)})))

    missed = sync_customer(customer)  # the listing says nothing changed, and it is believed...
    assert (missed.updated, missed.verified, missed.exported) == (0, 0, 0)

    age_exports(customer, hours=25)  # ... until the exports are older than ZWM_SYNC_VERIFY_HOURS
    sim.reset_stats("acme")
    caught = sync_customer(customer)

    assert caught.status == SyncRun.Status.SUCCEEDED
    assert (caught.verified, caught.exported, caught.updated, caught.unchanged) == (6, 6, 1, 5)
    assert sim.stats("acme")["export"] == 6
    after = Workflow.objects.get(pk=before.pk)
    assert after.content_hash != before.content_hash
    assert Task.objects.filter(workflow=after, name__endswith="(edited in place)").count() == 1
    assert WorkflowVersion.objects.get(workflow=after).content_hash == before.content_hash

    again = sync_customer(customer)  # just verified: nothing to re-export for a day
    assert (again.verified, again.exported) == (0, 0)


def test_verification_can_be_turned_off(
    sim: ZuoraSimulator, make_customer: MakeCustomer, configure: Callable[..., None]
) -> None:
    configure(ZWM_SYNC_VERIFY_HOURS="0")
    customer = make_customer(workflows=3)
    sync_customer(customer)
    age_exports(customer, hours=1000)

    run = sync_customer(customer)

    assert (run.verified, run.exported, run.unchanged) == (0, 0, 3)


def test_history_keeps_the_last_n_distinct_exports(
    sim: ZuoraSimulator, make_customer: MakeCustomer, configure: Callable[..., None]
) -> None:
    configure(ZWM_SYNC_VERSION_HISTORY="3")
    customer = make_customer(workflows=2)
    sync_customer(customer)
    target = sim.workflow_ids("acme")[0]
    hashes = [Workflow.objects.get(zuora_id=target).content_hash]
    for _ in range(5):
        sim.change_workflow("acme", target)
        sync_customer(customer)
        hashes.append(Workflow.objects.get(zuora_id=target).content_hash)

    kept = list(
        WorkflowVersion.objects.filter(workflow__zuora_id=target)
        .order_by("-replaced_at", "-id")
        .values_list("content_hash", flat=True)
    )
    assert kept == [hashes[4], hashes[3], hashes[2]]  # the three newest replaced, newest first


def test_history_holds_each_export_once_and_never_the_current_one(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    """An edit and its undo, twice over: two distinct exports, so one history row."""
    customer = make_customer(workflows=2)
    sync_customer(customer)
    target = sim.workflow_ids("acme")[1]
    original = Workflow.objects.get(zuora_id=target).content_hash
    for edited in (True, False, True, False):
        ids = frozenset({int(target)}) if edited else frozenset()
        sim.set_faults("acme", Faults(edited_in_place_ids=ids))
        sync_customer(customer, full=True)

    workflow = Workflow.objects.get(zuora_id=target)
    assert workflow.content_hash == original
    history = list(WorkflowVersion.objects.filter(workflow=workflow).values_list("content_hash", flat=True))
    assert len(history) == 1
    assert history[0] != original
