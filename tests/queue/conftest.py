"""Fixtures of the queue tests (helpers live in :mod:`workerkit`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from workerkit import HERE, Workers, worker_database_url


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    """Run ``zwm`` subprocesses that share this test's (committed) database."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=worker_database_url(),
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        QUEUE_CONNECTION="database",
        LOG_LEVEL="WARNING",
    )
    manager = Workers(env)
    yield manager
    manager.cleanup()


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file jobs append lines to: what ran, how often, in which order."""
    return tmp_path / "marker.log"
