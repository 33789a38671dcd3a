"""What every backlog offers, whatever stores the jobs."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from zwm.queue.counting import COUNT_CAP, CappedCount
from zwm.queue.drivers.base import Driver, check_queue_names
from zwm.queue.filters import check_filter_text
from zwm.queue.job import Envelope


class NoBacklog(ValueError):
    """The connection stores no jobs (``sync`` runs them when dispatched)."""


class State(enum.StrEnum):
    WAITING = "waiting"
    """May be reserved now (a lapsed lease or a delay that came due included)."""
    DELAYED = "delayed"
    """Becomes available later."""
    RESERVED = "reserved"
    """Held by a worker under a live lease."""


@dataclass(frozen=True)
class BacklogFilter:
    """What to list; every field narrows, ``None`` means any.

    ``search`` is a case-insensitive substring of the stored payload (job class and
    arguments): only for people allowed to see payloads, or it would reveal them.
    """

    queue: str | None = None
    job_class: str | None = None
    state: State | None = None
    search: str | None = None

    def __post_init__(self) -> None:
        if self.queue is not None:
            check_queue_names([self.queue])
        check_filter_text(self.job_class, self.search)

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond queue and state is asked (storage must look at payloads)."""
        return self.job_class is not None or self.search is not None


@dataclass(frozen=True)
class PendingJob:
    """One job of the backlog, as the dashboard lists it."""

    envelope: Envelope
    state: State
    available_at: float
    """Epoch seconds (the caller's clock) from which it may run; a reserved job: its lease end."""
    reserved_at: float | None

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def queue(self) -> str:
        return self.envelope.queue

    @property
    def job_class(self) -> str:
        return self.envelope.job

    @property
    def attempts(self) -> int:
        return self.envelope.attempts

    @property
    def created_at(self) -> float:
        return self.envelope.created_at


@dataclass(frozen=True)
class BacklogCounts:
    """One queue's jobs by state, each exact up to a cap."""

    waiting: CappedCount
    delayed: CappedCount
    reserved: CappedCount


class Backlog(ABC):
    """Browse and manage the jobs a driver stores, and its paused queues."""

    driver: Driver

    @abstractmethod
    def jobs(self, where: BacklogFilter, *, limit: int = 50, offset: int = 0) -> list[PendingJob]:
        """Jobs matching ``where``, oldest first within a queue."""

    @abstractmethod
    def count(self, where: BacklogFilter, *, cap: int = COUNT_CAP) -> CappedCount:
        """How many jobs match ``where``, exact up to ``cap``."""

    def queue_counts(self) -> dict[str, BacklogCounts]:
        """Every queue holding jobs, by name, with its exact counts per state: the driver's
        one aggregate (on the database, one pass over ``jobs``; measured cheaper than capped
        counts per queue and state, which the planner turns into one scan each)."""
        return {
            queue: BacklogCounts(CappedCount(c.waiting), CappedCount(c.delayed), CappedCount(c.reserved))
            for queue, c in self.driver.counts().items()
        }

    @abstractmethod
    def get(self, job_id: str) -> PendingJob | None:
        """One job by id, or ``None`` when it is not (or no longer) in the backlog."""

    @abstractmethod
    def run_now(self, job_id: str) -> bool:
        """Make a delayed job available now; ``False`` if it is not delayed (any more)."""

    def delete(self, job_id: str) -> bool:
        """Remove a waiting or delayed job; ``False`` if a worker holds it or it is gone."""
        return self.driver.delete(job_id)

    def clear(self, queue: str) -> int:
        """Remove every waiting and delayed job of ``queue``; how many."""
        check_queue_names([queue])
        return self.driver.clear(queue)

    @abstractmethod
    def oldest_available(self, queues: Sequence[str]) -> dict[str, float]:
        """Per queue with waiting jobs: epoch seconds since which its oldest has waited."""

    @abstractmethod
    def paused(self) -> set[str]:
        """The queues workers of this connection skip."""

    @abstractmethod
    def pause(self, queue: str) -> bool:
        """Pause ``queue``; ``False`` if it already was."""

    @abstractmethod
    def resume(self, queue: str) -> bool:
        """Resume ``queue``; ``False`` if it was not paused."""


def check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must be non-negative")
