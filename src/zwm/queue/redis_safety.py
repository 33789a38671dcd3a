"""Start-up checks and error translation for the Redis queue connection.

Two audiences:

* CLI commands need an unreachable Redis to be *one line* and a non-zero exit, not a
  redis-py traceback: every driver method raises :class:`QueueConnectionError` with
  ``cannot reach Redis at host:port/db: <reason>``.
* A running worker needs the *same* exception type to know "back off and retry" from "this
  job is broken": connection loss, a Redis restart (``LOADING``), a Sentinel fail-over
  (``READONLY`` on the old master) and a server refusing writes (``OOM``, ``MISCONF``) are all
  transient conditions of the server, never of a job.

The safety check warns (once per process and server) about settings that lose jobs:
an eviction policy other than ``noeviction`` lets Redis silently delete queued jobs under
memory pressure, and a server with neither AOF nor RDB loses every queued job on restart.
It never fails: a development Redis without persistence is normal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis import exceptions as rexc

log = logging.getLogger("zwm.queue.redis")

TRANSIENT_REPLIES = (
    "OOM",
    "MISCONF",
    "READONLY",
    "LOADING",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "BUSY ",
)
"""Error replies that describe the server's state, not the command: retry later."""


class QueueConnectionError(ConnectionError):
    """The queue's server cannot be reached or cannot take commands right now.

    Transient by nature: a worker backs off and retries; a CLI command prints the message
    (one line, no credentials) and exits non-zero. No job is lost by it -- a job reserved
    before the failure comes back when its lease lapses.
    """


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the connection or the server's state (retry later)
    rather than of the command."""
    if isinstance(exc, rexc.AuthenticationError):
        return False
    if isinstance(exc, rexc.ConnectionError | rexc.TimeoutError | OSError):
        return True
    return isinstance(exc, rexc.ResponseError) and str(exc).startswith(TRANSIENT_REPLIES)


@contextmanager
def translated(location: str) -> Iterator[None]:
    """Re-raise redis-py connection-level failures as :class:`QueueConnectionError`."""
    try:
        yield
    except rexc.AuthenticationError as exc:
        raise QueueConnectionError(f"Redis at {location} rejected the credentials: {exc}") from exc
    except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise QueueConnectionError(f"cannot reach Redis at {location}: {reason}") from exc
    except rexc.ResponseError as exc:
        if str(exc).startswith(TRANSIENT_REPLIES):
            raise QueueConnectionError(f"Redis at {location} refused the command: {exc}") from exc
        raise


def check_reachable(client: redis.Redis, location: str) -> None:
    """PING once; raise :class:`QueueConnectionError` with a one-line reason otherwise."""
    with translated(location):
        client.ping()


_warned: set[str] = set()
_warned_lock = threading.Lock()


def _config(client: redis.Redis, name: str) -> str | None:
    try:
        reply = client.config_get(name)
    except rexc.ResponseError:
        return None  # CONFIG disabled or renamed (managed services): nothing to check
    value = reply.get(name) if isinstance(reply, dict) else None
    if isinstance(value, bytes):
        return value.decode()
    return value if isinstance(value, str) else None


def unsafe_settings(client: redis.Redis) -> list[str]:
    """Describe each server setting that can lose queued jobs (empty when all is well)."""
    problems: list[str] = []
    policy = _config(client, "maxmemory-policy")
    if policy is not None and policy != "noeviction":
        problems.append(
            f"maxmemory-policy is {policy!r}: Redis may evict queued jobs under memory pressure "
            "(set maxmemory-policy noeviction)"
        )
    aof = _config(client, "appendonly")
    save = _config(client, "save")
    if aof is not None and save is not None and aof != "yes" and not save.strip():
        problems.append(
            "persistence is off (appendonly no, no RDB save points): a Redis restart loses every "
            "queued job (set appendonly yes)"
        )
    return problems


def warn_if_unsafe(client: redis.Redis, location: str) -> None:
    """Log each unsafe setting as a WARNING, once per process and server location."""
    with _warned_lock:
        if location in _warned:
            return
        _warned.add(location)
    with translated(location):
        problems = unsafe_settings(client)
    for problem in problems:
        log.warning("Redis at %s: %s. See docs/redis.md.", location, problem)
