"""What a running job knows about its own execution.

The worker sets :attr:`Job.context <zwm.queue.job.Job.context>` before :meth:`handle` runs
(and :func:`current` returns the same object, for code deep inside a job that has no
reference to the job instance). Progress goes through a callback rather than straight to
the database because a job normally runs in an executor child process: the child sends the
figure to its worker, which writes it to the execution's history row with its other
buffered writes, so a job reporting progress in a tight loop costs no database round trip.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable
from dataclasses import dataclass, field

_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar("zwm_job_context", default=None)


@dataclass
class JobContext:
    """Identity of one execution of a job, and its channel for reporting progress."""

    job_id: str
    attempt: int
    connection: str
    queue: str
    batch_id: str | None = None
    max_tries: int | None = None
    job_class: str = ""
    """Dotted path of the job's class (for log lines and metrics)."""
    _reporter: Callable[[int], None] | None = field(default=None, repr=False)
    progress: int | None = None

    def report_progress(self, percent: float) -> None:
        """Record how far the job is, 0-100 (clamped); shown on the dashboard's history row."""
        if math.isnan(percent):
            raise ValueError("progress must be a number between 0 and 100")
        value = max(0, min(100, round(percent)))
        if value == self.progress:
            return
        self.progress = value
        if self._reporter is not None:
            self._reporter(value)

    @property
    def is_last_attempt(self) -> bool:
        return self.max_tries is not None and self.attempt >= self.max_tries


def current() -> JobContext | None:
    """The context of the job running in this process/thread, if any."""
    return _current.get()


def activate(context: JobContext | None) -> contextvars.Token[JobContext | None]:
    """Make ``context`` the current one (the executor does this around ``handle()``)."""
    return _current.set(context)


def deactivate(token: contextvars.Token[JobContext | None]) -> None:
    _current.reset(token)
