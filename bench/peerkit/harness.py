"""The scenarios of ``bench/peers.py``, the same for every system (standard library only).

Runs inside the virtualenv of the system it measures (the project's for zwm, the peers'
one for the others) and prints one JSON object::

    python bench/peerkit/harness.py SYSTEM --jobs 20000 --single 2000 ...

Every measure uses the system's own public API and its own worker command, the same job
body (:mod:`jobbody`) and the same number of worker processes. Throughput is timed from the
first job's start to the last job's end, read from the file the jobs append to, so worker
start-up (a Django boot, a Celery boot) is outside every figure alike.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

POLL = 0.002
"""Seconds between looks at the output file (a stat: cheap next to any job system)."""
STOP_GRACE = 15.0
"""Seconds a worker gets to stop after SIGTERM before its whole process tree is killed."""


class System(ABC):
    """One job system on one broker, used the way its documentation recommends."""

    name: str
    broker: str
    supervised: bool
    """True: one command starts a master that runs N worker processes (and replaces dead
    ones); False: N independent worker commands."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def setup(self) -> None:  # noqa: B027 - most systems need nothing
        """Create what the system stores jobs in (a schema, a database)."""

    def teardown(self) -> None:  # noqa: B027 - most systems need nothing
        """Drop what :meth:`setup` created."""

    @abstractmethod
    def purge(self) -> None:
        """Remove every job, result and failure record of this system (workers stopped)."""

    @abstractmethod
    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        """Queue one :func:`jobbody.append` job the way a single enqueue is documented."""

    @abstractmethod
    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        """Queue many jobs with the system's bulk API (or its documented loop if it has none)."""

    @abstractmethod
    def enqueue_stamp(self, path: str) -> None:
        """Queue one :func:`jobbody.stamp` job carrying the current time."""

    @abstractmethod
    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        """The command(s) starting ``processes`` worker processes; ``crash``: the crash scenario."""

    def worker_env(self) -> dict[str, str]:
        """The workers' environment: this one, with the job modules importable."""
        return {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}

    def failed_count(self) -> int | None:
        """Jobs recorded as failed (``None``: the system keeps no failure record)."""
        return None


# -- processes ------------------------------------------------------------------------------


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(root: int, parents: dict[int, int]) -> list[int]:
    found: list[int] = []
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        frontier += children
    return found


def _kill_tree(root: int) -> None:
    for pid in [root, *_descendants(root, _parents())]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class Workers:
    """The worker command(s) of one scenario, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, system: System, processes: int, *, crash: bool = False) -> None:
        self.commands = system.worker_commands(processes, crash=crash)
        self.env = system.worker_env()
        self.log = open(system.workdir / "workers.log", "ab")  # noqa: SIM115 - closed in stop()
        self.procs = [self._start(command) for command in self.commands]
        self.restarts = 0

    def _start(self, command: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command, env=self.env, cwd=Path(__file__).parent, stdout=self.log, stderr=self.log
        )

    def restart_exited(self) -> None:
        """Start again any worker command that exited, as a service manager would."""
        for index, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.procs[index] = self._start(self.commands[index])
                self.restarts += 1

    def kill_unit(self, pid: int, supervised: bool) -> list[int]:
        """SIGKILL the worker process that ran ``pid``'s job, with everything under it
        (the first worker when that process has exited already).

        The unit is the child of the master command (supervised systems) or the worker
        command itself: a job's own process (RQ's work horse, zwm's executor child) dies with
        its worker, as it would when the worker's host or container is killed.
        """
        parents = _parents()
        launched = {proc.pid for proc in self.procs}
        chain = [pid]
        while chain[-1] not in launched and chain[-1] in parents and chain[-1] > 1:
            chain.append(parents[chain[-1]])
        if chain[-1] not in launched:  # the job's process exited already (RQ's horse): any worker
            first = self.procs[0].pid
            chain = [*[child for child, parent in parents.items() if parent == first][:1], first]
        unit = chain[-2] if supervised and len(chain) > 1 else chain[-1]
        victims = [unit, *_descendants(unit, parents)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        return victims

    def stop(self) -> None:
        trees = {proc.pid: _descendants(proc.pid, _parents()) for proc in self.procs}
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
        for root, descendants in trees.items():
            _kill_tree(root)
            for pid in descendants:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()
        self.log.close()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []


# -- scenarios ------------------------------------------------------------------------------


class Scenarios:
    def __init__(self, system: System, timeout: float) -> None:
        self.system = system
        self.timeout = timeout
        self._files = 0

    def _path(self) -> str:
        self._files += 1
        return str(self.system.workdir / f"out-{self._files}.txt")

    def single_enqueue(self, jobs: int) -> float:
        """Jobs per second queued one call at a time."""
        path = self._path()
        self.system.enqueue_one(path, ".", 0.0)  # connect and warm up outside the clock
        started = time.perf_counter()
        for _ in range(jobs):
            self.system.enqueue_one(path, ".", 0.0)
        elapsed = time.perf_counter() - started
        self.system.purge()
        return jobs / elapsed

    def bulk_enqueue(self, jobs: int) -> float:
        path = self._path()
        self.system.enqueue_one(path, ".", 0.0)
        marks = ["."] * jobs
        started = time.perf_counter()
        self.system.enqueue_bulk(path, marks, 0.0)
        elapsed = time.perf_counter() - started
        self.system.purge()
        return jobs / elapsed

    def process(self, jobs: int, processes: int, sleep: float = 0.0) -> float:
        """Jobs per second from the first job's start to the last one's end (pre-queued jobs)."""
        path = self._path()
        self.system.enqueue_bulk(path, ["."] * jobs, sleep)
        with Workers(self.system, processes):
            deadline = time.monotonic() + self.timeout
            while _size(path) == 0:
                self._check(deadline, path, jobs)
            first = time.perf_counter() - sleep  # the first job started ``sleep`` before it wrote
            while _size(path) < jobs:
                self._check(deadline, path, jobs)
            last = time.perf_counter()
        self.system.purge()
        return jobs / (last - first)

    def _check(self, deadline: float, path: str, jobs: int) -> None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{self.system.name}: {_size(path)} of {jobs} jobs ran in {self.timeout} s")
        time.sleep(POLL)

    def latency(self, samples: int, processes: int) -> tuple[float, float]:
        """p50/p95 ms from the enqueue call to the job's start, on idle workers."""
        path = self._path()
        with Workers(self.system, processes):
            deadline = time.monotonic() + self.timeout
            for count in range(1, 4 + samples):  # three warm-up jobs: imports, first connections
                self.system.enqueue_stamp(path)
                while len(_lines(path)) < count:
                    self._check(deadline, path, count)
                time.sleep(0.02)  # let the workers go idle again
        delays = sorted(float(line) * 1000 for line in _lines(path)[3:])
        self.system.purge()
        return statistics.median(delays), delays[max(0, int(len(delays) * 0.95) - 1)]

    def crash(self, jobs: int, processes: int, window: float) -> dict[str, Any]:
        """SIGKILL a worker mid-run, restart exited commands, count what became of each job.

        Jobs sleep 10 ms so a worker is killed inside one. After the kill the survivors (and
        any restarted command) get ``window`` seconds to finish; then every job is either
        done once, done more than once, recorded as failed without having run, or lost.
        """
        path = self._path()
        self.system.enqueue_bulk(path, [f"{index} {{pid}}\n" for index in range(jobs)], 0.01)
        with Workers(self.system, processes, crash=True) as workers:
            deadline = time.monotonic() + self.timeout
            while len(_lines(path)) < jobs // 4:
                self._check(deadline, path, jobs)
            victim = int(_lines(path)[-1].split()[1])
            time.sleep(0.005)  # into the victim's next 10 ms job, not between two
            killed = workers.kill_unit(victim, self.system.supervised)
            until = time.monotonic() + window
            while time.monotonic() < until:
                workers.restart_exited()
                time.sleep(0.25)
            restarts = workers.restarts
        runs: dict[int, int] = {}
        for line in _lines(path):
            index = int(line.split()[0])
            runs[index] = runs.get(index, 0) + 1
        never_ran = jobs - len(runs)
        failed = self.system.failed_count()
        failed_without_running = min(failed, never_ran) if failed is not None else 0
        self.system.purge()
        return {
            "jobs": jobs,
            "killed_processes": len(killed),
            "restarted_commands": restarts,
            "lost": never_ran - failed_without_running,
            "ran_twice": sum(1 for count in runs.values() if count > 1),
            "failed_without_running": failed_without_running,
            "failed_recorded": failed,
        }


