"""Token lifetimes, the memory cache and single-flight refresh (no HTTP: the fetch is a function)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from zwm.zuora import CachedToken, MemoryTokenCache, TokenCache
from zwm.zuora.auth import REFRESH_MARGIN, TokenManager


def test_refresh_margin_is_capped_at_half_the_lifetime() -> None:
    hour = CachedToken.issued("t", 3599, now=1000.0)
    assert (hour.expires_at, hour.refresh_at) == (4599.0, 4599.0 - REFRESH_MARGIN)
    short = CachedToken.issued("t", 2, now=1000.0)
    assert (short.expires_at, short.refresh_at) == (1002.0, 1001.0)
    assert short.is_fresh(now=1000.9)
    assert not short.is_fresh(now=1001.0)
    assert "access_token" not in repr(hour)
    assert "'t'" not in repr(hour)


def test_memory_cache_is_a_token_cache() -> None:
    cache = MemoryTokenCache()
    assert isinstance(cache, TokenCache)
    token = CachedToken.issued("abc", 60)
    cache.set("k", token)
    assert cache.get("k") is token
    assert cache.get("other") is None
    cache.delete("k")
    cache.delete("k")  # idempotent
    assert cache.get("k") is None
    assert cache.lock("k") is cache.lock("k")
    assert cache.lock("k") is not cache.lock("j")
    assert "abc" not in repr(cache)


class _Fetcher:
    """Counts fetches; each one takes a while, so concurrent callers overlap it."""

    def __init__(self, ttl: float = 60.0, delay: float = 0.05) -> None:
        self.calls = 0
        self.ttl, self.delay = ttl, delay
        self._lock = threading.Lock()

    def __call__(self) -> CachedToken:
        with self._lock:
            self.calls += 1
            number = self.calls
        time.sleep(self.delay)
        return CachedToken.issued(f"token-{number}", self.ttl)


def test_concurrent_callers_share_one_fetch() -> None:
    fetch = _Fetcher()
    manager = TokenManager(MemoryTokenCache(), "k", fetch)
    with ThreadPoolExecutor(16) as pool:
        tokens = list(pool.map(lambda _: manager.token().access_token, range(32)))
    assert fetch.calls == 1
    assert set(tokens) == {"token-1"}


def test_token_is_reused_until_its_refresh_time_then_replaced() -> None:
    fetch = _Fetcher(ttl=0.4, delay=0)
    manager = TokenManager(MemoryTokenCache(), "k", fetch)
    assert manager.token().access_token == "token-1"
    assert manager.token().access_token == "token-1"
    time.sleep(0.25)  # past refresh_at (ttl/2), before expiry
    assert manager.token().access_token == "token-2"
    assert fetch.calls == 2


def test_invalidate_forgets_only_the_stale_token_once() -> None:
    fetch = _Fetcher(delay=0)
    manager = TokenManager(MemoryTokenCache(), "k", fetch)
    stale = manager.token()
    manager.invalidate(stale)
    fresh = manager.token()
    manager.invalidate(stale)  # a late 401 from a request that used the old token
    assert manager.token() is fresh
    assert fetch.calls == 2


def test_refresh_ignores_the_cache_and_stores_the_new_token() -> None:
    fetch = _Fetcher(delay=0)
    cache = MemoryTokenCache()
    manager = TokenManager(cache, "k", fetch)
    manager.token()
    assert manager.refresh().access_token == "token-2"
    stored = cache.get("k")
    assert stored is not None
    assert stored.access_token == "token-2"


def test_managers_sharing_a_cache_share_tokens_per_key() -> None:
    cache, fetch_a, fetch_b = MemoryTokenCache(), _Fetcher(delay=0), _Fetcher(delay=0)
    TokenManager(cache, "tenant-a", fetch_a).token()
    TokenManager(cache, "tenant-a", fetch_b).token()
    TokenManager(cache, "tenant-b", fetch_b).token()
    assert (fetch_a.calls, fetch_b.calls) == (1, 1)
