"""Cron for jobs, safe to run on any number of hosts at once.

An entry says "dispatch this job on this cron expression". Each time an entry comes due,
a scheduler *claims* the slot by inserting the row ``(entry name, slot time)`` into
``job_schedule_runs``, whose pair is unique, and dispatches the job in the same
transaction when the job's queue is the database. A second scheduler that reaches the same
slot loses the insert and does nothing -- so there is no leader to elect and no double fire
(Celery beat's well-known trap), and a scheduler restarted a few minutes late still fires
the slot it missed (within ``catch_up`` seconds; older slots are skipped and logged, never
fired in a burst). When the job goes to another store (Redis), the two cannot commit
together: the claim commits first, with the slot's job id (derived from the entry and the
slot, so every scheduler names it alike) and ``pushed`` false; the push follows, and is
deduplicated by that id on the queue's side for :data:`DISPATCH_KEEP` -- even after the
job ran -- and then the claim is confirmed. A claim left unconfirmed for
:data:`UNCONFIRMED_AFTER` seconds (a scheduler killed between its claim and its push, or a
push that met an outage) is pushed again at any scheduler's next tick: every slot fires
once, never zero times, never twice.

Entries come from the Django setting ``ZWM_SCHEDULE``: a list of mappings with ``name``,
``cron``, ``job`` (dotted path of a :class:`~zwm.queue.job.Job` class), and optionally
``args``, ``queue``, ``catch_up``, ``timezone`` (the cron's, an IANA name; UTC by default)
and ``without_overlapping`` (skip a slot while the previous slot's job still waits or
runs). The queue never knows what the jobs do.

A bad cron expression or time zone stops the scheduler at start-up with the entry named.
An entry whose job cannot be built -- its class vanished in an upgrade, its arguments no
longer fit -- is kept with its :attr:`~ScheduleEntry.problem`, listed by ``schedule:list``
and skipped, so the other entries keep running.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, croniter
from django.conf import settings
from django.db import IntegrityError, transaction

from zwm.queue.dispatch import connection_of, dispatch, dispatch_once
from zwm.queue.job import Job, PayloadError, load_job_class
from zwm.queue.models import FailedJob, JobExecution, QueueSignal, ScheduledRun

log = logging.getLogger(__name__)


class ScheduleError(ValueError):
    """An entry of ``ZWM_SCHEDULE`` is malformed (the message names the entry)."""


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    cron: str
    job: str
    args: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    catch_up: float = 300.0
    """A slot missed by at most this many seconds (scheduler down, restarted) still fires."""
    timezone: str = "UTC"
    """The time zone the cron expression is read in ("0 9 * * *" at 09:00 there, DST included)."""
    without_overlapping: bool = False
    """Skip a slot while the job of the previous slot still waits or runs (for at most
    :data:`OVERLAP_EXPIRES`: a job lost with its queue must not block the entry for ever).
    For jobs that are not unique: a unique job never overlaps itself anyway."""
    problem: str | None = field(default=None, init=False, compare=False)
    """Why the job cannot be built (set at load): the entry is listed with it and skipped."""

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 100:
            raise ScheduleError(f"schedule entry name must be 1-100 characters, got {self.name!r}")
        if not croniter.is_valid(self.cron):
            raise ScheduleError(f"schedule entry {self.name!r}: invalid cron expression {self.cron!r}")
        if self.catch_up < 0:
            raise ScheduleError(f"schedule entry {self.name!r}: catch_up must be >= 0")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(
                f"schedule entry {self.name!r}: unknown time zone {self.timezone!r}"
            ) from None
        try:
            self.build()
        except (PayloadError, TypeError) as exc:
            object.__setattr__(self, "problem", str(exc))
            log.error("schedule entry %r will be skipped: %s", self.name, exc)

    def build(self) -> Job:
        """The job this entry dispatches (``PayloadError``/``TypeError`` if it cannot be built)."""
        return load_job_class(self.job).from_arguments(self.args)

    def previous_slot(self, now: float) -> float:
        """The latest slot at or before ``now`` (epoch seconds)."""
        return float(croniter(self.cron, self._local(now + 1e-6)).get_prev(float))

    def next_slot(self, now: float) -> float:
        return float(croniter(self.cron, self._local(now)).get_next(float))

    def _local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, ZoneInfo(self.timezone))


OVERLAP_EXPIRES = timedelta(hours=24)
"""How long ``without_overlapping`` waits at most for a previous slot's job (Laravel's default)."""


def load_entries(raw: Sequence[Mapping[str, Any]] | None = None) -> list[ScheduleEntry]:
    """Parse ``ZWM_SCHEDULE`` (or ``raw``); a malformed entry is a :class:`ScheduleError`."""
    items = settings.ZWM_SCHEDULE if raw is None else raw
    entries: list[ScheduleEntry] = []
    for item in items:
        try:
            entries.append(ScheduleEntry(**item))
        except TypeError as exc:
            raise ScheduleError(f"schedule entry {item.get('name')!r} is malformed: {exc}") from None
        except CroniterBadCronError as exc:
            raise ScheduleError(f"schedule entry {item.get('name')!r}: {exc}") from None
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ScheduleError("schedule entry names must be unique")
    return entries


DISPATCH_KEEP = 2 * 86_400.0
"""Seconds the queue (Redis) refuses a second push of a slot's job id: longer than
:data:`REPUSH_WITHIN`, so no re-push can find the marker gone."""
UNCONFIRMED_AFTER = 5.0
"""Seconds after which a claim whose push is not confirmed is pushed again. Long enough
for a push in progress to finish (a second push would be refused anyway)."""
REPUSH_WITHIN = timedelta(days=1)
"""How far back unconfirmed claims are pushed again (a scheduler down longer than that
after its crash leaves the claim to the operator, as a slot missed beyond ``catch_up``)."""
_SLOT_IDS = uuid.UUID("5b1f3a9e-6c2d-4e8a-9f0b-7d4c2e1a8b36")
"""Namespace of the slots' job ids (uuid5 of entry name and slot)."""


