"""What is wrong right now. Each finder returns the problems it sees; a problem that is not
returned any more has cleared.

The kinds, from the issue: a job class failing for good, a customer's sync failing (with
its reason), a queue whose oldest waiting job is too old, no worker heartbeat, a customer
that has not synced successfully for too long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.utils import timezone

from zwm.catalog.models import Customer
from zwm.config import Config
from zwm.ops.backlog import oldest_waiting_ages
from zwm.queue.models import FailedJob, JobExecution, QueuedJob, Worker

DETAIL_LIMIT = 600
"""Characters of an exception message quoted in an alert."""
SILENT_JOBS = ("zwm.ops.jobs.DeliverAlert",)
"""Job classes whose failures are not alerted on: a delivery that failed for good is
already logged, and alerting about it would send through the channel that just failed."""


@dataclass(frozen=True)
class Problem:
    key: str
    kind: str
    title: str
    detail: str


def _short(text: str) -> str:
    text = text.strip()
    return text if len(text) <= DETAIL_LIMIT else text[: DETAIL_LIMIT - 1] + "…"


def failing_jobs(config: Config, now: datetime) -> list[Problem]:
    """A class with a job that failed for good within the window and no success since."""
    since = now - timedelta(seconds=config.alert_window)
    recent = (
        FailedJob.objects.filter(failed_at__gte=since)
        .exclude(job_class__in=SILENT_JOBS)
        .values("job_class")
        .order_by()
        .annotate(n=Count("id"), last=Max("failed_at"))
    )
    problems = []
    for row in recent:
        job_class, last = row["job_class"], row["last"]
        succeeded_since = JobExecution.objects.filter(
            job_class=job_class, status=JobExecution.Status.SUCCEEDED, finished_at__gt=last
        ).exists()
        if succeeded_since:
            continue
        latest = FailedJob.objects.filter(job_class=job_class, failed_at=last).order_by("-id").first()
        assert latest is not None
        problems.append(
            Problem(
                key=f"job-failed:{job_class}",
                kind="job_failed",
                title=(
                    f"{job_class.rsplit('.', 1)[-1]} failed "
                    f"({row['n']} in the last {config.alert_window / 60:g} min)"
                ),
                detail=(
                    f"Job class {job_class}, queue {latest.queue}, latest job {latest.uuid} at "
                    f"{latest.failed_at:%Y-%m-%d %H:%M:%S} UTC.\n"
                    f"{latest.exception_type.rsplit('.', 1)[-1]}: {_short(latest.exception_message)}\n"
                    f"Retry with: zwm queue:retry {latest.uuid}"
                ),
            )
        )
    return problems


def failing_syncs(config: Config, now: datetime) -> list[Problem]:
    """An active customer whose latest sync failed; the reason is the sync's own description
    (refused credentials, denied permission, Zuora unavailable, rate limited...)."""
    return [
        Problem(
            key=f"sync-failed:{customer.pk}",
            kind="sync_failed",
            title=f"Sync of customer {customer.name} failed",
            detail=_short(customer.last_sync_error or "no reason recorded"),
        )
        for customer in Customer.objects.filter(active=True, last_sync_status="failed").order_by("name")
    ]


def backed_up_queues(config: Config, now: datetime) -> list[Problem]:
    if config.queue_connection == "sync":
        return []
    return [
        Problem(
            key=f"backlog:{queue}",
            kind="backlog",
            title=f"Queue {queue} is backed up",
            detail=(
                f"Its oldest waiting job has waited {age / 60:.0f} min "
                f"(threshold {config.alert_backlog_age / 60:g} min). Are workers running on it? "
                "Is it paused?"
            ),
        )
        for queue, age in oldest_waiting_ages().items()
        if age > config.alert_backlog_age
    ]


def silent_workers(config: Config, now: datetime) -> list[Problem]:
    """No heartbeat for a while, on an installation that has had workers or has jobs waiting."""
    if config.queue_connection == "sync":
        return []
    since = now - timedelta(seconds=config.alert_worker_silence)
    if Worker.objects.filter(last_heartbeat_at__gte=since).exclude(status=Worker.Status.STOPPED).exists():
        return []
    if not Worker.objects.exists() and not QueuedJob.objects.exists():
        return []  # a fresh installation, nothing to do yet
    last = Worker.objects.aggregate(last=Max("last_heartbeat_at"))["last"]
    seen = f"last heartbeat {last:%Y-%m-%d %H:%M:%S} UTC" if last else "no worker has ever started"
    return [
        Problem(
            key="workers-silent",
            kind="workers_silent",
            title="No worker is running",
            detail=(
                f"No worker heartbeat for {config.alert_worker_silence / 60:g} min ({seen}). "
                "Jobs are not being processed."
            ),
        )
    ]


def stale_customers(config: Config, now: datetime) -> list[Problem]:
    cutoff = now - timedelta(seconds=config.alert_sync_stale)
    problems = []
    for customer in Customer.objects.filter(active=True).order_by("name"):
        last_good = customer.last_synced_at or customer.created_at
        if last_good >= cutoff:
            continue
        since = (
            f"last successful sync {customer.last_synced_at:%Y-%m-%d %H:%M} UTC"
            if customer.last_synced_at
            else "never synced successfully"
        )
        problems.append(
            Problem(
                key=f"sync-stale:{customer.pk}",
                kind="sync_stale",
                title=f"Customer {customer.name} has not synced for {config.alert_sync_stale / 3600:g} h",
                detail=f"{since}. Is the scheduler running?",
            )
        )
    return problems


FINDERS: tuple[Callable[[Config, datetime], list[Problem]], ...] = (
    failing_jobs,
    failing_syncs,
    backed_up_queues,
    silent_workers,
    stale_customers,
)


def find(config: Config, now: datetime | None = None) -> list[Problem]:
    now = now or timezone.now()
    return [problem for finder in FINDERS for problem in finder(config, now)]
