"""Reading a page's query parameters: a malformed one is ignored with a notice, never a 500."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.http import QueryDict
from django.utils import timezone

from zwm.queue.drivers.base import MAX_QUEUE_NAME
from zwm.queue.filters import MAX_SEARCH

SINCE_CHOICES = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


class Params:
    """The query parameters of one request, read with checks; ``notices`` says what was ignored."""

    def __init__(self, query: QueryDict) -> None:
        self.query = query
        self.notices: list[str] = []
        self.kept: dict[str, str] = {}
        """The parameters that were used, to carry into links (pages, actions)."""

    def _raw(self, name: str) -> str | None:
        value = self.query.get(name, "").strip()
        return value or None

    def _ignore(self, name: str, why: str) -> None:
        self.notices.append(f"Ignored the {name} filter: {why}.")

    def _keep(self, name: str, value: str) -> str:
        self.kept[name] = value
        return value

    def text(self, name: str, *, longest: int = MAX_SEARCH) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        if len(value) > longest:
            self._ignore(name, f"longer than {longest} characters")
            return None
        return self._keep(name, value)

    def queue(self, name: str = "queue") -> str | None:
        return self.text(name, longest=MAX_QUEUE_NAME)

    def job_class(self, name: str = "job_class") -> str | None:
        return self.text(name, longest=255)

    def choice(self, name: str, choices: Sequence[str]) -> str | None:
        value = self._raw(name)
        if value is None:
            return None
        if value not in choices:
            self._ignore(name, f"{value[:40]!r} is not one of {', '.join(choices)}")
            return None
        return self._keep(name, value)

    def since(self, name: str = "since") -> datetime | None:
        value = self.choice(name, list(SINCE_CHOICES))
        return None if value is None else timezone.now() - SINCE_CHOICES[value]

    def number(self, name: str, *, smallest: int = 1, largest: int = 10**12) -> int | None:
        """A whole number in range; paging parameters are not kept (each link sets its own)."""
        value = self._raw(name)
        if value is None:
            return None
        if not value.isdigit() or not smallest <= int(value) <= largest:
            self._ignore(name, f"not a whole number from {smallest} to {largest}")
            return None
        return int(value)

    def link(self, **changes: object) -> str:
        """A query string with the kept parameters and ``changes`` (``None`` drops one)."""
        query = QueryDict(mutable=True)
        merged: dict[str, object] = {**self.kept, **changes}
        for key, value in merged.items():
            if value is not None and value != "":
                query[key] = str(value)
        encoded = query.urlencode()
        return f"?{encoded}" if encoded else "?"
