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

from .support import FAST, TENANT, ClientFactory, Script, ScriptedServer


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


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], tuple[ScriptedServer, ZuoraClient]]]:
    """Start scripted servers (see ``support.ScriptedServer``), each with a fast client."""
    started: list[tuple[ScriptedServer, ZuoraClient]] = []

    def start(
        script: Script,
        client_id: str = "scripted-client",
        client_secret: str = "scripted-secret",
        **overrides: Any,
    ) -> tuple[ScriptedServer, ZuoraClient]:
        entity_id = overrides.pop("entity_id", None)
        server = ScriptedServer(script).__enter__()
        creds = Credentials(server.base_url, client_id, client_secret, entity_id=entity_id)
        client = ZuoraClient(creds, **{"token_cache": MemoryTokenCache(), **FAST, **overrides})
        started.append((server, client))
        return server, client

    yield start
    for server, client in started:
        client.close()
        server.__exit__(None, None, None)
