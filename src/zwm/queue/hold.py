"""The first step of a job's run in a worker: reserved and held until it starts.

A worker reserves up to a few jobs at once from its queues in strict priority order. The
batch size adapts to how long jobs take (a batch holds about :data:`PREFETCH_BUDGET`
seconds of work, at most ``prefetch`` jobs), so no-op jobs cost two database round trips
per batch, not per job, while a slow job is never held hostage behind another: slow jobs
are reserved one at a time. :class:`Hand` is what the worker holds at any moment, from
reservation to acknowledgement.

An estimate can be wrong (a batch of jobs of a class never seen, a class that is fast
until it is not), so a reserved job is only *sent* to an executor child behind a running
one when its class's recent runs say it fits the budget (:class:`Durations`); the others
wait in the worker, unsent, where a job of a higher-priority queue can still go before
them and, when they wait longer than :data:`HOLD_LIMIT`, they are given back to the queue
for an idle worker to take.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from zwm.queue.drivers.base import Reservation
from zwm.queue.models import JobExecution

log = logging.getLogger("zwm.queue")

PREFETCH_BUDGET = 0.05
"""Seconds of expected work one reservation may take: bounds how long a job can wait
behind prefetched ones, and keeps the per-batch round trips small for no-op jobs."""
HOLD_LIMIT = 4 * PREFETCH_BUDGET
"""Seconds a reserved job may wait unsent in a worker before it is given back (its try
unused): the jobs ahead of it took longer than the batch size assumed, and another worker
may be idle."""


def prefetch_size(avg_duration: float, prefetch: int) -> int:
    """How many jobs to reserve at once, given the recent average job duration."""
    return max(1, min(prefetch, int(PREFETCH_BUDGET / max(avg_duration, 1e-6))))


@dataclass
class Durations:
    """How long each job class's recent runs took in this worker (a moving average): what
    decides whether a job may queue in an executor child behind a running one."""

    by_class: dict[str, float] = field(default_factory=dict)

    def record(self, job: str, seconds: float) -> None:
        previous = self.by_class.get(job)
        self.by_class[job] = seconds if previous is None else 0.7 * previous + 0.3 * seconds

    def expected(self, job: str) -> float | None:
        """How long a run of ``job`` is expected to take (``None``: no run seen here yet)."""
        return self.by_class.get(job)

    def joined(self, queued: float, job: str) -> float | None:
        """The seconds of work queued in a child behind its running job once a run of
        ``job`` joins the ``queued`` seconds already there -- or ``None`` when it may not
        join: its class was not seen here yet, or the total would pass
        :data:`PREFETCH_BUDGET`. What queues in a child can no longer be overtaken by a
        higher-priority job nor taken by an idle worker."""
        seconds = self.by_class.get(job)
        if seconds is None or queued + seconds > PREFETCH_BUDGET:
            return None
        return queued + seconds


@dataclass
class Run:
    """A reserved job on its way through the executor: its policy, then its history row."""

    reservation: Reservation
    tries: int
    timeout: float | None
    row: JobExecution | None = None
    started: float = 0.0
    prepared: float = field(default_factory=time.monotonic)
    """When the worker prepared it to be sent (how long it has waited unsent, in a pool)."""

    @property
    def job(self) -> str:
        return self.reservation.envelope.job

    def request(self, connection: str) -> dict[str, Any]:
        """The executor request that runs this job (see :mod:`zwm.queue.executor`)."""
        return {
            "op": "run",
            "envelope": self.reservation.envelope.to_dict(),
            "connection": connection,
            "max_tries": self.tries,
        }


@dataclass
class Hand:
    """The jobs one worker holds, by state: ``held`` (reserved, not started), ``running``
    (sent to the executor; the first one has started) and ``current`` (started)."""

    held: list[Reservation] = field(default_factory=list)
    held_since: float = 0.0
    running: list[Run] = field(default_factory=list)
    current: Reservation | None = None
    lost: set[str] = field(default_factory=set)
    """Ids whose lease was found lost while in hand: they are another worker's now."""

    def hold(self, reservations: list[Reservation]) -> None:
        self.held = list(reservations)
        self.held_since = time.monotonic()

    def take_held(self) -> list[Reservation]:
        """Let go of the held jobs (to be given back); the list is emptied in place."""
        held = list(self.held)
        self.held.clear()
        return held

    def take_lost(self, job_id: str) -> bool:
        """Was ``job_id``'s lease lost? (Forgotten once asked: the job leaves the hand.)"""
        if job_id in self.lost:
            self.lost.discard(job_id)
            return True
        return False

    def mark_lost(self, reservations: list[Reservation], ids: set[str]) -> None:
        for reservation in reservations:
            job_id = reservation.envelope.id
            if job_id in ids and job_id not in self.lost:
                self.lost.add(job_id)
                log.warning("%s [%s]: lease lost", reservation.envelope.job, job_id)

    def reservations(self) -> list[Reservation]:
        """Every job in hand not yet finished: the running ones first, then the held."""
        running = [run.reservation for run in self.running]
        if self.current is not None and all(r is not self.current for r in running):
            running.insert(0, self.current)
        return running + self.held

    def unstarted(self) -> list[Reservation]:
        """Jobs in hand this worker has not started: held, or queued behind the running one."""
        return [run.reservation for run in self.running] + self.held

    def drop(self) -> list[Reservation]:
        """Let go of every unfinished job; those not started, to be given back."""
        unstarted = self.unstarted()
        self.held.clear()
        self.running.clear()
        self.current = None
        return unstarted
