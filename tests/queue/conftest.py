"""Fixtures of the queue tests (helpers live in :mod:`workerkit`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from workerkit import workers

__all__ = ["workers"]  # the fixture, shared with the operations tests


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """A file jobs append lines to: what ran, how often, in which order."""
    return tmp_path / "marker.log"
