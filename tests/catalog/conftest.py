"""Fixtures of the catalog tests: a Zuora simulator on loopback and customers pointing at it.

Sync tests use ``transactional_db``: exports run on worker threads with their own database
connections, which must see committed rows (and the token cache writes from them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from zwm.catalog.models import Customer
from zwm.catalog.token_cache import shared_token_cache
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

MakeCustomer = Callable[..., Customer]


@pytest.fixture
def sim() -> Iterator[ZuoraSimulator]:
    with ZuoraSimulator(seed=7) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh_token_memory() -> Iterator[None]:
    """Each test starts with an empty in-process token layer (rows live in the test database)."""
    cache = shared_token_cache()
    cache._memory.clear()
    yield
    cache._memory.clear()


@pytest.fixture
def make_customer(sim: ZuoraSimulator) -> MakeCustomer:
    """A customer for a new simulated tenant (``workflows`` generated workflows)."""

    def make(name: str = "acme", workflows: int = 12, *, secret: str | None = None) -> Customer:
        tenant: SimTenant = sim.add_tenant(name, workflows=workflows)
        customer = Customer(name=name, base_url=sim.base_url, client_id=tenant.client_id)
        customer.client_secret = secret if secret is not None else tenant.client_secret
        customer.save()
        return customer

    return make
