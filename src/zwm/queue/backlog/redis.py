"""The backlog on Redis (the layout is :mod:`zwm.queue.drivers.redis`'s).

A job's state is where its id sits: the waiting list, the delayed set (due ones count as
waiting, as for the driver) or the reserved set (lapsed leases count as waiting). Listing
without a filter reads ranges of those keys directly. A filter by job class or a search
needs the payloads: a script scans :data:`SCAN_CHUNK` entries at a time server-side and
returns only the matching ids, and a request looks at no more than :data:`SCAN_BUDGET`
entries -- past that, counts say "N+" rather than keep Redis (single-threaded) busy.
Paused queues are one set, ``{p}:paused``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from zwm.queue.backlog.base import Backlog, BacklogFilter, PendingJob, State, check_page
from zwm.queue.counting import COUNT_CAP, CappedCount
from zwm.queue.drivers.base import check_queue_names
from zwm.queue.drivers.redis import NOTIFY_CAP, RedisDriver, decode
from zwm.queue.redis_safety import translated

SCAN_CHUNK = 2000
"""Entries one scan script looks at (a few milliseconds of Redis time)."""
SCAN_BUDGET = 100_000
"""Most entries one listing or count looks at when it must read payloads."""


def _script(name: str) -> str:
    prelude = (resources.files("zwm.queue.drivers") / "lua" / "_prelude.lua").read_text()
    return prelude + (resources.files("zwm.queue.backlog") / "lua" / f"{name}.lua").read_text()


_SOURCES = {name: _script(name) for name in ("scan", "run_now")}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@dataclass(frozen=True)
class _Source:
    """One key holding jobs of one queue in one state (a zset: within a score range)."""

    queue: str
    state: State
    key: str
    low: str = ""
    high: str = ""

    @property
    def kind(self) -> str:
        return "zset" if self.low else "list"


class _Scan:
    """Matching ids of ``sources`` in listing order, looking at no more than
    :data:`SCAN_BUDGET` entries; ``complete`` tells whether every entry was looked at."""

    def __init__(
        self, backlog: RedisBacklog, where: BacklogFilter, sources: Sequence[_Source], skip: int
    ) -> None:
        self.backlog, self.sources, self.skip = backlog, sources, skip
        self.exact = "" if where.job_class is None else '"job":' + json.dumps(where.job_class)
        self.lowered = "" if where.search is None else where.search.lower()
        self.complete = True

    def __iter__(self) -> Iterator[tuple[_Source, str]]:
        script = self.backlog._scripts["scan"]
        payload = self.backlog.driver.key("payload")
        budget = SCAN_BUDGET
        for index, source in enumerate(self.sources):
            start = self.skip if index == 0 else 0
            while True:
                if budget <= 0:
                    self.complete = False
                    return
                chunk = min(SCAN_CHUNK, budget)
                args: list[Any] = [
                    source.kind,
                    start,
                    chunk,
                    source.low,
                    source.high,
                    self.exact,
                    self.lowered,
                ]
                reply = script(keys=[payload, source.key], args=args)
                looked = int(reply[0])
                for job_id in reply[1:]:
                    yield source, _text(job_id)
                budget -= looked
                start += looked
                if looked < chunk:
                    break


class RedisBacklog(Backlog):
    driver: RedisDriver

    def __init__(self, driver: RedisDriver) -> None:
        self.driver = driver
        self.client = driver.client
        self._scripts = {name: self.client.register_script(src) for name, src in _SOURCES.items()}

    # -- reading ---------------------------------------------------------------

    def _server_now_us(self) -> int:
        seconds, micros = self.client.time()
        return int(seconds) * 1_000_000 + int(micros)

    def _queues(self, where: BacklogFilter) -> list[str]:
        if where.queue is not None:
            return [where.queue]
        return sorted(_text(q) for q in self.client.smembers(self.driver.key("queues")))

    def _sources(self, where: BacklogFilter, now_us: int) -> list[_Source]:
        key, now = self.driver.key, str(now_us)
        sources: list[_Source] = []
        for queue in self._queues(where):
            delayed, reserved = key(f"d:{queue}"), key(f"r:{queue}")
            by_state = {
                State.WAITING: [
                    _Source(queue, State.WAITING, key(f"q:{queue}")),
                    _Source(queue, State.WAITING, delayed, "-inf", now),
                    _Source(queue, State.WAITING, reserved, "-inf", now),
                ],
                State.DELAYED: [_Source(queue, State.DELAYED, delayed, f"({now}", "+inf")],
                State.RESERVED: [_Source(queue, State.RESERVED, reserved, f"({now}", "+inf")],
            }
            for state in [where.state] if where.state is not None else list(State):
                sources += by_state[state]
        return sources

    def _sizes(self, sources: Sequence[_Source]) -> list[int]:
        pipe = self.client.pipeline(transaction=False)
        for source in sources:
            if source.kind == "list":
                pipe.llen(source.key)
            else:
                pipe.zcount(source.key, source.low, source.high)
        return [int(n) for n in pipe.execute()]

    def _scan(self, where: BacklogFilter, sources: Sequence[_Source], skip: int = 0) -> _Scan:
        return _Scan(self, where, sources, skip)

    def jobs(self, where: BacklogFilter, *, limit: int = 50, offset: int = 0) -> list[PendingJob]:
        check_page(limit, offset)
        if limit == 0:
            return []
        with translated(self.driver.location):
            now_us = self._server_now_us()
            sources = self._sources(where, now_us)
            skip = 0
            if not where.narrowed:  # no payload to read: skip whole keys by their sizes
                kept: list[_Source] = []
                for source, size in zip(sources, self._sizes(sources), strict=True):
                    if offset >= size and not kept:
                        offset -= size
                    else:
                        kept.append(source)
                sources, skip, offset = kept, offset, 0
            picked: list[tuple[_Source, str]] = []
            for n, match in enumerate(self._scan(where, sources, skip)):
                if n < offset:
                    continue
                picked.append(match)
                if len(picked) >= limit:
                    break
            return self._details(picked, now_us)

    def _details(self, picked: Sequence[tuple[_Source, str]], now_us: int) -> list[PendingJob]:
        if not picked:
            return []
        ids = [job_id for _, job_id in picked]
        pipe = self.client.pipeline(transaction=False)
        for name in ("payload", "attempts", "since", "lease"):
            pipe.hmget(self.driver.key(name), ids)
        skew = time.time() - now_us / 1_000_000
        jobs: list[PendingJob] = []
        for (source, job_id), raw, attempts, since, lease in zip(picked, *pipe.execute(), strict=True):
            if raw is None and since is None:
                continue  # finished between the two reads
            jobs.append(self._pending(source.queue, source.state, job_id, raw, attempts, since, lease, skew))
        return jobs

    def _pending(
        self,
        queue: str,
        state: State,
        job_id: str,
        raw: Any,
        attempts: Any,
        since: Any,
        lease: Any,
        skew: float,
    ) -> PendingJob:
        reserved_at = None
        if state is State.RESERVED and lease is not None:
            reserved_at = int(_text(lease).split("|")[1]) / 1_000_000 + skew
        return PendingJob(
            envelope=decode(job_id, raw or "", queue, int(attempts or 0)),
            state=state,
            available_at=int(_text(since)) / 1_000_000 + skew if since is not None else 0.0,
            reserved_at=reserved_at,
        )

    def count(self, where: BacklogFilter, *, cap: int = COUNT_CAP) -> CappedCount:
        with translated(self.driver.location):
            sources = self._sources(where, self._server_now_us())
            if not sources:
                return CappedCount(0)
            if not where.narrowed:
                total = sum(self._sizes(sources))
            else:
                total = 0
                scan = self._scan(where, sources)
                for _ in scan:
                    total += 1
                    if total > cap:
                        break
                if not scan.complete:
                    return CappedCount(min(total, cap), capped=True)
        return CappedCount(cap, capped=True) if total > cap else CappedCount(total)

    def _queue_of(self, job_id: str) -> str | None:
        queue = self.client.hget(self.driver.key("queue"), job_id)
        return None if queue is None else _text(queue)

    def get(self, job_id: str) -> PendingJob | None:
        key = self.driver.key
        with translated(self.driver.location):
            queue = self._queue_of(job_id)
            if queue is None:
                return None
            pipe = self.client.pipeline(transaction=True)
            pipe.time()
            for name in ("payload", "attempts", "since", "lease"):
                pipe.hget(key(name), job_id)
            pipe.zscore(key(f"d:{queue}"), job_id)
            pipe.zscore(key(f"r:{queue}"), job_id)
            (seconds, micros), raw, attempts, since, lease, delayed, reserved = pipe.execute()
        if raw is None and since is None:
            return None
        now_us = int(seconds) * 1_000_000 + int(micros)
        if reserved is not None and reserved > now_us:
            state = State.RESERVED
        elif delayed is not None and delayed > now_us:
            state = State.DELAYED
        else:
            state = State.WAITING
        skew = time.time() - now_us / 1_000_000
        return self._pending(queue, state, job_id, raw, attempts, since, lease, skew)

    # -- managing --------------------------------------------------------------

    def run_now(self, job_id: str) -> bool:
        key = self.driver.key
        with translated(self.driver.location):
            queue = self._queue_of(job_id)
            if queue is None:
                return False
            keys = [key("since"), key(f"q:{queue}"), key(f"d:{queue}"), key(f"n:{queue}")]
            return bool(self._scripts["run_now"](keys=keys, args=[job_id, NOTIFY_CAP]))

    def oldest_available(self, queues: Sequence[str]) -> dict[str, float]:
        check_queue_names(queues)
        key = self.driver.key
        with translated(self.driver.location):
            now_us = self._server_now_us()
            pipe = self.client.pipeline(transaction=False)
            for queue in queues:
                pipe.lindex(key(f"q:{queue}"), 0)
                pipe.zrange(key(f"d:{queue}"), "-inf", now_us, byscore=True, offset=0, num=1, withscores=True)
                pipe.zrange(key(f"r:{queue}"), "-inf", now_us, byscore=True, offset=0, num=1, withscores=True)
            replies = pipe.execute()
            heads = [replies[3 * i] for i in range(len(queues))]
            since = self.client.hmget(key("since"), [h for h in heads if h is not None]) if any(heads) else []
        skew = time.time() - now_us / 1_000_000
        found = iter(since)
        oldest: dict[str, float] = {}
        for i, queue in enumerate(queues):
            candidates = [float(score) for _, score in (*replies[3 * i + 1], *replies[3 * i + 2])]
            if heads[i] is not None and (head_since := next(found)) is not None:
                candidates.append(float(_text(head_since)))
            if candidates:
                oldest[queue] = min(candidates) / 1_000_000 + skew
        return oldest

    def paused(self) -> set[str]:
        with translated(self.driver.location):
            return {_text(q) for q in self.client.smembers(self.driver.key("paused"))}

    def pause(self, queue: str) -> bool:
        check_queue_names([queue])
        with translated(self.driver.location):
            return bool(self.client.sadd(self.driver.key("paused"), queue))

    def resume(self, queue: str) -> bool:
        check_queue_names([queue])
        with translated(self.driver.location):
            return bool(self.client.srem(self.driver.key("paused"), queue))
