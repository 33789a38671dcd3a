"""Customer pages over HTTP against the Zuora simulator: every field fed wrong, the
credential check with Zuora's own message, the write-only secret, stale forms, syncs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from zwm.catalog.models import Customer, SyncRun
from zwm.queue.models import QueuedJob
from zwm.web.roles import Role
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

from .conftest import Catalog


@pytest.fixture
def admin(client_as: Callable[[Role | None], Client]) -> Client:
    return client_as(Role.ADMIN)


@pytest.fixture
def tenant(sim: ZuoraSimulator, request: pytest.FixtureRequest) -> SimTenant:
    return sim.add_tenant(f"t{abs(hash(request.node.name)) % 10**8}", workflows=2)


def form(sim: ZuoraSimulator, tenant: SimTenant, **changes: Any) -> dict[str, Any]:
    data = {
        "name": "Acme",
        "environment": "",
        "base_url": sim.base_url,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        "entity_id": "",
        "active": "on",
        "action": "save",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def errors_of(response: Any) -> dict[str, list[str]]:
    return {name: list(errs) for name, errs in response.context["form"].errors.items()}


def test_a_wrong_secret_shows_zuoras_reason_at_the_secret_and_saves_nothing(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    response = admin.post("/customers/new/", form(sim, tenant, client_secret="not-the-secret"))
    assert response.status_code == 200
    errors = errors_of(response)
    assert list(errors) == ["client_secret"]
    assert "Zuora did not accept the credentials" in errors["client_secret"][0]
    assert 'id="id_client_secret_error"' in response.content.decode()
    assert not Customer.objects.exists()


def test_the_right_secret_creates_the_customer_encrypted_and_queues_its_first_sync(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post("/customers/new/", form(sim, tenant), follow=True)
    assert "Customer Acme created; its first sync is queued." in response.content.decode()
    customer = Customer.objects.get()
    assert customer.client_secret == tenant.client_secret
    assert tenant.client_secret not in customer.client_secret_encrypted
    assert QueuedJob.objects.filter(job_class__endswith="SyncCustomerWorkflows").count() == 1


def test_test_connection_answers_without_saving(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    good = admin.post("/customers/new/", form(sim, tenant, action="test"))
    assert "Zuora accepted these credentials (nothing was saved)." in good.content.decode()
    bad = admin.post("/customers/new/", form(sim, tenant, action="test", client_secret="wrong"))
    assert "Zuora did not accept the credentials" in errors_of(bad)["client_secret"][0]
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "x" * 151}, "name", "at most 150 characters"),
        ({"base_url": "not a url"}, "base_url", ""),
        ({"base_url": "http://zuora.example.com"}, "base_url", "https"),
        ({"base_url": "ftp://rest.zuora.com"}, "base_url", ""),
        ({"base_url": "", "environment": ""}, "base_url", "Choose an environment or enter a base URL."),
        ({"environment": "us-cloud1-production"}, "base_url", "Leave this blank"),
        ({"environment": "mars-production", "base_url": ""}, "environment", "Select a valid choice"),
        ({"client_id": ""}, "client_id", "This field is required."),
        ({"client_secret": ""}, "client_secret", "This field is required."),
        ({"client_id": "x" * 256}, "client_id", "at most 255 characters"),
        ({"entity_id": "x" * 65}, "entity_id", "at most 64 characters"),
    ],
)
def test_each_bad_field_is_refused_next_to_it(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant, changes: dict[str, str], field: str, message: str
) -> None:
    response = admin.post("/customers/new/", form(sim, tenant, **changes))
    assert response.status_code == 200
    errors = errors_of(response)
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Customer.objects.exists()


def test_a_duplicate_name_is_refused_at_the_name(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant, catalog: Catalog
) -> None:
    response = admin.post("/customers/new/", form(sim, tenant, name="acme"))
    assert "already exists" in errors_of(response)["name"][0]
    assert Customer.objects.count() == 1


def test_edit_never_shows_the_secret_and_a_blank_one_keeps_it(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    admin.post("/customers/new/", form(sim, tenant))
    customer = Customer.objects.get()
    page = admin.get(f"/customers/{customer.pk}/edit/")
    body = page.content.decode()
    assert tenant.client_secret not in body
    assert "leave blank to keep it" in body
    loaded_at = page.context["form"].initial["loaded_at"]
    saved = admin.post(
        f"/customers/{customer.pk}/edit/",
        form(sim, tenant, name="Acme Corp", client_secret="", loaded_at=loaded_at),
        follow=True,
    )
    assert "Customer Acme Corp saved." in saved.content.decode()
    customer.refresh_from_db()
    assert customer.name == "Acme Corp"
    assert customer.client_secret == tenant.client_secret
    for path in ("/customers/", f"/customers/{customer.pk}/", "/"):
        assert tenant.client_secret not in admin.get(path).content.decode()


def test_edit_with_a_wrong_new_secret_keeps_the_stored_one(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    admin.post("/customers/new/", form(sim, tenant))
    customer = Customer.objects.get()
    loaded_at = admin.get(f"/customers/{customer.pk}/edit/").context["form"].initial["loaded_at"]
    response = admin.post(
        f"/customers/{customer.pk}/edit/", form(sim, tenant, client_secret="wrong", loaded_at=loaded_at)
    )
    assert "Zuora did not accept the credentials" in errors_of(response)["client_secret"][0]
    customer.refresh_from_db()
    assert customer.client_secret == tenant.client_secret


def test_an_edit_over_a_newer_change_is_refused(
    admin: Client, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    admin.post("/customers/new/", form(sim, tenant))
    customer = Customer.objects.get()
    loaded_at = admin.get(f"/customers/{customer.pk}/edit/").context["form"].initial["loaded_at"]
    Customer.objects.get(pk=customer.pk).save()  # someone else saves meanwhile
    response = admin.post(
        f"/customers/{customer.pk}/edit/",
        form(sim, tenant, name="Mine", client_secret="", loaded_at=loaded_at),
    )
    assert "Someone changed this customer after you opened the form" in response.content.decode()
    customer.refresh_from_db()
    assert customer.name == "Acme"


@pytest.mark.parametrize("loaded_at", ["", "yesterday"])
def test_an_edit_with_a_missing_or_mangled_load_time_is_refused(
    admin: Client, catalog: Catalog, sim: ZuoraSimulator, tenant: SimTenant, loaded_at: str
) -> None:
    response = admin.post(
        f"/customers/{catalog.customer.pk}/edit/", form(sim, tenant, name="x", loaded_at=loaded_at)
    )
    assert "Someone changed this customer" in response.content.decode()


def test_stale_forms_of_a_deleted_customer_get_a_message(admin: Client, catalog: Catalog) -> None:
    pk = catalog.customer.pk
    catalog.customer.delete()
    for path in (f"/customers/{pk}/edit/", f"/customers/{pk}/delete/", f"/customers/{pk}/sync/"):
        response = admin.post(path, {"name": "x"}, follow=True)
        assert response.status_code == 200, path
        assert "That customer no longer exists (deleted meanwhile)" in response.content.decode(), path
    for path in (f"/customers/{pk}/", f"/customers/{pk}/edit/", f"/customers/{pk}/delete/"):
        assert admin.get(path).status_code == 404, path
    assert admin.get("/customers/999999999/").status_code == 404
    assert admin.get("/customers/abc/").status_code == 404


def test_delete_asks_first_then_deletes_the_catalog(admin: Client, catalog: Catalog) -> None:
    confirm = admin.get(f"/customers/{catalog.customer.pk}/delete/").content.decode()
    assert "1 workflow(s)" in confirm
    assert Customer.objects.exists()
    done = admin.post(f"/customers/{catalog.customer.pk}/delete/", follow=True)
    assert "Customer acme and its catalog were deleted." in done.content.decode()
    assert not Customer.objects.exists()


@pytest.mark.django_db(transaction=True)  # a request commits: the unique sync is enqueued at once
def test_row_bulk_and_all_sync_queue_jobs_once(
    client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    operator = client_as(Role.OPERATOR)

    def post(path: str, data: dict[str, Any] | None = None) -> str:
        response = operator.post(path, data or {})
        return operator.get(response["Location"]).content.decode()

    assert "Sync of acme queued." in post(f"/customers/{catalog.customer.pk}/sync/")
    assert "A sync of acme is already queued." in post(f"/customers/{catalog.customer.pk}/sync/")
    bulk = post("/customers/sync/", {"ids": [catalog.customer.pk, 999999]})
    assert "Queued 0 sync(s); 1 already queued. 1 ticked customer(s) no longer exist." in bulk
    for bad in ({}, {"ids": ["abc", ""]}, {"ids": ["9" * 30, "-1"]}):
        assert "Tick at least one customer to sync." in post("/customers/sync/", bad)
    all_ = operator.post("/customers/sync-all/")
    batch_id = all_["Location"].split("batch=")[1]
    progress = operator.get(f"/customers/batches/{batch_id}/").content.decode()
    assert "0 of 1 customers done" in progress
    assert 'hx-trigger="every 1s"' in progress  # keeps polling until the batch finishes
    assert operator.get("/customers/batches/no-such-batch/").status_code == 404


def test_sync_all_with_no_active_customer_says_so(client_as: Callable[[Role | None], Client]) -> None:
    response = client_as(Role.OPERATOR).post("/customers/sync-all/", follow=True)
    assert "There is no active customer to sync." in response.content.decode()


def test_sync_returns_only_to_a_page_of_this_site(
    client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    operator = client_as(Role.OPERATOR)
    outside = operator.post(f"/customers/{catalog.customer.pk}/sync/", {"next": "https://evil.example/"})
    assert outside["Location"] == "/customers/"
    inside = operator.post(f"/customers/{catalog.customer.pk}/sync/", {"next": "/workflows/1/"})
    assert inside["Location"] == "/workflows/1/"


@pytest.mark.parametrize(
    "query", ["?sort=evil", "?sort=-workflows&page=abc", "?page=99999", "?per_page=x&q=%00"]
)
def test_the_list_survives_any_query_string(admin: Client, catalog: Catalog, query: str) -> None:
    response = admin.get(f"/customers/{query}")
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)  # a request commits: the unique sync is enqueued at once
def test_withheld_deletions_are_shown_and_a_full_sync_asks_first(
    client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    SyncRun.objects.filter(pk=catalog.run.pk).update(withheld=7)
    operator = client_as(Role.OPERATOR)
    page = operator.get(f"/customers/{catalog.customer.pk}/").content.decode()
    assert "7 workflow(s) missing from Zuora" in page
    assert f"/customers/{catalog.customer.pk}/full-sync/" in page
    run_page = operator.get(f"/sync-runs/{catalog.run.pk}/").content.decode()
    assert "not deleted" in run_page
    confirm = operator.get(f"/customers/{catalog.customer.pk}/full-sync/").content.decode()
    assert "7 such deletion(s)" in confirm
    assert not QueuedJob.objects.exists()  # asking is not doing
    done = operator.post(f"/customers/{catalog.customer.pk}/full-sync/", follow=True)
    assert "Full sync of acme queued." in done.content.decode()
    job = QueuedJob.objects.get()
    assert json.loads(job.payload)["args"]["full"] is True
    viewer_page = client_as(Role.VIEWER).get(f"/customers/{catalog.customer.pk}/").content.decode()
    assert "7 workflow(s) missing from Zuora" in viewer_page
    assert "full-sync" not in viewer_page
