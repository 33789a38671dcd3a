"""Dramatiq on Redis, as its guide sets it up (run in the peers' venv).

Worker: ``dramatiq peer_dramatiq --processes N`` (8 threads per process, its default).
Dramatiq has no bulk enqueue: a ``group`` sends its messages one by one. Keys live under a
namespace of their own.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import dramatiq
import redis
from dramatiq import group
from dramatiq.brokers.redis import RedisBroker
from harness import System
from jobbody import append, stamp
from peer_celery import URL, _bin, _delete_prefix

NAMESPACE = "zwmpeers-dramatiq"

dramatiq.set_broker(RedisBroker(url=URL, namespace=NAMESPACE))
append_actor = dramatiq.actor(append, actor_name="append", queue_name="bench")
stamp_actor = dramatiq.actor(stamp, actor_name="stamp", queue_name="bench")


class DramatiqSystem(System):
    name, broker, supervised = "Dramatiq", "Redis", True

    def purge(self) -> None:
        _delete_prefix(NAMESPACE)

    def enqueue_one(self, path: str, mark: str, sleep: float) -> None:
        append_actor.send(path, mark, sleep)

    def enqueue_bulk(self, path: str, marks: Sequence[str], sleep: float) -> None:
        group(append_actor.message(path, mark, sleep) for mark in marks).run()

    def enqueue_stamp(self, path: str) -> None:
        stamp_actor.send(path, time.time())

    def worker_commands(self, processes: int, *, crash: bool) -> list[list[str]]:
        return [[_bin("dramatiq"), "peer_dramatiq", "--processes", str(processes)]]

    def failed_count(self) -> int:
        client = redis.Redis.from_url(URL)
        dead = f"{NAMESPACE}:bench.XQ"
        kind = client.type(dead)
        return int(client.zcard(dead) if kind == b"zset" else client.llen(dead) if kind == b"list" else 0)
