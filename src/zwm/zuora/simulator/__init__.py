"""A Zuora simulator: a real HTTP server on loopback that behaves like Zuora's workflow API.

Used by the tests, the benchmarks and the demo (``zwm zuora:simulate``). Standard library only,
and independent of the Zuora client and of Django, so it tests the client honestly. See
docs/simulator.md for what it simulates and where it differs from Zuora.
"""

from zwm.zuora.simulator.demo import DEMO_TENANTS, demo_tenants, start_demo
from zwm.zuora.simulator.faults import FAULT_KINDS, Faults
from zwm.zuora.simulator.server import ZuoraSimulator
from zwm.zuora.simulator.tenant import STAT_KEYS, SimTenant

__all__ = [
    "DEMO_TENANTS",
    "FAULT_KINDS",
    "STAT_KEYS",
    "Faults",
    "SimTenant",
    "ZuoraSimulator",
    "demo_tenants",
    "start_demo",
]
