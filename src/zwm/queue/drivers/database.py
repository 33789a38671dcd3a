"""The database driver: jobs in the ``jobs`` table of a Django database.

Works on SQLite, PostgreSQL and MariaDB >= 10.6 / MySQL 8, safe with many workers on many
hosts:

* **Reservation** picks the oldest available jobs of a queue and leases them in one
  transaction. PostgreSQL does it in one statement (``FOR UPDATE SKIP LOCKED`` inside an
  ``UPDATE``, see :mod:`.database_pg`); MariaDB/MySQL ``SELECT ... FOR UPDATE SKIP LOCKED``
  then ``UPDATE`` in one transaction; SQLite runs the same two statements in a
  ``BEGIN IMMEDIATE`` transaction (the settings' ``transaction_mode``), which makes SQLite's
  single writer the lock -- no two workers can pick the same row.
* **Leases** are stored as ``available_at = lease end``: a job whose worker died becomes
  available again when its lease lapses, through the same index as fresh jobs, and its next
  reservation counts an attempt and issues a new token.
* **Fencing**: complete, release and extend match ``(uuid, lease_token)``; a worker whose
  lease was taken over changes nothing.
* **Wake-ups**: PostgreSQL uses LISTEN/NOTIFY on a dedicated connection, so an idle worker
  starts a new job within milliseconds. SQLite and MariaDB/MySQL have no such channel, so
  :meth:`DatabaseDriver.wait` polls an index-only "anything available?" query, starting at
  ``poll_min`` and backing off to ``poll_max`` (5 ms to 250 ms by default): a burst after
  idleness is picked up within a poll interval, and an idle worker costs about four cheap
  queries a second.

Every time the driver stores or compares is on the database server's clock
(:mod:`.clock`), so a host whose clock runs ahead cannot steal live leases.

Writes use the caller's Django connection for ``using``: a job pushed inside
``transaction.atomic()`` (with ``after_commit=False``) is enqueued atomically with the data
it refers to.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import TypeVar

import psycopg
from django.db import OperationalError, connections, transaction
from django.db.models import Count, Q

from zwm.queue.drivers import database_pg as pg
from zwm.queue.drivers.base import (
    Driver,
    QueueCounts,
    QueuedJob,
    Reservation,
    check_queue_names,
    check_reserve_arguments,
)
from zwm.queue.drivers.clock import ServerClock
from zwm.queue.job import Envelope, PayloadError
from zwm.queue.models import QueuedJob as JobRow
from zwm.queue.models import UniqueLock

T = TypeVar("T")

# Portable SQL of the hot paths (SQLite, MariaDB/MySQL; PostgreSQL has its own in
# database_pg). Raw because the ORM's per-query overhead (~1 ms here) would dominate them.
_INSERT = (
    "INSERT INTO jobs (uuid, queue, job_class, payload, attempts, available_at, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_PICK = (
    "SELECT id, uuid, queue, job_class, payload, attempts, recoveries, lease_token FROM jobs"
    " WHERE queue = %s AND available_at <= %s ORDER BY available_at, id LIMIT %s"
)
# A row still carrying a lease token is one whose lease lapsed: a recovery, not a new try.
# (MySQL evaluates SET left to right, so lease_token is read before it is overwritten.)
_LEASE = (
    "UPDATE jobs SET attempts = attempts + (CASE WHEN lease_token IS NULL THEN 1 ELSE 0 END),"
    " recoveries = recoveries + (CASE WHEN lease_token IS NULL THEN 0 ELSE 1 END),"
    " reserved_at = %s, lease_token = %s, lease_expires_at = %s, available_at = %s WHERE id IN ({ids})"
)
_GIVE_BACK = (
    "UPDATE jobs SET attempts = attempts - 1, lease_token = NULL, reserved_at = NULL,"
    " lease_expires_at = NULL, available_at = (CASE WHEN created_at < %s THEN created_at ELSE %s END)"
    " WHERE uuid = %s AND lease_token = %s"
)
_COMPLETE = "DELETE FROM jobs WHERE uuid = %s AND lease_token = %s"
_COMPLETE_MANY = (  # `uuid IN` lets the unique index find the rows; the pairs check the fencing tokens
    "DELETE FROM jobs WHERE uuid IN ({uuids}) AND (uuid, lease_token) IN ({pairs}) RETURNING uuid"
)
_PUSH_CHUNK = 5000
_DEADLOCK_RETRIES = 5
_MYSQL_DEADLOCK_CODES = {1205, 1213}  # lock wait timeout, deadlock: the transaction was rolled back
_MAX_LOCK_KEY = 191


def _decode(
    uuid_: str, queue: str, job_class: str, payload: str, attempts: int, recoveries: int = 0
) -> Envelope:
    """The row's envelope, with the row (not the JSON) authoritative for id, queue, attempts
    and recoveries."""
    try:
        envelope = Envelope.from_json(payload)
    except PayloadError as exc:
        envelope = Envelope.undecodable(
            id=uuid_, queue=queue, job=job_class, attempts=attempts, raw=payload, reason=str(exc)
        )
    envelope.id, envelope.queue, envelope.attempts, envelope.recoveries = uuid_, queue, attempts, recoveries
    return envelope


def _lock_key(key: str) -> str:
    """Keys longer than the column are hashed: any key works, and equal keys stay equal."""
    if len(key) <= _MAX_LOCK_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseDriver(Driver):
    """Queue storage in a Django database (``using`` is the alias in ``settings.DATABASES``)."""

    def __init__(
        self,
        using: str = "default",
        name: str = "database",
        *,
        poll_min: float = 0.005,
        poll_max: float = 0.25,
    ) -> None:
        self.using = using
        self.name = name
        self.poll_min = poll_min
        self.poll_max = poll_max
        self._listeners = pg.Listeners(using)
        self.clock = ServerClock(using)
        """Every lease, delay and lock expiry is read on the database server's clock."""

    @property
    def _postgres(self) -> bool:
        return connections[self.using].vendor == "postgresql"

    def _retrying(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (one transaction), retrying it when InnoDB picks it as a deadlock victim.

        InnoDB can deadlock two transactions that lock rows through different indexes (a
        reservation scanning ``(queue, available_at)`` against an acknowledgement by
        ``uuid``) and rolls one back whole, so running it again is safe -- unless it was
        part of a caller's transaction, which only the caller can retry.
        """
        connection = connections[self.using]
        for attempt in range(_DEADLOCK_RETRIES):
            try:
                return operation()
            except OperationalError as exc:
                retryable = (
                    connection.vendor == "mysql"
                    and not connection.in_atomic_block
                    and exc.args[0] in _MYSQL_DEADLOCK_CODES
                    and attempt < _DEADLOCK_RETRIES - 1
                )
                if not retryable:
                    raise
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")

    # -- producing -------------------------------------------------------------

    def push(self, envelopes: Sequence[Envelope], *, available_at: float | None = None) -> None:
        check_queue_names([e.queue for e in envelopes])
        if available_at is not None and not math.isfinite(available_at):
            raise ValueError(f"available_at must be finite epoch seconds, got {available_at!r}")
        if not envelopes:
            return
        now = self.clock.now()
        # A caller's absolute time is on its own clock: moved onto the server's.
        at = now if available_at is None else available_at + self.clock.offset
        rows = [(e.id, e.queue, e.job, e.to_json(), e.attempts, at, now) for e in envelopes]
        with transaction.atomic(using=self.using):
            for start in range(0, len(rows), _PUSH_CHUNK):
                chunk = rows[start : start + _PUSH_CHUNK]
                if self._postgres:
                    pg.push(self.using, chunk)
                else:
                    with connections[self.using].cursor() as cursor:
                        cursor.executemany(_INSERT, chunk)

    # -- consuming -------------------------------------------------------------

    def reserve(self, queues: Sequence[str], *, lease: float, limit: int = 1) -> list[Reservation]:
        check_reserve_arguments(queues, lease, limit)
        now = self.clock.now()
        until = now + lease
        token = uuid.uuid4().hex
        rows: list[pg.Row] = []
        for queue in queues:  # strict priority: a lower queue only fills what is left
            if len(rows) >= limit:
                break
            take = self._reserve_from if not self._postgres else self._reserve_from_pg
            rows.extend(self._retrying(partial(take, queue, now, limit - len(rows), token, until)))
        return [
            Reservation(envelope=_decode(*row), token=token, lease_expires_at=until, reserved_at=now)
            for row in rows
        ]

    def _reserve_from_pg(self, queue: str, now: float, limit: int, token: str, until: float) -> list[pg.Row]:
        return pg.reserve(self.using, queue, now, limit, token, until)

    def _reserve_from(self, queue: str, now: float, limit: int, token: str, until: float) -> list[pg.Row]:
        """Pick then lease in one transaction (SKIP LOCKED on MariaDB/MySQL; SQLite: IMMEDIATE)."""
        connection = connections[self.using]
        pick = _PICK + (" FOR UPDATE SKIP LOCKED" if connection.vendor == "mysql" else "")
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            cursor.execute(pick, [queue, now, limit])
            picked = cursor.fetchall()
            if not picked:
                return []
            marks = ", ".join(["%s"] * len(picked))
            cursor.execute(_LEASE.format(ids=marks), [now, token, until, until, *(p[0] for p in picked)])
        return [(p[1], p[2], p[3], p[4], p[5] + (p[7] is None), p[6] + (p[7] is not None)) for p in picked]

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        check_queue_names(queues)
        if timeout <= 0:
            return
        if self._postgres:
            self._wait_notified(queues, timeout)
        else:
            self._wait_polling(queues, timeout)

    def _until_due(self, queues: Sequence[str], timeout: float) -> float:
        """``timeout`` shortened to when the next delayed job or lapsing lease comes due."""
        due = self._next_due(queues)
        return timeout if due is None else max(0.0, min(timeout, due - self.clock.estimate()))

    def _next_due(self, queues: Sequence[str]) -> float | None:
        """When the earliest job of ``queues`` becomes available (delayed, or lease end)."""
        times = [
            JobRow.objects.using(self.using)
            .filter(queue=queue)
            .order_by("available_at")
            .values_list("available_at", flat=True)
            .first()
            for queue in queues
        ]
        known = [t for t in times if t is not None]
        return min(known) if known else None

    def _wait_notified(self, queues: Sequence[str], timeout: float) -> None:
        try:
            with self._listeners.get() as listener:
                # Listening before looking: a job pushed after the look is notified, one
                # pushed before it is seen by the look. No wake-up is lost.
                left = self._until_due(queues, timeout)
                if left > 0:
                    listener.wait(queues, left)
        except (psycopg.Error, OSError):
            time.sleep(min(timeout, 1.0))  # server gone: do not spin; the next call reconnects

    def _wait_polling(self, queues: Sequence[str], timeout: float) -> None:
        deadline = time.monotonic() + self._until_due(queues, timeout)
        interval = self.poll_min
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(interval, left))
            ready = JobRow.objects.using(self.using).filter(
                queue__in=queues, available_at__lte=self.clock.estimate()
            )
            if ready.exists():
                return
            interval = min(interval * 2, self.poll_max)

    # -- acknowledging ---------------------------------------------------------

    def extend(self, reservations: Sequence[Reservation], *, lease: float) -> list[bool]:
        if not lease > 0:
            raise ValueError(f"lease must be positive seconds, got {lease}")
        until = self.clock.now() + lease

        def renew() -> list[bool]:
            with transaction.atomic(using=self.using):
                return [
                    JobRow.objects.using(self.using)
                    .filter(uuid=r.envelope.id, lease_token=r.token)
                    .update(lease_expires_at=until, available_at=until)
                    == 1
                    for r in reservations
                ]

        return self._retrying(renew)

    def complete(self, reservation: Reservation) -> bool:
        with connections[self.using].cursor() as cursor:
            cursor.execute(_COMPLETE, [reservation.envelope.id, reservation.token])
            return bool(cursor.rowcount == 1)

    def complete_many(self, reservations: Sequence[Reservation]) -> list[bool]:
        pairs = [(r.envelope.id, r.token) for r in reservations]
        if not pairs:
            return []
        if self._postgres:
            done = pg.complete_many(self.using, pairs)
        else:
            done = self._retrying(lambda: self._complete_many_portable(pairs))
        return [pair[0] in done for pair in pairs]

    def _complete_many_portable(self, pairs: Sequence[tuple[str, str]]) -> set[str]:
        """Acknowledge a batch: one fenced ``DELETE ... RETURNING`` on SQLite and MariaDB; on
        MySQL (no RETURNING) one fenced DELETE per job, all in one commit."""
        connection = connections[self.using]
        returning = connection.vendor == "sqlite" or getattr(connection, "mysql_is_mariadb", False)
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            if returning:
                marks = ", ".join(["%s"] * len(pairs))
                pair_marks = ", ".join(["(%s, %s)"] * len(pairs))
                sql = _COMPLETE_MANY.format(uuids=marks, pairs=pair_marks)
                cursor.execute(sql, [*(p[0] for p in pairs), *(v for p in pairs for v in p)])
                return {row[0] for row in cursor.fetchall()}
            done: set[str] = set()
            for job_uuid, token in pairs:
                cursor.execute(_COMPLETE, [job_uuid, token])
                if cursor.rowcount == 1:
                    done.add(job_uuid)
            return done

    def release(self, reservation: Reservation, *, delay: float = 0.0) -> bool:
        if not delay >= 0:
            raise ValueError(f"delay must be non-negative seconds, got {delay}")
        available_at = self.clock.now() + delay
        if self._postgres:
            return pg.release(self.using, reservation.envelope.id, reservation.token, available_at)
        released = (
            JobRow.objects.using(self.using)
            .filter(uuid=reservation.envelope.id, lease_token=reservation.token)
            .update(lease_token=None, reserved_at=None, lease_expires_at=None, available_at=available_at)
        )
        return released == 1

    def give_back(self, reservations: Sequence[Reservation]) -> list[bool]:
        if not reservations:
            return []
        # Back in line by creation (available from then): ahead of the jobs queued after it,
        # as it was when it was taken.
        pairs = [(r.envelope.id, r.token) for r in reservations]
        now = self.clock.now()
        if self._postgres:
            given = pg.give_back(self.using, pairs, now)
        else:
            given = self._retrying(lambda: self._give_back_portable(pairs, now))
        return [r.envelope.id in given for r in reservations]

    def _give_back_portable(self, pairs: Sequence[tuple[str, str]], now: float) -> set[str]:
        given: set[str] = set()
        with transaction.atomic(using=self.using), connections[self.using].cursor() as cursor:
            for job_uuid, token in pairs:
                cursor.execute(_GIVE_BACK, [now, now, job_uuid, token])
                if cursor.rowcount == 1:
                    given.add(job_uuid)
        return given

    # -- inspecting and managing -----------------------------------------------

    def counts(self, queues: Sequence[str] | None = None) -> dict[str, QueueCounts]:
        now = self.clock.estimate()
        leased = Q(lease_token__isnull=False, lease_expires_at__gt=now)
        rows = JobRow.objects.using(self.using)
        if queues is not None:
            check_queue_names(queues)
            rows = rows.filter(queue__in=queues)
        aggregated = (
            rows.values("queue")
            .order_by()
            .annotate(
                reserved=Count("id", filter=leased),
                waiting=Count("id", filter=~leased & Q(available_at__lte=now)),
                delayed=Count("id", filter=Q(lease_token__isnull=True, available_at__gt=now)),
            )
        )
        out = {q: QueueCounts() for q in queues or ()}
        for row in aggregated:
            out[row["queue"]] = QueueCounts(
                waiting=row["waiting"], delayed=row["delayed"], reserved=row["reserved"]
            )
        return out

    def waiting(self, queue: str | None = None, *, limit: int = 100, offset: int = 0) -> list[QueuedJob]:
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be non-negative")
        rows = JobRow.objects.using(self.using).order_by("id")
        if queue is not None:
            rows = rows.filter(queue=queue)
        now = self.clock.estimate()
        return [
            QueuedJob(
                envelope=_decode(r.uuid, r.queue, r.job_class, r.payload, r.attempts, r.recoveries),
                available_at=r.available_at,
                reserved_at=r.reserved_at if r.lease_token and (r.lease_expires_at or 0) > now else None,
            )
            for r in rows[offset : offset + limit]
        ]

    def _unleased(self) -> Q:
        return Q(lease_token__isnull=True) | Q(lease_expires_at__lte=self.clock.now())

    def delete(self, job_id: str) -> bool:
        deleted, _ = JobRow.objects.using(self.using).filter(self._unleased(), uuid=job_id).delete()
        return deleted == 1

    def clear(self, queue: str) -> int:
        deleted, _ = JobRow.objects.using(self.using).filter(self._unleased(), queue=queue).delete()
        return deleted

    # -- unique locks ----------------------------------------------------------

    def acquire_unique(self, key: str, owner: str, ttl: float) -> bool:
        """Take ``key`` unless a live lock holds it; an expired lock is taken over.

        Portable in three statements: drop the key if expired, insert ignoring a conflict,
        then check who holds it. Concurrent callers serialise on the row, so exactly one
        wins.
        """
        if not ttl > 0:
            raise ValueError(f"ttl must be positive seconds, got {ttl}")
        key = _lock_key(key)
        now = self.clock.now()
        locks = UniqueLock.objects.using(self.using)

        def take() -> bool:
            with transaction.atomic(using=self.using):
                locks.filter(key=key, expires_at__lte=now).delete()
                lock = UniqueLock(key=key, owner=owner, expires_at=now + ttl)
                locks.bulk_create([lock], ignore_conflicts=True)
                return locks.filter(key=key, owner=owner).exists()

        return self._retrying(take)

    def renew_unique(self, locks: Sequence[tuple[str, str]], ttl: float) -> None:
        until = self.clock.now() + ttl
        rows = UniqueLock.objects.using(self.using)
        with transaction.atomic(using=self.using):
            for key, owner in locks:
                rows.filter(key=_lock_key(key), owner=owner, expires_at__lt=until).update(expires_at=until)

    def release_unique(self, key: str, owner: str) -> None:
        UniqueLock.objects.using(self.using).filter(key=_lock_key(key), owner=owner).delete()

    def close(self) -> None:
        self._listeners.close()
