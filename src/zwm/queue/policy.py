"""The retry policy a worker applies to one job: the job class's values, else the worker's.

An :class:`~zwm.queue.job.Envelope` carries the class's ``tries``/``backoff``/``timeout``
captured at dispatch; ``None`` there means "whatever the worker was started with"
(``--tries``, ``--backoff``, ``--timeout``), exactly as Laravel lets a job be strict about
what it knows and leave the rest to the operator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from zwm.queue.job import Envelope, backoff_delay

BackoffPolicy = list[float] | dict[str, float] | None


@dataclass(frozen=True)
class Defaults:
    """The worker-wide fallbacks (command-line options)."""

    tries: int = 1
    backoff: BackoffPolicy = None
    timeout: float | None = 60.0
    """Seconds; ``None`` (``--timeout 0``) lets a job run as long as it likes."""
    recoveries: int = 3
    """Recoveries from a lost worker before a job fails as poison (``ZWM_QUEUE_MAX_RECOVERIES``)."""

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError(f"tries must be at least 1, got {self.tries}")
        if self.recoveries < 0:
            raise ValueError(f"recoveries must be non-negative, got {self.recoveries}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds or None, got {self.timeout}")


def max_tries(envelope: Envelope, defaults: Defaults) -> int:
    tries = envelope.max_tries if envelope.max_tries is not None else defaults.tries
    return max(1, tries)


def max_recoveries(envelope: Envelope, defaults: Defaults) -> int:
    """Recoveries the job survives; at that many it fails as poison instead of running again."""
    return envelope.max_recoveries if envelope.max_recoveries is not None else defaults.recoveries


def timeout(envelope: Envelope, defaults: Defaults) -> float | None:
    """Seconds the job may run; a job class's ``timeout = 0`` means no limit."""
    if envelope.timeout is None:
        return defaults.timeout
    return envelope.timeout if envelope.timeout > 0 else None


def retry_delay(envelope: Envelope, defaults: Defaults) -> float:
    """Seconds before the next attempt, after attempt ``envelope.attempts`` failed."""
    policy = envelope.backoff if envelope.backoff is not None else defaults.backoff
    return backoff_delay(policy, envelope.attempts, random.random())


def parse_backoff(text: str) -> list[float]:
    """``"60"`` or ``"60,120"`` (the ``--backoff`` option) as a list of seconds."""
    values: list[float] = []
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise ValueError(
                f"backoff must be seconds or a comma-separated list of seconds, got {text!r}"
            ) from None
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"backoff seconds must be non-negative and finite, got {part.strip()!r}")
        values.append(value)
    return values
