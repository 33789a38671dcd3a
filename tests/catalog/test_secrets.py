"""Secrets at rest: encrypted columns, key rotation, undecryptable secrets, the shared token cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from zwm.catalog import crypto
from zwm.catalog.models import Customer, StoredToken, TokenLock
from zwm.catalog.services import InvalidCustomerConfiguration, credentials_for, rotate_secrets, sync_customer
from zwm.catalog.token_cache import DatabaseTokenCache, shared_token_cache
from zwm.cli import main
from zwm.config import ConfigError, get_config
from zwm.zuora import CachedToken
from zwm.zuora.simulator import ZuoraSimulator

MakeCustomer = Callable[..., Customer]
SECRET = "correct-horse-battery-staple"


@pytest.fixture
def use_keys(configure: Callable[..., None]) -> Callable[..., None]:
    """Switch ``ZWM_ENCRYPTION_KEYS`` for the rest of the test (no argument: derived key only)."""

    def use(*keys: str) -> None:
        configure(ZWM_ENCRYPTION_KEYS=",".join(keys))

    return use


def raw_secret_column(customer: Customer) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret_encrypted FROM catalog_customers WHERE id = %s", [customer.pk])
        (value,) = cursor.fetchone()
    return str(value)


def new_customer(name: str = "acme") -> Customer:
    customer = Customer(name=name, environment="eu-production", client_id="client-1")
    customer.client_secret = SECRET
    customer.save()
    return customer


@pytest.mark.backends
@pytest.mark.django_db
def test_secret_is_encrypted_in_the_raw_column(use_keys: Callable[..., None]) -> None:
    use_keys()
    customer = new_customer()

    raw = raw_secret_column(customer)

    assert SECRET not in raw
    assert Fernet(crypto.derive_key(get_config().secret_key)).decrypt(raw.encode()).decode() == SECRET
    assert Customer.objects.get().client_secret == SECRET
    assert SECRET not in repr(customer)
    assert SECRET not in str(customer)


@pytest.mark.backends
@pytest.mark.django_db
def test_key_rotation_reencrypts_with_the_new_key(use_keys: Callable[..., None]) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    use_keys(old)
    customer = new_customer()
    StoredToken.objects.create(key="k", token_encrypted=crypto.encrypt("tok"), expires_at=0, refresh_at=0)

    use_keys(new, old)  # new key first: encrypts; the old one still decrypts
    assert Customer.objects.get().client_secret == SECRET
    assert rotate_secrets() == 1

    use_keys(new)  # old key dropped: everything still reads
    assert Customer.objects.get().client_secret == SECRET
    assert Fernet(new.encode()).decrypt(raw_secret_column(customer).encode()).decode() == SECRET
    assert crypto.decrypt(StoredToken.objects.get().token_encrypted) == "tok"


@pytest.mark.django_db
def test_moving_from_the_derived_key_to_explicit_keys_loses_nothing(use_keys: Callable[..., None]) -> None:
    use_keys()
    new_customer()
    use_keys(Fernet.generate_key().decode())

    assert Customer.objects.get().client_secret == SECRET
    assert rotate_secrets() == 1


@pytest.mark.django_db
def test_a_secret_no_key_opens_is_an_error_never_plaintext(use_keys: Callable[..., None]) -> None:
    use_keys(Fernet.generate_key().decode())
    customer = new_customer()
    use_keys(Fernet.generate_key().decode())

    with pytest.raises(crypto.SecretDecryptionError) as caught:
        _ = Customer.objects.get().client_secret
    assert SECRET not in str(caught.value)
    with pytest.raises(InvalidCustomerConfiguration):
        credentials_for(customer)
    with pytest.raises(crypto.SecretDecryptionError):
        rotate_secrets()  # all or nothing
    assert raw_secret_column(customer) == customer.client_secret_encrypted


@pytest.mark.django_db
def test_rotate_key_command(use_keys: Callable[..., None], capsys: pytest.CaptureFixture[str]) -> None:
    old = Fernet.generate_key().decode()
    use_keys(old)
    new_customer()
    use_keys(Fernet.generate_key().decode(), old)

    with pytest.raises(SystemExit) as exited:
        main(["customer:rotate-key"])

    assert exited.value.code == 0
    assert "Re-encrypted 1 customer secret(s)" in capsys.readouterr().out


def test_a_malformed_key_is_a_configuration_error_that_does_not_echo_it(
    use_keys: Callable[..., None],
) -> None:
    use_keys("definitely-not-a-fernet-key")

    with pytest.raises(ConfigError) as caught:
        crypto.encrypt("x")

    assert "ZWM_ENCRYPTION_KEYS" in str(caught.value)
    assert "definitely-not-a-fernet-key" not in str(caught.value)


# -- token cache ---------------------------------------------------------------------------------


@pytest.mark.backends
@pytest.mark.django_db(transaction=True)
def test_tokens_are_stored_encrypted_and_shared_between_processes(
    sim: ZuoraSimulator, make_customer: MakeCustomer
) -> None:
    customer = make_customer(workflows=2)
    sync_customer(customer)
    row = StoredToken.objects.get()
    token = DatabaseTokenCache().get(row.key)  # another process: empty memory, same database

    assert token is not None
    assert token.access_token not in row.token_encrypted
    assert crypto.decrypt(row.token_encrypted) == token.access_token
    shared_token_cache()._memory.clear()  # as a fresh worker process would start
    sync_customer(customer)
    assert sim.stats("acme")["token"] == 1


@pytest.mark.backends
@pytest.mark.django_db(transaction=True)
def test_the_token_lock_excludes_other_processes_and_expires() -> None:
    first, second = DatabaseTokenCache(lock_ttl=30), DatabaseTokenCache(lock_ttl=30)
    held, release, second_in = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with first.lock("key"):
            held.set()
            release.wait(10)

    def wait_for_lock() -> None:
        with second.lock("key"):
            second_in.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    assert not second_in.wait(0.3)  # blocked by the other "process"'s lock row
    release.set()
    assert second_in.wait(10)
    holder.join(10)
    waiter.join(10)
    assert not TokenLock.objects.exists()

    TokenLock.objects.create(key="key", owner="crashed", expires_at=time.time() - 1)
    with second.lock("key"):  # an expired lock of a crashed process is taken over
        assert TokenLock.objects.get().owner != "crashed"


@pytest.mark.django_db
def test_a_token_encrypted_with_a_dropped_key_reads_as_missing(use_keys: Callable[..., None]) -> None:
    use_keys(Fernet.generate_key().decode())
    DatabaseTokenCache().set("k", CachedToken.issued("secret-token", 3600))
    use_keys(Fernet.generate_key().decode())

    assert DatabaseTokenCache().get("k") is None
