"""A list of callbacks that observe something without being able to break it.

At the bottom of the package, beside :mod:`zwm.config`, so that the queue
(:mod:`zwm.queue.events`) and the Zuora client (:mod:`zwm.zuora.observe`) can each offer
hooks without importing whoever listens (the operations metrics). A listener that raises
is logged and ignored: observing must never break what is observed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Event = TypeVar("Event")


class Listeners(Generic[Event]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        if listener not in self._listeners:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Event], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __bool__(self) -> bool:
        """Whether anyone listens: emitters skip building events nobody reads."""
        return bool(self._listeners)

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s listener %r failed", self.name, listener)
