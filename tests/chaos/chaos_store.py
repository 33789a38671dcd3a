"""Run against the chaos run's own database (``DATABASE_URL`` of the environment), in a
subprocess of the harness, so the database may live on a private server the harness
restarts: ``python chaos_store.py dispatch SEED DIR`` queues the job mix and prints what
it expects as JSON; ``python chaos_store.py report`` prints what the stores hold."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from zwm.cli.base import setup_django

FAST, SLOW, CHATTY, UNIQUE, FAILS_ONCE = 400, 8, 5, 20, 20
BATCHES, MEMBERS = 3, 20


def dispatch(seed: int, directory: Path) -> dict[str, Any]:
    from chaos_jobs import Chatty, FailsOnce, Fast, Settled, Slow, Unique

    from zwm.queue.batches import Batch
    from zwm.queue.dispatch import dispatch_many

    rng = random.Random(seed)
    effects, flags = str(directory / "effects.log"), directory / "flags"
    flags.mkdir()
    jobs = [Fast(effects) for _ in range(FAST)]
    jobs += [Slow(effects, rng.uniform(0.5, 2.0)) for _ in range(SLOW)]
    jobs += [Chatty(effects, rng.uniform(1.0, 2.0)) for _ in range(CHATTY)]
    jobs += [Unique(effects, f"key-{i}") for i in range(UNIQUE)]
    jobs += [FailsOnce(effects, str(flags)) for _ in range(FAILS_ONCE)]
    rng.shuffle(jobs)
    ids = [job_id for job_id in dispatch_many(jobs) if job_id is not None]
    batches = [
        Batch(
            [Fast(effects, "member") for _ in range(MEMBERS)],
            then=Settled(effects, "then"),
            finally_=Settled(effects, "finally"),
        ).dispatch()
        for _ in range(BATCHES)
    ]
    return {"jobs": ids, "batches": batches, "members": BATCHES * MEMBERS}


def report() -> dict[str, Any]:
    from django.db.models import Count

    from zwm.queue.connections import get_driver
    from zwm.queue.drivers.redis import RedisDriver
    from zwm.queue.history import WORKER_LOST
    from zwm.queue.models import FailedJob, JobBatch, JobExecution, UniqueLock

    succeeded = JobExecution.objects.filter(status="succeeded")
    per_job = succeeded.values("job_uuid").annotate(n=Count("id"))
    driver = get_driver()
    locks = UniqueLock.objects.count()
    if isinstance(driver, RedisDriver):
        locks = sum(1 for key in driver.client.scan_iter(match=driver.keys_pattern()) if b":u:" in key)
    return {
        "succeeded": {row["job_uuid"]: row["n"] for row in per_job},
        "succeeded_rows": succeeded.count(),
        "running_rows": JobExecution.objects.filter(status="running").count(),
        "worker_lost_rows": JobExecution.objects.filter(exception_message=WORKER_LOST).count(),
        "failed_jobs": list(FailedJob.objects.values_list("uuid", "exception_message")),
        "batches": {
            b.id: {"pending": b.pending_jobs, "failed": b.failed_jobs, "finished": b.finished_at is not None}
            for b in JobBatch.objects.all()
        },
        "unique_locks": locks,
        "queued": {name: vars(counts) for name, counts in driver.counts().items()},
    }


if __name__ == "__main__":
    setup_django()
    result = dispatch(int(sys.argv[2]), Path(sys.argv[3])) if sys.argv[1] == "dispatch" else report()
    print(json.dumps(result))
