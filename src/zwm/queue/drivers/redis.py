"""The Redis queue driver: every state change is one Lua script, so it is atomic.

Layout (``p`` = the prefix; every key carries the hash tag ``{p}`` so that a whole prefix
lives in one Redis Cluster slot -- the scripts touch several keys at once, which Cluster
only allows within a slot; the price is that one prefix cannot be spread over shards)::

    {p}:payload   HASH  job id -> envelope JSON (as dispatched; never rewritten)
    {p}:attempts  HASH  job id -> tries used (HINCRBY at reserve, survives worker death);
                        "<id>#r" -> times recovered from a lost worker
    {p}:queue     HASH  job id -> queue name
    {p}:since     HASH  job id -> available-at (us), for the Jobs Waiting listing
    {p}:lease     HASH  job id -> "token|reserved-at-us" while reserved (the fencing token)
    {p}:queues    SET   every queue name ever pushed to
    {p}:q:<queue> LIST  waiting job ids, FIFO
    {p}:d:<queue> ZSET  delayed job ids by available-at (us)
    {p}:r:<queue> ZSET  reserved job ids by lease expiry (us)
    {p}:n:<queue> LIST  wake-up tokens for workers blocked in :meth:`RedisDriver.wait`
    {p}:u:<key>   STRING unique lock, value = owner, with a TTL
    {p}:t:<token> STRING tombstone of an acknowledged (completed or released) reservation,
                        for :data:`TOMBSTONE_TTL` (see :meth:`RedisDriver._acknowledge`)
    {p}:o:<id>    STRING dispatch marker of a job pushed with :meth:`RedisDriver.push_once`

Times come from the Redis server's clock (``TIME`` inside the scripts) so that leases
mean the same to every worker host; :class:`Reservation` times are in that clock.

Connection failures surface as :class:`zwm.queue.redis_safety.QueueConnectionError`; see
that module for what a worker and a CLI command do with it.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import redis
from redis.commands.core import Script

from zwm.queue.drivers.base import (
    Driver,
    QueueCounts,
    QueuedJob,
    Reservation,
    check_queue_names,
    check_reserve_arguments,
)
from zwm.queue.job import Envelope, PayloadError
from zwm.queue.redis_safety import check_reachable, is_transient, translated, warn_if_unsafe
from zwm.queue.redis_url import SOCKET_TIMEOUT, connect

if TYPE_CHECKING:
    from zwm.config import Config

log = logging.getLogger("zwm.queue.redis")

MAX_BLOCK = SOCKET_TIMEOUT - 5.0
"""Longest single blocking call, kept under the socket read timeout."""
PUSH_CHUNK = 1000
"""Jobs per push script: big enough to amortise the round trip, small enough that one
script never holds Redis (single-threaded) for more than a few milliseconds."""
RETRY_DELAYS = (0.05, 0.15, 0.4)
"""Back-off between the attempts of one driver call on a connection failure: rides out a
dropped connection or a fail-over blip; a longer outage is the worker's to back off from."""
TOMBSTONE_TTL = 300.0
"""Seconds an acknowledgement's tombstone is kept: how late a retry of an acknowledgement
whose reply was lost can still learn that its own earlier try landed. Five minutes covers a
fail-over or a restart of Redis; a retry later than that is answered "lease lost", the safe
side (on Redis the database side is recorded first, so all that is missed is the early
release of the job's unique lock, which then expires on its own). A tombstone costs about
130 bytes of Redis memory (measured: 100,000 of them took 13.3 MB): 5 minutes at 1,000
acknowledgements a second keep about 40 MB."""
NOTIFY_CAP = 64
"""Most wake-up tokens left for blocked workers; more idle workers are woken in a chain
(each reserve that leaves work behind wakes one more)."""

P = ParamSpec("P")
R = TypeVar("R")

_SCRIPTS = (
    "push",
    "reserve",
    "extend",
    "complete",
    "release",
    "give_back",
    "delete",
    "clear",
    "counts",
    "next_due",
    "unique_acquire",
    "unique_release",
    "unique_renew",
)


def _load_scripts() -> dict[str, str]:
    folder = resources.files("zwm.queue.drivers") / "lua"
    prelude = (folder / "_prelude.lua").read_text()
    return {name: prelude + (folder / f"{name}.lua").read_text() for name in _SCRIPTS}


