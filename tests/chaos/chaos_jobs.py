"""The jobs of the chaos suite; importable by worker subprocesses (this folder is on their
PYTHONPATH). Each leaves its effect as one line, ``<kind> <job id>``, appended to the file
``effects`` names, so the harness can check what ran without trusting the engine."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from zwm.queue.job import Job


def effect(path: str, kind: str, job: Job) -> None:
    """Append ``<kind> <job id>`` in one write (O_APPEND: lines from processes never mix)."""
    assert job.context is not None
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{kind} {job.context.job_id}\n".encode())
    finally:
        os.close(fd)


@dataclass
class Fast(Job):
    effects: str
    kind: str = "fast"

    def handle(self) -> None:
        time.sleep(0.01)  # long enough for the kills to land among fast jobs too
        effect(self.effects, self.kind, self)


@dataclass
class Slow(Job):
    effects: str
    seconds: float

    def handle(self) -> None:
        time.sleep(self.seconds)
        effect(self.effects, "slow", self)


@dataclass
class Chatty(Job):
    """Reports progress 20 times a second: must keep its lease like a quiet job."""

    effects: str
    seconds: float

    def handle(self) -> None:
        assert self.context is not None
        deadline = time.monotonic() + self.seconds
        step = 0
        while time.monotonic() < deadline:
            step += 1
            self.context.report_progress(step % 100)
            time.sleep(0.05)
        effect(self.effects, "chatty", self)


@dataclass
class Unique(Job):
    effects: str
    key: str

    def unique_key(self) -> str | None:
        return f"chaos:{self.key}"

    def handle(self) -> None:
        time.sleep(0.05)
        effect(self.effects, "unique", self)


@dataclass
class FailsOnce(Job):
    """Fails its first try (it fails by itself), succeeds on the second."""

    effects: str
    flags: str
    tries: ClassVar[int | None] = 2

    def handle(self) -> None:
        assert self.context is not None
        flag = Path(self.flags) / self.context.job_id
        if not flag.exists():
            flag.touch()
            raise RuntimeError("the first try fails, on purpose")
        effect(self.effects, "fails-once", self)


@dataclass
class Settled(Job):
    """A batch callback: notes which batch event fired."""

    effects: str
    event: str
    batch_id: str = ""

    def handle(self) -> None:
        assert self.context is not None
        effect(self.effects, f"{self.event}:{self.context.batch_id}", self)
