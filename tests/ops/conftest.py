"""Fixtures of the operations tests.

They reuse the queue tests' kits (``workerkit``: the ``workers`` fixture, ``zwm``
subprocesses on the test database; ``rediskit``: private Redis servers a test may stop),
which live beside those tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "queue"))

from workerkit import workers

__all__ = ["workers"]
