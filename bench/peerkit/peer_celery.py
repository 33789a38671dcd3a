"""Celery 5 on Redis, as its "First steps" guide sets it up (run in the peers' venv).

Worker: ``celery -A peer_celery worker --concurrency N`` (prefork pool, its default). No
result backend (the guide's first app has none); task acknowledgement left at its default
(``acks_late`` off: a message is acknowledged when the task starts). Every key lives under
a prefix of its own (kombu's ``global_keyprefix``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from celery import Celery, group
from harness import System
from jobbody import append, stamp

URL = os.environ.get("PEERS_REDIS_URL", "redis://127.0.0.1:6379/12")
PREFIX = "zwmpeers-celery:"

app = Celery("zwmpeers", broker=URL)
app.conf.broker_transport_options = {"global_keyprefix": PREFIX}
app.conf.worker_hijack_root_logger = False

append_task = app.task(name="append")(append)
stamp_task = app.task(name="stamp")(stamp)


class CelerySystem(System):
    name, broker, supervised = "Celery", "Redis", True

    def purge(self) -> None:
        _delete_prefix(PREFIX)

    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        append_task.delay(path, mark, sleep)

    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        group(append_task.s(path, mark, sleep) for mark in marks).apply_async()

    def enqueue_stamp(self, path: str) -> None:
        stamp_task.delay(path, time.time())

    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        return [
            [_bin("celery"), "-A", "peer_celery", "worker", "--concurrency", str(processes), "-l", "WARNING"]
        ]


def _delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])


def _bin(command: str) -> str:
    return str(Path(sys.executable).with_name(command))
