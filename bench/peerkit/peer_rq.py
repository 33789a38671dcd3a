"""RQ on Redis, as its documentation sets it up (run in the peers' venv).

Worker: N ``rq worker`` commands (RQ's worker forks a work horse per job, its default).
Bulk enqueue: ``Queue.enqueue_many`` (one pipeline). RQ's keys are fixed (``rq:...``), so
this system runs in a Redis database of the benchmark's own and purges ``rq:*`` there.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
from harness import System
from jobbody import append, stamp
from peer_celery import URL, _bin, _delete_prefix
from rq import Queue
from rq.registry import FailedJobRegistry

QUEUE = "zwmpeers"


class RqSystem(System):
    name, broker, supervised = "RQ", "Redis", False

    def setup(self) -> None:
        self.queue = Queue(QUEUE, connection=redis.Redis.from_url(URL))

    def purge(self) -> None:
        _delete_prefix("rq:")

    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        self.queue.enqueue(append, path, mark, sleep)

    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        for start in range(0, len(marks), 1000):
            self.queue.enqueue_many(
                [Queue.prepare_data(append, (path, mark, sleep)) for mark in marks[start : start + 1000]]
            )

    def enqueue_stamp(self, path: str) -> None:
        self.queue.enqueue(stamp, path, time.time())

    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        return [[_bin("rq"), "worker", QUEUE, "--url", URL, "--quiet"] for _ in range(processes)]

    def failed_count(self) -> int:
        return FailedJobRegistry(queue=self.queue).count
