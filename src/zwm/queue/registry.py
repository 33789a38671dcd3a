"""The worker registry (``job_queue_workers``) and the restart signal (``job_signals``).

Each worker keeps one row up to date from its loop -- status, heartbeat, counters, the job
in hand -- at most every few seconds, so the dashboard can tell a live worker from a dead
one (a stale heartbeat) without the registry costing anything per job.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from datetime import timedelta

from django.utils import timezone

from zwm.queue.models import QueueSignal
from zwm.queue.models import Worker as WorkerRow

RESTART = "restart"
ALIVE_WITHIN = 30.0
"""Seconds since its last heartbeat within which a worker counts as alive: several beats."""

Status = WorkerRow.Status


class Registration:
    """This worker's row."""

    def __init__(self, *, name: str | None, connection: str, queues: Sequence[str]) -> None:
        host = socket.gethostname()
        pid = os.getpid()
        now = timezone.now()
        self.row = WorkerRow.objects.create(
            name=(name or f"{host}:{pid}")[:255],
            host=host[:255],
            pid=pid,
            connection=connection,
            queues=",".join(queues)[:1000],
            status=Status.STARTING,
            started_at=now,
            last_heartbeat_at=now,
        )

    def heartbeat(self, status: str, *, processed: int, failed: int, current: str | None) -> None:
        WorkerRow.objects.filter(pk=self.row.pk).update(
            status=status,
            last_heartbeat_at=timezone.now(),
            jobs_processed=processed,
            jobs_failed=failed,
            current_job_uuid=current,
        )

    def stopped(self, *, processed: int, failed: int) -> None:
        now = timezone.now()
        WorkerRow.objects.filter(pk=self.row.pk).update(
            status=Status.STOPPED,
            last_heartbeat_at=now,
            stopped_at=now,
            jobs_processed=processed,
            jobs_failed=failed,
            current_job_uuid=None,
        )


def signal_restart() -> float:
    """``queue:restart``: every worker started before now stops after its current job."""
    now = time.time()
    QueueSignal.objects.update_or_create(name=RESTART, defaults={"value": now})
    return now


def restart_requested_since(started_at: float) -> bool:
    value = QueueSignal.objects.filter(name=RESTART).values_list("value", flat=True).first()
    return value is not None and value > started_at


def alive(within: float = ALIVE_WITHIN) -> list[WorkerRow]:
    """Workers that beat within ``within`` seconds and have not stopped, by name."""
    since = timezone.now() - timedelta(seconds=within)
    return list(
        WorkerRow.objects.filter(last_heartbeat_at__gte=since).exclude(status=Status.STOPPED).order_by("name")
    )
