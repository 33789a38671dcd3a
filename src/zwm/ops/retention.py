"""Retention: delete what has outlived its use, on the ages in the ``ZWM_RETAIN_*`` settings.

Run every night from the schedule (``PruneHistory``) and on demand (``zwm retention:run``).
Each store keeps its own rule for what must survive (a running execution, an unsettled
batch, each customer's latest sync run, each workflow's latest previous version); this
module only applies the configured ages and sweeps two kinds of debris nothing else
removes: rows of workers that stopped or died long ago, and unique locks that expired.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from zwm.catalog.models import WorkflowVersion
from zwm.catalog.services import prune_sync_runs
from zwm.config import Config
from zwm.queue import batches, failed, history, schedule
from zwm.queue.models import UniqueLock, Worker

WORKER_ROWS_KEPT = timedelta(hours=24)
"""A stopped (or silent) worker's row stays this long: long enough to see on the dashboard
what ran yesterday, short enough that restarts do not pile rows up for ever."""


def prune_workflow_versions(hours: float) -> int:
    """Delete versions replaced before the cutoff, keeping each workflow's latest one."""
    cutoff = timezone.now() - timedelta(hours=hours)
    latest = (
        WorkflowVersion.objects.values("workflow").annotate(last=Max("id")).values_list("last", flat=True)
    )
    deleted, _ = WorkflowVersion.objects.filter(replaced_at__lt=cutoff).exclude(pk__in=list(latest)).delete()
    return deleted


def sweep_workers() -> int:
    """Delete rows of workers stopped, or silent, for longer than :data:`WORKER_ROWS_KEPT`."""
    cutoff = timezone.now() - WORKER_ROWS_KEPT
    deleted, _ = Worker.objects.filter(last_heartbeat_at__lt=cutoff).delete()
    return deleted


def sweep_unique_locks() -> int:
    """Delete the database queue's unique locks whose time ran out (Redis expires its own)."""
    deleted, _ = UniqueLock.objects.filter(expires_at__lt=time.time()).delete()
    return deleted


def run(config: Config) -> dict[str, int]:
    """Apply every retention rule; how many rows each deleted."""
    return {
        "executions": history.prune_finished(config.retain_finished_hours),
        "batches": batches.prune(config.retain_finished_hours),
        "failed_jobs": failed.prune(config.retain_failed_hours),
        "sync_runs": prune_sync_runs(older_than_hours=config.retain_sync_runs_hours),
        "schedule_runs": schedule.prune(config.retain_schedule_runs_hours),
        "workflow_versions": prune_workflow_versions(config.retain_workflow_versions_hours),
        "workers": sweep_workers(),
        "unique_locks": sweep_unique_locks(),
    }
