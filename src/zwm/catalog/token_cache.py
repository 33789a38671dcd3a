"""A Zuora token cache shared by every process, on the application database.

Why: Zuora rate-limits token requests per IP (zuora-api.md section 1) and a token is good
for an hour, so workers, the CLI and the web app should share one token per credential
instead of each asking for its own. The database is the one store every deployment has
(SQLite, PostgreSQL, MariaDB), so no Redis is required for this.

* Tokens are secrets: stored Fernet-encrypted like client secrets.
* Each process keeps a copy in memory while it is fresh: the client asks the cache before
  every request, and that must not cost a query and a decryption each time.
* ``lock(key)`` is a thread lock plus a lock *row* (insert = acquire, a unique key makes it
  exclusive, an expiry frees the lock of a crashed process), so one refresh per credential
  is in flight across all processes.
* Database work may happen on a client's worker thread: such a thread's connection is
  closed after use, so threads that come and go leak no connections.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from django.db import IntegrityError, connection, transaction

from zwm.catalog import crypto
from zwm.catalog.models import StoredToken, TokenLock
from zwm.zuora.auth import CachedToken

T = TypeVar("T")

LOCK_TTL = 90.0
"""Seconds a token lock row lives: longer than a token request with its retries."""
LOCK_POLL = 0.05


def _db(operation: Callable[[], T]) -> T:
    """Run ``operation``; on a thread other than the main one, close its connection after."""
    try:
        return operation()
    finally:
        if threading.current_thread() is not threading.main_thread() and not connection.in_atomic_block:
            connection.close()


class DatabaseTokenCache:
    """:class:`zwm.zuora.TokenCache` on the ``catalog_zuora_tokens`` table, encrypted, shared."""

    def __init__(self, lock_ttl: float = LOCK_TTL) -> None:
        self._memory: dict[str, CachedToken] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._lock_ttl = lock_ttl

    def get(self, key: str) -> CachedToken | None:
        with self._guard:
            cached = self._memory.get(key)
        if cached is not None and cached.is_fresh():
            return cached
        row = _db(lambda: StoredToken.objects.filter(key=key).first())
        if row is None:
            return None
        try:
            token = CachedToken(crypto.decrypt(row.token_encrypted), row.expires_at, row.refresh_at)
        except crypto.SecretDecryptionError:
            return None  # encrypted with a key since removed: a new token will replace it
        with self._guard:
            self._memory[key] = token
        return token

    def set(self, key: str, token: CachedToken) -> None:
        with self._guard:
            self._memory[key] = token
        encrypted = crypto.encrypt(token.access_token)
        _db(
            lambda: StoredToken.objects.update_or_create(
                key=key,
                defaults={
                    "token_encrypted": encrypted,
                    "expires_at": token.expires_at,
                    "refresh_at": token.refresh_at,
                },
            )
        )

    def delete(self, key: str) -> None:
        with self._guard:
            self._memory.pop(key, None)
        _db(lambda: StoredToken.objects.filter(key=key).delete())

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        with self._guard:
            local = self._locks.setdefault(key, threading.Lock())
        with local:
            owner = uuid.uuid4().hex
            self._acquire_row(key, owner)
            try:
                yield
            finally:
                _db(lambda: TokenLock.objects.filter(key=key, owner=owner).delete())

    def _acquire_row(self, key: str, owner: str) -> None:
        """Insert the lock row, waiting (bounded by the lock TTL) while another process holds it."""
        deadline = time.monotonic() + self._lock_ttl + 5
        while True:
            now = time.time()
            if _db(partial(self._try_insert, key, owner, now)):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"token lock {key} is still held after {self._lock_ttl:g} s")
            time.sleep(LOCK_POLL)

    def _try_insert(self, key: str, owner: str, now: float) -> bool:
        TokenLock.objects.filter(key=key, expires_at__lt=now).delete()
        try:
            with transaction.atomic():
                TokenLock.objects.create(key=key, owner=owner, expires_at=now + self._lock_ttl)
        except IntegrityError:
            return False
        return True

    def __repr__(self) -> str:
        return f"<DatabaseTokenCache {len(self._memory)} token(s) in memory>"


_shared: DatabaseTokenCache | None = None
_shared_guard = threading.Lock()


def shared_token_cache() -> DatabaseTokenCache:
    """The process-wide cache: one memory layer for every client built by this process."""
    global _shared
    with _shared_guard:
        if _shared is None:
            _shared = DatabaseTokenCache()
        return _shared