SYSTEMS = {
    "zwm-sqlite": ("peer_zwm", "ZwmSqlite"),
    "zwm-postgres": ("peer_zwm", "ZwmPostgres"),
    "zwm-redis": ("peer_zwm", "ZwmRedis"),
    "celery": ("peer_celery", "CelerySystem"),
    "rq": ("peer_rq", "RqSystem"),
    "dramatiq": ("peer_dramatiq", "DramatiqSystem"),
    "huey": ("peer_huey", "HueySystem"),
    "procrastinate": ("peer_procrastinate", "ProcrastinateSystem"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--jobs", type=int, required=True, help="jobs of each processing run")
    parser.add_argument("--single", type=int, required=True, help="jobs of the single-enqueue run")
    parser.add_argument("--io-jobs", type=int, required=True, help="10 ms jobs of the I/O-bound run")
    parser.add_argument("--samples", type=int, required=True, help="latency samples")
    parser.add_argument("--crash-jobs", type=int, default=0, help="0: no crash scenario")
    parser.add_argument("--crash-window", type=float, default=15.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds any one run may take")
    args = parser.parse_args()
    module, cls = SYSTEMS[args.system]
    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory(prefix=f"zwm-peers-{args.system}-") as workdir:
        system: System = getattr(importlib.import_module(module), cls)(Path(workdir))
        system.setup()
        scenarios = Scenarios(system, args.timeout)
        figures: dict[str, Any] = {}
        try:
            system.purge()
            figures["single_enqueue"] = scenarios.single_enqueue(args.single)
            figures["bulk_enqueue"] = scenarios.bulk_enqueue(args.jobs)
            figures["process_1"] = scenarios.process(args.jobs, 1)
            figures[f"process_{args.processes}"] = scenarios.process(args.jobs, args.processes)
            figures["latency_p50_ms"], figures["latency_p95_ms"] = scenarios.latency(
                args.samples, args.processes
            )
            figures["io_10ms"] = scenarios.process(args.io_jobs, args.processes, sleep=0.01)
            if args.crash_jobs:
                figures["crash"] = scenarios.crash(args.crash_jobs, args.processes, args.crash_window)
        finally:
            with contextlib.suppress(Exception):
                system.purge()
            system.teardown()
    print(json.dumps({"system": args.system, "broker": system.broker, "figures": figures}))


if __name__ == "__main__":
    main()
