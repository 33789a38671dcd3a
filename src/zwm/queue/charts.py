"""Chart series for the dashboard, computed in SQL from execution history on request.

Per time bucket: executions that succeeded and that failed (raised, timed out, released
for a retry), and the 50th and 95th percentile of runtime (succeeded executions) and of
queue wait (first attempts, dispatch to reservation). Percentiles are nearest-rank,
computed with window functions that SQLite, PostgreSQL and MariaDB all have; nothing is
pre-aggregated, so there is no snapshot job to run and nothing to fall behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connections, router

from zwm.queue.models import JobExecution


@dataclass(frozen=True)
class Window:
    span: int
    """Seconds covered, ending now."""
    step: int
    """Seconds per bucket."""


WINDOWS = {"hours": Window(span=6 * 3600, step=300), "days": Window(span=7 * 86400, step=3600)}
"""The last six hours in five-minute buckets; the last seven days in hours."""

_BUCKET = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM finished_at) / {step})",
    "sqlite": "CAST(strftime('%%s', finished_at) AS INTEGER) / {step}",  # %% : a parameter mark otherwise
    "mysql": "TIMESTAMPDIFF(SECOND, '1970-01-01', finished_at) DIV {step}",
}
_COUNTS = "SELECT {bucket} AS b, status, COUNT(*) FROM job_history WHERE finished_at >= %s GROUP BY 1, 2"
_PERCENTILES = """
SELECT b, rn, cnt, v FROM (
    SELECT b, v, ROW_NUMBER() OVER (PARTITION BY b ORDER BY v) AS rn, COUNT(*) OVER (PARTITION BY b) AS cnt
    FROM (SELECT {bucket} AS b, {column} AS v FROM job_history
          WHERE finished_at >= %s AND {column} IS NOT NULL {only}) AS x
) AS y
WHERE (rn * 100 >= cnt * 50 AND rn * 100 < cnt * 50 + 100)
   OR (rn * 100 >= cnt * 95 AND rn * 100 < cnt * 95 + 100)
"""
_SERIES = ("succeeded", "failed", "runtime_p50", "runtime_p95", "wait_p50", "wait_p95")


def series(window: str, *, now: float | None = None) -> dict[str, list[Any]]:
    """``{"t": bucket starts (epoch seconds), "succeeded": [...], ...}``; ``None`` where a
    bucket has no value (uPlot draws a gap)."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    spec = WINDOWS[window]
    now = time.time() if now is None else now
    first = int(now - spec.span) // spec.step
    buckets = list(range(first, int(now) // spec.step + 1))
    index = {b: i for i, b in enumerate(buckets)}
    out: dict[str, list[Any]] = {"t": [b * spec.step for b in buckets]}
    out.update({name: [None] * len(buckets) for name in _SERIES})
    out["succeeded"] = [0] * len(buckets)
    out["failed"] = [0] * len(buckets)
    connection = connections[router.db_for_read(JobExecution)]
    bucket = _BUCKET[connection.vendor].format(step=spec.step)
    since = connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(first * spec.step, UTC))
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS.format(bucket=bucket), [since])
        for b, status, n in cursor.fetchall():
            if int(b) in index and status != JobExecution.Status.RUNNING:
                name = "succeeded" if status == JobExecution.Status.SUCCEEDED else "failed"
                out[name][index[int(b)]] += n
        for column, only, prefix in (
            ("duration_ms", "AND status = 'succeeded'", "runtime"),
            ("wait_ms", "", "wait"),
        ):
            cursor.execute(_PERCENTILES.format(bucket=bucket, column=column, only=only), [since])
            for b, rank, total, value in cursor.fetchall():
                if int(b) not in index:
                    continue
                for percent in (50, 95):  # nearest rank: ceil(total * percent / 100), in integers
                    if int(rank) == (int(total) * percent + 99) // 100:
                        name = f"{prefix}_p{percent}"
                        out[name][index[int(b)]] = round(float(value), 3)
    return out