_SOURCES = _load_scripts()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _us(seconds: float) -> int:
    return max(0, math.ceil(seconds * 1_000_000))


_JOB_FIELD = re.compile(r'"job"\s*:\s*"([^"\\]{1,300})"')


def decode(job_id: str, raw: bytes | str, queue: str, attempts: int) -> Envelope:
    """Rebuild the envelope of a stored job; Redis, not the JSON, is authoritative for
    id, queue and attempts.

    A payload that cannot be decoded (garbage written by hand, a truncated value, a
    missing hash entry) must not make ``reserve`` raise -- the job would stay at the head
    of its queue and stop every worker. It is handed out as
    :meth:`Envelope.undecodable`, whose ``build()`` raises :class:`PayloadError` with the
    reason, so the worker fails it through its ordinary path (as the database driver does).
    """
    text = _text(raw)
    try:
        if not text:
            raise PayloadError("payload is missing from Redis")
        envelope = Envelope.from_json(raw)
    except PayloadError as exc:
        found = _JOB_FIELD.search(text)
        return Envelope.undecodable(
            id=job_id,
            queue=queue,
            job=found.group(1) if found else "unknown",
            attempts=attempts,
            raw=text,
            reason=str(exc),
        )
    envelope.id, envelope.queue, envelope.attempts = job_id, queue, attempts
    return envelope


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Retry a driver method through a short blip, then raise ``QueueConnectionError``.

    Safe because every method may run twice: push skips ids it already stored, reads and
    lease renewals are idempotent, a reservation whose reply was lost lapses back to the
    queue, and acknowledgements in doubt are re-checked (see :meth:`RedisDriver.complete_many`).
    """

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        self = args[0]
        assert isinstance(self, RedisDriver)
        with translated(self.location):
            for delay in RETRY_DELAYS:
                try:
                    return method(*args, **kwargs)
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    log.debug("Redis at %s: %s; retrying in %.2f s", self.location, exc, delay)
                    time.sleep(delay)
            return method(*args, **kwargs)

    return wrapper


class RedisDriver(Driver):
    """Queue driver on Redis (standalone, Sentinel-managed, or one Cluster slot).

    ``client_or_url`` is a ``REDIS_URL`` (see :mod:`zwm.queue.redis_url`) or a ready
    ``redis.Redis`` client; the client may decode responses or not. Construction does no
    network I/O: call :meth:`check` for an early, clear error.
    """

    def __init__(self, client_or_url: redis.Redis | str, *, prefix: str = "zwm", name: str = "redis") -> None:
        if isinstance(client_or_url, str):
            self.client, target = connect(client_or_url)
            self.location = target.describe()
        else:
            self.client = client_or_url
            kwargs = client_or_url.connection_pool.connection_kwargs
            where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', 6379)}"
            self.location = f"{where}/{kwargs.get('db', 0)}"
        if not prefix or any(c in prefix for c in "{}"):
            raise ValueError("Redis key prefix must be non-empty and contain no braces")
        self.name = name
        self.prefix = prefix
        tag = "{" + prefix + "}"
        self._tag = tag
        self._hashes = [f"{tag}:payload", f"{tag}:attempts", f"{tag}:queue", f"{tag}:since"]
        self._lease = f"{tag}:lease"
        self._queues = f"{tag}:queues"
        self._scripts: dict[str, Script] = {n: self.client.register_script(s) for n, s in _SOURCES.items()}
        self._checked = False
        self._in_doubt: set[str] = set()
        """Tokens of acknowledgements sent without an answer (the connection dropped)."""

    @classmethod
    def from_config(cls, config: Config) -> RedisDriver:
        """The driver for ``QUEUE_CONNECTION=redis`` (``REDIS_URL``, ``ZWM_QUEUE_PREFIX``)."""
        return cls(config.redis_url, prefix=config.queue_prefix)

    def __repr__(self) -> str:
        return f"<RedisDriver {self.name!r} at {self.location} prefix {self.prefix!r}>"

    # -- keys ------------------------------------------------------------------

    def _q(self, queue: str) -> str:
        return f"{self._tag}:q:{queue}"

    def _d(self, queue: str) -> str:
        return f"{self._tag}:d:{queue}"

    def _r(self, queue: str) -> str:
        return f"{self._tag}:r:{queue}"

    def _n(self, queue: str) -> str:
        return f"{self._tag}:n:{queue}"

    def _u(self, key: str) -> str:
        return f"{self._tag}:u:{key}"

    def _t(self, token: str) -> str:
        return f"{self._tag}:t:{token}"

    def _o(self, job_id: str) -> str:
        return f"{self._tag}:o:{job_id}"

    def key(self, name: str) -> str:
        """The full key of ``name`` under this prefix (``payload``, ``q:<queue>``...; see the
        module docstring), for modules that read the layout (the dashboard's backlog)."""
        return f"{self._tag}:{name}"

    def keys_pattern(self) -> str:
        """A SCAN pattern matching every key of this prefix (for tests and operators)."""
        return self._tag.replace("{", "\\{").replace("}", "\\}") + ":*"

    def _run(self, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._scripts[script](keys=list(keys), args=list(args))

    # -- start-up --------------------------------------------------------------

    def check(self) -> None:
        """Fail fast with a one-line ``QueueConnectionError`` if Redis is unreachable, and
        warn (once) about settings that can lose jobs. CLI commands and workers call this
        at start-up."""
        check_reachable(self.client, self.location)
        warn_if_unsafe(self.client, self.location)
        self._checked = True

    # -- the Driver contract ---------------------------------------------------

    @_guarded
    def push(self, envelopes: Sequence[Envelope], *, available_at: float | None = None) -> None:
        self._push(envelopes, available_at, keep=0.0)

    @_guarded
    def push_once(self, envelopes: Sequence[Envelope], *, keep: float) -> None:
        """Each job leaves a dispatch marker ``{p}:o:<id>`` for ``keep`` seconds (about 100
        bytes), and a push of the same id while it is there adds nothing -- even after the
        job ran and was removed."""
        if not keep > 0:
            raise ValueError(f"keep must be positive seconds, got {keep}")
        self._push(envelopes, None, keep=keep)

    def _push(self, envelopes: Sequence[Envelope], available_at: float | None, *, keep: float) -> None:
        check_queue_names([e.queue for e in envelopes])
        delay = _us(available_at - time.time()) if available_at is not None else 0
        by_queue: dict[str, list[Envelope]] = {}
        for envelope in envelopes:
            by_queue.setdefault(envelope.queue, []).append(envelope)
        for queue, group in by_queue.items():
            keys = [*self._hashes, self._queues, self._q(queue), self._d(queue), self._n(queue)]
            for start in range(0, len(group), PUSH_CHUNK):
                chunk = group[start : start + PUSH_CHUNK]
                markers = [self._o(envelope.id) for envelope in chunk] if keep else []
                args: list[Any] = [queue, delay, NOTIFY_CAP, _us(keep) // 1000]
                for envelope in chunk:
                    args += (envelope.id, envelope.to_json(), envelope.attempts)
                self._run("push", keys + markers, args)

    def _queue_keys(self, queue: str) -> list[str]:
        return [self._q(queue), self._d(queue), self._r(queue)]

    @_guarded
    def reserve(self, queues: Sequence[str], *, lease: float, limit: int = 1) -> list[Reservation]:
        check_reserve_arguments(queues, lease, limit)
        if not queues:
            return []
        if not self._checked:
            self.check()
        keys = [*self._hashes[:2], self._lease]
        for queue in queues:
            keys += [*self._queue_keys(queue), self._n(queue)]
        # The lease runs on the server's clock from the moment the script runs; reported
        # in the caller's clock from *before* the call, so it errs on the early side.
        reserved_at = time.time()
        reply = self._run("reserve", keys, [_us(lease), limit, uuid.uuid4().hex])
        out: list[Reservation] = []
        for i in range(1, len(reply), 6):
            job_id, raw, attempts, token, index, recoveries = reply[i : i + 6]
            envelope = decode(_text(job_id), raw, queues[int(index)], int(attempts))
            envelope.recoveries = int(recoveries)
            out.append(Reservation(envelope, _text(token), reserved_at + lease, reserved_at))
        return out

    @_guarded
    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Block on the queues' wake-up lists (``BLPOP``), for at most ``timeout`` seconds
        and never past the moment a delayed job comes due or a lease lapses."""
        check_queue_names(queues)
        if not queues or timeout <= 0:
            return
        keys = [key for queue in queues for key in self._queue_keys(queue)]
        due_us = int(self._run("next_due", keys, []))
        if due_us == 0:
            return
        block = min(timeout, MAX_BLOCK) if due_us < 0 else min(timeout, MAX_BLOCK, due_us / 1_000_000)
        self.client.blpop([self._n(q) for q in queues], timeout=max(block, 0.001))

    @_guarded
    def extend(self, reservations: Sequence[Reservation], *, lease: float) -> list[bool]:
        if not lease > 0:
            raise ValueError(f"lease must be positive seconds, got {lease}")
        if not reservations:
            return []
        keys = [self._lease, *(self._r(r.envelope.queue) for r in reservations)]
        args: list[Any] = [_us(lease)]
        for r in reservations:
            args += (r.envelope.id, r.token)
        return [bool(x) for x in self._run("extend", keys, args)]

    def complete(self, reservation: Reservation) -> bool:
        return self.complete_many([reservation])[0]

    def _acknowledge(self, script: str, keys: list[str], args: list[Any], tokens: list[str]) -> list[bool]:
        """Run an acknowledgement, telling the script whether an earlier try is in doubt.

        An ack whose reply was lost with the connection may have landed. Retried blindly it
        would find its lease gone and answer "lease lost", and the worker would not record
        a success that happened. So the tokens stay "in doubt" until an answer arrives, and
        a retry (by :func:`_guarded` or by the worker after ``QueueConnectionError``)
        asks the script to look for the tombstone its earlier try left under the token: a
        job gone because *this* reservation acknowledged it answers yes, a job another
        worker took over after a lost lease still answers no (fencing). A second
        ``complete`` of an answered ack is still ``False``.
        """
        doubt = any(t in self._in_doubt for t in tokens)
        self._in_doubt.update(tokens)
        answer = [bool(x) for x in self._run(script, keys, [int(doubt), _us(TOMBSTONE_TTL) // 1000, *args])]
        self._in_doubt.difference_update(tokens)
        if len(self._in_doubt) > 10_000:  # callers that never retried: forget them
            self._in_doubt.clear()
        return answer

    @_guarded
    def complete_many(self, reservations: Sequence[Reservation]) -> list[bool]:
        """Acknowledge several jobs in one round trip; ``False`` where the lease was lost."""
        if not reservations:
            return []
        keys = [*self._hashes, self._lease]
        for r in reservations:
            keys += (self._r(r.envelope.queue), self._t(r.token))
        args = [value for r in reservations for value in (r.envelope.id, r.token)]
        return self._acknowledge("complete", keys, args, [r.token for r in reservations])

    @_guarded
    def release(self, reservation: Reservation, *, delay: float = 0.0) -> bool:
        if not delay >= 0:
            raise ValueError(f"delay must be non-negative seconds, got {delay}")
        queue = reservation.envelope.queue
        keys = [self._lease, self._hashes[3], self._r(queue), self._q(queue), self._d(queue), self._n(queue)]
        keys.append(self._t(reservation.token))
        args = [reservation.envelope.id, reservation.token, _us(delay), NOTIFY_CAP]
        return self._acknowledge("release", keys, args, [reservation.token])[0]

    @_guarded
    def give_back(self, reservations: Sequence[Reservation]) -> list[bool]:
        if not reservations:
            return []
        keys = [self._lease, self._hashes[1]]
        args: list[Any] = [NOTIFY_CAP]
        for r in reservations:
            queue = r.envelope.queue
            keys += [self._r(queue), self._q(queue), self._n(queue)]
            args += (r.envelope.id, r.token)
        return [bool(x) for x in self._run("give_back", keys, args)]

    def _known_queues(self) -> list[str]:
        return sorted(_text(q) for q in self.client.smembers(self._queues))

    @_guarded
    def counts(self, queues: Sequence[str] | None = None) -> dict[str, QueueCounts]:
        """Per queue; with ``queues=None``, every queue that holds a job (as the database
        driver: a queue exists while it has jobs)."""
        if queues is not None:
            check_queue_names(queues)
        names = list(queues) if queues is not None else self._known_queues()
        if not names:
            return {}
        keys = [key for queue in names for key in self._queue_keys(queue)]
        flat = [int(x) for x in self._run("counts", keys, [])]
        out = {
            queue: QueueCounts(waiting=flat[3 * i], delayed=flat[3 * i + 1], reserved=flat[3 * i + 2])
            for i, queue in enumerate(names)
        }
        if queues is None:
            out = {queue: c for queue, c in out.items() if c != QueueCounts()}
        return out

    @_guarded
    def waiting(self, queue: str | None = None, *, limit: int = 100, offset: int = 0) -> list[QueuedJob]:
        """Reserved, waiting and delayed jobs: reserved first, then by available-at.

        Read with one MULTI (consistent per queue) plus one round trip for the job data;
        a job finishing in between is simply left out. Cost grows with ``offset + limit``
        per queue, which suits a paginated dashboard. Times are converted from the server's
        clock to the caller's.
        """
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be non-negative")
        names = [queue] if queue is not None else self._known_queues()
        if limit == 0 or not names:
            return []
        end = offset + limit - 1
        pipe = self.client.pipeline(transaction=True)
        pipe.time()
        for name in names:
            pipe.zrange(self._r(name), 0, end, withscores=True)
            pipe.lrange(self._q(name), 0, end)
            pipe.zrange(self._d(name), 0, end)
        (seconds, micros), *replies = pipe.execute()
        server_now = seconds * 1_000_000 + micros
        skew = time.time() - server_now / 1_000_000
        rows: list[tuple[str, str, bool]] = []  # id, queue, holds a live lease
        for n, name in enumerate(names):
            reserved, waiting, delayed = replies[3 * n : 3 * n + 3]
            rows += [(_text(i), name, expiry > server_now) for i, expiry in reserved]
            rows += [(_text(i), name, False) for i in (*waiting, *delayed)]
        if not rows:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in (self._hashes[0], self._hashes[1], self._hashes[3], self._lease):
            pipe.hmget(key, [r[0] for r in rows])
        jobs: list[QueuedJob] = []
        for (job_id, name, live), raw, attempts, since, lease in zip(rows, *pipe.execute(), strict=True):
            if raw is None and since is None:
                continue  # finished between the two reads
            reserved_at = None
            if live and lease is not None:
                reserved_at = int(_text(lease).split("|")[1]) / 1_000_000 + skew
            available_at = int(_text(since)) / 1_000_000 + skew if since is not None else 0.0
            envelope = decode(job_id, raw or "", name, int(attempts or 0))
            jobs.append(QueuedJob(envelope, available_at=available_at, reserved_at=reserved_at))
        jobs.sort(key=lambda j: (j.reserved_at is None, j.available_at))
        return jobs[offset : offset + limit]

    @_guarded
    def delete(self, job_id: str) -> bool:
        queue = self.client.hget(self._hashes[2], job_id)
        if queue is None:
            return False
        name = _text(queue)
        return bool(self._run("delete", [*self._hashes, self._q(name), self._d(name)], [job_id]))

    @_guarded
    def clear(self, queue: str) -> int:
        keys = [*self._hashes, self._q(queue), self._d(queue)]
        total = 0
        while removed := int(self._run("clear", keys, [PUSH_CHUNK])):
            total += removed
        return total

    @_guarded
    def acquire_unique(self, key: str, owner: str, ttl: float) -> bool:
        return bool(self._run("unique_acquire", [self._u(key)], [owner, max(1, math.ceil(ttl * 1000))]))

    @_guarded
    @_guarded
    def renew_unique(self, locks: Sequence[tuple[str, str]], ttl: float) -> None:
        if locks:
            self._run(
                "unique_renew", [self._u(key) for key, _ in locks], [_us(ttl) // 1000, *(o for _, o in locks)]
            )

    def release_unique(self, key: str, owner: str) -> None:
        self._run("unique_release", [self._u(key)], [owner])

    def close(self) -> None:
        self.client.close()

    # -- maintenance -----------------------------------------------------------

    def delete_all_keys(self) -> int:
        """Remove every key of this prefix (SCAN + UNLINK; never FLUSHDB). For tests and
        for an operator retiring a prefix; returns how many keys were removed."""
        removed = 0
        batch: list[Any] = []
        for key in self.client.scan_iter(match=self.keys_pattern(), count=1000):
            batch.append(key)
            if len(batch) >= 500:
                removed += int(self.client.unlink(*batch))
                batch = []
        if batch:
            removed += int(self.client.unlink(*batch))
        return removed
