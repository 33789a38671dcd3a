"""Fixtures of the chaos suite. It reuses the queue tests' kits (``rediskit``: private Redis
servers a test may kill), which live beside those tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "queue"))
