"""The first step of a job's run in a worker: reserved and held until it starts.

A worker reserves up to a few jobs at once from its queues in strict priority order. The
batch size adapts to how long jobs take (a batch holds about :data:`PREFETCH_BUDGET`
seconds of work, at most ``prefetch`` jobs), so no-op jobs cost two database round trips
per batch, not per job, while a slow job is never held hostage behind another: slow jobs
are reserved one at a time. :class:`Hand` is what the worker holds at any moment, from
reservation to acknowledgement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from zwm.queue.drivers.base import Reservation
from zwm.queue.models import JobExecution

log = logging.getLogger("zwm.queue")

PREFETCH_BUDGET = 0.05
"""Seconds of expected work one reservation may take: bounds how long a job can wait
behind prefetched ones, and keeps the per-batch round trips small for no-op jobs."""


def prefetch_size(avg_duration: float, prefetch: int) -> int:
    """How many jobs to reserve at once, given the recent average job duration."""
    return max(1, min(prefetch, int(PREFETCH_BUDGET / max(avg_duration, 1e-6))))


@dataclass
class Run:
    """A reserved job on its way through the executor: its policy, then its history row."""

    reservation: Reservation
    tries: int
    timeout: float | None
    row: JobExecution | None = None
    started: float = 0.0

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
    running: list[Run] = field(default_factory=list)
    current: Reservation | None = None
    lost: set[str] = field(default_factory=set)
    """Ids whose lease was found lost while in hand: they are another worker's now."""

    def hold(self, reservations: list[Reservation]) -> None:
        self.held = list(reservations)

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
