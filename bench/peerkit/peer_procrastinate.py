"""Procrastinate on PostgreSQL, as its quickstart sets it up (run in the peers' venv).

Schema applied with ``procrastinate schema --apply`` into a throw-away database; worker:
N ``procrastinate worker`` commands (one job at a time each, its default concurrency).
Bulk enqueue: ``Task.batch_defer``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence

import procrastinate
import psycopg
from harness import System
from jobbody import append, stamp
from peer_celery import _bin

SERVER = os.environ.get("PEERS_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = "zwm_peers_procrastinate"
CONNINFO = f"{SERVER}/{DATABASE}"

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=CONNINFO))
append_task = app.task(name="append", queue="bench")(append)
stamp_task = app.task(name="stamp", queue="bench")(stamp)


class ProcrastinateSystem(System):
    name, broker, supervised = "Procrastinate", "PostgreSQL", False

    def setup(self) -> None:
        _server_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
        _server_sql(f"CREATE DATABASE {DATABASE}")
        subprocess.run(
            [_bin("procrastinate"), "--app", "peer_procrastinate.app", "schema", "--apply"],
            check=True,
            cwd=os.path.dirname(__file__),
            env=self.worker_env(),
            stdout=subprocess.DEVNULL,
        )
        self._open = app.open()
        self._open.__enter__()

    def teardown(self) -> None:
        self._open.__exit__(None, None, None)
        _server_sql(f"DROP DATABASE IF EXISTS {DATABASE}")

    def purge(self) -> None:
        with psycopg.connect(CONNINFO, autocommit=True) as connection:
            connection.execute("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE")

    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        append_task.defer(path=path, mark=mark, sleep=sleep)

    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        for start in range(0, len(marks), 1000):
            append_task.batch_defer(
                *({"path": path, "mark": m, "sleep": sleep} for m in marks[start : start + 1000])
            )

    def enqueue_stamp(self, path: str) -> None:
        stamp_task.defer(path=path, sent=time.time())

    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        command = [_bin("procrastinate"), "--app", "peer_procrastinate.app", "worker", "--queues", "bench"]
        return [command for _ in range(processes)]

    def failed_count(self) -> int:
        with psycopg.connect(CONNINFO) as connection:
            row = connection.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'"
            ).fetchone()
        return int(row[0]) if row else 0


def _server_sql(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as connection:
        connection.execute(sql)
