"""Reading list filters from the query string: a malformed value filters nothing, never a 500."""

from __future__ import annotations

from django.http import HttpRequest


def int_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def choice_param(request: HttpRequest, name: str, choices: list[str]) -> str:
    raw = request.GET.get(name, "")
    return raw if raw in choices else ""
