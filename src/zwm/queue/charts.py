"""Chart series for the dashboard, computed in SQL from execution history.

Per time bucket: executions that succeeded and that failed (raised, timed out, released
for a retry), and the 50th and 95th percentile of runtime (succeeded executions) and of
queue wait (first attempts, dispatch to reservation). Percentiles are nearest-rank,
computed with window functions that SQLite, PostgreSQL and MariaDB all have.

A bucket that is over (its end more than :data:`SETTLE` seconds ago: workers write history
within a second or so) never changes again, so its figures are computed once, on the
first request that needs them, and kept in ``job_chart_buckets``; a request then reads
history only for the buckets still filling. Nothing runs on a timer -- there is no
snapshot job to schedule or to fall behind -- and a chart shows what history held when
each bucket closed, even after ``queue:prune-finished`` has deleted those rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connections, router

from zwm.queue.models import ChartBucket, JobExecution


@dataclass(frozen=True)
class Window:
    span: int
    """Seconds covered, ending now."""
    step: int
    """Seconds per bucket."""


WINDOWS = {"hours": Window(span=6 * 3600, step=300), "days": Window(span=7 * 86400, step=3600)}
"""The last six hours in five-minute buckets; the last seven days in hours."""
SETTLE = 300.0
"""Seconds after its end from which a bucket is taken as final."""

_BUCKET = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM finished_at) / {step})",
    "sqlite": "CAST(strftime('%%s', finished_at) AS INTEGER) / {step}",  # %%: a parameter mark otherwise
    "mysql": "TIMESTAMPDIFF(SECOND, '1970-01-01', finished_at) DIV {step}",
}
_COUNTS = (
    "SELECT {bucket} AS b, status, COUNT(*) FROM job_history"
    " WHERE finished_at >= %s AND finished_at < %s GROUP BY 1, 2"
)
_PERCENTILES = """
SELECT b, rn, cnt, v FROM (
    SELECT b, v, ROW_NUMBER() OVER (PARTITION BY b ORDER BY v) AS rn, COUNT(*) OVER (PARTITION BY b) AS cnt
    FROM (SELECT {bucket} AS b, {column} AS v FROM job_history
          WHERE finished_at >= %s AND finished_at < %s AND {column} IS NOT NULL {only}) AS x
) AS y
WHERE (rn * 100 >= cnt * 50 AND rn * 100 < cnt * 50 + 100)
   OR (rn * 100 >= cnt * 95 AND rn * 100 < cnt * 95 + 100)
"""
_FIGURES = ("succeeded", "failed", "runtime_p50", "runtime_p95", "wait_p50", "wait_p95")


def _compute(step: int, first: int, end: int) -> dict[int, dict[str, Any]]:
    """The figures of buckets ``first`` .. ``end - 1`` from history (every one present)."""
    figures: dict[int, dict[str, Any]] = {
        b: {"succeeded": 0, "failed": 0, **dict.fromkeys(_FIGURES[2:])} for b in range(first, end)
    }
    connection = connections[router.db_for_read(JobExecution)]
    bucket = _BUCKET[connection.vendor].format(step=step)
    bounds = [
        connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(edge * step, UTC))
        for edge in (first, end)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS.format(bucket=bucket), bounds)
        for b, status, n in cursor.fetchall():
            if int(b) in figures and status != JobExecution.Status.RUNNING:
                figures[int(b)]["succeeded" if status == JobExecution.Status.SUCCEEDED else "failed"] += n
        for column, only, prefix in (
            ("duration_ms", "AND status = 'succeeded'", "runtime"),
            ("wait_ms", "", "wait"),
        ):
            cursor.execute(_PERCENTILES.format(bucket=bucket, column=column, only=only), bounds)
            for b, rank, total, value in cursor.fetchall():
                for percent in (50, 95):  # nearest rank: ceil(total * percent / 100), in integers
                    if int(b) in figures and int(rank) == (int(total) * percent + 99) // 100:
                        figures[int(b)][f"{prefix}_p{percent}"] = round(float(value), 3)
    return figures


def _settled(step: int, first: int, end: int) -> dict[int, dict[str, Any]]:
    """Figures of buckets that are over: kept ones read back, missing ones computed and kept."""
    kept = {
        row["bucket"]: row
        for row in ChartBucket.objects.filter(step=step, bucket__gte=first, bucket__lt=end).values(
            "bucket", *_FIGURES
        )
    }
    missing = [b for b in range(first, end) if b not in kept]
    if missing:
        computed = _compute(step, missing[0], missing[-1] + 1)
        fresh = {b: computed[b] for b in missing}
        ChartBucket.objects.bulk_create(
            [ChartBucket(step=step, bucket=b, **values) for b, values in fresh.items()], ignore_conflicts=True
        )
        ChartBucket.objects.filter(step=step, bucket__lt=first).delete()  # out of every window now
        kept.update(fresh)
    return kept


def series(window: str, *, now: float | None = None) -> dict[str, list[Any]]:
    """``{"t": bucket starts (epoch seconds), "succeeded": [...], ...}``; ``None`` where a
    bucket has no value (uPlot draws a gap)."""
    if window not in WINDOWS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    spec = WINDOWS[window]
    now = time.time() if now is None else now
    first, end = int(now - spec.span) // spec.step, int(now) // spec.step + 1
    settled_end = max(first, int(now - SETTLE) // spec.step)  # buckets before it are over
    figures = _settled(spec.step, first, settled_end)
    figures.update(_compute(spec.step, settled_end, end))
    buckets = range(first, end)
    out: dict[str, list[Any]] = {"t": [b * spec.step for b in buckets]}
    out.update({name: [figures[b][name] for b in buckets] for name in _FIGURES})
    return out
