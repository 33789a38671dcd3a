"""Reading list filters from the query string: a malformed value filters nothing, never a 500."""

from __future__ import annotations

from django.http import HttpRequest


def as_id(raw: str) -> int | None:
    """A database id from text, or None: not digits, or too large for a 64-bit column."""
    text = raw.strip()
    return int(text) if text.isdigit() and len(text) < 19 else None


def int_param(request: HttpRequest, name: str) -> int | None:
    return as_id(request.GET.get(name, ""))


def choice_param(request: HttpRequest, name: str, choices: list[str]) -> str:
    raw = request.GET.get(name, "")
    return raw if raw in choices else ""
