"""The ``sync`` connection: a job runs in the dispatching process when it is pushed.

For ``--sync`` command modes, tests and development without a worker. It is a driver so
that ``dispatch`` and batches work unchanged, but it stores nothing: there is never
anything waiting, reserved or to work on. Retries, failed-job recording, history and
batch accounting are the worker's (:func:`zwm.queue.worker.run_envelope`); a job's
failure is recorded, never raised into the code that dispatched it, as with a real queue.
A delay is ignored (the job runs now) and so is uniqueness (nothing can run concurrently
within one call).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from zwm.queue.drivers.base import Driver, QueueCounts, QueuedJob, Reservation
from zwm.queue.job import Envelope


class SyncDriver(Driver):
    name = "sync"

    def push(self, envelopes: Sequence[Envelope], *, available_at: float | None = None) -> None:
        from zwm.queue.worker import run_envelope

        for envelope in envelopes:
            run_envelope(envelope, connection=self.name)

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

    def release_unique(self, key: str, owner: str) -> None:
        return None
