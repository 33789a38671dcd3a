"""Customers: validated creation and update, credentials, and a Zuora client per customer.

Every entry point (CLI, admin, web) goes through the functions here, so the rules are
checked in one place and a customer that would fail every sync cannot be saved:

* unique non-empty name, a known environment *or* a safe base URL (https; plain http only
  to loopback and only with ``ZWM_ZUORA_ALLOW_HTTP``), non-empty client id and secret, a
  UUID entity id;
* Zuora must accept the credentials before they are saved (as the original application
  did), whenever they are new or changed -- :class:`CredentialsRejected` carries Zuora's
  reason;
* a changed environment or base URL needs the client secret again: the stored secret
  must never be sent to a host it was not entered for.

For a form (web or admin): :func:`prepare_customer` checks and applies the input to an
unsaved instance (raising :class:`CustomerError`, whose message is for the user), then
:func:`save_customer` stores it and :func:`queue_first_sync` queues a new customer's first
sync. :func:`create_customer_and_queue_sync` and :func:`update_customer` do all of that in
one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from zwm.catalog import crypto
from zwm.catalog.models import Customer, SyncRun
from zwm.catalog.token_cache import shared_token_cache
from zwm.config import get_config
from zwm.zuora import Credentials, ZuoraClient, ZuoraError, resolve_base_url


class CustomerError(ValueError):
    """A customer's data is invalid (bad name, environment, URL, credentials format...)."""


class CredentialsRejected(CustomerError):
    """Zuora did not accept the credentials when asked for a token, or could not be asked.

    A :class:`CustomerError`, so a form shows it like any other input error; ``error`` is
    the client's :class:`ZuoraError` (``error.retryable`` says whether trying again may help).
    """

    def __init__(self, error: ZuoraError) -> None:
        self.error = error
        if error.retryable:
            text = f"Zuora could not be reached to check the credentials: {error}"
        else:
            text = f"Zuora did not accept the credentials: {error}"
        super().__init__(text)


class CustomerNotFound(LookupError):
    """No customer with that name or id."""


class InvalidCustomerConfiguration(Exception):
    """A stored customer cannot be synced as configured (its message says what to fix)."""


def base_url_for(environment: str, base_url: str) -> str:
    """The REST base URL for an environment slug or a custom URL; CustomerError otherwise."""
    if bool(environment) == bool(base_url):
        raise CustomerError("give exactly one of an environment or a base URL")
    try:
        url = (
            resolve_base_url(environment=environment) if environment else resolve_base_url(base_url=base_url)
        )
    except ValueError as exc:
        raise CustomerError(str(exc)) from None
    if url.startswith("http://") and not get_config().zuora_allow_http:
        raise CustomerError(
            f"plain http ({url}) is for a local Zuora simulator in development only: "
            "set ZWM_ZUORA_ALLOW_HTTP=true to allow it, or use the tenant's https base URL"
        )
    return url


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


def confirm_with_zuora(credentials: Credentials) -> None:
    """:func:`check_credentials`, with a refusal as :class:`CredentialsRejected` (Zuora's reason)."""
    try:
        check_credentials(credentials)
    except ZuoraError as exc:
        raise CredentialsRejected(exc) from None


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


def _settings(customer: Customer) -> tuple[str, str, str, str]:
    return (customer.environment, customer.base_url, customer.client_id, customer.entity_id)


def prepare_customer(customer: Customer, data: CustomerInput, *, validate: bool = True) -> Credentials:
    """Check ``data`` and set it on ``customer`` (saved or new; nothing is written).

    With ``validate``, Zuora is asked for a token when the customer is new or its
    credentials change. Raises :class:`CustomerError` (bad input, a changed host without the
    secret) or :class:`CredentialsRejected` (Zuora refused); both messages are for the user.
    Returns the resulting credentials.
    """
    new = customer.pk is None
    if new and (not data.name or data.client_id is None or data.client_secret is None):
        raise CustomerError("a customer needs a name, a client id and a client secret")
    if new and data.environment is None and data.base_url is None:
        raise CustomerError("give exactly one of an environment or a base URL")
    before = None if new else _settings(customer)
    old_url = None if new else _stored_base_url(customer)
    credentials = apply_input(customer, data)
    if old_url is not None and credentials.base_url != old_url and not data.client_secret:
        raise CustomerError(
            f"moving {customer.name!r} from {old_url} to {credentials.base_url} needs the client secret "
            "again: the stored one is never sent to a host it was not entered for"
        )
    changed = new or before != _settings(customer) or data.client_secret is not None
    if validate and changed:
        confirm_with_zuora(credentials)
    return credentials


def _stored_base_url(customer: Customer) -> str | None:
    try:
        return base_url_for(customer.environment, customer.base_url)
    except CustomerError:
        return None


def save_customer(customer: Customer) -> Customer:
    """Store a customer prepared by :func:`prepare_customer`; CustomerError on a duplicate name."""
    if Customer.objects.filter(name=customer.name).exclude(pk=customer.pk).exists():
        raise CustomerError(f"a customer named {customer.name!r} already exists")
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        raise CustomerError(f"a customer named {customer.name!r} already exists") from None
    return customer


def queue_first_sync(customer: Customer, *, trigger: str = SyncRun.Trigger.UI) -> str | None:
    """Queue a new customer's first sync (as the original did); the job id, None if one is queued."""
    from zwm.catalog.jobs import dispatch_sync  # imported here: the jobs module imports this one

    return dispatch_sync(customer, trigger=trigger)


def create_customer(data: CustomerInput, *, validate: bool = True) -> Customer:
    """Create a customer without queueing a sync; with ``validate``, Zuora must accept the
    credentials first (:class:`CredentialsRejected` otherwise)."""
    customer = Customer(active=True if data.active is None else data.active)
    prepare_customer(customer, data, validate=validate)
    return save_customer(customer)


@dataclass(frozen=True)
class CreatedCustomer:
    """A customer just created, and the job id of its first sync (None if none was queued)."""

    customer: Customer
    sync_job_id: str | None


def create_customer_and_queue_sync(
    data: CustomerInput, *, validate: bool = True, trigger: str = SyncRun.Trigger.UI
) -> CreatedCustomer:
    """What "add a customer" does everywhere: check with Zuora, save, queue the first sync."""
    customer = create_customer(data, validate=validate)
    return CreatedCustomer(customer, queue_first_sync(customer, trigger=trigger))


def update_customer(customer: Customer, data: CustomerInput, *, validate: bool = True) -> Customer:
    """Update a customer; credentials are re-checked with Zuora when any of them changed, and a
    new environment or base URL needs the secret again (see :func:`prepare_customer`)."""
    before = _settings(customer)
    try:
        old_key: str | None = credentials_for(customer).cache_key
    except InvalidCustomerConfiguration:
        old_key = None
    prepare_customer(customer, data, validate=validate)
    save_customer(customer)
    changed = before != _settings(customer) or data.client_secret is not None
    if changed and old_key is not None:  # a token of the old credentials must not outlive them
        shared_token_cache().delete(old_key)
    return customer


def get_customer(name: str) -> Customer:
    """The customer named ``name``; CustomerNotFound otherwise."""
    customer = Customer.objects.filter(name=name.strip()).first()
    if customer is None:
        raise CustomerNotFound(f"no customer named {name!r}")
    return customer
