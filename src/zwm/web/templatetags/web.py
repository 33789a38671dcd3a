"""Template helpers of the web app: sortable column headers, badges, query strings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.http import QueryDict
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context: template.Context, key: str, label: str) -> str:
    """A column header linking to the list sorted by ``key`` (a second click reverses it)."""
    current = context["listing"].sort
    query: QueryDict = context["listing"].query.copy()
    ascending_now = current == key
    query["sort"] = f"-{key}" if ascending_now else key
    arrow = " ▲" if ascending_now else (" ▼" if current == f"-{key}" else "")
    state = "ascending" if ascending_now else ("descending" if current == f"-{key}" else "none")
    return format_html(
        '<th scope="col" aria-sort="{}"><a href="?{}">{}{}</a></th>', state, query.urlencode(), label, arrow
    )


@register.simple_tag(takes_context=True)
def page_url(context: template.Context, number: int) -> str:
    query: QueryDict = context["listing"].query.copy()
    query["page"] = str(number)
    return "?" + query.urlencode()


@register.filter
def badge(value: Any) -> str:
    """A status badge: ``{{ run.status|badge }}``."""
    text = str(value or "never")
    return format_html('<span class="badge badge-{}">{}</span>', text.lower().replace(" ", "-"), text)


@register.filter
def duration_until(start: datetime | None, end: datetime | None) -> str:
    """``{{ run.started_at|duration_until:run.finished_at }}`` as ``1.2 s`` or ``3 min 4 s``."""
    if start is None or end is None:
        return ""
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s"
