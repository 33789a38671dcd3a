"""What the client sees of Zuora, for whoever listens (the operations metrics).

Every HTTP response -- and every request that got none -- is reported with its endpoint
(the URL path with ids replaced by ``{id}``, so there are a handful of endpoints, not one
per workflow) and its status; a token replaced after a 401 is reported as a refresh. The
client imports no listener (:mod:`zwm.listeners`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zwm.listeners import Listeners

_ID = re.compile(r"\d|^[0-9a-f]{16,}$", re.IGNORECASE)
_VERSION = re.compile(r"v\d+")


@dataclass(frozen=True)
class ZuoraEvent:
    kind: str
    """``response`` (``status`` is the HTTP status, or ``None`` when no response came) or
    ``refresh`` (a token refused with 401 was replaced)."""
    endpoint: str
    status: int | None = None


listeners: Listeners[ZuoraEvent] = Listeners("Zuora event")
subscribe, unsubscribe = listeners.subscribe, listeners.unsubscribe


def endpoint_of(path: str) -> str:
    """``/workflows/123/export`` -> ``/workflows/{id}/export`` (``/v1`` and the like kept)."""
    return "/".join(
        "{id}" if _ID.search(part) and not _VERSION.fullmatch(part) else part for part in path.split("/")
    )


def emit(kind: str, path: str, status: int | None = None) -> None:
    if listeners:
        listeners.emit(ZuoraEvent(kind, endpoint_of(path), status))
