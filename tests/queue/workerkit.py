"""Helpers for tests that run real worker processes against the test database.

pytest-django renames the database for the test run (SQLite: ``<NAME>.test``; PostgreSQL
and MariaDB: ``test_<name>``), so a subprocess must be pointed at that name explicitly,
and the tests must be ``transaction=True`` so what they write is committed and visible to
the workers (and what the workers write is visible to them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

from zwm.queue.drivers.redis import RedisDriver

HERE = Path(__file__).resolve().parent


def worker_database_url() -> str:
    """A ``DATABASE_URL`` naming the database this test run really uses."""
    settings = connection.settings_dict
    name = settings["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    scheme = "postgres" if connection.vendor == "postgresql" else "mysql"
    user = quote(settings.get("USER") or "")
    password = settings.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else f"{user}@"
    return f"{scheme}://{auth}{settings.get('HOST') or '127.0.0.1'}:{settings.get('PORT') or ''}/{name}"


def wait_for(
    predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what or predicate}")


class Workers:
    """Starts ``zwm`` subprocesses on the test database and kills leftovers at teardown."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.started: list[subprocess.Popen[str]] = []

    def on_redis(self, url: str) -> RedisDriver:
        """Point the workers at Redis ``url`` under a fresh prefix; the driver to queue with."""
        driver = RedisDriver(url, prefix=f"zwm-test-{uuid.uuid4().hex}")
        self.env.update(QUEUE_CONNECTION="redis", REDIS_URL=url, ZWM_QUEUE_PREFIX=driver.prefix)
        return driver

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "zwm", *args]

    def run(
        self, *args: str, timeout: float = 60.0, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``zwm ARGS`` to completion."""
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout, input=input
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``zwm ARGS`` (e.g. ``queue:work ...``) in the background."""
        process = subprocess.Popen(
            self.command(*args),
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def work(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run a worker until it stops on its own (pass --stop-when-empty, --once...)."""
        return self.run("queue:work", *args, timeout=timeout)

    def stop(self, process: subprocess.Popen[str], timeout: float = 20.0) -> tuple[int, str, str]:
        """SIGTERM a background process and collect its exit code and output."""
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err

    def cleanup(self) -> None:
        for process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """Run ``zwm`` subprocesses that share this test's (committed) database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=worker_database_url(),
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        QUEUE_CONNECTION="database",
        LOG_LEVEL="WARNING",
    )
    manager = Workers(env)
    yield manager
    manager.cleanup()
