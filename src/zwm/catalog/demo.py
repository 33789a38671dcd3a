"""Demo customers: the catalog side of ``zwm up``'s demo mode.

The simulator and the database must agree on credentials without secrets being passed
around or printed: both derive them from the same seed (``zwm.zuora.simulator.demo``), and
this module turns those identities into customers pointing at the simulator's base URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from zwm.catalog.models import Customer
from zwm.catalog.services.customers import CustomerInput, create_customer, update_customer


class TenantIdentity(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...


def ensure_demo_customers(base_url: str, tenants: Sequence[TenantIdentity]) -> list[Customer]:
    """Create the demo customers that are missing, repoint existing ones; return the new ones.

    Idempotent: ``zwm up`` runs it at every start. Existing customers are updated only when
    their base URL or client id changed (e.g. the simulator moved to another port).
    """
    created: list[Customer] = []
    for tenant in tenants:
        data = CustomerInput(
            name=tenant.name,
            base_url=base_url,
            client_id=tenant.client_id,
            client_secret=tenant.client_secret,
        )
        existing = Customer.objects.filter(name=tenant.name).first()
        if existing is None:
            created.append(create_customer(data, validate=False))
        elif (existing.base_url, existing.client_id) != (base_url, tenant.client_id):
            update_customer(existing, data, validate=False)
    return created
