"""Backoff and server-hint computation of the retry loop."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from zwm.zuora._retry import (
    RetryPolicy,
    backoff_delay,
    parse_ratelimit_reset,
    parse_retry_after,
    server_hint,
)


def test_backoff_is_full_jitter_within_a_capped_exponential_ceiling() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (3, 8.0), (6, 60.0), (500, 60.0)]:
        delays = [backoff_delay(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spans the range
        assert min(delays) < ceiling * 0.2


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    for unusable in (None, "", "soon", "nan"):
        assert parse_retry_after(unusable) is None


def test_ratelimit_reset() -> None:
    assert parse_ratelimit_reset("600") == 600.0
    assert parse_ratelimit_reset(None) is None
    assert parse_ratelimit_reset("x") is None


@pytest.mark.parametrize(
    ("status", "headers", "hint"),
    [
        (429, {"retry-after": "7", "RateLimit-Reset": "600"}, 7.0),  # Retry-After first, any case
        (429, {"ratelimit-reset": "30"}, 30.0),
        (429, {"RateLimit-Reset": "600"}, None),  # beyond the wait budget: back off instead
        (503, {"Retry-After": "2"}, 2.0),
        (503, {"RateLimit-Reset": "2"}, None),
        (500, {"Retry-After": "2"}, None),
        (429, {}, None),
    ],
)
def test_server_hint(status: int, headers: dict[str, str], hint: float | None) -> None:
    assert server_hint(status, httpx.Headers(headers), max_wait=120.0) == hint


def test_policy_bounds_the_count_and_the_total_wait() -> None:
    rng = random.Random(0)
    policy = RetryPolicy(max_retries=3, backoff_base=1.0, backoff_cap=60.0, max_retry_wait=10.0)
    assert policy.next_wait(3, 0.0, None, rng) is None  # retries spent
    assert policy.next_wait(0, 0.0, 4.0, rng) == 4.0  # the server's hint, as is
    assert policy.next_wait(0, 7.0, 4.0, rng) is None  # hint beyond the budget left: give up now
    assert policy.next_wait(2, 9.5, None, rng) <= 0.5  # type: ignore[operator]  # backoff clipped
    assert policy.next_wait(0, 11.0, None, rng) is None
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
