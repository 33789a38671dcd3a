"""Benchmark of the Redis queue driver (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/queue_redis.py
    .venv/bin/python bench/queue_redis.py --redis-url redis://127.0.0.1:6379/15 --jobs 50000

Uses its own random key prefix and deletes its keys afterwards (never FLUSHDB). No-op jobs:

* bulk enqueue: ``push`` of pre-built envelopes, 1,000 per call (JSON encoding included);
* driver throughput, 1 and 2 processes: ``reserve(limit=100)`` + ``complete_many``, and the
  per-job path ``reserve(limit=1)`` + ``complete`` -- the storage ceiling;
* worker throughput: ``zwm queue:work --connection redis --processes 2 --stop-when-empty``
  over pre-queued ``zwm.queue.diagnostics.Noop`` jobs, wall time from starting the command
  until it exits (start-up, history in SQLite and heartbeats included: what a user gets);
* idle enqueue-to-start latency: one process loops ``wait``/``reserve``; the parent pushes a
  job carrying its send time every 20 ms; p50/p95 of (reserved - sent).
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
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.job import Envelope

ROOT = Path(__file__).resolve().parent.parent
NOOP = "zwm.queue.diagnostics.Noop"


def envelopes(count: int, queue: str) -> list[Envelope]:
    return [Envelope(job=NOOP, args={}, queue=queue) for _ in range(count)]


def bulk_enqueue(driver: RedisDriver, jobs: int) -> float:
    batch = envelopes(jobs, "bench")
    started = time.perf_counter()
    for start in range(0, jobs, 1000):
        driver.push(batch[start : start + 1000])
    elapsed = time.perf_counter() - started
    driver.clear("bench")
    return jobs / elapsed


def _consume(url: str, prefix: str, limit: int, start: Any, out: Any) -> None:
    driver = RedisDriver(url, prefix=prefix)
    done = 0
    start.wait()
    while batch := driver.reserve(["bench"], lease=30, limit=limit):
        if limit == 1:
            driver.complete(batch[0])
        else:
            driver.complete_many(batch)
        done += len(batch)
    out.put(done)


def driver_throughput(driver: RedisDriver, url: str, jobs: int, processes: int, limit: int) -> float:
    driver.push(envelopes(jobs, "bench"))
    ctx = get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_consume, args=(url, driver.prefix, limit, start, out)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    time.sleep(0.3)
    began = time.perf_counter()
    start.set()
    done = sum(out.get(timeout=600) for _ in workers)
    elapsed = time.perf_counter() - began
    for worker in workers:
        worker.join(30)
    assert done == jobs, f"processed {done} of {jobs}"
    return jobs / elapsed


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes and their descendants:
    a worker's cost per job that a busy machine changes far less than its wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def worker_throughput(driver: RedisDriver, url: str, jobs: int, processes: int, history: str) -> float:
    """``zwm queue:work`` over Redis; history and failed jobs in a throw-away SQLite file or,
    with ``history="postgres"``, a throw-away PostgreSQL database (what a production Redis
    install would use: SQLite's single write lock is shared by every worker's history rows)."""
    data_dir = tempfile.mkdtemp(prefix="zwm-bench-redis-")
    env = {**os.environ, "ZWM_DATA_DIR": data_dir, "REDIS_URL": url, "ZWM_QUEUE_PREFIX": driver.prefix}
    env.pop("DATABASE_URL", None)
    database = f"zwm_bench_{uuid.uuid4().hex[:8]}"
    if history == "postgres":
        _psql(f"CREATE DATABASE {database}")
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    try:
        zwm = str(ROOT / ".venv/bin/zwm")
        subprocess.run([zwm, "migrate"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=300)
        driver.push(envelopes(jobs, "bench"))
        cmd = [zwm, "queue:work", "--connection", "redis", "--queue", "bench"]
        cmd += ["--processes", str(processes), "--stop-when-empty", "--sleep", "0.1"]
        cpu_before = _children_cpu()
        started = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, timeout=600)
        elapsed = time.perf_counter() - started
        cpu_us = (_children_cpu() - cpu_before) / jobs * 1e6
        print(f"  worker CPU (all its processes): {cpu_us:.0f} us per job", file=sys.stderr)
    finally:
        if history == "postgres":
            _psql(f"DROP DATABASE {database}")
    left = driver.counts(["bench"])["bench"]
    assert left.waiting == left.reserved == 0, f"jobs left: {left}"
    return jobs / elapsed


def _listen(url: str, prefix: str, samples: int, ready: Any, out: Any) -> None:
    driver = RedisDriver(url, prefix=prefix)
    driver.check()
    ready.set()
    delays: list[float] = []
    while len(delays) < samples:
        got = driver.reserve(["latency"], lease=30)
        if not got:
            driver.wait(["latency"], 5.0)
            continue
        delays.append(time.time() - float(got[0].envelope.args["sent"]))
        driver.complete(got[0])
    out.put(delays)


def latency(driver: RedisDriver, url: str, samples: int) -> tuple[float, float]:
    ctx = get_context("fork")
    ready, out = ctx.Event(), ctx.Queue()
    consumer = ctx.Process(target=_listen, args=(url, driver.prefix, samples, ready, out))
    consumer.start()
    ready.wait(30)
    time.sleep(0.2)
    for _ in range(samples):
        driver.push([Envelope(job=NOOP, args={"sent": time.time()}, queue="latency")])
        time.sleep(0.02)
    ms = sorted(v * 1000 for v in out.get(timeout=120))
    consumer.join(30)
    return statistics.median(ms), ms[int(len(ms) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("ZWM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--no-worker", action="store_true", help="skip the zwm queue:work measurement")
    parser.add_argument(
        "--only", choices=["bulk_enqueue", "worker_2proc"], help="run one measurement (no latency)"
    )
    parser.add_argument(
        "--history",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="database of the worker's history and failed jobs (a throw-away one)",
    )
    args = parser.parse_args()
    url, jobs = args.redis_url, args.jobs
    driver = RedisDriver(url, prefix=f"zwm-bench-{uuid.uuid4().hex[:12]}")
    driver.check()
    figures: dict[str, float] = {}
    steps = [
        ("bulk_enqueue", lambda: bulk_enqueue(driver, jobs)),
        ("driver_batch_1proc", lambda: driver_throughput(driver, url, jobs, 1, 100)),
        ("driver_batch_2proc", lambda: driver_throughput(driver, url, jobs, 2, 100)),
        ("driver_single_1proc", lambda: driver_throughput(driver, url, jobs // 4, 1, 1)),
        ("driver_single_2proc", lambda: driver_throughput(driver, url, jobs // 4, 2, 1)),
    ]
    if not args.no_worker:
        steps.append(("worker_2proc", lambda: worker_throughput(driver, url, jobs, 2, args.history)))
    if args.only:
        steps = [step for step in steps if step[0] == args.only]
    try:
        for label, step in steps:
            figures[label] = step()
            print(f"  redis {label:22} {figures[label]:10,.0f} jobs/s", file=sys.stderr)
        if not args.only:
            p50, p95 = latency(driver, url, args.samples)
            figures["latency_p50_ms"], figures["latency_p95_ms"] = p50, p95
            print(f"  redis idle latency p50 {p50:.2f} ms  p95 {p95:.2f} ms", file=sys.stderr)
    finally:
        driver.delete_all_keys()
    print(json.dumps({"redis": figures}))


if __name__ == "__main__":
    main()
