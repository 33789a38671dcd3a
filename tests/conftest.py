"""Shared test set-up: which database backend this run targets, and real-server gating.

``scripts/test.sh`` runs pytest once per backend with ``ZWM_TEST_BACKEND`` and
``DATABASE_URL`` set. A server that cannot be reached skips its tests with the reason --
except under ``CI=true``, where it fails the run: CI must prove every backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from serverkit import IN_CI, REDIS_URL, reachable, require_server, server_of
from zwm.config import get_config

BACKEND = os.environ.get("ZWM_TEST_BACKEND", "sqlite")

# The Zuora simulator speaks plain http on loopback, which the application refuses unless
# told otherwise (tests of that refusal turn it off again with ``configure``). Subprocesses
# started by tests inherit it.
os.environ.setdefault("ZWM_ZUORA_ALLOW_HTTP", "true")
get_config.cache_clear()  # read before this file, by the Django settings


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if BACKEND == "sqlite":
        return
    url = os.environ.get("DATABASE_URL", "")
    default_port = 5432 if BACKEND == "postgres" else 3306
    host, port = server_of(url, default_port)
    if reachable(host, port):
        return
    message = f"{BACKEND} is not reachable at {host}:{port}"
    if IN_CI:
        raise pytest.UsageError(f"{message} (CI=true: every database backend must be up)")
    skip = pytest.mark.skip(reason=message)
    for item in items:
        item.add_marker(skip)


@pytest.fixture
def redis_url() -> str:
    """URL of a real Redis for tests (database 15 by default); skips or fails when it is down."""
    require_server("Redis", REDIS_URL, 6379)
    return REDIS_URL


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Change settings read through ``zwm.config`` for the rest of the test: ``configure(NAME=value)``."""
    from zwm.catalog import crypto
    from zwm.config import get_config

    def apply(**env: str) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_config.cache_clear()
        crypto.reset_keys()

    yield apply
    monkeypatch.undo()
    get_config.cache_clear()
    crypto.reset_keys()
