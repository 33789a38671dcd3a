"""Keeping the leases of the jobs a worker holds: renewal, and what a lost lease means.

A worker renews the lease of every job in hand (``driver.extend``) every ``lease / 3``
seconds, from a timer -- never only when the job is quiet -- so a long job keeps its
lease as long as its worker lives, and a dead worker's jobs are re-delivered within one
lease. A lease found lost (the worker was paused or partitioned longer than the lease)
means the job belongs to another worker now: nothing is recorded for it here.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence

from django.db import Error as DatabaseError
from django.db import connections

from zwm.queue.drivers.base import Driver, Reservation

log = logging.getLogger("zwm.queue")


def transient_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the database or Redis is unavailable for now": wait and retry."""
    errors: list[type[BaseException]] = [DatabaseError, ConnectionError, TimeoutError]
    redis = sys.modules.get("redis.exceptions")
    if redis is not None:
        errors.append(redis.RedisError)
    return tuple(errors)


UNIQUE_HELD = 3600.0
"""Seconds a unique job's lock is kept ahead while the job is in a worker's hand: long
enough for a dead worker's job to be recovered and run with its lock still held."""


def renew(driver: Driver, reservations: Sequence[Reservation], lease: float) -> set[str]:
    """Renew the leases of ``reservations``, and the unique locks of those that have one
    (a unique lock lives as long as its job waits or runs); the ids whose lease was lost."""
    if not reservations:
        return set()
    kept = driver.extend(reservations, lease=lease)
    locks = [(r.envelope.unique_key, r.envelope.id) for r, ok in zip(reservations, kept, strict=True) if ok]
    held = [(key, owner) for key, owner in locks if key is not None]
    if held:
        driver.renew_unique(held, UNIQUE_HELD)
    return {r.envelope.id for r, ok in zip(reservations, kept, strict=True) if not ok}


class LeaseKeeper(threading.Thread):
    """Renews leases every ``lease / 3`` seconds while jobs run inline in the worker.

    One thread for the worker's life, armed per job (:meth:`watch`/:meth:`unwatch` cost a
    lock, where a thread per job would cost more than a no-op job). It is stopped before
    the worker forks an executor child, so no thread is alive across ``fork``.
    """

    def __init__(self, driver: Driver, lease: float) -> None:
        super().__init__(name="zwm-lease-keeper", daemon=True)
        self.driver = driver
        self.lease = lease
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._watched: list[Reservation] = []
        self._lost: set[str] = set()
        self._due = 0.0

    def watch(self, reservations: list[Reservation]) -> None:
        with self._lock:
            self._watched, self._lost = reservations, set()
            self._due = time.monotonic() + self.lease / 3
        self._wake.set()

    def unwatch(self) -> set[str]:
        """Stop renewing; the ids whose lease was found lost meanwhile."""
        with self._lock:
            self._watched = []
            return self._lost

    def run(self) -> None:
        try:
            while not self._stopping:
                with self._lock:
                    watched, due = self._watched, self._due
                if not watched:
                    self._wake.wait()
                    self._wake.clear()
                    continue
                if time.monotonic() < due:
                    self._wake.wait(due - time.monotonic())
                    self._wake.clear()
                    continue
                self._renew(watched)
        finally:
            connections.close_all()  # this thread's own database connections

    def _renew(self, watched: list[Reservation]) -> None:
        try:
            lost = renew(self.driver, watched, self.lease)
        except transient_errors() as exc:
            log.warning("could not renew leases (%s); will retry", exc)
            lost = set()
        with self._lock:
            if self._watched is watched:
                self._lost |= lost
                self._due = time.monotonic() + self.lease / 3

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.join()
