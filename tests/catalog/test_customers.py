"""The customer service functions every entry point calls (CLI, admin, web), against the simulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from zwm.catalog.models import Customer
from zwm.catalog.services import (
    CredentialsRejected,
    CustomerError,
    CustomerInput,
    create_customer_and_queue_sync,
    prepare_customer,
    update_customer,
)
from zwm.queue.models import QueuedJob
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tenant(sim: ZuoraSimulator) -> SimTenant:
    return sim.add_tenant("acme", workflows=1)


def data(sim: ZuoraSimulator, tenant: SimTenant, **changes: str | None) -> CustomerInput:
    values: dict[str, str | None] = {
        "name": "Acme",
        "base_url": sim.base_url,
        "client_id": tenant.client_id,
        "client_secret": tenant.client_secret,
        **changes,
    }
    return CustomerInput(**values)  # type: ignore[arg-type]


def test_create_checks_with_zuora_saves_and_queues_the_first_sync(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    created = create_customer_and_queue_sync(data(sim, tenant))

    assert created.customer.pk is not None
    assert created.sync_job_id is not None
    assert QueuedJob.objects.get().uuid == created.sync_job_id
    assert sim.stats("acme")["token"] == 1


def test_refused_credentials_raise_with_zuoras_reason_and_save_nothing(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    with pytest.raises(CredentialsRejected, match=r"did not accept the credentials.*Invalid client") as info:
        create_customer_and_queue_sync(data(sim, tenant, client_secret="wrong"))

    assert not info.value.error.retryable
    assert isinstance(info.value, CustomerError)  # a form shows it like any input error
    assert not Customer.objects.exists()
    assert not QueuedJob.objects.exists()


def test_unreachable_zuora_is_said_so(
    sim: ZuoraSimulator, tenant: SimTenant, configure: Callable[..., None]
) -> None:
    configure(ZWM_ZUORA_MAX_RETRIES="0")
    unreachable = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(CredentialsRejected, match="could not be reached"):
        prepare_customer(Customer(), data(sim, tenant, base_url=unreachable), validate=True)


def test_a_new_host_needs_the_secret_again(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    customer = create_customer_and_queue_sync(data(sim, tenant)).customer
    elsewhere = sim.base_url.replace("127.0.0.1", "localhost")

    with pytest.raises(CustomerError, match="needs the client secret again"):
        update_customer(customer, CustomerInput(base_url=elsewhere, environment=""))
    customer.refresh_from_db()
    assert customer.base_url == sim.base_url

    update_customer(
        customer, CustomerInput(base_url=elsewhere, environment="", client_secret=tenant.client_secret)
    )
    customer.refresh_from_db()
    assert customer.base_url == elsewhere


def test_unchanged_credentials_are_not_checked_again(sim: ZuoraSimulator, tenant: SimTenant) -> None:
    customer = create_customer_and_queue_sync(data(sim, tenant)).customer
    sim.reset_stats("acme")

    update_customer(customer, CustomerInput(name="Acme Corp", active=False))

    assert sim.stats("acme")["token"] == 0
    assert Customer.objects.get().name == "Acme Corp"


def test_a_second_customer_with_a_wrong_secret_gets_no_token_of_the_first(
    sim: ZuoraSimulator, tenant: SimTenant
) -> None:
    from zwm.catalog.services import sync_customer
    from zwm.zuora import ZuoraAuthenticationError

    right = create_customer_and_queue_sync(data(sim, tenant)).customer
    sync_customer(right)  # its token is in the shared cache now
    impostor = create_customer_and_queue_sync(
        data(sim, tenant, name="Impostor", client_secret="a-wrong-secret"), validate=False
    ).customer

    with pytest.raises(ZuoraAuthenticationError):
        sync_customer(impostor)
    assert not impostor.workflows.exists()


def test_plain_http_needs_the_development_setting(
    sim: ZuoraSimulator, tenant: SimTenant, configure: Callable[..., None]
) -> None:
    customer = create_customer_and_queue_sync(data(sim, tenant)).customer
    configure(ZWM_ZUORA_ALLOW_HTTP="false")

    with pytest.raises(CustomerError, match="ZWM_ZUORA_ALLOW_HTTP=true"):
        create_customer_and_queue_sync(data(sim, tenant, name="Other"))
    from zwm.catalog.services import InvalidCustomerConfiguration, sync_customer

    with pytest.raises(InvalidCustomerConfiguration, match="plain http"):
        sync_customer(customer)
    assert sim.stats("acme")["list"] == 0
