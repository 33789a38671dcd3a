"""What happens to jobs, for whoever listens: metrics, log shippers, tests.

The queue emits an event when an execution starts and when it ends (succeeded, failed,
timed out, released for a retry), from the process that records it -- the worker, or the
caller for in-process runs. Listeners subscribe at start-up (the operations app does from
its ``ready()``); the queue itself imports none of them.
A listener that raises is logged and ignored (:mod:`zwm.listeners`).
"""

from __future__ import annotations

from dataclasses import dataclass

from zwm.listeners import Listeners


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


listeners: Listeners[JobEvent] = Listeners("job event")
subscribe, unsubscribe, emit = listeners.subscribe, listeners.unsubscribe, listeners.emit


def listening() -> bool:
    return bool(listeners)
