"""Customers: validated creation and update, credentials, and a Zuora client per customer.

Every entry point (CLI, admin, web) goes through :func:`create_customer` and
:func:`update_customer`, so the rules -- unique non-empty name, a known environment *or* a
safe base URL (https; plain http only to loopback), non-empty client id and secret, a UUID
entity id -- are checked in one place, and a customer that would fail every sync cannot be
saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from zwm.catalog import crypto
from zwm.catalog.models import Customer
from zwm.catalog.token_cache import shared_token_cache
from zwm.config import get_config
from zwm.zuora import Credentials, ZuoraClient, resolve_base_url


class CustomerError(ValueError):
    """A customer's data is invalid (bad name, environment, URL, credentials format...)."""


class CustomerNotFound(LookupError):
    """No customer with that name or id."""


class InvalidCustomerConfiguration(Exception):
    """A stored customer cannot be synced as configured (its message says what to fix)."""


def base_url_for(environment: str, base_url: str) -> str:
    """The REST base URL for an environment slug or a custom URL; CustomerError otherwise."""
    if bool(environment) == bool(base_url):
        raise CustomerError("give exactly one of an environment or a base URL")
    try:
        if environment:
            return resolve_base_url(environment=environment)
        return resolve_base_url(base_url=base_url)
    except ValueError as exc:
        raise CustomerError(str(exc)) from None


def credentials_for(customer: Customer) -> Credentials:
    """The customer's OAuth credentials; InvalidCustomerConfiguration if they are unusable."""
    try:
        secret = customer.client_secret
    except crypto.SecretDecryptionError as exc:
        raise InvalidCustomerConfiguration(f"customer {customer.name!r}: {exc}") from None
    try:
        return Credentials(
            base_url=base_url_for(customer.environment, customer.base_url),
            client_id=customer.client_id,
            client_secret=secret,
            entity_id=customer.entity_id or None,
        )
    except ValueError as exc:
        raise InvalidCustomerConfiguration(
            f"customer {customer.name!r} has invalid Zuora settings: {exc}"
        ) from None


def build_client(credentials: Credentials, **overrides: Any) -> ZuoraClient:
    """A client with the configured timeout, concurrency, retries and page length, sharing
    tokens between processes through the database token cache."""
    config = get_config()
    options: dict[str, Any] = {
        "timeout": config.zuora_timeout,
        "concurrency": config.zuora_concurrency,
        "max_retries": config.zuora_max_retries,
        "page_length": config.zuora_page_length,
        "token_cache": shared_token_cache(),
    }
    options.update(overrides)
    return ZuoraClient(credentials, **options)


def check_credentials(credentials: Credentials, **client_options: Any) -> None:
    """Ask Zuora for a token with these credentials; raises the client's ZuoraError if refused."""
    with build_client(credentials, **client_options) as client:
        client.validate_credentials()


@dataclass(frozen=True)
class CustomerInput:
    """What a user may set on a customer. ``None`` means "leave as is" (for updates)."""

    name: str | None = None
    environment: str | None = None
    base_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    entity_id: str | None = None
    active: bool | None = None


def apply_input(customer: Customer, data: CustomerInput) -> Credentials:
    """Set ``data`` on ``customer`` (unsaved) and return the resulting credentials, validated."""
    if data.name is not None:
        name = data.name.strip()
        if not name:
            raise CustomerError("the name must not be empty")
        customer.name = name
    if data.environment is not None or data.base_url is not None:
        environment = (data.environment or "").strip().lower()
        url = base_url_for(environment, (data.base_url or "").strip())
        customer.environment, customer.base_url = environment, ("" if environment else url)
    if data.client_id is not None:
        customer.client_id = data.client_id.strip()
    if data.client_secret is not None:
        if not data.client_secret:
            raise CustomerError("the client secret must not be empty")
        customer.client_secret = data.client_secret
    if data.entity_id is not None:
        customer.entity_id = data.entity_id.strip()
    if data.active is not None:
        customer.active = data.active
    try:
        return credentials_for(customer)
    except InvalidCustomerConfiguration as exc:
        raise CustomerError(str(exc).split(": ", 1)[-1]) from None


def _save(customer: Customer) -> Customer:
    if Customer.objects.filter(name=customer.name).exclude(pk=customer.pk).exists():
        raise CustomerError(f"a customer named {customer.name!r} already exists")
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        raise CustomerError(f"a customer named {customer.name!r} already exists") from None
    return customer


def create_customer(data: CustomerInput, *, validate: bool = True) -> Customer:
    """Create a customer; with ``validate``, Zuora must accept the credentials first."""
    if not data.name or data.client_id is None or data.client_secret is None:
        raise CustomerError("a customer needs a name, a client id and a client secret")
    if data.environment is None and data.base_url is None:
        raise CustomerError("give exactly one of an environment or a base URL")
    customer = Customer(active=True if data.active is None else data.active)
    credentials = apply_input(customer, data)
    if validate:
        check_credentials(credentials)
    return _save(customer)


def update_customer(customer: Customer, data: CustomerInput, *, validate: bool = True) -> Customer:
    """Update a customer; credentials are re-checked with Zuora when any of them changed."""
    before = (customer.environment, customer.base_url, customer.client_id, customer.entity_id)
    try:
        old_key: str | None = credentials_for(customer).cache_key
    except InvalidCustomerConfiguration:
        old_key = None
    credentials = apply_input(customer, data)
    after = (customer.environment, customer.base_url, customer.client_id, customer.entity_id)
    changed = before != after or data.client_secret is not None
    if validate and changed:
        check_credentials(credentials)
    _save(customer)
    if changed and old_key is not None:  # a token of the old credentials must not outlive them
        shared_token_cache().delete(old_key)
    return customer


def get_customer(name: str) -> Customer:
    """The customer named ``name``; CustomerNotFound otherwise."""
    customer = Customer.objects.filter(name=name.strip()).first()
    if customer is None:
        raise CustomerNotFound(f"no customer named {name!r}")
    return customer
