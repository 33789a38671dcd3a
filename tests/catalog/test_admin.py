"""The Django admin of the catalog: customers are editable, their secret never rendered, and
Zuora must accept new or changed credentials before they are saved (the simulator, over HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from zwm.catalog.models import Customer
from zwm.queue.models import QueuedJob
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

pytestmark = pytest.mark.django_db(transaction=True)

Form = Callable[..., dict[str, str]]


@pytest.fixture
def admin_client() -> Client:
    User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    return client


@pytest.fixture
def tenant(sim: ZuoraSimulator) -> SimTenant:
    return sim.add_tenant("acme", workflows=2)


@pytest.fixture
def form(sim: ZuoraSimulator, tenant: SimTenant) -> Form:
    def build(**overrides: str) -> dict[str, str]:
        return {
            "name": "Acme",
            "environment": "",
            "base_url": sim.base_url,
            "client_id": tenant.client_id,
            "new_client_secret": tenant.client_secret,
            "entity_id": "",
            "active": "on",
            **overrides,
        }

    return build


def test_adding_a_customer_checks_zuora_encrypts_the_secret_and_queues_the_first_sync(
    admin_client: Client, form: Form, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    response = admin_client.post("/admin/catalog/customer/add/", form(name="  Acme  "))

    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get()
    assert customer.name == "Acme"
    assert customer.client_secret == tenant.client_secret
    assert tenant.client_secret not in customer.client_secret_encrypted
    assert sim.stats("acme")["token"] == 1
    job = QueuedJob.objects.get()
    assert json.loads(job.payload)["args"]["customer_id"] == customer.pk


def test_refused_credentials_show_zuoras_reason_and_store_nothing(admin_client: Client, form: Form) -> None:
    response = admin_client.post("/admin/catalog/customer/add/", form(new_client_secret="wrong-secret-42"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Zuora did not accept the credentials" in page
    assert "Invalid client credentials" in page  # the simulator's (Zuora's) own words
    assert "wrong-secret-42" not in page
    assert not Customer.objects.exists()
    assert not QueuedJob.objects.exists()


def test_the_change_page_never_shows_the_secret(admin_client: Client, form: Form, tenant: SimTenant) -> None:
    admin_client.post("/admin/catalog/customer/add/", form())
    customer = Customer.objects.get()

    pages = [
        admin_client.get("/admin/catalog/customer/").content.decode(),
        admin_client.get(f"/admin/catalog/customer/{customer.pk}/change/").content.decode(),
    ]

    for page in pages:
        assert "Acme" in page
        assert tenant.client_secret not in page
        assert customer.client_secret_encrypted not in page


def test_edits_are_checked_and_bad_input_is_refused(
    admin_client: Client, form: Form, sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    admin_client.post("/admin/catalog/customer/add/", form())
    customer = Customer.objects.get()
    change = f"/admin/catalog/customer/{customer.pk}/change/"

    kept = admin_client.post(change, form(new_client_secret="", name="Acme Corp"))
    wrong_id = admin_client.post(change, form(new_client_secret="", client_id="someone-else"))
    insecure = admin_client.post(change, form(base_url="http://zuora.example.com"))
    moved = admin_client.post(change, form(new_client_secret="", base_url="", environment="eu-production"))
    missing = admin_client.post("/admin/catalog/customer/add/", form(name="Other", new_client_secret=""))

    assert kept.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.client_secret) == ("Acme Corp", tenant.client_secret)
    assert wrong_id.status_code == 200
    assert "Zuora did not accept the credentials" in wrong_id.content.decode()
    assert insecure.status_code == 200
    assert "must use https" in insecure.content.decode()
    assert moved.status_code == 200
    assert "needs the client secret again" in moved.content.decode()
    assert missing.status_code == 200
    customer.refresh_from_db()
    assert (customer.client_id, customer.base_url) == (tenant.client_id, sim.base_url)
    assert Customer.objects.count() == 1
