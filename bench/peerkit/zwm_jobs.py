"""The benchmark's job body as zwm jobs (imported by ``zwm queue:work`` through PYTHONPATH)."""

from __future__ import annotations

from dataclasses import dataclass

from jobbody import append, stamp

from zwm.queue.job import Job


@dataclass
class Append(Job):
    path: str
    mark: str = "."
    sleep: float = 0.0
    queue = "bench"

    def handle(self) -> None:
        append(self.path, self.mark, self.sleep)


@dataclass
class Stamp(Job):
    path: str
    sent: float
    queue = "bench"

    def handle(self) -> None:
        stamp(self.path, self.sent)
