"""What the client sees of Zuora, for whoever listens (the operations metrics).

Every HTTP response -- and every request that got none -- is reported with its endpoint
(the URL path with ids replaced by ``{id}``, so there are a handful of endpoints, not one
per workflow) and its status; a token replaced after a 401 is reported as a refresh. The
client imports no listener; a listener that raises is logged and ignored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

_ID = re.compile(r"\d|^[0-9a-f]{16,}$", re.IGNORECASE)
_VERSION = re.compile(r"v\d+")


@dataclass(frozen=True)
class ZuoraEvent:
    kind: str
    """``response`` (``status`` is the HTTP status, or ``None`` when no response came) or
    ``refresh`` (a token refused with 401 was replaced)."""
    endpoint: str
    status: int | None = None


Listener = Callable[[ZuoraEvent], None]
_listeners: list[Listener] = []


def endpoint_of(path: str) -> str:
    """``/workflows/123/export`` -> ``/workflows/{id}/export`` (``/v1`` and the like kept)."""
    return "/".join(
        "{id}" if _ID.search(part) and not _VERSION.fullmatch(part) else part for part in path.split("/")
    )


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def emit(kind: str, path: str, status: int | None = None) -> None:
    if not _listeners:
        return
    event = ZuoraEvent(kind, endpoint_of(path), status)
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            log.exception("Zuora event listener %r failed", listener)