def slot_job_id(name: str, slot_at: datetime) -> str:
    """The job id of an entry's slot: the same in every scheduler, so a repeated push of a
    slot is recognised as one job by the queue."""
    return uuid.uuid5(_SLOT_IDS, f"{name}@{slot_at.isoformat()}").hex


def fire_due(entries: Sequence[ScheduleEntry], now: float | None = None) -> list[ScheduledRun]:
    """Claim and dispatch every entry whose latest slot has not fired yet (after pushing again
    the jobs of claims left unconfirmed). Returns the runs fired."""
    repush_unconfirmed(entries)
    now = time.time() if now is None else now
    fired: list[ScheduledRun] = []
    for entry in entries:
        if entry.problem is not None:
            continue  # reported at load and by schedule:list; the other entries run
        slot = entry.previous_slot(now)
        slot_at = datetime.fromtimestamp(slot, UTC)
        if ScheduledRun.objects.filter(name=entry.name, scheduled_for=slot_at).exists():
            continue
        if now - slot > entry.catch_up:
            log.debug(
                "schedule %s: slot %s missed by more than %ss, skipped", entry.name, slot_at, entry.catch_up
            )
            continue
        if entry.without_overlapping and (pending := _pending_job(entry, slot_at)):
            _skip_overlapping(entry, slot_at, pending)
            continue
        run = _claim_and_dispatch(entry, slot_at)
        if run is not None:
            fired.append(run)
    return fired


def _pending_job(entry: ScheduleEntry, slot_at: datetime) -> str | None:
    """The previous slot's job id while it still waits or runs, else ``None``."""
    previous = (
        ScheduledRun.objects.filter(
            name=entry.name, scheduled_for__lt=slot_at, fired_at__gte=slot_at - OVERLAP_EXPIRES
        )
        .exclude(job_id="")
        .order_by("-scheduled_for")
        .first()
    )
    if previous is None:
        return None
    return previous.job_id if _job_states([previous.job_id])[previous.job_id] not in FINISHED else None


def _skip_overlapping(entry: ScheduleEntry, slot_at: datetime, pending: str) -> None:
    """Record the slot as fired with no job, so it is skipped once, not fired late."""
    try:
        ScheduledRun.objects.create(name=entry.name, scheduled_for=slot_at)
    except IntegrityError:
        return  # another scheduler decided this slot
    log.info(
        "schedule %s: slot %s skipped, job %s of the previous slot still waits or runs",
        entry.name,
        slot_at.isoformat(),
        pending,
    )


def _claim_and_dispatch(entry: ScheduleEntry, slot_at: datetime) -> ScheduledRun | None:
    job = entry.build()
    try:
        run = _claimed(entry, job, slot_at)
    except IntegrityError:
        return None  # another scheduler claimed this slot first
    log.info("schedule %s: dispatched %s for %s", entry.name, entry.job, slot_at.isoformat())
    return run


def last_runs(entries: Sequence[ScheduleEntry]) -> dict[str, ScheduledRun]:
    latest: dict[str, ScheduledRun] = {}
    for entry in entries:
        run = ScheduledRun.objects.filter(name=entry.name).order_by("-scheduled_for").first()
        if run is not None:
            latest[entry.name] = run
    return latest


@dataclass(frozen=True)
class EntryStatus:
    """An entry as the dashboard's Schedule page shows it."""

    entry: ScheduleEntry
    next_at: datetime
    last_run: ScheduledRun | None
    last_status: str | None
    """The last run's job: an execution status, ``failed`` for good, ``queued``, or unknown."""


FINISHED = (JobExecution.Status.SUCCEEDED, "failed")
"""Job states after which a job will not run again (see :func:`_job_states`)."""


def _job_states(job_ids: Sequence[str]) -> dict[str, str]:
    """Each job's state: ``failed`` for good, else its latest execution's status, else ``queued``."""
    latest: dict[str, str] = {}
    for job_uuid, outcome in (
        JobExecution.objects.filter(job_uuid__in=job_ids).order_by("id").values_list("job_uuid", "status")
    ):
        latest[job_uuid] = outcome
    failed = set(FailedJob.objects.filter(uuid__in=job_ids).values_list("uuid", flat=True))
    return {job: "failed" if job in failed else latest.get(job, "queued") for job in job_ids}


