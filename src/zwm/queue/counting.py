"""Honest counts for big tables: exact up to a cap, "10,000+" beyond it.

``COUNT(*)`` over a million rows costs a full index scan on every page view; counting at
most ``cap + 1`` rows through a ``LIMIT`` subquery costs at most ``cap`` index entries and
still tells the operator the exact figure whenever it is small enough to matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

COUNT_CAP = 10_000
"""Counts above this are shown as "10,000+"."""


@dataclass(frozen=True)
class CappedCount:
    """A count that is exact, or a lower bound when ``capped``."""

    value: int
    capped: bool = False

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"

    def __add__(self, other: CappedCount) -> CappedCount:
        """A sum is a lower bound as soon as one of its parts is."""
        return CappedCount(self.value + other.value, capped=self.capped or other.capped)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "capped": self.capped}


def capped_count(rows: QuerySet[Any], cap: int = COUNT_CAP) -> CappedCount:
    """Count ``rows``, stopping after ``cap`` (``SELECT COUNT(*) FROM (... LIMIT cap + 1)``)."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap}")
    found = rows.order_by().values("pk")[: cap + 1].count()
    return CappedCount(cap, capped=True) if found > cap else CappedCount(found)
