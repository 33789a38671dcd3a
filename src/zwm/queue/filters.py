"""Checks shared by the dashboard's filters (backlog, failed jobs, history)."""

from __future__ import annotations

MAX_SEARCH = 200
"""Longest search text: a search is a substring scan, not a query language."""


def check_filter_text(job_class: str | None, search: str | None) -> None:
    """Refuse an empty or over-long job class or search text with a clear message."""
    if job_class is not None and not 0 < len(job_class) <= 255:
        raise ValueError("job class must be 1-255 characters")
    if search is not None and not 0 < len(search) <= MAX_SEARCH:
        raise ValueError(f"search text must be 1-{MAX_SEARCH} characters")
