"""Is this installation working? The checks behind ``GET /health`` and ``zwm health``.

Each check runs in its own daemon thread under one deadline, so a server that does not
answer (a firewalled host, a stopped database whose port hangs) turns into ``failing``
within :data:`DEADLINE` seconds instead of hanging a load balancer's probe or a script.
A check's detail (the error) is for the operator's terminal only; the web endpoint shows
ok/failing per check and nothing else, since it is public.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, connections
from django.utils import timezone

from zwm.config import get_config

DEADLINE = 3.0
"""Seconds all checks together may take before the slow ones count as failing."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Report:
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks if check.name not in ADVISORY)

    def public(self) -> dict[str, object]:
        """What anyone may see: overall status and ok/failing per check (advisory ones
        included, not counted), no details."""
        return {
            "status": "ok" if self.ok else "failing",
            "checks": {check.name: "ok" if check.ok else "failing" for check in self.checks},
        }

    def detailed(self) -> dict[str, object]:
        """For ``zwm health --json``: the public view plus each check's detail."""
        return {
            **self.public(),
            "details": {check.name: check.detail for check in self.checks},
        }


class CheckFailed(Exception):
    """A check ran and found the thing it checks not fine."""


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor} reachable"


def check_queue() -> str:
    from zwm.queue.connections import get_driver

    name = get_config().queue_connection
    get_driver(name).counts(["default"])
    return f"queue connection {name!r} reachable"


def check_workers() -> str:
    """A worker beat recently. The ``sync`` connection runs jobs in the caller: no workers."""
    from zwm.queue.models import Worker

    config = get_config()
    if config.queue_connection == "sync":
        return "sync connection: jobs run in the caller, no worker needed"
    since = timezone.now() - timedelta(seconds=config.health_worker_stale)
    alive = Worker.objects.filter(last_heartbeat_at__gte=since).exclude(status=Worker.Status.STOPPED).count()
    if not alive:
        raise CheckFailed(f"no worker heartbeat in the last {config.health_worker_stale:g} s")
    return f"{alive} worker(s) alive"


def check_scheduler() -> str:
    """A scheduler beat recently. Advisory: without one nothing fires on time, but the jobs
    already queued still run, so it does not fail the health check."""
    from zwm.queue.schedule import last_beat

    stale = get_config().health_worker_stale
    beat = last_beat()
    if beat is None:
        raise CheckFailed("no scheduler has run (zwm schedule:work)")
    age = time.time() - beat
    if age > stale:
        raise CheckFailed(f"no scheduler heartbeat in the last {stale:g} s (last {age:.0f} s ago)")
    return f"scheduler beat {age:.0f} s ago"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "queue": check_queue,
    "workers": check_workers,
    "scheduler": check_scheduler,
}
ADVISORY = frozenset({"scheduler"})
"""Checks reported but not counted in the overall status (the contract: database, queue
connection and worker heartbeat decide 200 or 503)."""


def _run_one(func: Callable[[], str], results: dict[str, tuple[bool, str]], name: str) -> None:
    try:
        results[name] = (True, func())
    except Exception as exc:  # every failure is the check's answer, not the caller's error
        results[name] = (False, _describe(exc))
    finally:
        connections.close_all()  # this thread's connections; Django closes only the request's


def _describe(exc: Exception) -> str:
    """One line naming the error; never the settings (URLs carry passwords)."""
    if isinstance(exc, CheckFailed):
        return str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


def run(deadline: float = DEADLINE) -> Report:
    """Run every check at once; a check still running at the deadline is failing."""
    results: dict[str, tuple[bool, str]] = {}
    threads = [
        threading.Thread(target=_run_one, args=(func, results, name), daemon=True, name=f"health-{name}")
        for name, func in CHECKS.items()
    ]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    answered = dict(results)  # a check answering after the deadline changes nothing
    return Report(
        tuple(
            CheckResult(name, *answered.get(name, (False, f"no answer within {deadline:g} s")))
            for name in CHECKS
        )
    )
