"""Fixtures for the client's integration tests: a real simulator on loopback, fast clients.

Each test gets its own simulator (its own port, hence its own tenant key for the token cache
and the concurrency gate) and its own :class:`MemoryTokenCache`, so no state leaks between
tests through the process-wide defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from zwm.zuora import Credentials, MemoryTokenCache, ZuoraClient
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

TENANT = "acme"

FAST: dict[str, Any] = {
    "timeout": 2.0,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "max_retry_wait": 5.0,
    "max_retries": 3,
}
"""Client settings that keep retries quick in tests; a test overrides what it measures."""


@pytest.fixture
def sim() -> Iterator[ZuoraSimulator]:
    with ZuoraSimulator(seed=0) as simulator:
        yield simulator


@pytest.fixture
def tenant(sim: ZuoraSimulator) -> SimTenant:
    return sim.add_tenant(TENANT, workflows=5)


@pytest.fixture
def cache() -> MemoryTokenCache:
    return MemoryTokenCache()


ClientFactory = Callable[..., ZuoraClient]


@pytest.fixture
def make_client(sim: ZuoraSimulator, tenant: SimTenant, cache: MemoryTokenCache) -> Iterator[ClientFactory]:
    """Build clients for the ``acme`` tenant (or given credentials); all are closed after the test."""
    clients: list[ZuoraClient] = []

    def build(credentials: Credentials | None = None, **overrides: Any) -> ZuoraClient:
        creds = credentials or Credentials(sim.base_url, tenant.client_id, tenant.client_secret)
        client = ZuoraClient(creds, **{"token_cache": cache, **FAST, **overrides})
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> ZuoraClient:
    return make_client()
