"""The backlog in the ``jobs`` table (SQLite, PostgreSQL, MariaDB/MySQL).

Listing and counting are ORM queries over the same rows the workers reserve; the only
index they can lean on is the reservation index ``(queue, available_at, id)`` -- no other
is added, because every index is written by each push, reserve and acknowledgement.
Searches are substring scans of the payload, bounded by ``LIMIT`` (a page, or the count's
cap), so they stay fast where matches are common and cost one scan where they are rare.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.db import connections
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from zwm.queue.backlog.base import Backlog, BacklogFilter, PendingJob, State, check_page
from zwm.queue.counting import COUNT_CAP, CappedCount, capped_count
from zwm.queue.drivers import database_pg as pg
from zwm.queue.drivers.base import check_queue_names
from zwm.queue.drivers.database import DatabaseDriver, _decode
from zwm.queue.models import PausedQueue
from zwm.queue.models import QueuedJob as JobRow


def _state_of(row: JobRow, now: float) -> State:
    if row.lease_token and (row.lease_expires_at or 0) > now:
        return State.RESERVED
    return State.WAITING if row.available_at <= now else State.DELAYED


def _in_state(state: State, now: float) -> Q:
    leased = Q(lease_token__isnull=False, lease_expires_at__gt=now)
    if state is State.RESERVED:
        return leased
    if state is State.WAITING:
        return Q(available_at__lte=now) & ~leased
    return Q(available_at__gt=now) & ~leased


class DatabaseBacklog(Backlog):
    driver: DatabaseDriver

    def __init__(self, driver: DatabaseDriver) -> None:
        self.driver = driver
        self.using = driver.using

    def _rows(self, where: BacklogFilter, now: float) -> QuerySet[JobRow]:
        rows = JobRow.objects.using(self.using).all()
        if where.queue is not None:
            rows = rows.filter(queue=where.queue)
        if where.job_class is not None:
            rows = rows.filter(job_class=where.job_class)
        if where.state is not None:
            rows = rows.filter(_in_state(where.state, now))
        if where.search is not None:
            rows = rows.filter(payload__icontains=where.search)
        return rows

    def _pending(self, row: JobRow, now: float) -> PendingJob:
        state = _state_of(row, now)
        return PendingJob(
            envelope=_decode(row.uuid, row.queue, row.job_class, row.payload, row.attempts),
            state=state,
            available_at=row.available_at,
            reserved_at=row.reserved_at if state is State.RESERVED else None,
        )

    def jobs(self, where: BacklogFilter, *, limit: int = 50, offset: int = 0) -> list[PendingJob]:
        check_page(limit, offset)
        now = time.time()
        rows = self._rows(where, now).order_by("id")[offset : offset + limit]
        return [self._pending(row, now) for row in rows]

    def count(self, where: BacklogFilter, *, cap: int = COUNT_CAP) -> CappedCount:
        return capped_count(self._rows(where, time.time()), cap)

    def get(self, job_id: str) -> PendingJob | None:
        row = JobRow.objects.using(self.using).filter(uuid=job_id).first()
        return None if row is None else self._pending(row, time.time())

    def run_now(self, job_id: str) -> bool:
        now = time.time()
        moved = (
            JobRow.objects.using(self.using)
            .filter(_in_state(State.DELAYED, now), uuid=job_id)
            .update(available_at=now, lease_token=None, lease_expires_at=None, reserved_at=None)
        )
        if moved and connections[self.using].vendor == "postgresql":
            queue = JobRow.objects.using(self.using).filter(uuid=job_id).values_list("queue", flat=True)
            with connections[self.using].cursor() as cursor:  # wake a worker sleeping until later
                cursor.execute(pg.NOTIFY, [pg.CHANNEL, list(queue)])
        return moved == 1

    def oldest_available(self, queues: Sequence[str]) -> dict[str, float]:
        check_queue_names(queues)
        now = time.time()
        oldest: dict[str, float] = {}
        for queue in queues:  # one index range per queue: (queue, available_at) answers it
            since = (
                JobRow.objects.using(self.using)
                .filter(queue=queue, available_at__lte=now)
                .aggregate(since=Min("available_at"))["since"]
            )
            if since is not None:
                oldest[queue] = since
        return oldest

    def paused(self) -> set[str]:
        return set(PausedQueue.objects.using(self.using).values_list("name", flat=True))

    def pause(self, queue: str) -> bool:
        check_queue_names([queue])
        _, created = PausedQueue.objects.using(self.using).get_or_create(
            name=queue, defaults={"paused_at": timezone.now()}
        )
        return created

    def resume(self, queue: str) -> bool:
        check_queue_names([queue])
        deleted, _ = PausedQueue.objects.using(self.using).filter(name=queue).delete()
        return deleted > 0
