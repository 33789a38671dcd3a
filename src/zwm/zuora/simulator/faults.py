"""Fault switches of one simulated tenant, and their text form for the CLI and control API.

Every switch is off by default so a fresh tenant behaves like a healthy Zuora. Faults are an
immutable value: the simulator swaps a tenant's whole :class:`Faults` at once, so a request
never sees half of an update made from another thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LAST_PAGE_STYLES = ("absent", "null", "empty")
EXPORT_FIELDS = ("tasks", "linkages", "workflow", "workflow.id")
LISTING_FIELDS = ("id", "name", "updatedAt", "active_version")
OVERLONG = 1000
"""Characters of the texts ``overlong_text_ids`` sends: more than any column stores."""

_RATES = (
    "error_rate",
    "rate_limit_rate",
    "timeout_rate",
    "drop_rate",
    "malformed_rate",
    "missing_fields_rate",
)
_FLAGS = ("empty_listing", "trailing_empty_page", "forbidden_exports")
_ID_SETS = (
    "malformed_export_ids",
    "missing_field_export_ids",
    "vanish_during_export_ids",
    "delete_during_listing_ids",
    "missing_field_listing_ids",
    "forbidden_export_ids",
    "edited_in_place_ids",
    "wrong_type_listing_ids",
    "overlong_text_ids",
)


@dataclass(frozen=True)
class Faults:
    """What can go wrong for one tenant. Probabilities are drawn from the tenant's seeded RNG.

    ``retry_after`` is the ``Retry-After`` (seconds) sent with injected and concurrency 429s:
    small by default so tests stay fast; real Zuora sends 120 on concurrency 429s.
    ``missing_export_field`` says what ``missing_field_export_ids`` removes from an export.
    ``last_page_style`` is how the last listing page says "no more": ``next_page`` absent,
    ``null`` or ``""`` (Zuora does not document which); ``trailing_empty_page`` makes a full
    last page link to one more, empty page. ``next_page_base`` replaces the scheme
    and host of every ``next_page`` URL, as Zuora does (its ``next_page`` names its public
    host, e.g. ``https://rest.zuora.com``, whatever host was asked). ``short_page_length``
    serves at most that many items per page whatever ``page_length`` asked, still linking to
    the next page. ``delete_during_listing_ids`` are really deleted right after page 1 is
    served, so the later pages shift. ``edited_in_place_ids`` export with a changed task
    while neither ``updatedAt`` nor the active version moves.
    """

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 3.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    missing_fields_rate: float = 0.0
    malformed_export_ids: frozenset[int] = field(default_factory=frozenset)
    missing_field_export_ids: frozenset[int] = field(default_factory=frozenset)
    missing_export_field: str = "tasks"
    vanish_during_export_ids: frozenset[int] = field(default_factory=frozenset)
    empty_listing: bool = False
    list_page_error: int | None = None
    retry_after: int = 1
    last_page_style: str = "null"
    trailing_empty_page: bool = False
    next_page_base: str | None = None
    short_page_length: int | None = None
    delete_during_listing_ids: frozenset[int] = field(default_factory=frozenset)
    missing_field_listing_ids: frozenset[int] = field(default_factory=frozenset)
    missing_listing_field: str = "id"
    forbidden_exports: bool = False
    forbidden_export_ids: frozenset[int] = field(default_factory=frozenset)
    edited_in_place_ids: frozenset[int] = field(default_factory=frozenset)
    wrong_type_listing_ids: frozenset[int] = field(default_factory=frozenset)
    overlong_text_ids: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in _ID_SETS:
            object.__setattr__(self, name, _id_set(name, getattr(self, name)))
        if self.hang_seconds < 0:
            raise ValueError(f"hang_seconds must be >= 0, got {self.hang_seconds}")
        if self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after}")
        if self.list_page_error is not None and self.list_page_error < 1:
            raise ValueError(f"list_page_error must be a page number >= 1, got {self.list_page_error}")
        if self.last_page_style not in LAST_PAGE_STYLES:
            raise ValueError(f"last_page_style must be one of {', '.join(LAST_PAGE_STYLES)}")
        if self.missing_export_field not in EXPORT_FIELDS:
            raise ValueError(f"missing_export_field must be one of {', '.join(EXPORT_FIELDS)}")
        if self.missing_listing_field not in LISTING_FIELDS:
            raise ValueError(f"missing_listing_field must be one of {', '.join(LISTING_FIELDS)}")
        if self.short_page_length is not None and self.short_page_length < 1:
            raise ValueError(f"short_page_length must be >= 1, got {self.short_page_length}")
        base = self.next_page_base
        if base is not None and not base.startswith(("http://", "https://")):
            raise ValueError(f"next_page_base must be an http(s) URL, got {base!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (id sets as sorted lists), the inverse of :meth:`from_json`."""
        out = dataclasses.asdict(self)
        for name in _ID_SETS:
            out[name] = sorted(out[name])
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Faults:
        """Build faults from a JSON object; unknown keys are an error, not silently ignored."""
        unknown = set(data) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind(s): {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    def with_setting(self, kind: str, value: str) -> Faults:
        """A copy with one switch set from its text form (``--fault TENANT:KIND=VALUE``)."""
        name = kind.replace("-", "_")
        if name not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
        return dataclasses.replace(self, **{name: _parse(name, value)})


def _id_set(name: str, values: Iterable[int | str]) -> frozenset[int]:
    try:
        return frozenset(int(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a set of workflow ids") from None


def _parse(name: str, text: str) -> Any:
    """Turn the text of one switch into its value; ValueError with a readable message."""
    text = text.strip()
    try:
        if name in _RATES or name == "hang_seconds":
            return float(text)
        if name == "retry_after":
            return int(text)
        if name in {"list_page_error", "short_page_length"}:
            return None if text.lower() in {"", "none", "off"} else int(text)
        if name in _ID_SETS:
            return frozenset(int(part) for part in text.split(",") if part.strip())
        if name in _FLAGS:
            lowered = text.lower()
            if lowered not in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
                raise ValueError
            return lowered in {"true", "1", "yes", "on"}
    except ValueError:
        raise ValueError(f"bad value {text!r} for fault {name}: expected {FAULT_KINDS[name]}") from None
    if name == "next_page_base":
        return text or None
    return text


FAULT_KINDS: dict[str, str] = {
    "error_rate": "probability 0..1 of a 500/502/503/504 on an API request",
    "rate_limit_rate": "probability 0..1 of a 429 with Retry-After and RateLimit-* headers",
    "timeout_rate": "probability 0..1 that a request hangs hang_seconds, then answers 504",
    "hang_seconds": "seconds a timed-out request hangs (default 3)",
    "drop_rate": "probability 0..1 that the connection closes with no response",
    "malformed_rate": "probability 0..1 of HTTP 200 with a body that is not JSON",
    "missing_fields_rate": "probability 0..1 that a workflow object lacks a required field (id, name...)",
    "malformed_export_ids": "comma-separated workflow ids whose export is broken JSON",
    "missing_field_export_ids": "comma-separated workflow ids whose export lacks missing_export_field",
    "missing_export_field": f"what those exports lack: {', '.join(EXPORT_FIELDS)} (default tasks)",
    "vanish_during_export_ids": "comma-separated workflow ids listed but answering 404 when fetched",
    "empty_listing": "true/false: the listing answers data: []",
    "list_page_error": "listing page number that always answers 500 (none to clear)",
    "retry_after": "integer seconds in Retry-After of injected and concurrency 429s (default 1)",
    "last_page_style": f"next_page on the last page: {', '.join(LAST_PAGE_STYLES)} (default null)",
    "trailing_empty_page": "true/false: a full last page still links to a next page with data: []",
    "next_page_base": "scheme://host put in next_page URLs instead of the simulator's own",
    "short_page_length": "at most this many items per listing page, still with a next_page (none to clear)",
    "delete_during_listing_ids": "comma-separated workflow ids deleted right after listing page 1 is served",
    "missing_field_listing_ids": "comma-separated workflow ids listed without missing_listing_field",
    "missing_listing_field": f"what those items lack: {', '.join(LISTING_FIELDS)} (default id)",
    "forbidden_exports": "true/false: every export answers 403 (the OAuth user lacks the permission)",
    "forbidden_export_ids": "comma-separated workflow ids whose export answers 403",
    "edited_in_place_ids": "comma-separated workflow ids whose export changes, updatedAt and version do not",
    "wrong_type_listing_ids": "comma-separated workflow ids listed with an object name, numeric updatedAt...",
    "overlong_text_ids": f"comma-separated workflow ids with {OVERLONG}-character names and task texts",
}
"""Every fault switch with the format of its value; the CLI help is built from this table."""
