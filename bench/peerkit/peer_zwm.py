"""zwm on SQLite, PostgreSQL and Redis, as its README sets it up (run in the project's venv).

Jobs are :class:`zwm_jobs.Append` / :class:`zwm_jobs.Stamp`; the worker is ``zwm queue:work
--processes N`` with its defaults, except a 5 s lease in the crash scenario (default 30 s)
so that a killed worker's jobs come back inside the scenario's window. Redis keeps its jobs
under a key prefix of its own in the peers' Redis database; history and failed jobs go to a
throw-away SQLite file, as in a default install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import System

PEERS_REDIS_URL = os.environ.get("PEERS_REDIS_URL", "redis://127.0.0.1:6379/12")
PEERS_POSTGRES = os.environ.get("PEERS_POSTGRES", "postgres://postgres@127.0.0.1:5432")
TABLES = ("jobs", "job_unique_locks", "failed_jobs", "job_history", "job_batches", "job_queue_workers")
QUEUE = "bench"


class _Zwm(System):
    supervised = True
    connection = "database"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.env = {
            **os.environ,
            "ZWM_DATA_DIR": str(workdir / "data"),
            "QUEUE_CONNECTION": self.connection,
            "REDIS_URL": PEERS_REDIS_URL,
            "ZWM_QUEUE_PREFIX": f"zwmpeers-zwm-{os.getpid()}",
            "LOG_LEVEL": "WARNING",
            "ZWM_DEMO": "false",
            "PYTHONPATH": str(Path(__file__).parent),
        }
        self.env.pop("DATABASE_URL", None)
        self.env.update(self.database_env())

    def database_env(self) -> dict[str, str]:
        return {}

    def setup(self) -> None:
        os.environ.clear()
        os.environ.update(self.env)
        from django.core.management import call_command

        from zwm.cli.base import setup_django

        setup_django()
        call_command("migrate", interactive=False, verbosity=0)
        from zwm.queue.connections import get_driver

        self.driver = get_driver(self.connection)
        from zwm_jobs import Append, Stamp

        from zwm.queue.dispatch import dispatch, dispatch_many

        self._dispatch, self._dispatch_many, self._append, self._stamp = (
            dispatch,
            dispatch_many,
            Append,
            Stamp,
        )

    def purge(self) -> None:
        from django.db import connection, connections

        with connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DELETE FROM {table}")
        connections.close_all()  # never hold SQLite's lock while workers run

    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        self._dispatch(self._append(path=path, mark=mark, sleep=sleep))

    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        for start in range(0, len(marks), 1000):
            jobs = [self._append(path=path, mark=mark, sleep=sleep) for mark in marks[start : start + 1000]]
            self._dispatch_many(jobs)
        from django.db import connections

        connections.close_all()

    def enqueue_stamp(self, path: str) -> None:
        import time

        self._dispatch(self._stamp(path=path, sent=time.time()))

    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        zwm = str(Path(sys.executable).with_name("zwm"))
        command = [zwm, "queue:work", "--queue", QUEUE, "--processes", str(processes)]
        return [command + (["--lease", "5"] if crash else [])]

    def worker_env(self) -> dict[str, str]:
        return self.env

    def failed_count(self) -> int:
        from zwm.queue.models import FailedJob

        return FailedJob.objects.count()


class ZwmSqlite(_Zwm):
    name, broker = "zwm", "SQLite"


class ZwmPostgres(_Zwm):
    name, broker = "zwm", "PostgreSQL"
    database = "zwm_peers_bench"

    def database_env(self) -> dict[str, str]:
        return {"DATABASE_URL": f"{PEERS_POSTGRES}/{self.database}"}

    def setup(self) -> None:
        _psql(f"DROP DATABASE IF EXISTS {self.database}")
        _psql(f"CREATE DATABASE {self.database}")
        super().setup()

    def teardown(self) -> None:
        from django.db import connections

        connections.close_all()
        _psql(f"DROP DATABASE IF EXISTS {self.database}")


class ZwmRedis(_Zwm):
    name, broker = "zwm", "Redis"
    connection = "redis"

    def purge(self) -> None:
        self.driver.delete_all_keys()  # type: ignore[attr-defined]
        super().purge()


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-d", f"{PEERS_POSTGRES}/postgres", "-qc", sql], check=True)
