"""How backed up each queue is: shared by the backlog alert and the metrics."""

from __future__ import annotations

import time

from zwm.queue.connections import get_driver

SAMPLE = 50
"""Jobs read per queue to find the oldest waiting one: drivers list reserved jobs first,
and a queue whose first 50 jobs are all reserved is busy, not stuck."""


def oldest_waiting_ages(connection: str | None = None) -> dict[str, float]:
    """Seconds the oldest available-but-untaken job of each queue has waited (0 when none)."""
    driver = get_driver(connection)
    now = time.time()
    ages: dict[str, float] = {}
    for queue in sorted(driver.counts()):
        waited = [
            now - job.available_at
            for job in driver.waiting(queue, limit=SAMPLE)
            if job.reserved_at is None and job.available_at <= now
        ]
        ages[queue] = max(waited, default=0.0)
    return ages
