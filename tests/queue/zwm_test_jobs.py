"""Jobs used by the worker tests; importable by worker subprocesses (tests/queue is on
their PYTHONPATH). Each leaves a trace in a marker file, so a test can count executions
without trusting the system under test."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from zwm.queue.job import Job


def lines_of(path: str) -> list[str]:
    return Path(path).read_text().splitlines()


def append(path: str, text: str) -> None:
    with open(path, "a") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@dataclass
class Mark(Job):
    """Appends ``text`` to ``path``."""

    path: str
    text: str = "ran"

    def handle(self) -> None:
        append(self.path, self.text)


@dataclass
class SlowMark(Job):
    """Writes ``start``, sleeps, writes ``done``: shows whether a run was cut short."""

    path: str
    seconds: float = 1.0

    def handle(self) -> None:
        append(self.path, f"start {os.getpid()}")
        time.sleep(self.seconds)
        append(self.path, "done")


@dataclass
class KillsItsWorker(Job):
    """Poison: SIGKILLs the worker process running it (the executor's parent)."""

    path: str
    max_recoveries: ClassVar[int | None] = 2

    def handle(self) -> None:
        append(self.path, "attempt")
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(30)


@dataclass
class Crash(Job):
    """Ends its process abruptly, as a segfault or the OOM killer would."""

    path: str

    def handle(self) -> None:
        append(self.path, "attempt")
        os._exit(3)


class AuthError(Exception):
    """Stands for ZuoraAuthenticationException: retrying cannot help."""


@dataclass
class BadCredentials(Job):
    path: str
    dont_retry: ClassVar[tuple[type[BaseException], ...]] = (AuthError,)

    def handle(self) -> None:
        append(self.path, "attempt")
        raise AuthError("invalid client credentials")

    def failed(self, exc: BaseException) -> None:
        append(self.path, f"failed hook: {type(exc).__name__}")


@dataclass
class Flaky(Job):
    """Always fails, with the seed's retry policy."""

    path: str
    tries: ClassVar[int | None] = 3
    backoff: ClassVar[list[float]] = [60, 120]

    def handle(self) -> None:
        append(self.path, "attempt")
        raise RuntimeError("temporary outage")


@dataclass
class FailsFirst(Job):
    """Fails on its first attempt, succeeds afterwards."""

    path: str

    def handle(self) -> None:
        assert self.context is not None
        append(self.path, f"attempt {self.context.attempt}")
        if self.context.attempt == 1:
            raise RuntimeError("first attempt fails")


@dataclass
class Hangs(Job):
    """Blocks far past any timeout, reporting its start; its failed() hook leaves a trace."""

    path: str
    timeout: ClassVar[float | None] = 1.0

    def handle(self) -> None:
        append(self.path, "hanging")
        time.sleep(3600)

    def failed(self, exc: BaseException) -> None:
        append(self.path, f"failed hook: {type(exc).__name__}: {exc}")


@dataclass
class Progress(Job):
    """Reports 40 %, then waits until ``release`` exists (bounded)."""

    path: str
    release: str

    def handle(self) -> None:
        assert self.context is not None
        self.context.report_progress(40)
        append(self.path, "reported")
        deadline = time.monotonic() + 20
        while not Path(self.release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@dataclass
class BatchCallback(Job):
    """Records which callback ran, for which batch (through the ``batch_id`` argument)."""

    path: str
    event: str
    batch_id: str = ""

    def handle(self) -> None:
        assert self.context is not None
        append(self.path, f"{self.event} {self.batch_id} {self.context.batch_id}")


@dataclass
class MarkOrFail(Job):
    """Fails when ``fail`` is true; otherwise marks. Batch members."""

    path: str
    fail: bool = False

    def handle(self) -> None:
        if self.fail:
            raise RuntimeError("member failed")
        append(self.path, "member")


@dataclass
class FailUntil(Job):
    """Fails until the file ``flag`` exists (a fault an operator fixes, then retries)."""

    path: str
    flag: str

    def handle(self) -> None:
        if not Path(self.flag).exists():
            raise RuntimeError("not yet")
        append(self.path, "member fixed")


@dataclass
class KillsRedis(Job):
    """Notes that it ran, then SIGKILLs the (private) redis-server ``pid``: its worker meets
    the outage exactly between reserving the job and acknowledging its success."""

    path: str
    pid: int

    def handle(self) -> None:
        append(self.path, "ran")
        if lines_of(self.path).count("ran") == 1:  # the first run only
            os.kill(self.pid, signal.SIGKILL)


@dataclass
class Chatty(Job):
    """Reports progress about 20 times a second for ``seconds``, marking its start and end."""

    path: str
    seconds: float = 2.5

    def handle(self) -> None:
        assert self.context is not None
        append(self.path, f"start {os.getpid()}")
        deadline = time.monotonic() + self.seconds
        step = 0
        while time.monotonic() < deadline:
            step += 1
            self.context.report_progress(step % 100)
            time.sleep(0.05)
        append(self.path, "done")


@dataclass
class KillsItsExecutorLater(Job):
    """Succeeds, leaving a process behind that SIGKILLs this executor child once it is idle,
    then notes that it did."""

    path: str

    def handle(self) -> None:
        script = f"sleep 0.3; kill -9 {os.getpid()}; echo killed >> {self.path}"
        subprocess.Popen(["sh", "-c", script], start_new_session=True)
        append(self.path, "ran")


@dataclass
class StartsAChildAndHangs(Job):
    """Starts a long ``sleep`` (noting its pid), then blocks past its timeout."""

    path: str
    timeout: ClassVar[float | None] = 1.0

    def handle(self) -> None:
        child = subprocess.Popen(["sleep", "300"])
        append(self.path, str(child.pid))
        time.sleep(3600)


@dataclass
class UniqueMark(Job):
    """Writes its key; unique per key."""

    path: str
    key: str

    def unique_key(self) -> str | None:
        return f"mark:{self.key}"

    def handle(self) -> None:
        append(self.path, self.key)


@dataclass
class UniqueSlow(Job):
    """Unique per key, its lock (if nobody renewed it) lasting half a second; runs ``seconds``."""

    path: str
    key: str
    seconds: float = 2.5
    unique_for: ClassVar[float] = 0.5

    def unique_key(self) -> str | None:
        return f"slow:{self.key}"

    def handle(self) -> None:
        append(self.path, f"start {self.key}")
        time.sleep(self.seconds)
        append(self.path, "done")
