"""Putting jobs on a queue: one, many, after commit, or now.

``after_commit`` (default ``QUEUE_AFTER_COMMIT``) defers the enqueue to
``transaction.on_commit`` of the default database when called inside ``atomic()``: a worker
can never pick up a job before the rows it refers to are visible, and a job whose
transaction rolls back is never queued. Outside a transaction the job is queued at once.

Unique jobs (:meth:`Job.unique_key`) take their lock at the moment they are queued. When
the enqueue is deferred, so is the lock -- a lock taken inside a transaction that then
rolls back would otherwise block the key until it expires -- so ``dispatch`` returns the
job's id and a duplicate found at commit time is dropped then (and logged).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial

from django.db import transaction

from zwm.config import get_config
from zwm.queue.connections import check_connection, get_driver
from zwm.queue.job import Envelope, Job

log = logging.getLogger(__name__)

Delay = float | int | timedelta | datetime


class _When:
    """A delay resolved to an absolute epoch time when the job is actually queued.

    Relative delays count from the enqueue (so from the commit when deferred); an aware
    datetime is absolute. A datetime in the past means "now" -- it is a computed deadline
    that already passed, not a mistake -- but a negative relative delay is an error.
    """

    def __init__(self, delay: Delay) -> None:
        self.absolute: float | None = None
        self.relative = 0.0
        if isinstance(delay, datetime):
            if delay.tzinfo is None or delay.utcoffset() is None:
                raise ValueError("delay datetime must be timezone-aware")
            self.absolute = delay.timestamp()
            return
        if isinstance(delay, timedelta):
            seconds = delay.total_seconds()
        elif isinstance(delay, bool) or not isinstance(delay, int | float):
            raise TypeError(f"delay must be seconds, a timedelta or an aware datetime, got {delay!r}")
        else:
            seconds = float(delay)
        if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
            raise ValueError(f"delay must be a non-negative finite number of seconds, got {delay!r}")
        self.relative = seconds

    def available_at(self) -> float | None:
        """Epoch seconds, or ``None`` for "now" (the driver's own clock)."""
        if self.absolute is not None:
            return self.absolute if self.absolute > time.time() else None
        return time.time() + self.relative if self.relative > 0 else None

    def lock_ttl(self, job: Job) -> float:
        at = self.available_at()
        wait = 0.0 if at is None else at - time.time()
        return wait + type(job).unique_for


def connection_of(job: Job, connection: str | None = None) -> str:
    """The queue connection ``job`` goes to: ``connection``, else its class's, else the default."""
    return check_connection(connection or type(job).connection or get_config().queue_connection)


def _enqueue(
    pairs: Sequence[tuple[Job, Envelope]], connection: str, when: _When, *, keep: float = 0.0
) -> list[str | None]:
    """Take unique locks, then push every kept job in one call (deduplicated by id for
    ``keep`` seconds if ``keep``: see :meth:`Driver.push_once`); a failed push frees the locks."""
    driver = get_driver(connection)
    ids: list[str | None] = []
    kept: list[Envelope] = []
    locked: list[Envelope] = []
    for job, envelope in pairs:
        if envelope.unique_key is not None:
            if not driver.acquire_unique(envelope.unique_key, envelope.id, when.lock_ttl(job)):
                log.info("dropped %s: unique key %r is held", envelope.job, envelope.unique_key)
                ids.append(None)
                continue
            locked.append(envelope)
        kept.append(envelope)
        ids.append(envelope.id)
    if not kept:
        return ids
    try:
        if keep:
            driver.push_once(kept, keep=keep)
        else:
            driver.push(kept, available_at=when.available_at())
    except BaseException:
        for envelope in locked:
            driver.release_unique(envelope.unique_key or "", envelope.id)
        raise
    return ids


def dispatch_many(
    jobs: Iterable[Job],
    *,
    queue: str | None = None,
    delay: Delay = 0,
    connection: str | None = None,
    after_commit: bool | None = None,
) -> list[str | None]:
    """Queue many jobs in bulk (one push per connection); ids in order, ``None`` for dropped.

    Everything is validated before anything is queued: one bad job (unknown connection,
    arguments that are not JSON) raises and queues none of them.
    """
    when = _When(delay)
    groups: dict[str, list[tuple[Job, Envelope]]] = {}
    order: list[tuple[str, int]] = []
    for job in jobs:
        if not isinstance(job, Job):
            raise TypeError(f"not a Job: {job!r}")
        name = connection_of(job, connection)
        group = groups.setdefault(name, [])
        order.append((name, len(group)))
        group.append((job, Envelope.for_job(job, queue=queue)))
    defer = get_config().queue_after_commit if after_commit is None else after_commit
    if defer and transaction.get_connection().in_atomic_block:
        for name, pairs in groups.items():
            transaction.on_commit(partial(_enqueue, pairs, name, when))
        return [groups[name][index][1].id for name, index in order]
    results = {name: _enqueue(pairs, name, when) for name, pairs in groups.items()}
    return [results[name][index] for name, index in order]


def dispatch(
    job: Job,
    *,
    queue: str | None = None,
    delay: Delay = 0,
    connection: str | None = None,
    after_commit: bool | None = None,
) -> str | None:
    """Queue one job; its id, or ``None`` when a unique job was dropped as a duplicate.

    ``delay``: seconds, a ``timedelta`` or an aware ``datetime``. ``connection`` overrides
    the job class's and ``QUEUE_CONNECTION``. See the module docstring for ``after_commit``.
    """
    return dispatch_many([job], queue=queue, delay=delay, connection=connection, after_commit=after_commit)[0]


def dispatch_once(job: Job, job_id: str, *, queue: str | None, keep: float) -> str | None:
    """Queue ``job`` now under ``job_id``, once: the same id dispatched again within ``keep``
    seconds queues nothing, even after the first one ran (:meth:`Driver.push_once`). For a
    caller that may repeat a dispatch it cannot tell landed (the scheduler, after a crash).
    Never deferred to a commit: the caller records that it pushed. ``None`` when a unique
    job was dropped as a duplicate."""
    envelope = dataclasses.replace(Envelope.for_job(job, queue=queue), id=job_id)
    return _enqueue([(job, envelope)], connection_of(job), _When(0), keep=keep)[0]


def dispatch_now(job: Job) -> str:
    """Run ``job`` in this process, now, with the worker's failure recording; its id."""
    from zwm.queue.inprocess import run_now  # needs the models: imported once Django is set up

    return run_now(job)
