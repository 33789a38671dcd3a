"""The per-tenant concurrency cap, with many threads exporting at once against a slow simulator."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from zwm.zuora import ZuoraClient
from zwm.zuora.simulator import ZuoraSimulator

from .support import TENANT, ClientFactory


def _export_all(clients: list[ZuoraClient], ids: list[str], threads: int = 20) -> None:
    jobs = [(clients[i % len(clients)], workflow_id) for i, workflow_id in enumerate(ids * 4)]
    with ThreadPoolExecutor(threads) as pool:
        exports = list(pool.map(lambda job: job[0].export_workflow(job[1]), jobs))
    assert [e.tasks != () for e in exports] == [True] * len(jobs)


def test_twenty_threads_never_exceed_the_cap(sim: ZuoraSimulator, make_client: ClientFactory) -> None:
    client = make_client(concurrency=4)
    client.validate_credentials()
    sim.latency = 0.05
    _export_all([client], sim.workflow_ids(TENANT))
    assert 2 <= sim.stats(TENANT)["max_concurrency"] <= 4  # parallel, and capped


def test_clients_of_one_tenant_share_the_cap(sim: ZuoraSimulator, make_client: ClientFactory) -> None:
    clients = [make_client(concurrency=3) for _ in range(3)]
    clients[0].validate_credentials()
    sim.latency = 0.05
    _export_all(clients, sim.workflow_ids(TENANT))
    assert 2 <= sim.stats(TENANT)["max_concurrency"] <= 3


def test_the_cap_stays_below_zuoras_so_no_concurrency_429(
    sim: ZuoraSimulator, make_client: ClientFactory
) -> None:
    sim.concurrency_limit = 4  # beyond it the simulator answers 429 with Retry-After
    client = make_client(concurrency=4)
    client.validate_credentials()
    sim.latency = 0.02
    _export_all([client], sim.workflow_ids(TENANT), threads=12)
    assert sim.stats(TENANT)["status_429"] == 0
