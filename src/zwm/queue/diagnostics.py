"""Jobs for operators and smoke tests: ``zwm queue:dispatch zwm.queue.diagnostics.Sleep --args ...``.

They do nothing useful on purpose, so that a queue, a worker or a benchmark can be checked
without touching Zuora.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from zwm.queue.job import Job


@dataclass
class Noop(Job):
    """Succeeds at once: measures the queue's own overhead."""

    def handle(self) -> None:
        return None


@dataclass
class Sleep(Job):
    """Sleeps ``seconds``, reporting progress: exercises timeouts, leases and the dashboard."""

    seconds: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.seconds, int | float) or self.seconds < 0:
            raise TypeError(f"seconds must be a non-negative number, got {self.seconds!r}")

    def handle(self) -> None:
        deadline = time.monotonic() + float(self.seconds)
        step = min(1.0, max(float(self.seconds) / 10, 0.01))
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(step, left))
            if self.context is not None and self.seconds:
                self.context.report_progress(100 * (1 - max(left - step, 0) / float(self.seconds)))


class DiagnosticFailure(Exception):
    """Raised by :class:`Fail`."""


@dataclass
class Fail(Job):
    """Raises :class:`DiagnosticFailure` with ``message``: exercises retries and failed jobs."""

    message: str = "diagnostic failure"

    def __post_init__(self) -> None:
        if not isinstance(self.message, str):
            raise TypeError(f"message must be a string, got {type(self.message).__name__}")

    def handle(self) -> None:
        raise DiagnosticFailure(self.message)
