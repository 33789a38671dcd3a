"""The contract every queue driver fulfils, and the conformance suite checks.

A driver stores *waiting*, *delayed* and *reserved* jobs and nothing else: failed jobs,
execution history and batches live in the database whatever the driver, so the dashboard
and the CLI read them one way.

Delivery is at-least-once with leases:

* :meth:`Driver.reserve` hands a job to one worker with a lease (``lease`` seconds) and a
  fresh fencing ``token``, and counts the try. A running worker renews the lease with
  :meth:`Driver.extend` (heartbeat). A job whose lease lapsed -- its worker was SIGKILLed,
  OOM-killed or its host vanished -- is available again to the next ``reserve``, which
  counts a *recovery* instead of a try: the worker's death is not the job's failure.
* :meth:`Driver.give_back` returns jobs reserved but never started, uncounting their try.
* :meth:`Driver.complete` and :meth:`Driver.release` succeed only while the caller's token
  still holds the lease. A worker that lost its lease (paused, partitioned) gets ``False``
  and must not record an outcome: the job already belongs to someone else (fencing).

A stored payload that cannot be decoded is still reserved (its attempt counted) and handed
out as :meth:`Envelope.undecodable <zwm.queue.job.Envelope.undecodable>`: its ``build()``
raises :class:`~zwm.queue.job.PayloadError` with the reason, so the worker fails it like any
broken job and nothing is silently dropped or left to block the queue.

Drivers keep epoch times on their server's clock (Redis ``TIME``; the database's clock,
see :mod:`.clock`), so hosts whose clocks disagree agree on every lease and delay.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from zwm.queue.job import Envelope

MAX_QUEUE_NAME = 100
"""Longest queue name, for every driver (the database column's width)."""


def check_queue_names(queues: Sequence[str]) -> None:
    """Refuse a bare string (a classic ``"default"`` for ``["default"]`` slip) and bad names."""
    if isinstance(queues, str):
        raise TypeError("queues must be a sequence of names, not a string")
    for queue in queues:
        if not queue or len(queue) > MAX_QUEUE_NAME:
            raise ValueError(f"queue name must be 1-{MAX_QUEUE_NAME} characters, got {queue!r}")


def check_reserve_arguments(queues: Sequence[str], lease: float, limit: int) -> None:
    """The argument checks every :meth:`Driver.reserve` makes before touching storage."""
    check_queue_names(queues)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not lease > 0:
        raise ValueError(f"lease must be positive seconds, got {lease}")


@dataclass(frozen=True)
class Reservation:
    """A job handed to one worker, valid while ``token`` holds the lease."""

    envelope: Envelope
    token: str
    lease_expires_at: float
    reserved_at: float


@dataclass(frozen=True)
class QueueCounts:
    waiting: int = 0
    """Available now."""
    delayed: int = 0
    """Available later (dispatched with a delay, or released for a retry with backoff)."""
    reserved: int = 0
    """Held by a worker under a lease."""


@dataclass(frozen=True)
class QueuedJob:
    """One row of the "Jobs Waiting" listing."""

    envelope: Envelope
    available_at: float
    reserved_at: float | None


class Driver(ABC):
    """Storage of waiting and reserved jobs for one queue connection."""

    name: str

    @abstractmethod
    def push(self, envelopes: Sequence[Envelope], *, available_at: float | None = None) -> None:
        """Store jobs, available from ``available_at`` (epoch seconds; ``None`` = now)."""

    def push_once(self, envelopes: Sequence[Envelope], *, keep: float) -> None:
        """:meth:`push`, unless a job of the same id was pushed with ``push_once`` in the
        last ``keep`` seconds -- even one that ran and is gone since: a push that may be
        repeated (the scheduler's, after a crash between its claim and its push) queues each
        job once. A driver whose push is never repeated that way (the database's shares its
        caller's transaction; sync runs the job at once) just pushes."""
        self.push(envelopes)

    @abstractmethod
    def reserve(self, queues: Sequence[str], *, lease: float, limit: int = 1) -> list[Reservation]:
        """Take up to ``limit`` available jobs, ``queues`` in strict priority order.

        Jobs whose lease lapsed count as available. Each returned job has its attempt
        counted (``envelope.attempts`` already incremented) and a new token.
        """

    @abstractmethod
    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Block up to ``timeout`` seconds, returning early when a job may have arrived."""

    @abstractmethod
    def extend(self, reservations: Sequence[Reservation], *, lease: float) -> list[bool]:
        """Renew leases (heartbeat). ``False`` for each reservation whose lease was lost."""

    @abstractmethod
    def complete(self, reservation: Reservation) -> bool:
        """Remove a finished job (succeeded, or failed for good). ``False``: lease lost."""

    def complete_many(self, reservations: Sequence[Reservation]) -> list[bool]:
        """:meth:`complete` several jobs at once (bundled acknowledgement).

        Drivers override it to acknowledge in one round trip; per job it means exactly what
        :meth:`complete` means.
        """
        return [self.complete(reservation) for reservation in reservations]

    @abstractmethod
    def release(self, reservation: Reservation, *, delay: float = 0.0) -> bool:
        """Put a job back to run again after ``delay`` seconds. ``False``: lease lost."""

    @abstractmethod
    def give_back(self, reservations: Sequence[Reservation]) -> list[bool]:
        """Unreserve jobs that never started (a worker stopping, or giving up on its batch):
        each is available again at once, in its place, with its try not counted.
        ``False`` for each whose lease was lost."""

    @abstractmethod
    def counts(self, queues: Sequence[str] | None = None) -> dict[str, QueueCounts]:
        """Waiting/delayed/reserved counts per queue (every known queue when ``None``)."""

    @abstractmethod
    def waiting(self, queue: str | None = None, *, limit: int = 100, offset: int = 0) -> list[QueuedJob]:
        """Jobs not yet finished, oldest first, for the dashboard and ``queue:monitor``."""

    @abstractmethod
    def delete(self, job_id: str) -> bool:
        """Remove one waiting (not reserved) job by id."""

    @abstractmethod
    def clear(self, queue: str) -> int:
        """Remove every waiting and delayed job of ``queue``; return how many."""

    @abstractmethod
    def acquire_unique(self, key: str, owner: str, ttl: float) -> bool:
        """Take the unique lock ``key`` for job ``owner`` unless another job holds it."""

    @abstractmethod
    def renew_unique(self, locks: Sequence[tuple[str, str]], ttl: float) -> None:
        """Lengthen each ``(key, owner)`` lock its owner still holds to at least ``ttl``
        seconds from now (a lock is never shortened); others are left alone."""

    @abstractmethod
    def release_unique(self, key: str, owner: str) -> None:
        """Free the unique lock ``key`` if ``owner`` still holds it."""

    def close(self) -> None:  # noqa: B027 - drivers without resources need nothing
        """Release connections."""
