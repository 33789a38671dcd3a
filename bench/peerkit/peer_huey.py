"""Huey on Redis, as its guide sets it up (run in the peers' venv).

Consumer: ``huey_consumer peer_huey.huey --workers N --worker-type process``. Huey has no
bulk enqueue: calling the task queues one message. Results are kept (Huey's default).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from harness import System
from huey import RedisHuey
from jobbody import append, stamp
from peer_celery import URL, _bin

huey = RedisHuey("zwmpeers-huey", url=URL)
append_task = huey.task()(append)
stamp_task = huey.task()(stamp)


class HueySystem(System):
    name, broker, supervised = "Huey", "Redis", True

    def purge(self) -> None:
        huey.flush()

    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        append_task(path, mark, sleep)

    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        for mark in marks:
            append_task(path, mark, sleep)

    def enqueue_stamp(self, path: str) -> None:
        stamp_task(path, time.time())

    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        command = [_bin("huey_consumer"), "peer_huey.huey", "--workers", str(processes)]
        return [[*command, "--worker-type", "process", "--logfile", "/dev/null"]]
