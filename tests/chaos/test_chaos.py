"""The chaos suite: at-least-once proved under random SIGKILLs and a server restart.

Real worker processes run a mix of jobs -- fast ones, slow ones, progress-chatty ones,
batch members, unique ones, ones that fail once then succeed -- while the harness SIGKILLs
workers at random moments (and starts replacements), restarts PostgreSQL or Redis once,
then checks: every job's effect happened; exactly one success is recorded per job; nothing
is in failed jobs; every batch settled once; no history row is left running; no unique
lock is left held; the monitor's totals equal the stores. The seed is printed in every
failure; ``ZWM_CHAOS_SEED=N`` repeats a run.

The database test runs once per database backend (``backends``); the restart is of a
private PostgreSQL (the shared one serves everybody's tests) or a private Redis.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pymysql
import pytest
from chaoskit import Chaos, chaos_seed, private_postgres
from rediskit import DURABLE, PrivateServers

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

BACKEND = os.environ.get("ZWM_TEST_BACKEND", "sqlite")


def base_env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "QUEUE_CONNECTION"}}
    env.update(ZWM_DATA_DIR=str(directory), QUEUE_CONNECTION="database")
    return env


def run(chaos: Chaos) -> None:
    print(f"chaos seed {chaos.seed}")  # shown with a failure; ZWM_CHAOS_SEED repeats it
    expected = chaos.run()
    try:
        chaos.check(expected)
    finally:
        print("\n".join(chaos.events))


@pytest.mark.backends
def test_chaos_on_the_database_queue(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    seed = chaos_seed()
    if BACKEND == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'chaos.sqlite3'}"
        run(Chaos(env, tmp_path, seed))
    elif BACKEND == "postgres":
        with private_postgres() as server:
            server.create_database("zwm_chaos")
            env["DATABASE_URL"] = server.url("zwm_chaos")
            run(Chaos(env, tmp_path, seed, restart=server.restart))
    else:
        name = f"zwm_chaos_{uuid.uuid4().hex[:12]}"
        admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
        try:
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
            env["DATABASE_URL"] = f"mysql://root@127.0.0.1:3306/{name}"
            run(Chaos(env, tmp_path, seed))
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")
            admin.close()


@pytest.mark.redis
def test_chaos_on_the_redis_queue(tmp_path: Path) -> None:
    with PrivateServers(tmp_path) as servers:
        server = servers.start(*DURABLE)

        def restart() -> None:
            server.kill()
            server.start()

        env = base_env(tmp_path)
        env.update(
            DATABASE_URL=f"sqlite:///{tmp_path / 'chaos.sqlite3'}",
            QUEUE_CONNECTION="redis",
            REDIS_URL=server.url,
            ZWM_QUEUE_PREFIX=f"chaos-{uuid.uuid4().hex[:12]}",
        )
        run(Chaos(env, tmp_path, chaos_seed(), restart=restart))
