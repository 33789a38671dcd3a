"""Template filters of the Jobs dashboard: times stored as epoch seconds, and durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def epoch(value: float | None) -> datetime | None:
    """Epoch seconds as an aware datetime, for ``|date``."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


@register.filter
def seconds(value: float | None) -> str:
    """A span of seconds for people: ``850 ms``, ``12.5 s``, ``4 min``, ``3 h``, ``2 d``."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.0f} min"
    if value < 86400:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} d"


@register.filter
def millis(value: float | None) -> str:
    return "—" if value is None else seconds(value / 1000)


@register.filter
def as_json(value: object) -> str:
    """Job arguments as compact JSON text (escaped by the template like any text)."""
    return json.dumps(value, ensure_ascii=False, default=str)
