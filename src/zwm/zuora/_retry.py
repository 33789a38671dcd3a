"""When to retry a Zuora call, and how long to wait: pure functions, no I/O.

Policy (zuora-api.md section 6.4, Zuora's error-handling guide): retry connection errors,
timeouts, 429 and 500/502/503/504 with exponential backoff and *full* jitter
(``uniform(0, min(cap, base * 2**attempt))``), honouring the server's hint first --
``Retry-After`` (seconds or HTTP-date) on 429/503, else ``RateLimit-Reset`` (seconds) on a
429 when it fits the wait budget. Retries are bounded twice: at most ``max_retries``
retries, and at most ``max_retry_wait`` seconds of sleeping per call. A hint longer than
the remaining budget ends the call at once (the caller gets the hint in the error and
can reschedule) rather than holding a worker for two minutes.

Why not tenacity: the wait depends on the *response* (its headers), the give-up rule
depends on the accumulated wait, the concurrency slot must be released while sleeping and
the token refresh on 401 is a separate, single extra attempt. Expressed with tenacity that
is four custom callables around a stateful closure; the explicit loop in the client plus
these functions is shorter and each rule is testable on its own.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Statuses worth another attempt: throttling, and server failures that are usually brief."""


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff for retry number ``attempt`` (0 for the first retry)."""
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a wait


def parse_ratelimit_reset(value: str | None) -> float | None:
    """Seconds from ``RateLimit-Reset`` (IETF draft: delta-seconds); None if absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip().split(",")[0])
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None


def server_hint(status_code: int, headers: Mapping[str, str], max_wait: float) -> float | None:
    """The wait the server asks for on ``status_code``, per the policy above; None for "use backoff".

    ``headers`` must be case-insensitive (httpx.Headers is): Zuora documents the names in
    both cases.
    """
    if status_code in (429, 503):
        retry_after = parse_retry_after(headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
    if status_code == 429:
        reset = parse_ratelimit_reset(headers.get("RateLimit-Reset"))
        if reset is not None and reset <= max_wait:
            return reset
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retry loop; see the module docstring."""

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_retry_wait: float = 120.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.max_retry_wait < 0:
            raise ValueError("backoff_base, backoff_cap and max_retry_wait must be >= 0")

    def next_wait(self, attempt: int, waited: float, hint: float | None, rng: random.Random) -> float | None:
        """Seconds to sleep before retry number ``attempt``, or None to give up.

        Gives up when the retries are spent, or when the server's ``hint`` would push the
        total sleep of this call past ``max_retry_wait``. Our own backoff is instead clipped
        to the budget left: it is a guess, the server's hint is not.
        """
        remaining = self.max_retry_wait - waited
        if attempt >= self.max_retries or remaining < 0:
            return None
        if hint is not None:
            return hint if hint <= remaining else None
        return min(backoff_delay(attempt, self.backoff_base, self.backoff_cap, rng), remaining)
