"""Benchmark of the workflow sync (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/sync.py                              # 1,000 workflows, 100 ms per call
    .venv/bin/python bench/sync.py --workflows 200 --skip-original
    .venv/bin/python bench/sync.py --database-url postgres://postgres@127.0.0.1:5432/zwm_bench

The Zuora simulator runs in its own process (so its CPU and memory are not ours) with a
fixed latency per API call. On a fresh database (SQLite in a temporary directory unless
``--database-url`` names an existing, empty database), it measures:

* **ours** (``zwm.catalog.services.sync_customer``) at each ``--concurrency``: the first sync
  of the whole catalog, a re-sync with nothing changed (export calls counted by the
  simulator: should be zero), and a re-sync after 10 workflows changed; then the **floor**:
  the same listing and downloads with the Zuora client alone, nothing parsed into the
  database, which is what the client and the simulator cost on the machine;
* **the original application's algorithm**, reimplemented below in ``original_sync`` and
  clearly not ours: list every page, then export *every* workflow one by one, saving each
  with one ``update_or_create`` per workflow and per task, every time -- measured for a
  first sync and a re-sync, in the same run;
* **memory**: tracemalloc peak of one first sync at several catalog sizes, with no latency,
  beside the total size of the exports stored -- flat means the peak does not grow with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

LATENCY = 0.1
CHANGED = 10


# -- the simulator, in a child process, driven over a pipe ------------------------------------


def _simulator_process(conn: Connection, latency: float) -> None:
    from zwm.zuora.simulator import ZuoraSimulator

    with ZuoraSimulator(seed=1, latency=latency, concurrency_limit=40) as sim:
        conn.send(sim.base_url)
        while True:
            command, args = conn.recv()
            if command == "stop":
                return
            if command == "add_tenant":
                tenant = sim.add_tenant(args[0], workflows=args[1])
                conn.send((tenant.client_id, tenant.client_secret))
            elif command == "change":
                for workflow_id in sim.workflow_ids(args[0])[: args[1]]:
                    sim.change_workflow(args[0], workflow_id)
                conn.send(None)
            elif command == "stats":
                stats = sim.stats(args[0])
                sim.reset_stats(args[0])
                conn.send(stats)
            elif command == "latency":
                sim.latency = args[0]
                conn.send(None)


class Simulator:
    """Handle on the simulator process: ``call("stats", name)`` etc."""

    def __init__(self, latency: float) -> None:
        self._conn, child = get_context("spawn").Pipe()
        self._process = get_context("spawn").Process(
            target=_simulator_process, args=(child, latency), daemon=True
        )
        self._process.start()
        self.base_url: str = self._conn.recv()

    def call(self, command: str, *args: Any) -> Any:
        self._conn.send((command, args))
        return self._conn.recv()

    def stop(self) -> None:
        self._conn.send(("stop", ()))
        self._process.join(10)


# -- set-up -------------------------------------------------------------------------------------


def setup_django(database_url: str | None) -> None:
    os.environ["ZWM_DATA_DIR"] = tempfile.mkdtemp(prefix="zwm-bench-sync-")
    os.environ["ZWM_ZUORA_ALLOW_HTTP"] = "true"  # the simulator speaks plain http on loopback
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zwm.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def make_customer(sim: Simulator, name: str, workflows: int) -> Any:
    from zwm.catalog.models import Customer

    client_id, secret = sim.call("add_tenant", name, workflows)
    customer = Customer(name=name, base_url=sim.base_url, client_id=client_id)
    customer.client_secret = secret
    customer.save()
    return customer


# -- ours ---------------------------------------------------------------------------------------


@dataclass
class Figure:
    seconds: float
    cpu: float
    """CPU seconds of this process (all threads): what a busier or idler machine does not change."""
    exports: int
    lists: int


def ours(sim: Simulator, customer: Any, concurrency: int, full: bool = False) -> Figure:
    from zwm.catalog.services import build_client, credentials_for, sync_customer

    with build_client(credentials_for(customer), concurrency=concurrency) as client:
        started, cpu = time.perf_counter(), time.process_time()
        run = sync_customer(customer, client=client, workers=concurrency, full=full)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stats = sim.call("stats", customer.name)
    assert run.failed == 0, run.warnings
    return Figure(seconds, cpu, stats["export"], stats["list"])


def floor(sim: Simulator, customer: Any, concurrency: int) -> Figure:
    """No database at all: list, then download and parse every export on the same thread pool.
    What the Zuora client and the simulator cost on this machine -- the floor under ``ours``."""
    from concurrent.futures import ThreadPoolExecutor

    from zwm.catalog.services import build_client, credentials_for

    with build_client(credentials_for(customer), concurrency=concurrency) as client:
        started, cpu = time.perf_counter(), time.process_time()
        ids = [definition.id for definition in client.iter_workflows()]
        with ThreadPoolExecutor(concurrency) as pool:
            for export in pool.map(client.export_workflow, ids):
                _ = export.content_hash
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stats = sim.call("stats", customer.name)
    return Figure(seconds, cpu, stats["export"], stats["list"])


# -- the original application's algorithm (reimplemented for comparison; NOT ours) ---------------


def original_sync(base_url: str, client_id: str, secret: str, customer: Any) -> None:
    """WorkflowSyncService::syncCustomerWorkflows of the original, step for step (original-app.md 2.2):

    token once (cached), list pages of 50 while ``next_page`` is set, then for each listed
    workflow, sequentially: download its export, ``firstOrNew`` + save the workflow, then one
    ``updateOrCreate`` per task and a delete of tasks not in the export; finally delete
    workflows not listed. No concurrency, no change detection, no transaction.
    """
    import httpx
    from django.utils import timezone

    from zwm.catalog.models import Task, Workflow

    with httpx.Client(timeout=30) as http:
        token = http.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        listed: list[dict[str, Any]] = []
        page = 1
        while True:
            body = http.get(
                f"{base_url}/workflows", params={"page": page, "page_length": 50}, headers=headers
            ).json()
            listed.extend(body.get("data") or [])
            if not body.get("data") or not (body.get("pagination") or {}).get("next_page"):
                break
            page += 1
        for item in listed:
            export = http.get(f"{base_url}/workflows/{item['id']}/export", headers=headers).json()
            workflow, _ = Workflow.objects.get_or_create(customer=customer, zuora_id=str(item["id"]))
            workflow.name = item.get("name") or "Unnamed Workflow"
            workflow.description = item.get("description") or ""
            workflow.status = item.get("status") or "Unknown"
            workflow.last_synced_at = timezone.now()
            workflow.export_json = json.dumps(export)
            workflow.save()
            seen = []
            for task in export.get("tasks") or []:
                seen.append(str(task["id"]))
                Task.objects.update_or_create(
                    workflow=workflow,
                    zuora_task_id=str(task["id"]),
                    defaults={
                        "name": task.get("name") or "Unnamed Task",
                        "action_type": task.get("action_type") or "",
                        "object": task.get("object") or "",
                        "call_type": task.get("call_type") or "",
                        "parameters": task.get("parameters") or {},
                        "css": task.get("css") or {},
                        "tags": task.get("tags") or [],
                    },
                )
            Task.objects.filter(workflow=workflow).exclude(zuora_task_id__in=seen).delete()
        Workflow.objects.filter(customer=customer).exclude(
            zuora_id__in=[str(i["id"]) for i in listed]
        ).delete()


def original(sim: Simulator, customer: Any, client_id: str, secret: str) -> Figure:
    started, cpu = time.perf_counter(), time.process_time()
    original_sync(sim.base_url, client_id, secret, customer)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stats = sim.call("stats", customer.name)
    return Figure(seconds, cpu, stats["export"], stats["list"])


# -- memory -------------------------------------------------------------------------------------


def memory(sim: Simulator, sizes: list[int], concurrency: int) -> list[tuple[int, float, float]]:
    """(workflows, tracemalloc peak MiB during a first sync, MiB of exports stored)."""
    from django.db.models import Sum
    from django.db.models.functions import Length

    from zwm.catalog.models import Workflow

    sim.call("latency", 0.0)
    rows = []
    for size in sizes:
        customer = make_customer(sim, f"mem{size}", size)
        tracemalloc.start()
        ours(sim, customer, concurrency)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        stored = Workflow.objects.filter(customer=customer).aggregate(n=Sum(Length("export_json")))["n"] or 0
        rows.append((size, peak / 2**20, stored / 2**20))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds per API call (default 0.1)")
    parser.add_argument(
        "--concurrency", default="8,16", help="comma-separated export concurrencies to measure"
    )
    parser.add_argument("--memory-sizes", default="250,1000,2000")
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--database-url", help="an existing, empty database (default: SQLite in a temp dir)")
    args = parser.parse_args()
    setup_django(args.database_url)
    from django.db import connection

    sim = Simulator(args.latency)
    print(
        f"backend {connection.vendor}; {args.workflows} workflows; {args.latency * 1000:.0f} ms per API call"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'algorithm':<34} {'seconds':>8} {'CPU s':>6} {'exports':>8} {'list calls':>10}")

    def show(label: str, figure: Figure) -> None:
        line = f"{label:<34} {figure.seconds:>8.2f} {figure.cpu:>6.2f} {figure.exports:>8} {figure.lists:>10}"
        print(line, flush=True)

    try:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            customer = make_customer(sim, f"ours{concurrency}", args.workflows)
            show(f"ours c={concurrency}: first sync", ours(sim, customer, concurrency))
            show(f"ours c={concurrency}: re-sync, unchanged", ours(sim, customer, concurrency))
            sim.call("change", customer.name, CHANGED)
            show(f"ours c={concurrency}: re-sync, {CHANGED} changed", ours(sim, customer, concurrency))
            show(f"floor c={concurrency}: client only, no DB", floor(sim, customer, concurrency))
        if not args.skip_original:
            customer = make_customer(sim, "original", args.workflows)
            client_id, secret = customer.client_id, customer.client_secret
            show("original (sequential): first sync", original(sim, customer, client_id, secret))
            show("original (sequential): re-sync", original(sim, customer, client_id, secret))
        sizes = [int(s) for s in args.memory_sizes.split(",") if s]
        if sizes:
            print("\nmemory, first sync without latency (tracemalloc peak of this process):")
            print(f"{'workflows':>10} {'peak MiB':>9} {'exports stored MiB':>19}")
            for size, peak, stored in memory(sim, sizes, int(args.concurrency.split(",")[-1])):
                print(f"{size:>10} {peak:>9.1f} {stored:>19.1f}", flush=True)
    finally:
        sim.stop()


if __name__ == "__main__":
    sys.exit(main())
