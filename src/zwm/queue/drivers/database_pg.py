"""PostgreSQL specifics of the database driver: the raw SQL and the LISTEN connection.

Everything else in :mod:`zwm.queue.drivers.database` is portable ORM code. PostgreSQL gets
its own statements where one round trip replaces several -- on this class of machine a
round trip costs ~150 us, so round trips, not SQL, bound throughput:

* push: ``COPY`` for the whole batch (parsing a multi-row INSERT of 1,000 JSON payloads cost
  more than the insert itself), then one ``pg_notify`` per touched queue in the same
  transaction (delivered at commit, so a worker is never woken for a job it cannot see yet);
* reserve: one ``UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)`` that picks, leases
  and counts the attempt of up to ``limit`` jobs atomically;
* complete_many: one ``DELETE ... USING unnest(...) RETURNING`` that acknowledges a batch and
  reports which acknowledgements the fencing check accepted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connections

CHANNEL = "zwm_queue"
"""NOTIFY channel; the payload is the queue name. Channels are per database."""

COPY_JOBS = "COPY jobs (uuid, queue, job_class, payload, attempts, available_at, created_at) FROM STDIN"

NOTIFY = "SELECT pg_notify(%s, queue) FROM unnest(%s::varchar[]) AS touched(queue)"

RESERVE = """
WITH picked AS (
    SELECT id, available_at FROM jobs
    WHERE queue = %s AND available_at <= %s
    ORDER BY available_at, id
    LIMIT %s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET attempts = jobs.attempts + (CASE WHEN jobs.lease_token IS NULL THEN 1 ELSE 0 END),
    recoveries = jobs.recoveries + (CASE WHEN jobs.lease_token IS NULL THEN 0 ELSE 1 END),
    reserved_at = %s, lease_token = %s, lease_expires_at = %s, available_at = %s
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.uuid, jobs.queue, jobs.job_class, jobs.payload, jobs.attempts, jobs.recoveries,
    picked.available_at, jobs.id
"""

GIVE_BACK = """
UPDATE jobs
SET attempts = jobs.attempts - 1, lease_token = NULL, reserved_at = NULL,
    lease_expires_at = NULL, available_at = LEAST(jobs.created_at, %s)
FROM unnest(%s::varchar[], %s::varchar[]) AS given_back(uuid, token)
WHERE jobs.uuid = given_back.uuid AND jobs.lease_token = given_back.token
RETURNING jobs.uuid, jobs.queue
"""

RELEASE = """
WITH released AS (
    UPDATE jobs
    SET lease_token = NULL, reserved_at = NULL, lease_expires_at = NULL, available_at = %s
    WHERE uuid = %s AND lease_token = %s
    RETURNING queue
)
SELECT pg_notify(%s, queue) FROM released
"""

COMPLETE_MANY = """
DELETE FROM jobs USING unnest(%s::varchar[], %s::varchar[]) AS acked(uuid, token)
WHERE jobs.uuid = acked.uuid AND jobs.lease_token = acked.token
RETURNING jobs.uuid
"""

Row = tuple[str, str, str, str, int, int]
"""uuid, queue, job_class, payload, attempts and recoveries (after counting this reservation)."""


def push(using: str, rows: Sequence[tuple[str, str, str, str, int, float, float]]) -> None:
    """COPY the rows, then notify each touched queue; the caller holds the transaction, so the
    notifications are delivered at its commit, together with the rows."""
    with connections[using].cursor() as cursor:
        raw: psycopg.Cursor[Any] = cursor.cursor
        with raw.copy(COPY_JOBS) as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(NOTIFY, [CHANNEL, sorted({row[1] for row in rows})])


def reserve(using: str, queue: str, now: float, limit: int, token: str, until: float) -> list[Row]:
    with connections[using].cursor() as cursor:
        cursor.execute(RESERVE, [queue, now, limit, now, token, until, until])
        rows = cursor.fetchall()
    rows.sort(key=lambda row: (row[6], row[7]))  # RETURNING order is unspecified: restore FIFO
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def give_back(using: str, pairs: Sequence[tuple[str, str]], now: float) -> set[str]:
    """Unreserve jobs that never started, uncounting their try; the uuids given back."""
    with connections[using].cursor() as cursor:
        cursor.execute(GIVE_BACK, [now, [p[0] for p in pairs], [p[1] for p in pairs]])
        given = cursor.fetchall()
        if given:
            cursor.execute(NOTIFY, [CHANNEL, sorted({row[1] for row in given})])
        return {row[0] for row in given}


def release(using: str, uuid: str, token: str, available_at: float) -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute(RELEASE, [available_at, uuid, token, CHANNEL])
        return len(cursor.fetchall()) == 1


def complete_many(using: str, pairs: Sequence[tuple[str, str]]) -> set[str]:
    uuids, tokens = [p[0] for p in pairs], [p[1] for p in pairs]
    with connections[using].cursor() as cursor:
        cursor.execute(COMPLETE_MANY, [uuids, tokens])
        return {row[0] for row in cursor.fetchall()}


class Listener:
    """A dedicated autocommit connection LISTENing on :data:`CHANNEL`.

    Dedicated because a LISTEN must outlive the transactions of Django's connection and
    because notifications are only read while nobody else uses the socket. One per thread
    (psycopg connections are not shared between threads) and per process (never used
    across ``fork``).
    """

    def __init__(self, using: str) -> None:
        params = connections[using].get_connection_params()
        self.conn = psycopg.connect(**params, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, queues: Sequence[str], timeout: float) -> bool:
        """Block until a notification names one of ``queues``; ``False`` on timeout."""
        wanted = set(queues)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            for notify in self.conn.notifies(timeout=left, stop_after=1):
                if notify.payload in wanted:
                    return True
        return False

    def close(self) -> None:
        self.conn.close()


class Listeners:
    """Per-thread, per-process :class:`Listener` for one database alias."""

    def __init__(self, using: str) -> None:
        self.using = using
        self._local = threading.local()

    @contextmanager
    def get(self) -> Iterator[Listener]:
        """Yield this thread's listener; one that breaks (server restart) is dropped so the
        next call reconnects."""
        listener: Listener | None = getattr(self._local, "listener", None)
        if listener is not None and self._local.pid != os.getpid():
            listener = None  # inherited through fork: the parent owns that socket
        if listener is None:
            listener = Listener(self.using)
            self._local.listener, self._local.pid = listener, os.getpid()
        try:
            yield listener
        except (psycopg.Error, OSError):
            self._local.listener = None
            listener.close()
            raise

    def close(self) -> None:
        listener: Listener | None = getattr(self._local, "listener", None)
        self._local.listener = None
        if listener is not None:
            listener.close()