def status(entries: Sequence[ScheduleEntry], now: float | None = None) -> list[EntryStatus]:
    now = time.time() if now is None else now
    runs = last_runs(entries)
    states = _job_states([run.job_id for run in runs.values() if run.job_id])
    out = []
    for entry in entries:
        run = runs.get(entry.name)
        state = states.get(run.job_id) if run is not None and run.job_id else None
        out.append(EntryStatus(entry, datetime.fromtimestamp(entry.next_slot(now), UTC), run, state))
    return out


def run_now(entry: ScheduleEntry) -> ScheduledRun:
    """Dispatch ``entry``'s job now, outside its cron slots, recorded as its latest run."""
    if entry.problem is not None:
        raise ScheduleError(f"schedule entry {entry.name!r} cannot run: {entry.problem}")
    run = _claimed(entry, entry.build(), datetime.now(UTC))
    log.info("schedule %s: dispatched %s on request", entry.name, entry.job)
    return run


def _claimed(entry: ScheduleEntry, job: Job, slot_at: datetime) -> ScheduledRun:
    """Claim the slot and dispatch its job (see the module docstring); ``IntegrityError``
    when another scheduler holds the claim."""
    if connection_of(job) == "database":  # the claim and the job commit together
        with transaction.atomic():
            run = ScheduledRun.objects.create(name=entry.name, scheduled_for=slot_at)
            run.job_id = dispatch(job, queue=entry.queue, after_commit=False) or ""
            run.save(update_fields=["job_id"])
        return run
    run = ScheduledRun.objects.create(
        name=entry.name, scheduled_for=slot_at, job_id=slot_job_id(entry.name, slot_at), pushed=False
    )
    _push(entry, job, run)
    return run


def _push(entry: ScheduleEntry, job: Job, run: ScheduledRun) -> None:
    """Push the job of an unconfirmed claim (refused by the queue if it was pushed before)
    and confirm the claim. An error leaves the claim unconfirmed, to be pushed again."""
    pushed = dispatch_once(job, run.job_id, queue=entry.queue, keep=DISPATCH_KEEP)
    run.job_id, run.pushed = pushed or "", True
    run.save(update_fields=["job_id", "pushed"])


def repush_unconfirmed(entries: Sequence[ScheduleEntry]) -> None:
    """Push again the jobs of claims unconfirmed for :data:`UNCONFIRMED_AFTER` seconds. Any
    number of schedulers may do it at once: the queue takes each job once."""
    by_name = {entry.name: entry for entry in entries if entry.problem is None}
    now = datetime.now(UTC)
    stale = ScheduledRun.objects.filter(
        pushed=False,
        fired_at__lt=now - timedelta(seconds=UNCONFIRMED_AFTER),
        fired_at__gte=now - REPUSH_WITHIN,
        name__in=list(by_name),
    )
    for run in stale:
        entry = by_name[run.name]
        _push(entry, entry.build(), run)
        log.warning(
            "schedule %s: pushed the job of slot %s again (its push was not confirmed)",
            entry.name,
            run.scheduled_for.isoformat(),
        )


HEARTBEAT = "scheduler"
"""The ``job_signals`` row a running scheduler keeps fresh (epoch seconds of its last beat)."""
HEARTBEAT_EVERY = 10.0


def beat() -> None:
    """Say "a scheduler is alive": for ``zwm health`` and the dashboard."""
    QueueSignal.objects.update_or_create(name=HEARTBEAT, defaults={"value": time.time()})


def last_beat() -> float | None:
    """Epoch seconds of the latest scheduler heartbeat, any host; ``None`` if none ever ran."""
    return QueueSignal.objects.filter(name=HEARTBEAT).values_list("value", flat=True).first()


def run_forever(
    entries: Sequence[ScheduleEntry],
    *,
    should_stop: Callable[[], bool],
    tick: float = 1.0,
) -> None:
    """Fire due entries until ``should_stop()``; wakes at most every ``tick`` seconds, and
    beats every :data:`HEARTBEAT_EVERY` seconds."""
    beaten = -HEARTBEAT_EVERY
    while not should_stop():
        try:
            if time.monotonic() - beaten >= HEARTBEAT_EVERY:
                beat()
                beaten = time.monotonic()
            fire_due(entries)
        except Exception:  # a database hiccup must not kill the scheduler
            log.exception("schedule: firing due entries failed; retrying")
        now = time.time()
        next_due = min((e.next_slot(now) for e in entries), default=now + tick)
        time.sleep(max(0.05, min(tick, next_due - now)))


def prune(hours: float) -> int:
    """Delete schedule-run records older than ``hours``."""
    cutoff = datetime.fromtimestamp(time.time() - hours * 3600, UTC)
    deleted, _ = ScheduledRun.objects.filter(scheduled_for__lt=cutoff).delete()
    return deleted
