"""Bad data in one listing item or export costs that item, never the sync or good stored data."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zwm.catalog.models import Customer, SyncRun, Task, Workflow
from zwm.catalog.services import sync_customer
from zwm.zuora.simulator import Faults, ZuoraSimulator

MakeCustomer = Callable[..., Customer]

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("field", "columns", "lack"),
    [
        ("name", ("name",), "its name"),
        ("updatedAt", ("zuora_updated_at",), "its updatedAt"),
        ("active_version", ("version", "active_version_id", "type"), "its active_version"),
    ],
)
def test_a_listing_item_missing_a_field_never_blanks_the_stored_value(
    sim: ZuoraSimulator, make_customer: MakeCustomer, field: str, columns: tuple[str, ...], lack: str
) -> None:
    customer = make_customer(workflows=5)
    sync_customer(customer)
    target = sim.workflow_ids("acme")[1]
    before = Workflow.objects.values(*columns).get(zuora_id=target)
    sim.set_faults(
        "acme", Faults(missing_field_listing_ids=frozenset({int(target)}), missing_listing_field=field)
    )

    run = sync_customer(customer)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Workflow.objects.values(*columns).get(zuora_id=target) == before
    assert Workflow.objects.filter(customer=customer).count() == 5
    warnings = [w for w in run.warnings if f"workflow {target}" in w]
    assert len(warnings) == 1
    assert f"lacks {lack}; the stored values are kept" in warnings[0]


def test_a_listing_item_with_wrong_types_keeps_the_stored_values(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3)
    sync_customer(customer)
    target = sim.workflow_ids("acme")[0]
    columns = ("name", "zuora_updated_at", "version", "active_version_id")
    before = Workflow.objects.values(*columns).get(zuora_id=target)
    sim.set_faults("acme", Faults(wrong_type_listing_ids=frozenset({int(target)})))

    run = sync_customer(customer)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Workflow.objects.values(*columns).get(zuora_id=target) == before
    assert any(f"workflow {target}" in w and "lacks its name and its updatedAt" in w for w in run.warnings)


def test_a_new_workflow_without_a_name_is_stored_with_a_warning(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3)
    target = sim.workflow_ids("acme")[2]
    sim.set_faults(
        "acme", Faults(missing_field_listing_ids=frozenset({int(target)}), missing_listing_field="name")
    )

    run = sync_customer(customer)

    assert run.created == 3
    assert Workflow.objects.get(zuora_id=target).name == ""
    assert any(
        f"workflow {target}: Zuora's listing lacks its name; stored without them" in w for w in run.warnings
    )


def test_over_long_texts_are_cut_with_a_warning_and_never_abort_the_batch(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    """On PostgreSQL and MariaDB an over-long value fails its statement -- and with it every
    workflow written in the same transaction. Here it is cut, named, and the rest is stored."""
    customer = make_customer(workflows=8)
    target = sim.workflow_ids("acme")[3]
    sim.set_faults("acme", Faults(overlong_text_ids=frozenset({int(target)})))

    run = sync_customer(customer)

    assert (run.status, run.created, run.failed) == (SyncRun.Status.SUCCEEDED, 8, 0)
    workflow = Workflow.objects.get(zuora_id=target)
    assert len(workflow.name) == 255
    first = workflow.export["tasks"][0]  # type: ignore[index]
    task = Task.objects.get(workflow=workflow, zuora_task_id=str(first["id"]))
    assert len(task.name) == 255
    assert len(first["name"]) == 1000  # the stored export keeps every character
    assert any(f"workflow {target}" in w and "name cut to fit its column" in w for w in run.warnings)
    assert any(
        f"workflow {target}: too long for its column" in w and "name, object" in w for w in run.warnings
    )
