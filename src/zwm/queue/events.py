"""What happens to jobs, for whoever listens: metrics, log shippers, tests.

The queue emits an event when an execution starts and when it ends (succeeded, failed,
timed out, released for a retry), from the process that records it -- the worker, or the
caller for in-process runs. Listeners subscribe at start-up (the operations app does from
its ``ready()``); the queue itself imports none of them. A listener that raises is logged
and ignored: observing jobs must never break running them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobEvent:
    kind: str
    """``started``, or the outcome: ``succeeded``, ``failed``, ``timed_out``, ``released``."""
    job_id: str
    job_class: str
    queue: str
    connection: str
    attempt: int
    duration: float | None = None
    """Seconds the execution took (outcomes only)."""


Listener = Callable[[JobEvent], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def listening() -> bool:
    return bool(_listeners)


def emit(event: JobEvent) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            log.exception("job event listener %r failed on %s", listener, event.kind)
