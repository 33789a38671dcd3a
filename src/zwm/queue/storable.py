"""Text from jobs made safe to store on every backend.

An exception message can hold anything a job's data held: a NUL byte (PostgreSQL rejects
it in text and in ``COPY``), a lone surrogate from a lossy decode (no UTF-8 column takes
it), a class path longer than its column. Stored as is, such a value fails the statement
-- for history, the bulk INSERT of many jobs' rows, which the worker would retry forever.
So every such text is cleaned where a row is built: the characters are escaped visibly,
never dropped silently, and over-long values are cut to their column.
"""

from __future__ import annotations


def storable(text: str, limit: int | None = None) -> str:
    """``text`` without NUL bytes or lone surrogates (escaped as ``\\x00``, ``\\udcxx``), cut
    to ``limit`` characters when given."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if limit is None else text[:limit]
