"""Benchmark of the database queue driver (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/queue_database.py                    # every backend
    .venv/bin/python bench/queue_database.py --backend postgres --jobs 20000

Per backend, on a fresh database (SQLite file, or a throw-away PostgreSQL/MariaDB
database that is dropped afterwards), with no-op jobs:

* bulk enqueue: ``dispatch_many`` in chunks of 1,000 -- the whole framework path
  (envelopes, JSON, one push per chunk);
* driver throughput, 1 and 2 processes: ``reserve(limit=100)`` + ``complete_many`` in a
  loop, and the per-job path ``reserve(limit=1)`` + ``complete`` -- the storage ceiling;
* worker throughput: ``zwm queue:work --processes 2 --stop-when-empty`` over pre-queued
  ``zwm.queue.diagnostics.Noop`` jobs, wall time from starting the command until it exits
  (includes start-up, history and heartbeats: what a user gets);
* idle enqueue-to-start latency: one process waits in ``reserve``/``wait``; another
  dispatches a job carrying its send time every 20 ms; p50/p95 of (reserved - sent).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from zwm.queue.job import Job

ROOT = Path(__file__).resolve().parent.parent
SERVERS = {
    "postgres": ("postgres://postgres@127.0.0.1:5432/{db}", "postgres"),
    "mariadb": ("mysql://root@127.0.0.1:3306/{db}", "mysql"),
}


def setup(url: str | None) -> None:
    if url:
        os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zwm.settings")
    import django

    django.setup()


def _server_db(backend: str, name: str, create: bool) -> None:
    if backend == "postgres":
        verb = "CREATE" if create else "DROP"
        cmd = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"{verb} DATABASE {name}"]
    else:
        verb = "CREATE" if create else "DROP"
        cmd = ["mysql", "-h", "127.0.0.1", "-uroot", "-e", f"{verb} DATABASE {name}"]
    subprocess.run(cmd, check=True)


@dataclass
class Stamp(Job):
    """Carries its send time; the measuring consumer reads it from the envelope."""

    sent: float

    def handle(self) -> None:
        return None


# -- measurements (run inside a process configured for one backend) -------------------


def bulk_enqueue(jobs: int) -> float:
    from zwm.queue import dispatch_many
    from zwm.queue.diagnostics import Noop

    started = time.perf_counter()
    for start in range(0, jobs, 1000):
        dispatch_many([Noop() for _ in range(min(1000, jobs - start))], queue="bench", connection="database")
    return jobs / (time.perf_counter() - started)


def _consume(limit: int, deadline: float) -> int:
    from django.db import connections

    from zwm.queue.drivers.database import DatabaseDriver

    driver = DatabaseDriver()
    done = 0
    while time.monotonic() < deadline:
        got = driver.reserve(["bench"], lease=60, limit=limit)
        if not got:
            break
        if limit == 1:
            driver.complete(got[0])
        else:
            driver.complete_many(got)
        done += len(got)
    connections.close_all()
    return done


def driver_throughput(jobs: int, processes: int, limit: int) -> float:
    from django.db import connections

    from zwm.queue.drivers.database import DatabaseDriver

    DatabaseDriver().clear("bench")
    bulk_enqueue(jobs)
    connections.close_all()  # children must open their own connections
    started = time.perf_counter()
    with get_context("fork").Pool(processes) as pool:
        done = sum(pool.starmap(_consume, [(limit, time.monotonic() + 120)] * processes))
    elapsed = time.perf_counter() - started
    assert done == jobs, f"processed {done} of {jobs}"
    return jobs / elapsed


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes and their descendants:
    a worker's cost per job that a busy machine changes far less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worker_throughput(jobs: int, processes: int) -> float:
    from django.db import connections

    from zwm.queue.drivers.database import DatabaseDriver

    DatabaseDriver().clear("bench")
    bulk_enqueue(jobs)
    connections.close_all()
    cmd = [str(ROOT / ".venv/bin/zwm"), "queue:work", "--connection", "database", "--queue", "bench"]
    cmd += ["--processes", str(processes), "--stop-when-empty", "--sleep", "0.1"]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=os.environ.copy(), stdout=subprocess.DEVNULL, timeout=600)
    elapsed = time.perf_counter() - started
    cpu_us = (_children_cpu() - cpu_before) / jobs * 1e6
    print(f"  worker CPU (all its processes): {cpu_us:.0f} us per job", file=sys.stderr)
    left = DatabaseDriver().counts(["bench"])["bench"]
    assert left.waiting == left.reserved == 0, f"jobs left: {left}"
    return jobs / elapsed


def _listen_and_measure(samples: int, ready: Any, out: Any) -> None:
    from django.db import connections

    from zwm.queue.drivers.database import DatabaseDriver

    driver = DatabaseDriver()
    driver.wait(["latency"], 0.01)  # open the LISTEN connection before the producer starts
    ready.set()
    latencies: list[float] = []
    deadline = time.monotonic() + 120
    while len(latencies) < samples and time.monotonic() < deadline:
        got = driver.reserve(["latency"], lease=60, limit=1)
        if not got:
            driver.wait(["latency"], 1.0)
            continue
        latencies.append(time.time() - got[0].envelope.args["sent"])
        driver.complete(got[0])
    driver.close()
    connections.close_all()
    out.put(latencies)


# -- orchestration -------------------------------------------------------------------


def run_backend(backend: str, jobs: int, samples: int, only: str | None = None) -> dict[str, float]:
    """Measure one backend in this (fresh) process; return the figures."""
    temp = tempfile.mkdtemp(prefix="zwm-bench-")
    os.environ["ZWM_DATA_DIR"] = temp
    name = f"zwm_bench_{uuid.uuid4().hex[:8]}"
    url = None
    if backend in SERVERS:
        _server_db(backend, name, create=True)
        url = SERVERS[backend][0].format(db=name)
    try:
        setup(url)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        figures: dict[str, float] = {}
        steps: list[tuple[str, Callable[[], float]]] = [
            ("bulk_enqueue", lambda: bulk_enqueue(jobs)),
            ("driver_batch_1proc", lambda: driver_throughput(jobs, 1, 100)),
            ("driver_batch_2proc", lambda: driver_throughput(jobs, 2, 100)),
            ("driver_single_1proc", lambda: driver_throughput(jobs // 4, 1, 1)),
            ("driver_single_2proc", lambda: driver_throughput(jobs // 4, 2, 1)),
            ("worker_2proc", lambda: worker_throughput(jobs, 2)),
        ]
        if only:
            steps = [step for step in steps if step[0] == only]
        for label, step in steps:
            figures[label] = step()
            print(f"  {backend:8} {label:22} {figures[label]:10,.0f} jobs/s", file=sys.stderr)
        if only:
            return figures
        p50, p95 = latency(samples)
        figures["latency_p50_ms"], figures["latency_p95_ms"] = p50, p95
        print(f"  {backend:8} idle latency p50 {p50:.1f} ms  p95 {p95:.1f} ms", file=sys.stderr)
        return figures
    finally:
        from django.db import connections

        connections.close_all()
        if backend in SERVERS:
            _server_db(backend, name, create=False)


def latency(samples: int) -> tuple[float, float]:
    from django.db import connections

    from zwm.queue import dispatch

    connections.close_all()
    ctx = get_context("fork")
    ready, out = ctx.Event(), ctx.Queue()
    consumer = ctx.Process(target=_listen_and_measure, args=(samples, ready, out))
    consumer.start()
    ready.wait(30)
    time.sleep(0.2)
    for _ in range(samples):
        dispatch(Stamp(sent=time.time()), queue="latency", connection="database", after_commit=False)
        time.sleep(0.02)
    values = sorted(out.get(timeout=120))
    consumer.join(30)
    ms = [v * 1000 for v in values]
    return statistics.median(ms), ms[int(len(ms) * 0.95) - 1]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "mariadb", "all"], default="all")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (one backend)")
    parser.add_argument(
        "--only", choices=["bulk_enqueue", "worker_2proc"], help="run one measurement (no latency)"
    )
    args = parser.parse_args()
    if args.backend == "all":
        for backend in ("sqlite", "postgres", "mariadb"):
            cmd = [sys.executable, __file__, "--backend", backend, "--jobs", str(args.jobs)]
            cmd += ["--samples", str(args.samples)] + (["--only", args.only] if args.only else [])
            subprocess.run(cmd, check=True)
        return
    figures = run_backend(args.backend, args.jobs, args.samples, args.only)
    print(json.dumps({args.backend: figures}))


if __name__ == "__main__":
    main()
