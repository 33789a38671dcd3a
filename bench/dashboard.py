"""Benchmark of the Jobs dashboard on big tables (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/dashboard.py                  # PostgreSQL, database queue
    .venv/bin/python bench/dashboard.py --queue redis    # same tables, 100,000 waiting in Redis
    .venv/bin/python bench/dashboard.py --index-ab       # worker hot path with / without page indexes

Seeds a throw-away PostgreSQL database with COPY: 1,000,000 execution-history rows spread
over the last 7 days, 100,000 waiting jobs (in ``jobs``, or in Redis under a private
prefix), 10,000 failed jobs and 1,000 batches. Then renders every dashboard page through
Django's test client as a signed-in operator, several times each, and reports the median
wall time and the median database time (every query timed by an execute wrapper).
``--index-ab`` times the worker's history insert and a reserve/complete loop with and
without an extra index, the cost the pages would put on the hot path.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

DB = f"zwm_bench_dash_{os.getpid()}"
URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
REDIS = "redis://127.0.0.1:6379/15"
CLASSES = [f"app.jobs.Job{n:02d}" for n in range(40)] + ["zwm.queue.diagnostics.Noop"]
QUEUES = ["default", "high", "mail", "sync", "reports"]


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", sql], check=True)


def setup(queue: str, prefix: str) -> None:
    os.environ.update(DATABASE_URL=URL, QUEUE_CONNECTION=queue, DJANGO_SETTINGS_MODULE="zwm.settings")
    os.environ.update(REDIS_URL=REDIS, ZWM_QUEUE_PREFIX=prefix, ZWM_SYNC_SCHEDULE="0 * * * *")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)


# -- seeding ---------------------------------------------------------------------------


@contextmanager
def copy(sql: str) -> Iterator[Any]:
    from django.db import connection

    with connection.cursor() as cursor, cursor.cursor.copy(sql) as writer:
        yield writer


def payload(job_id: str, job: str, queue: str, n: int) -> str:
    args = {"customer_id": n % 500, "trigger": "schedule", "note": f"tenant-{n % 97}"}
    return json.dumps(
        {
            "job": job,
            "args": args,
            "queue": queue,
            "id": job_id,
            "attempts": 0,
            "created_at": time.time() - n % 3600,
        },
        separators=(",", ":"),
    )


def seed_history(rows: int, now: datetime) -> None:
    rng = random.Random(1)
    columns = (
        "job_uuid, job_class, queue, connection, attempt, status, worker_host, worker_pid, reserved_at,"
        " started_at, finished_at, duration_ms, progress, exception_message, batch_id, wait_ms"
    )
    span = 7 * 86400
    with copy(f"COPY job_history ({columns}) FROM STDIN") as writer:
        for n in range(rows):
            started = now - timedelta(seconds=span * (1 - n / rows))
            duration = rng.lognormvariate(3, 1.2)
            roll = rng.random()
            status = "succeeded" if roll < 0.97 else "failed" if roll < 0.99 else "released"
            message = "" if status == "succeeded" else f"upstream said 503 for tenant-{n % 97}"
            attempt = 1 if rng.random() < 0.95 else 2
            writer.write_row(
                (
                    uuid.uuid4().hex,
                    CLASSES[n % len(CLASSES)],
                    QUEUES[n % len(QUEUES)],
                    "database",
                    attempt,
                    status,
                    "worker-host",
                    1000 + n % 8,
                    started,
                    started,
                    started + timedelta(milliseconds=duration),
                    round(duration, 3),
                    None,
                    message,
                    None if n % 50 else f"batch-{n % 1000:04d}",
                    round(rng.lognormvariate(2, 1.5), 3) if attempt == 1 else None,
                )
            )


def seed_failed(rows: int, now: datetime) -> None:
    columns = (
        "uuid, connection, queue, job_class, payload, exception_type, exception_message,"
        " exception_traceback, failed_at"
    )
    with copy(f"COPY failed_jobs ({columns}) FROM STDIN") as writer:
        for n in range(rows):
            job_id, job, queue = uuid.uuid4().hex, CLASSES[n % len(CLASSES)], QUEUES[n % len(QUEUES)]
            writer.write_row(
                (
                    job_id,
                    "database",
                    queue,
                    job,
                    payload(job_id, job, queue, n),
                    "RuntimeError",
                    f"upstream said 503 for tenant-{n % 97}",
                    "Traceback (most recent call last):\n  ...\n" * 5,
                    now - timedelta(minutes=n),
                )
            )


def seed_waiting_database(rows: int) -> None:
    now = time.time()
    columns = "uuid, queue, job_class, payload, attempts, available_at, created_at"
    with copy(f"COPY jobs ({columns}) FROM STDIN") as writer:
        for n in range(rows):
            job_id, job, queue = uuid.uuid4().hex, CLASSES[n % len(CLASSES)], QUEUES[n % len(QUEUES)]
            at = now - (rows - n) * 0.01 if n % 10 else now + 3600  # a tenth delayed
            writer.write_row((job_id, queue, job, payload(job_id, job, queue, n), 0, at, at))


def seed_waiting_redis(rows: int) -> None:
    from zwm.queue.connections import get_driver
    from zwm.queue.job import Envelope

    driver = get_driver("redis")
    for start in range(0, rows, 5000):
        envelopes = [
            Envelope(
                job=CLASSES[n % len(CLASSES)],
                args={"customer_id": n % 500, "note": f"tenant-{n % 97}"},
                queue=QUEUES[n % len(QUEUES)],
            )
            for n in range(start, min(rows, start + 5000))
        ]
        driver.push(envelopes[: len(envelopes) * 9 // 10])
        driver.push(envelopes[len(envelopes) * 9 // 10 :], available_at=time.time() + 3600)


def seed_rest(now: datetime) -> None:
    from zwm.queue.models import JobBatch, Worker

    JobBatch.objects.bulk_create(
        [
            JobBatch(
                id=f"batch-{n:04d}",
                name=f"nightly sync {n}",
                total_jobs=200,
                pending_jobs=n % 200,
                failed_jobs=n % 3,
                created_at=now - timedelta(hours=n),
                finished_at=None if n % 7 else now,
            )
            for n in range(1000)
        ]
    )
    Worker.objects.bulk_create(
        [
            Worker(
                name=f"worker-host:{n}",
                host="worker-host",
                pid=n,
                connection="database",
                queues="high,default",
                status="busy",
                started_at=now,
                last_heartbeat_at=now,
                jobs_processed=n * 100,
            )
            for n in range(8)
        ]
    )


# -- measuring -------------------------------------------------------------------------


class QueryTimer:
    """Wall time spent in database queries (``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


def measure(client: Any, path: str, repeat: int) -> tuple[float, float, float, int, int]:
    """First wall ms, then median wall ms and DB ms of the ``repeat`` after it, queries,
    status of GET ``path``."""
    from django.db import connection

    walls, dbs, status, queries = [], [], 0, 0
    for _ in range(repeat + 1):
        timer = QueryTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = client.get(path)
        walls.append((time.perf_counter() - started) * 1000)
        dbs.append(timer.seconds * 1000)
        status, queries = response.status_code, timer.queries
    return walls[0], statistics.median(walls[1:]), statistics.median(dbs[1:]), queries, status


def pages() -> list[tuple[str, str]]:
    from zwm.queue.models import FailedJob, JobExecution

    failed = FailedJob.objects.order_by("-id").values_list("uuid", flat=True).first()
    executed = JobExecution.objects.order_by("-id").values_list("job_uuid", flat=True).first()
    middle = JobExecution.objects.order_by("-id").values_list("id", flat=True)[500_000]
    return [
        ("Overview", "/jobs/"),
        ("Overview live refresh", "/jobs/live/"),
        ("Charts, last 6 hours", "/jobs/charts/?window=hours"),
        ("Charts, last 7 days", "/jobs/charts/?window=days"),
        ("Jobs", "/jobs/history/"),
        ("Jobs, status failed", "/jobs/history/?status=failed"),
        ("Jobs, one job class", "/jobs/history/?job_class=app.jobs.Job07"),
        ("Jobs, search (no match)", "/jobs/history/?q=no-such-text"),
        ("Jobs, page at row 500,000", f"/jobs/history/?before={middle}"),
        ("Job detail", f"/jobs/job/{executed}/"),
        ("Waiting", "/jobs/waiting/"),
        ("Waiting, one job class", "/jobs/waiting/?job_class=app.jobs.Job07"),
        ("Waiting, payload search", "/jobs/waiting/?q=tenant-42"),
        ("Waiting, delayed only", "/jobs/waiting/?state=delayed"),
        ("Waiting, page 100", "/jobs/waiting/?page=100"),
        ("Failed", "/jobs/failed/"),
        ("Failed, search", "/jobs/failed/?q=tenant-42"),
        ("Failed detail", f"/jobs/job/{failed}/"),
        ("Batches", "/jobs/batches/"),
        ("Batch detail", "/jobs/batches/batch-0042/"),
        ("Queues", "/jobs/queues/"),
        ("Schedule", "/jobs/schedule/"),
    ]


def report(repeat: int) -> None:
    from django.test import Client

    from zwm.web.roles import Role
    from zwm.web.users import create_user

    client = Client()
    client.force_login(create_user(f"bench{uuid.uuid4().hex[:6]}", Role.OPERATOR, "bench-password-1"))
    for name, path in pages():
        first, wall, db, queries, status = measure(client, path, repeat)
        print(f"| {name} | {first:,.0f} | {wall:,.0f} | {db:,.0f} | {queries} | {status} |", flush=True)
    # Peers in the same run: Django's admin lists of the same tables (a paginator that runs
    # COUNT(*), as Filament/Moox does), and the bare COUNT(*) of history.
    admin = Client()
    admin.force_login(create_user(f"admin{uuid.uuid4().hex[:6]}", Role.ADMIN, "bench-password-1"))
    for name, path in (
        ("Peer: Django admin, job history", "/admin/zwm_queue/jobexecution/"),
        ("Peer: Django admin, queued jobs", "/admin/zwm_queue/queuedjob/"),
    ):
        first, wall, db, queries, status = measure(admin, path, repeat)
        print(f"| {name} | {first:,.0f} | {wall:,.0f} | {db:,.0f} | {queries} | {status} |", flush=True)
    from django.db import connection

    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM job_history")
        timings.append((time.perf_counter() - started) * 1000)
    print(f"| Peer: SELECT COUNT(*) FROM job_history | | | {statistics.median(timings):,.0f} | 1 | |")


def index_ab(rounds: int) -> None:
    """Worker hot path (history COPY of 1,000 finished rows; push + reserve + complete of
    1,000 jobs in batches of 100), alternated without / with each candidate index."""
    from django.db import connection

    from zwm.queue.drivers.database import DatabaseDriver
    from zwm.queue.job import Envelope

    candidates = {
        "job_history (status, id)": "CREATE INDEX bench_idx ON job_history (status, id)",
        "job_history (job_class, id)": "CREATE INDEX bench_idx ON job_history (job_class, id)",
        "jobs (job_class)": "CREATE INDEX bench_idx ON jobs (job_class)",
    }
    driver = DatabaseDriver()
    now = datetime.now(UTC)

    def hot_path() -> tuple[float, float]:
        started = time.perf_counter()
        seed_history(1000, now)
        history = time.perf_counter() - started
        started = time.perf_counter()
        driver.push([Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue="ab") for _ in range(1000)])
        while got := driver.reserve(["ab"], lease=30, limit=100):
            driver.complete_many(got)
        return history * 1000, (time.perf_counter() - started) * 1000

    for name, ddl in candidates.items():
        timings: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for n in range(rounds * 2):
            with_index = n % 2 == 1
            with connection.cursor() as cursor:
                cursor.execute(ddl if with_index else "DROP INDEX IF EXISTS bench_idx")
            timings[with_index].append(hot_path())
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS bench_idx")
        for flag, label in ((False, "without"), (True, "with")):
            history = statistics.median(t[0] for t in timings[flag])
            jobs = statistics.median(t[1] for t in timings[flag])
            print(f"| {name} | {label} | {history:.1f} | {jobs:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queue", choices=["database", "redis"], default="database")
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--failed", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--index-ab", type=int, default=0, metavar="ROUNDS", help="only the index A/B")
    options = parser.parse_args()
    prefix = f"zwm-bench-{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {DB}")
    try:
        setup(options.queue, prefix)
        from django.db import connection

        now = datetime.now(UTC)
        started = time.perf_counter()
        seed_history(options.history, now)
        seed_failed(options.failed, now)
        if options.queue == "redis":
            seed_waiting_redis(options.waiting)
        else:
            seed_waiting_database(options.waiting)
        seed_rest(now)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"seeded in {time.perf_counter() - started:.0f} s; queue {options.queue}", file=sys.stderr)
        if options.index_ab:
            print(
                "| Index | | history COPY of 1,000 ms | push+reserve+complete 1,000 ms |\n|---|---|---|---|"
            )
            index_ab(options.index_ab)
        else:
            print("| Page | First ms | Wall ms (median) | DB ms (median) | Queries | Status |")
            print("|---|---|---|---|---|---|")
            report(options.repeat)
        connection.close()
    finally:
        from django.db import connections

        connections.close_all()
        if options.queue == "redis":
            from zwm.queue.connections import get_driver

            get_driver("redis").delete_all_keys()  # type: ignore[attr-defined]
        psql(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
