"""What every list page does the same way: sort by a whitelisted column, paginate, and
keep the other query parameters on the sort and page links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict

PAGE_SIZES = (25, 50, 100)


@dataclass(frozen=True)
class Listing:
    page: Page[Any]
    sort: str
    """The ``sort`` parameter in force (``name`` or ``-name``)."""
    query: QueryDict
    """The request's parameters without ``page``: page links append ``&page=N``."""

    def querystring(self) -> str:
        return self.query.urlencode()


def listing(
    request: HttpRequest,
    queryset: QuerySet[Any],
    *,
    sorts: dict[str, str],
    default_sort: str,
    per_page: int = 50,
) -> Listing:
    """Sort ``queryset`` by ``?sort=`` (a key of ``sorts``, ``-`` for descending; anything
    else falls back to ``default_sort``) and return the requested page (a page number out of
    range or not a number gives the nearest valid page, never an error)."""
    raw = request.GET.get("sort", default_sort)
    key = raw.removeprefix("-")
    if key not in sorts:
        raw, key = default_sort, default_sort.removeprefix("-")
    descending = raw.startswith("-")
    field = sorts[key]
    ordered = queryset.order_by(f"-{field}" if descending else field, "-pk" if descending else "pk")
    try:
        size = int(request.GET.get("per_page", per_page))
    except ValueError:
        size = per_page
    if size not in PAGE_SIZES:
        size = per_page
    page = Paginator(ordered, size).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return Listing(page=page, sort=raw, query=query)
