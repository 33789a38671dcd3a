"""Demo tenants derived from a seed, and a simulator started with them.

``zwm up`` in demo mode needs the simulator and the demo customers it creates in the database
to agree on credentials without passing secrets around: both derive them from the same seed.
"""

from __future__ import annotations

from zwm.zuora.simulator.server import ZuoraSimulator, tenant_seed_for
from zwm.zuora.simulator.tenant import SimTenant, make_identity

DEMO_TENANTS: tuple[tuple[str, int], ...] = (("acme", 25), ("globex", 60), ("initech", 8))
"""Name and number of workflows of each demo tenant."""


def demo_tenants(seed: int = 0, tenants: tuple[tuple[str, int], ...] = DEMO_TENANTS) -> list[SimTenant]:
    """The identities (names, credentials, ids) that :func:`start_demo` with ``seed`` serves."""
    return [make_identity(name, tenant_seed_for(seed, name, None), None, None) for name, _ in tenants]


def start_demo(
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    latency: float = 0.02,
    tenants: tuple[tuple[str, int], ...] = DEMO_TENANTS,
) -> ZuoraSimulator:
    """A running simulator (background thread) serving the demo tenants; call ``stop()`` when done."""
    sim = ZuoraSimulator(seed=seed, latency=latency, host=host, port=port)
    for name, workflows in tenants:
        sim.add_tenant(name, workflows=workflows)
    return sim.start()
