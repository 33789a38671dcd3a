"""Typed errors of the Zuora client, and the parser for Zuora's error bodies.

The hierarchy::

    ZuoraError                       base; status_code, reason, request_id, track_id, retryable
    ├── ZuoraAuthenticationError     bad credentials, or a 401 that survives one token refresh
    ├── ZuoraPermissionError         403: authenticated, but the user lacks a Workflow permission
    ├── ZuoraNotFoundError           404: no such workflow/version (or another tenant's id)
    ├── ZuoraTransientError          5xx, connection errors, timeouts -- after retries ran out
    │   └── ZuoraRateLimitedError    429 after retries ran out; carries ``retry_after``
    ├── ZuoraInvalidResponseError    body not JSON, or JSON of the wrong shape
    └── ZuoraRequestError            any other 4xx (400, 406, 409, 422...)

Why a small closed tree: callers (the sync service, the job system) make exactly three
decisions -- stop and tell the user (authentication, permission), skip one workflow with a
warning (not found, invalid response), or try again later (``retryable``). Each class
answers one of those questions without the caller inspecting status codes.

Zuora answers errors in at least six body shapes (``errors[]`` of strings or of objects,
``reasons[]``, ``message``, OAuth's ``error``/``error_description``...), and the status code
inside a body can contradict the HTTP status (a 404 whose body says 400). :func:`parse_reason`
reads every shape into one human sentence; the HTTP status is always the one we trust.
Messages never contain a client secret or a token: the client scrubs them with
:func:`scrub` before an error is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

REASON_LIMIT = 300
"""Longest reason kept: enough for any Zuora message, short enough for a log line."""


class ZuoraError(Exception):
    """Base of every error the Zuora client raises.

    ``reason`` is Zuora's own explanation (or ours, for network failures); ``request_id`` is
    the ``Zuora-Request-Id`` to quote to Zuora Support with ``track_id`` (our ``Zuora-Track-Id``).
    """

    retryable: bool = False
    """True when the same call may succeed later without anyone changing anything."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        reason: str = "",
        request_id: str | None = None,
        track_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.request_id = request_id
        self.track_id = track_id
        details = [f"HTTP {status_code}"] if status_code is not None else []
        if request_id:
            details.append(f"Zuora-Request-Id {request_id}")
        if track_id:
            details.append(f"Zuora-Track-Id {track_id}")
        text = f"{message}: {reason}" if reason else message
        super().__init__(f"{text} ({', '.join(details)})" if details else text)


class ZuoraAuthenticationError(ZuoraError):
    """The credentials were refused (wrong id/secret, wrong data centre), or a 401 persisted
    after one token refresh. Never retried: retrying bad credentials only burns the per-IP
    AUTH rate limit."""


class ZuoraPermissionError(ZuoraError):
    """403: the OAuth client's user lacks a Workflow permission (View, Manage or Run)."""


class ZuoraNotFoundError(ZuoraError):
    """404: the workflow or version does not exist (deleted meanwhile, or another tenant's id)."""


class ZuoraTransientError(ZuoraError):
    """The server failed (5xx), the connection failed or timed out, and the client's bounded
    retries ran out. Trying again later is reasonable."""

    retryable = True


class ZuoraRateLimitedError(ZuoraTransientError):
    """429 after the client's retries ran out, or a ``Retry-After`` longer than the client's
    wait budget. ``retry_after`` is the server's hint in seconds (None when it gave none)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ZuoraInvalidResponseError(ZuoraError):
    """The response is not what Zuora documents: not JSON, or JSON missing a required field.

    Not retryable: a server that sends a broken shape for an object usually keeps sending
    it, so the caller should report the object and move on.
    """


class ZuoraRequestError(ZuoraError):
    """Any other 4xx (400, 406, 409, 422...): the request itself is wrong; retrying won't help."""


def parse_reason(body: bytes | str, *, fallback: str = "") -> str:
    """Zuora's human explanation from an error body of any documented shape.

    Tried in order: ``errors[]`` (strings, or objects with ``title``/``message``),
    ``reasons[]`` (``message``/``title``, prefixed by ``fieldName``), OAuth's
    ``error``/``error_description``, ``message``; otherwise the raw body, whitespace
    collapsed and truncated; ``fallback`` (e.g. the HTTP reason phrase) when the body is empty.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    reason = _reason_from_document(document) if document is not None else ""
    if not reason:
        reason = " ".join(text.split())
    return _truncate(reason) or fallback


def _reason_from_document(document: Any) -> str:
    if isinstance(document, list):
        return _join(_item_text(item) for item in document)
    if not isinstance(document, dict):
        return ""
    for key in ("errors", "Errors", "reasons"):
        items = document.get(key)
        if isinstance(items, list) and items:
            found = _join(_item_text(item) for item in items)
            if found:
                return found
    error, description = document.get("error"), document.get("error_description")
    if isinstance(error, dict):
        return _item_text(error)
    if isinstance(description, str) and description:
        return f"{error}: {description}" if isinstance(error, str) and error else description
    for key in ("error", "message", "Message"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return ""
    message = next(
        (item[key] for key in ("title", "message", "detail") if isinstance(item.get(key), str) and item[key]),
        "",
    )
    field = item.get("fieldName")
    return f"{field}: {message}" if message and isinstance(field, str) and field else message


def _join(parts: Iterable[str]) -> str:
    return "; ".join(part for part in parts if part)


def _truncate(text: str) -> str:
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 3] + "..."


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    Belt and braces: the client never puts a secret into a message itself, but a server
    (or a proxy) may echo the request back in its error body.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
