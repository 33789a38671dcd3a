"""The chaos harness: real ``zwm queue:work`` processes over a job mix, SIGKILLed at random
moments (seeded), with one restart of the queue's server, then the invariants checked.

Everything touching the run's database goes through subprocesses (``chaos_store.py``,
``zwm``), so that database may live on a private server the harness restarts.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import Any

import pytest
from rediskit import IN_CI, free_port

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
SEED_VARIABLE = "ZWM_CHAOS_SEED"
WORKERS = 3
KILLS = 5
LEASE = "2"
DEADLINE = 90.0
"""Seconds the run may take before the harness gives up (it takes about 15-30)."""


def chaos_seed() -> int:
    """``ZWM_CHAOS_SEED`` when set (to repeat a failing run), else a fresh one."""
    raw = os.environ.get(SEED_VARIABLE)
    return int(raw) if raw else random.SystemRandom().randrange(1, 2**31)


class PrivatePostgres:
    """A PostgreSQL instance of our own (``initdb`` + ``pg_ctl``) on a free loopback port,
    in a temporary directory, that a test may restart without disturbing the shared
    server. As root, the server runs as the ``postgres`` user (it refuses root)."""

    def __init__(self) -> None:
        found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.bin = Path(found[-1]).parent
        self.directory = Path(tempfile.mkdtemp(prefix="zwm-chaos-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
            )
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )

    def restart(self) -> None:
        """An immediate stop (as a crash: no checkpoint, WAL recovery on start), then start."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class Chaos:
    """One chaos run against the environment ``env`` (its DATABASE_URL, QUEUE_CONNECTION...)."""

    env: dict[str, str]
    directory: Path
    seed: int
    restart: Callable[[], None] | None = None
    """Restarts the queue's server once, at a random moment among the kills."""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        python_path = [str(HERE), str(SRC), self.env.get("PYTHONPATH", "")]
        self.env = {
            **self.env,
            "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
            "LOG_LEVEL": "WARNING",
            # The harness kills workers far more often than hosts die: a job caught by
            # several kills is not poison here (poison detection has its own test).
            "ZWM_QUEUE_MAX_RECOVERIES": "50",
        }

    def _python(self, *args: str, timeout: float = 120.0) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise AssertionError(f"{args[0]} {args[1]} failed (seed {self.seed}):\n{done.stderr[-3000:]}")
        return done.stdout

    def zwm(self, *args: str) -> str:
        return self._python("-m", "zwm", *args)

    def store(self, *args: str) -> Any:
        return json.loads(self._python(str(HERE / "chaos_store.py"), *args).splitlines()[-1])

    def _start_worker(self) -> None:
        log = (self.directory / f"worker-{len(self.workers)}.log").open("wb")
        args = ["-m", "zwm", "queue:work", "--lease", LEASE, "--sleep", "0.1", "--timeout", "30"]
        self.workers.append(subprocess.Popen([sys.executable, *args], env=self.env, stderr=log))

    def run(self) -> dict[str, Any]:
        """Migrate, dispatch, work through the kills and the restart; what was expected."""
        self.zwm("migrate")
        expected: dict[str, Any] = self.store("dispatch", str(self.seed), str(self.directory))
        try:
            for _ in range(WORKERS):
                self._start_worker()
            restart_at = self.rng.randrange(KILLS) if self.restart is not None else -1
            for index in range(KILLS):
                time.sleep(self.rng.uniform(0.3, 1.5))
                live = [w for w in self.workers if w.poll() is None]
                victim = self.rng.choice(live)
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
                self.events.append(f"{time.monotonic():.1f} killed worker {victim.pid}")
                self._start_worker()
                if index == restart_at and self.restart is not None:
                    self.restart()
                    self.events.append(f"{time.monotonic():.1f} restarted the server")
            self._wait_until_done(expected)
        finally:
            self._stop_workers()
        return expected

    def effects(self) -> Counter[str]:
        path = self.directory / "effects.log"
        return Counter(path.read_text().splitlines()) if path.exists() else Counter()

    def _wait_until_done(self, expected: dict[str, Any]) -> None:
        deadline = time.monotonic() + DEADLINE
        settled = 2 * len(expected["batches"])
        while time.monotonic() < deadline:
            effects = {line.split(" ", 1)[1] for line in self.effects()}
            callbacks = sum(1 for line in self.effects() if line.startswith(("then:", "finally:")))
            if set(expected["jobs"]) <= effects and callbacks >= settled:
                monitor = json.loads(self.zwm("queue:monitor", "--json"))
                queues = monitor["queues"].values()
                if all(q["waiting"] == q["delayed"] == q["reserved"] == 0 for q in queues):
                    return
            time.sleep(0.5)
        raise AssertionError(f"the chaos run did not finish within {DEADLINE:g} s (seed {self.seed})")

    def _stop_workers(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)

    def check(self, expected: dict[str, Any]) -> None:
        """The invariants, each failure naming the seed that repeats the run."""
        report = self.store("report")
        self.events.append(f"{report['worker_lost_rows']} executions closed as worker lost")
        monitor = json.loads(self.zwm("queue:monitor", "--json"))
        effects = self.effects()
        done = {line.split(" ", 1)[1] for line in effects}
        seed = f"(repeat with {SEED_VARIABLE}={self.seed}; events: {self.events})"
        missing = set(expected["jobs"]) - done
        assert not missing, f"{len(missing)} jobs never had their effect {seed}"
        succeeded: dict[str, int] = report["succeeded"]
        not_once = {job: succeeded.get(job, 0) for job in expected["jobs"] if succeeded.get(job, 0) != 1}
        assert not not_once, f"jobs without exactly one recorded success: {not_once} {seed}"
        twice = {job: n for job, n in succeeded.items() if n != 1}
        assert not twice, f"successes recorded more than once: {twice} {seed}"
        members = {line for line in effects if line.startswith("member ")}
        assert len(members) == expected["members"], f"{len(members)} batch members ran {seed}"
        assert report["failed_jobs"] == [], f"jobs in failed jobs that did not fail by themselves {seed}"
        for batch_id, batch in report["batches"].items():
            assert batch == {"pending": 0, "failed": 0, "finished": True}, f"batch {batch_id}: {batch} {seed}"
            for event in ("then", "finally"):
                fired = {line for line in effects if line.startswith(f"{event}:{batch_id} ")}
                assert len(fired) == 1, f"batch {batch_id} fired {event} {len(fired)} times {seed}"
        assert report["running_rows"] == 0, f"{report['running_rows']} history rows left running {seed}"
        assert report["unique_locks"] == 0, f"{report['unique_locks']} unique locks left held {seed}"
        totals = monitor["totals"]
        assert totals["succeeded"] == report["succeeded_rows"], f"monitor {totals} vs the stores {seed}"
        assert totals["failed_jobs"] == len(report["failed_jobs"]), f"monitor {totals} vs failed jobs {seed}"
        queued = {name: counts for name, counts in report["queued"].items() if any(counts.values())}
        assert queued == {}, f"jobs left in the queue: {queued} {seed}"


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()
