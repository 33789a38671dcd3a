"""One simulated Zuora tenant: identity and credentials, catalog, faults, limits and counters."""

from __future__ import annotations

import math
import random
import string
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from zwm.zuora.simulator.catalog import Catalog
from zwm.zuora.simulator.faults import Faults

STAT_KEYS = (
    "token",
    "token_denied",
    "list",
    "get",
    "export",
    "versions",
    "tasks",
    "status_401",
    "status_404",
    "status_429",
    "status_5xx",
    "dropped",
    "timeouts",
    "malformed",
    "max_concurrency",
)
"""Counters always present in :meth:`ZuoraSimulator.stats` (endpoint counters count every
authenticated request routed to that endpoint, whatever its outcome)."""

_SECRET_ALPHABET = string.ascii_letters + string.digits + "+="


@dataclass(frozen=True)
class SimTenant:
    """Public identity of a simulated tenant; the secret stays out of ``repr``."""

    name: str
    client_id: str
    client_secret: str = field(repr=False)
    tenant_id: int
    entity_id: str
    user_id: str


def make_identity(name: str, seed: str, client_id: str | None, client_secret: str | None) -> SimTenant:
    """Credentials and ids derived from ``seed`` unless given: same seed, same demo customers."""
    rng = random.Random(f"{seed}:identity")
    return SimTenant(
        name=name,
        client_id=client_id or str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        client_secret=client_secret or "".join(rng.choice(_SECRET_ALPHABET) for _ in range(40)),
        tenant_id=rng.randint(10, 99999),
        entity_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        user_id=f"{rng.getrandbits(128):032x}",
    )


class MinuteWindow:
    """A fixed one-minute request counter, as Zuora counts its per-minute limits.

    Refused and failed requests count too: "unsuccessful requests contribute to your
    per-minute limit".
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._count = 0

    def take(self, limit: int) -> tuple[bool, int, int]:
        """Count one request: (allowed, requests remaining, whole seconds until the reset)."""
        with self._lock:
            now = time.monotonic()
            if now - self._start >= 60.0:
                self._start, self._count = now, 0
            self._count += 1
            reset = max(1, math.ceil(60.0 - (now - self._start)))
            return self._count <= limit, max(0, limit - self._count), reset


class TenantState:
    """Mutable state of one tenant; every access from handler threads goes through ``lock``."""

    def __init__(self, identity: SimTenant, seed: str, workflows: int) -> None:
        self.identity = identity
        self.lock = threading.Lock()
        self.catalog = Catalog(seed, workflows)
        self.faults = Faults()
        self.rng = random.Random(f"{seed}:faults")
        self.fail_queue: list[int] = []
        self.token_generation = 0
        self.stats: Counter[str] = Counter()
        self.in_flight = 0
        self.api_window = MinuteWindow()
        self.auth_window = MinuteWindow()

    def count(self, key: str, amount: int = 1) -> None:
        with self.lock:
            self.stats[key] += amount

    def count_status(self, status: int) -> None:
        key = {401: "status_401", 404: "status_404", 429: "status_429"}.get(status)
        if key is None and status >= 500:
            key = "status_5xx"
        if key is not None:
            self.count(key)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return {**dict.fromkeys(STAT_KEYS, 0), **self.stats}

    def reset_stats(self) -> None:
        with self.lock:
            self.stats.clear()

    def chance(self, rate: float) -> bool:
        """One draw from the seeded RNG; no draw at all when the fault is off."""
        if rate <= 0.0:
            return False
        with self.lock:
            return self.rng.random() < rate

    def enter(self, limit: int) -> bool:
        """Admit one more in-flight API request unless the concurrency limit is reached."""
        with self.lock:
            self.in_flight += 1
            if self.in_flight > self.stats["max_concurrency"]:
                self.stats["max_concurrency"] = self.in_flight
            if self.in_flight > limit:
                self.in_flight -= 1
                return False
            return True

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def pop_failure(self) -> int | None:
        with self.lock:
            return self.fail_queue.pop(0) if self.fail_queue else None
