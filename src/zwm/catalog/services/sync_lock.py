"""One sync per customer at a time, across every process and entry point: a lock row.

Why here and not in the queue: a sync is reached from the queue (a job, or a member of the
"sync all" batch), from ``zwm sync-workflows --sync`` in any shell, and from tests or
scripts calling :func:`zwm.catalog.services.sync.sync_customer` -- the queue's unique lock
sees only the first. Two syncs of one customer at once raced on the same rows (the
second failed with ``UNIQUE constraint failed``). So :func:`sync_customer` takes this lock,
whoever calls it.

The lock is a row of ``catalog_sync_locks`` keyed by the customer: inserting it is taking
it (the primary key makes that exclusive on every backend), deleting it releases it. It
expires when the sync's own deadline (``ZWM_SYNC_DEADLINE``) has passed, plus a margin: a
sync stops itself by then, so an expired row can only belong to a process that died -- the
next sync takes it over and closes that process's run as failed, so no run stays running.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from zwm.catalog.models import Customer, SyncLock, SyncRun

POLL_SECONDS = 0.2
EXPIRY_MARGIN = 60.0
"""Seconds a lock outlives its sync's deadline: time to record the run's end."""


class SyncAlreadyRunning(Exception):
    """Another sync of the customer held the lock for longer than we were willing to wait."""

    def __init__(self, customer: Customer, run_id: int | None) -> None:
        self.run_id = run_id
        running = f"run {run_id}" if run_id is not None else "starting"
        super().__init__(f"skipped: a sync of {customer.name} is running ({running})")


@dataclass
class HeldLock:
    """The lock a sync holds: :meth:`attach` records which run holds it."""

    customer: Customer
    owner: str

    def attach(self, run: SyncRun) -> None:
        SyncLock.objects.filter(customer=self.customer, owner=self.owner).update(run=run)


@contextmanager
def sync_lock(customer: Customer, *, lifetime: float, wait: float) -> Iterator[HeldLock]:
    """Hold the customer's sync lock for the block; wait up to ``wait`` seconds for it, then
    raise :class:`SyncAlreadyRunning` naming the run that holds it. ``lifetime`` is the most
    the block may last (the sync's deadline)."""
    owner = uuid.uuid4().hex
    give_up = time.monotonic() + wait
    while not _try_take(customer, owner, lifetime + EXPIRY_MARGIN):
        if time.monotonic() >= give_up:
            holder = SyncLock.objects.filter(customer=customer).values_list("run_id", flat=True).first()
            raise SyncAlreadyRunning(customer, holder)
        time.sleep(POLL_SECONDS)
    try:
        yield HeldLock(customer, owner)
    finally:
        SyncLock.objects.filter(customer=customer, owner=owner).delete()


def _try_take(customer: Customer, owner: str, lifetime: float) -> bool:
    now = time.time()
    _take_over_expired(customer, now)
    try:
        with transaction.atomic():
            SyncLock.objects.create(customer=customer, owner=owner, expires_at=now + lifetime)
    except IntegrityError:
        return False
    return True


def _take_over_expired(customer: Customer, now: float) -> None:
    """Free a lock whose process died, closing its run as failed."""
    expired = SyncLock.objects.filter(customer=customer, expires_at__lt=now)
    for lock in expired:
        if lock.run_id is not None:
            SyncRun.objects.filter(pk=lock.run_id, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error="interrupted: its process stopped before it finished",
            )
        SyncLock.objects.filter(pk=lock.pk, owner=lock.owner).delete()
