"""Zuora client throughput against the simulator: list + export N workflows at several concurrencies.

Run by hand: ``.venv/bin/python bench/zuora_client.py [--workflows 200] [--latency 0.05]``.
The simulator's latency stands in for Zuora's round trip; the figure of interest is how
close the client gets to ``workflows / concurrency * latency`` and what the retries cost.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from zwm.zuora import Credentials, MemoryTokenCache, ZuoraClient
from zwm.zuora.simulator import Faults, ZuoraSimulator


def run(workflows: int, latency: float, concurrency: int, faults: Faults) -> None:
    with ZuoraSimulator(seed=1, latency=latency) as sim:
        tenant = sim.add_tenant("bench", workflows=workflows)
        sim.set_faults("bench", faults)
        creds = Credentials(sim.base_url, tenant.client_id, tenant.client_secret)
        with ZuoraClient(
            creds, concurrency=concurrency, token_cache=MemoryTokenCache(), backoff_base=0.05, backoff_cap=0.5
        ) as client:
            started = time.perf_counter()
            ids = [wf.id for wf in client.iter_workflows()]
            with ThreadPoolExecutor(concurrency) as pool:
                exports = list(pool.map(client.export_workflow, ids))
            elapsed = time.perf_counter() - started
        tasks = sum(len(e.tasks) for e in exports)
        stats, server = client.stats, sim.stats("bench")
        print(
            f"workflows={workflows} latency={latency * 1000:.0f}ms concurrency={concurrency} "
            f"faults={'on' if faults != Faults() else 'off'}: {elapsed:.2f}s, "
            f"{len(exports) / elapsed:.1f} exports/s, {tasks} tasks, requests={stats.requests} "
            f"retries={stats.retries} gzip={stats.gzip_responses} max_concurrency={server['max_concurrency']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    for concurrency in (1, 4, 8):
        run(args.workflows, args.latency, concurrency, Faults())
    run(args.workflows, args.latency, 8, Faults(error_rate=0.05, drop_rate=0.02, retry_after=0))


if __name__ == "__main__":
    main()
