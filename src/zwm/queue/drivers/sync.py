"""The ``sync`` connection: a job runs in the dispatching process when it is pushed.

For ``--sync`` command modes, tests and development without a worker. It is a driver so
that ``dispatch`` and batches work unchanged, but it stores nothing: there is never
anything waiting, reserved or to work on. It runs nothing itself: it is given the function
that does (:func:`zwm.queue.inprocess.run_envelope`, which registers this connection), so
the drivers never import the layer that runs jobs. A job's failure is recorded, never
raised into the code that dispatched it, as with a real queue.
A delay is ignored (the job runs now) and so is uniqueness (nothing can run concurrently
within one call).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from zwm.queue.drivers.base import Driver, QueueCounts, QueuedJob, Reservation
from zwm.queue.job import Envelope


class SyncDriver(Driver):
    name = "sync"

    def __init__(self, run: Callable[[Envelope, str], None]) -> None:
        self._run = run
        """Runs one job now, given its envelope and this connection's name."""

    def push(self, envelopes: Sequence[Envelope], *, available_at: float | None = None) -> None:
        for envelope in envelopes:
            self._run(envelope, self.name)

    def reserve(self, queues: Sequence[str], *, lease: float, limit: int = 1) -> list[Reservation]:
        return []

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        time.sleep(max(0.0, timeout))

    def extend(self, reservations: Sequence[Reservation], *, lease: float) -> list[bool]:
        return [False for _ in reservations]

    def complete(self, reservation: Reservation) -> bool:
        return False

    def release(self, reservation: Reservation, *, delay: float = 0.0) -> bool:
        return False

    def give_back(self, reservations: Sequence[Reservation]) -> list[bool]:
        return [False for _ in reservations]

    def counts(self, queues: Sequence[str] | None = None) -> dict[str, QueueCounts]:
        return {queue: QueueCounts() for queue in queues or ()}

    def waiting(self, queue: str | None = None, *, limit: int = 100, offset: int = 0) -> list[QueuedJob]:
        return []

    def delete(self, job_id: str) -> bool:
        return False

    def clear(self, queue: str) -> int:
        return 0

    def acquire_unique(self, key: str, owner: str, ttl: float) -> bool:
        return True

    def renew_unique(self, locks: Sequence[tuple[str, str]], ttl: float) -> None:
        return None

    def release_unique(self, key: str, owner: str) -> None:
        return None
