"""Credentials, OAuth tokens and the token cache (no HTTP here: the client fetches).

Tokens (zuora-api.md section 1): one bearer token per OAuth client, valid ``expires_in``
seconds (3599), no refresh token, and token requests rate-limited per IP -- so a token is
cached and reused until shortly before it expires, and only one refresh per credential is
in flight at a time (single flight): concurrent callers wait for it and share its result.

The cache is a small protocol so the application can share tokens between its processes
(database or Redis); :class:`MemoryTokenCache` is the process-local implementation and the
default. Keys are derived from the base URL, the client id, the entity id and a one-way
fingerprint of the secret (never the secret itself, which must not end up in a key that a
monitoring tool may display): a wrong secret must never be lent a right one's token.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from zwm.zuora.environments import ENVIRONMENTS, Environment, resolve_base_url, validate_base_url

REFRESH_MARGIN = 120.0
"""Seconds before expiry at which a cached token stops being handed out (at most half its lifetime)."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Credentials:
    """An OAuth client of one Zuora tenant. The secret is left out of ``repr``/``str``.

    ``base_url`` is validated and normalised (https, or http to loopback only).
    ``entity_id`` is sent as ``Zuora-Entity-Ids`` for Multi-entity tenants (a 36-char UUID).
    """

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    entity_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", validate_base_url(self.base_url))
        object.__setattr__(self, "client_id", self.client_id.strip())
        if not self.client_id or not self.client_id.isascii() or not self.client_id.isprintable():
            raise ValueError("client_id must be a non-empty printable ASCII string")
        if not self.client_secret:
            raise ValueError("client_secret must not be empty")
        if self.entity_id is not None and not _UUID.match(self.entity_id):
            raise ValueError(f"entity_id must be a UUID (8-4-4-4-12 hex digits), got {self.entity_id!r}")

    @classmethod
    def for_environment(
        cls, environment: str | Environment, client_id: str, client_secret: str, entity_id: str | None = None
    ) -> Credentials:
        """Credentials for a named environment (a slug of ``ENVIRONMENTS``)."""
        return cls(resolve_base_url(environment=environment), client_id, client_secret, entity_id)

    @property
    def environment(self) -> Environment | None:
        """The named environment whose base URL this is (the first, for shared hosts), if any."""
        return next((env for env in ENVIRONMENTS.values() if env.base_url == self.base_url), None)

    @property
    def cache_key(self) -> str:
        """Token-cache key: base URL, client id, entity id and a fingerprint of the secret, hashed.

        The secret's fingerprint is part of it so that credentials with the right client id
        and a *wrong* secret never get the token Zuora issued to the right ones; the entity
        id, so a token of one entity never serves another. Hashed twice over, it reveals
        nothing of the secret and is safe in any store.
        """
        fingerprint = hashlib.sha256(f"zwm-secret\n{self.client_secret}".encode()).hexdigest()
        material = f"{self.base_url}\n{self.client_id}\n{self.entity_id or ''}\n{fingerprint}"
        return f"zwm:zuora:token:{hashlib.sha256(material.encode()).hexdigest()[:40]}"

    @property
    def tenant_key(self) -> str:
        """Concurrency key: (base URL, client id) hashed -- Zuora's limit is per tenant, not per secret."""
        digest = hashlib.sha256(f"{self.base_url}\n{self.client_id}".encode()).hexdigest()
        return f"zwm:zuora:tenant:{digest[:40]}"


@dataclass(frozen=True)
class CachedToken:
    """A bearer token with wall-clock times (epoch seconds), so processes can share it.

    ``refresh_at`` is when it stops being used: ``expires_at`` minus a margin, so a request
    never starts with a token about to expire.
    """

    access_token: str = field(repr=False)
    expires_at: float
    refresh_at: float

    @classmethod
    def issued(
        cls, access_token: str, expires_in: float, now: float | None = None, margin: float = REFRESH_MARGIN
    ) -> CachedToken:
        """A token issued at ``now`` for ``expires_in`` seconds; the margin is capped at half the lifetime."""
        now = time.time() if now is None else now
        return cls(access_token, now + expires_in, now + expires_in - min(margin, expires_in / 2))

    def is_fresh(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) < self.refresh_at


@runtime_checkable
class TokenCache(Protocol):
    """Where tokens live between requests, possibly shared between processes.

    ``lock(key)`` must be a mutual exclusion over everyone sharing the cache (a
    ``threading.Lock`` in-process; a Redis or database lock otherwise, with its own
    timeout): the client holds it while it requests a token, so each credential has one
    refresh in flight.
    """

    def get(self, key: str) -> CachedToken | None: ...

    def set(self, key: str, token: CachedToken) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str) -> AbstractContextManager[object]: ...


class MemoryTokenCache:
    """Process-local, thread-safe :class:`TokenCache` with one lock per key."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> CachedToken | None:
        with self._guard:
            return self._tokens.get(key)

    def set(self, key: str, token: CachedToken) -> None:
        with self._guard:
            self._tokens[key] = token

    def delete(self, key: str) -> None:
        with self._guard:
            self._tokens.pop(key, None)

    def lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def __repr__(self) -> str:
        return f"<MemoryTokenCache {len(self._tokens)} token(s)>"


DEFAULT_TOKEN_CACHE = MemoryTokenCache()
"""Used by every client built without a cache, so clients of one tenant in a process share a token."""


class TokenManager:
    """Single-flight token access for one credential over a :class:`TokenCache`.

    ``fetch`` requests a new token from Zuora (it is the client's HTTP call).
    """

    def __init__(self, cache: TokenCache, key: str, fetch: Callable[[], CachedToken]) -> None:
        self._cache = cache
        self._key = key
        self._fetch = fetch

    def token(self) -> CachedToken:
        """A fresh token: the cached one, or one new token shared by all concurrent callers."""
        cached = self._cache.get(self._key)
        if cached is not None and cached.is_fresh():
            return cached
        with self._cache.lock(self._key):
            cached = self._cache.get(self._key)  # another caller may have refreshed meanwhile
            if cached is not None and cached.is_fresh():
                return cached
            return self._store(self._fetch())

    def refresh(self) -> CachedToken:
        """A new token whatever the cache holds (used to validate credentials)."""
        with self._cache.lock(self._key):
            return self._store(self._fetch())

    def invalidate(self, stale: CachedToken) -> None:
        """Forget ``stale`` after Zuora refused it -- unless another caller already replaced it,
        so that twenty requests failing with the same expired token cause one refresh."""
        with self._cache.lock(self._key):
            current = self._cache.get(self._key)
            if current is not None and current.access_token == stale.access_token:
                self._cache.delete(self._key)

    def _store(self, token: CachedToken) -> CachedToken:
        self._cache.set(self._key, token)
        return token
