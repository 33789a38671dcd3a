"""The Django admin of the catalog: customers are editable, their secret never rendered."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from zwm.catalog.models import Customer

SECRET = "admin-form-secret-value"


@pytest.fixture
def admin_client(db: None) -> Client:
    User.objects.create_superuser("root", "root@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(User.objects.get(username="root"))
    return client


def form(**overrides: str) -> dict[str, str]:
    return {
        "name": "Acme",
        "environment": "eu-production",
        "base_url": "",
        "client_id": "client-1",
        "new_client_secret": SECRET,
        "entity_id": "",
        "active": "on",
        **overrides,
    }


def test_adding_a_customer_encrypts_the_secret(admin_client: Client) -> None:
    response = admin_client.post("/admin/catalog/customer/add/", form(name="  Acme  "))

    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get()
    assert customer.name == "Acme"
    assert customer.client_secret == SECRET
    assert SECRET not in customer.client_secret_encrypted


def test_the_change_page_never_shows_the_secret(admin_client: Client) -> None:
    admin_client.post("/admin/catalog/customer/add/", form())
    customer = Customer.objects.get()

    pages = [
        admin_client.get("/admin/catalog/customer/").content.decode(),
        admin_client.get(f"/admin/catalog/customer/{customer.pk}/change/").content.decode(),
    ]

    for page in pages:
        assert "Acme" in page
        assert SECRET not in page
        assert customer.client_secret_encrypted not in page


def test_an_empty_secret_keeps_the_current_one_and_bad_input_is_refused(admin_client: Client) -> None:
    admin_client.post("/admin/catalog/customer/add/", form())
    customer = Customer.objects.get()
    change = f"/admin/catalog/customer/{customer.pk}/change/"

    kept = admin_client.post(change, form(new_client_secret="", client_id="client-2"))
    refused = admin_client.post(change, form(environment="", base_url="http://zuora.example.com"))
    missing = admin_client.post("/admin/catalog/customer/add/", form(name="Other", new_client_secret=""))

    assert kept.status_code == 302
    customer.refresh_from_db()
    assert (customer.client_id, customer.client_secret) == ("client-2", SECRET)
    assert refused.status_code == 200
    assert "must use https" in refused.content.decode()
    assert missing.status_code == 200
    assert Customer.objects.count() == 1
