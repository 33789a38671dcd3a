"""The sync service against the Zuora simulator over real HTTP, on every database backend."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from zwm.catalog.models import Customer, Linkage, SyncRun, Task, Workflow, WorkflowVersion
from zwm.catalog.services import build_client, credentials_for, sync_customer
from zwm.zuora import ZuoraAuthenticationError, ZuoraClient, ZuoraTransientError
from zwm.zuora.simulator import Faults, ZuoraSimulator

MakeCustomer = Callable[..., Customer]

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


def fast_client(customer: Customer, **options: Any) -> ZuoraClient:
    """A client whose retries wait milliseconds, so failure tests stay fast."""
    return build_client(
        credentials_for(customer), backoff_base=0.01, backoff_cap=0.05, max_retry_wait=1.0, **options
    )


def test_first_sync_stores_every_workflow_with_tasks_and_linkages(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=12)
    progress: list[int] = []

    run = sync_customer(customer, progress=progress.append)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.listed, run.created, run.exported, run.deleted, run.failed) == (12, 12, 12, 0, 0)
    assert sorted(Workflow.objects.values_list("zuora_id", flat=True)) == sorted(sim.workflow_ids("acme"))
    workflow = Workflow.objects.filter(customer=customer).order_by("zuora_id").first()
    assert workflow is not None
    assert workflow.export is not None
    export = workflow.export
    assert {str(t["id"]) for t in export["tasks"]} == set(
        workflow.tasks.values_list("zuora_task_id", flat=True)
    )
    assert workflow.linkages.count() == len(export["linkages"])
    assert workflow.name
    assert workflow.active_version_id
    assert workflow.zuora_updated_at is not None
    assert workflow.exported_version_id == str(export["workflow"]["id"])
    assert progress[-1] == 100
    assert progress == sorted(progress)
    customer.refresh_from_db()
    assert customer.last_sync_status == "succeeded"
    assert customer.last_sync_error == ""
    assert customer.last_synced_at is not None


def test_resync_without_changes_downloads_no_export(sim: ZuoraSimulator, make_customer: MakeCustomer) -> None:
    customer = make_customer(workflows=30)
    sync_customer(customer)
    task_pks = set(Task.objects.values_list("pk", flat=True))
    sim.reset_stats("acme")

    run = sync_customer(customer)

    assert sim.stats("acme")["export"] == 0
    assert (run.unchanged, run.created, run.updated, run.exported) == (30, 0, 0, 0)
    assert set(Task.objects.values_list("pk", flat=True)) == task_pks
    assert not Workflow.objects.filter(last_synced_at__lt=run.started_at).exists()


def test_full_sync_exports_everything_and_changes_nothing(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=5)
    sync_customer(customer)
    sim.reset_stats("acme")

    run = sync_customer(customer, full=True)

    assert sim.stats("acme")["export"] == 5
    assert (run.exported, run.unchanged, run.updated) == (5, 5, 0)
    assert WorkflowVersion.objects.count() == 0


def test_changed_workflow_is_reexported_and_its_previous_export_kept(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=6)
    sync_customer(customer)
    changed_id = sim.workflow_ids("acme")[2]
    before = Workflow.objects.get(customer=customer, zuora_id=changed_id)
    old_tasks = set(before.tasks.values_list("zuora_task_id", flat=True))
    sim.change_workflow("acme", changed_id)
    sim.reset_stats("acme")

    run = sync_customer(customer)

    assert sim.stats("acme")["export"] == 1
    assert (run.updated, run.unchanged) == (1, 5)
    after = Workflow.objects.get(pk=before.pk)
    assert after.content_hash != before.content_hash
    assert after.active_version_id != before.active_version_id
    version = WorkflowVersion.objects.get(workflow=after)
    assert version.export_json == before.export_json
    assert version.content_hash == before.content_hash
    assert version.version == before.version
    assert version.sync_run_id == run.pk
    new_tasks = set(after.tasks.values_list("zuora_task_id", flat=True))
    assert new_tasks == {str(t["id"]) for t in json.loads(after.export_json or "{}")["tasks"]}
    assert not old_tasks & new_tasks  # task ids are per version: the old ones are gone
    assert Linkage.objects.filter(workflow=after).count() == len(after.export["linkages"])  # type: ignore[index]


def test_workflow_deleted_in_zuora_is_removed_with_its_tasks(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=6)  # one of six: under the 20 % deletion limit
    sync_customer(customer)
    gone = sim.workflow_ids("acme")[0]
    gone_pk = Workflow.objects.get(zuora_id=gone).pk
    sim.delete_workflow("acme", gone)

    run = sync_customer(customer)

    assert run.deleted == 1
    assert not Workflow.objects.filter(pk=gone_pk).exists()
    assert not Task.objects.filter(workflow_id=gone_pk).exists()
    assert Workflow.objects.count() == 5


def test_failed_listing_page_deletes_nothing_and_fails_for_retry(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=60)  # two pages of 50
    sync_customer(customer)
    sim.delete_workflow("acme", sim.workflow_ids("acme")[0])
    sim.set_faults("acme", Faults(list_page_error=2))

    with pytest.raises(ZuoraTransientError), fast_client(customer, max_retries=1) as client:
        sync_customer(customer, client=client)

    assert Workflow.objects.count() == 60
    run = SyncRun.objects.latest("id")
    assert run.status == SyncRun.Status.FAILED
    assert run.deleted == 0
    assert "will be retried" in run.error
    customer.refresh_from_db()
    assert customer.last_sync_status == "failed"


def test_empty_listing_keeps_the_catalog_with_a_warning(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=5)
    sync_customer(customer)
    sim.set_faults("acme", Faults(empty_listing=True))

    run = sync_customer(customer)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.deleted == 0
    assert Workflow.objects.count() == 5
    assert any("lacks 5 of the 5 stored workflows" in w for w in run.warnings)

    for workflow_id in sim.workflow_ids("acme"):
        sim.delete_workflow("acme", workflow_id)
    confirmed = sync_customer(customer, full=True)
    assert confirmed.deleted == 5
    assert Workflow.objects.count() == 0


def test_malformed_export_is_a_warning_and_keeps_the_last_good_data(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=8)
    sync_customer(customer)
    ids = sim.workflow_ids("acme")
    broken, incomplete = ids[1], ids[4]
    good = {w.zuora_id: w for w in Workflow.objects.all()}
    for workflow_id in (broken, incomplete):
        sim.change_workflow("acme", workflow_id)
    sim.change_workflow("acme", ids[6])
    sim.set_faults(
        "acme",
        Faults(
            malformed_export_ids=frozenset({int(broken)}),
            missing_field_export_ids=frozenset({int(incomplete)}),
        ),
    )

    run = sync_customer(customer)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.failed, run.updated, run.unchanged) == (2, 1, 5)
    assert len(run.warnings) == 2
    assert all("last good data is kept" in w for w in run.warnings)
    for workflow_id in (broken, incomplete):
        kept = Workflow.objects.get(zuora_id=workflow_id)
        assert kept.content_hash == good[workflow_id].content_hash
        assert kept.zuora_updated_at == good[workflow_id].zuora_updated_at  # so the next sync retries it
        assert kept.tasks.count() == good[workflow_id].tasks.count() > 0
    customer.refresh_from_db()
    assert "2 workflow(s) skipped" in customer.last_sync_error

    sim.set_faults("acme", Faults())
    healed = sync_customer(customer)
    assert (healed.updated, healed.failed) == (2, 0)


def test_new_workflow_with_malformed_export_is_not_stored_until_it_parses(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3)
    broken = sim.workflow_ids("acme")[0]
    sim.set_faults("acme", Faults(malformed_export_ids=frozenset({int(broken)})))

    run = sync_customer(customer)

    assert (run.created, run.failed) == (2, 1)
    assert not Workflow.objects.filter(zuora_id=broken).exists()


def test_workflow_vanishing_during_export_is_kept_until_the_listing_drops_it(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=4)
    sync_customer(customer)
    vanishing = sim.workflow_ids("acme")[3]
    sim.change_workflow("acme", vanishing)
    sim.set_faults("acme", Faults(vanish_during_export_ids=frozenset({int(vanishing)})))

    run = sync_customer(customer)

    assert run.failed == 1
    assert run.deleted == 0
    assert "404" in run.warnings[0]
    assert Workflow.objects.filter(zuora_id=vanishing).exists()


def test_bad_credentials_fail_at_once_with_a_clear_message(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=3, secret="not-the-secret")

    with pytest.raises(ZuoraAuthenticationError):
        sync_customer(customer)

    assert sim.stats("acme")["token_denied"] == 1
    assert sim.stats("acme")["list"] == 0
    customer.refresh_from_db()
    assert customer.last_sync_status == "failed"
    assert customer.last_sync_error.startswith("Zuora refused the credentials")
    assert "not-the-secret" not in customer.last_sync_error
    assert Workflow.objects.count() == 0


def test_rate_limit_storm_completes(sim: ZuoraSimulator, make_customer: MakeCustomer) -> None:
    customer = make_customer(workflows=40)
    sim.set_faults("acme", Faults(rate_limit_rate=0.3, retry_after=0))

    with fast_client(customer, max_retries=10) as client:
        run = sync_customer(customer, client=client)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.created == 40
    assert sim.stats("acme")["status_429"] > 0
    assert Workflow.objects.exclude(export_json=None).count() == 40


def test_transient_export_failures_stop_the_sync_and_the_retry_finishes_it(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=20)
    sim.set_faults("acme", Faults(error_rate=1.0))

    with pytest.raises(ZuoraTransientError), fast_client(customer, max_retries=0) as client:
        sync_customer(customer, client=client)

    assert SyncRun.objects.get().status == SyncRun.Status.FAILED
    sim.set_faults("acme", Faults())
    run = sync_customer(customer)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Workflow.objects.count() == 20


def test_an_expired_token_is_renewed_once_and_shared(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=20)
    sync_customer(customer)
    for workflow_id in sim.workflow_ids("acme")[:10]:
        sim.change_workflow("acme", workflow_id)
    sim.expire_tokens("acme")
    sim.reset_stats("acme")

    run = sync_customer(customer)

    assert run.updated == 10
    assert sim.stats("acme")["token"] == 1
    assert sim.stats("acme")["status_401"] >= 1


def test_a_run_left_running_by_a_dead_process_is_closed_by_the_next_sync(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=1)
    started = timezone.now() - timedelta(hours=3)
    dead = SyncRun.objects.create(customer=customer, trigger="ui", started_at=started)
    recent = SyncRun.objects.create(customer=customer, trigger="cli", started_at=timezone.now())

    sync_customer(customer)

    dead.refresh_from_db()
    recent.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED
    assert "interrupted" in dead.error
    assert recent.status == SyncRun.Status.RUNNING  # may really be running elsewhere


def test_two_customers_with_the_same_zuora_ids_are_kept_apart(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    first, second = make_customer("one", workflows=3), make_customer("two", workflows=3)
    sync_customer(first)
    sync_customer(second)
    first.delete()

    assert Workflow.objects.filter(customer=second).count() == 3
    assert not Workflow.objects.filter(customer_id=first.pk).exists()
