"""The last step of a job's run in a worker: record the outcome and acknowledge it.

Successes are bundled (``complete_many`` at most :data:`ACK_WINDOW` seconds later) and
acknowledged in one transaction with their history rows and batch counters. A retryable
failure is released with its backoff; a job out of tries or failing with a ``dont_retry``
exception is completed and recorded in failed jobs, and its ``failed()`` hook is queued
for the executor. On the database queue each outcome commits with its acknowledgement, and
when the driver reports the lease lost (fencing) nothing is recorded: the job belongs to
another worker. On Redis the database side commits first and the acknowledgement follows;
a job recovered in between finds its outcome recorded and records nothing a second time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction

from zwm.queue import batches, history
from zwm.queue import policy as retry_policy
from zwm.queue.drivers.base import Driver, Reservation
from zwm.queue.executor import Result
from zwm.queue.failed import FailureInfo, failure_recorded, record_failure
from zwm.queue.job import Envelope
from zwm.queue.models import JobExecution

log = logging.getLogger("zwm.queue")

T = TypeVar("T")

Status = JobExecution.Status

ACK_WINDOW = 0.05
"""Seconds a success may wait to be acknowledged together with the next ones."""
LEASE_LOST = "lease lost before the outcome was recorded; the job was handed to another worker"

Notify = Callable[[str, Envelope], None]
"""Told of each outcome (``"Processed"``, ``"Released"``, ``"Failed"``) as it is recorded."""


class Acknowledger:
    """Records outcomes for one worker and acknowledges them to the driver."""

    def __init__(
        self,
        driver: Driver,
        connection: str,
        buffer: history.HistoryBuffer,
        defaults: retry_policy.Defaults,
        notify: Notify,
    ) -> None:
        self.driver = driver
        self.connection = connection
        self.history = buffer
        self.defaults = defaults
        self.notify = notify
        self.processed = 0
        self.failed = 0
        self.hooks: list[dict[str, Any]] = []
        """``failed()`` hook requests waiting for the executor's pipeline to drain."""
        self._acks: list[tuple[Reservation, JobExecution]] = []
        self._since = 0.0
        self._unacked: list[Reservation] = []
        """Successes recorded in the database whose acknowledgement to another store
        (Redis) has not been answered yet: only the acknowledgement is retried."""

    @property
    def pending(self) -> list[Reservation]:
        """Successes not yet acknowledged to the driver (their leases still matter)."""
        return [reservation for reservation, _ in self._acks] + self._unacked

    def due(self, limit: int) -> bool:
        """Is it time to acknowledge the bundled successes?"""
        if self._unacked:
            return True
        return bool(self._acks) and (time.monotonic() - self._since >= ACK_WINDOW or len(self._acks) >= limit)

    def settle(self, reservation: Reservation, row: JobExecution, result: Result, tries: int) -> None:
        """Record how one execution ended: success (bundled), retry, or failure for good."""
        envelope = reservation.envelope
        if result.status == "succeeded":
            history.finish(row, Status.SUCCEEDED, progress=result.progress)
            self.history.changed(row)
            if not self._acks:
                self._since = time.monotonic()
            self._acks.append((reservation, row))
            self.processed += 1
            self.notify("Processed", envelope)
            return
        failure = result.failure or FailureInfo("Exception", "unknown failure")
        timed_out = result.status == "timed_out"
        if result.dont_retry or envelope.attempts >= tries:
            status = Status.TIMED_OUT if timed_out else Status.FAILED
            hook = not result.hook_ran
            self.fail(reservation, row, failure, status, run_hook=hook, progress=result.progress)
            return
        delay = retry_policy.retry_delay(envelope, self.defaults)
        released = self.driver.release(reservation, delay=delay)
        history.finish(row, Status.TIMED_OUT if timed_out else Status.RELEASED, message=failure.message)
        if not released:
            self.lease_lost(row)
        else:
            self.notify("Released", envelope)
            log.info(
                "%s [%s] attempt %d failed, retrying in %.3g s",
                envelope.job,
                envelope.id,
                envelope.attempts,
                delay,
            )
        self.history.changed(row)

    def fail(
        self,
        reservation: Reservation,
        row: JobExecution | None,
        failure: FailureInfo,
        status: str,
        *,
        run_hook: bool,
        progress: int | None = None,
    ) -> None:
        """Failed for good: record the failure and complete the job -- in one transaction on
        the database queue, database first and the acknowledgement after it elsewhere."""
        envelope = reservation.envelope
        if row is not None:
            history.finish(row, status, message=failure.message, progress=progress)
            self.history.changed(row)
        if self.driver.name != "database":
            self._fail_elsewhere(reservation, failure)
        elif not self._fail_together(reservation, failure):
            if row is not None:
                self.lease_lost(row)
            return
        self.failed += 1
        log.warning("%s [%s] failed: %s", envelope.job, envelope.id, failure.message)
        self.notify("Failed", envelope)
        if run_hook:
            self.hooks.append(
                {
                    "op": "failed",
                    "envelope": envelope.to_dict(),
                    "type": failure.type.rsplit(".", 1)[-1],
                    "message": failure.message,
                }
            )

    def _fail_together(self, reservation: Reservation, failure: FailureInfo) -> bool:
        """:meth:`fail` on the database queue: the failed-job row, the removal from the queue
        and the batch's counters in one transaction; ``False`` (nothing recorded) when the
        lease was lost."""
        envelope = reservation.envelope
        with transaction.atomic():
            record_failure(envelope, self.connection, failure)
            done = self.driver.complete(reservation)
            if done:
                batches.record_failure(envelope)
                self.release_unique(envelope)
            else:
                transaction.set_rollback(True)
        return done

    def _fail_elsewhere(self, reservation: Reservation, failure: FailureInfo) -> None:
        """:meth:`fail` when the queue is not the database (Redis): the failed-job row, the
        batch's counters and the execution's history row commit first, and the
        acknowledgement follows with the successes' (:meth:`_flush_elsewhere`), retried alone
        until answered. A worker lost between the two leaves the job to be recovered, and
        that recovery is acknowledged without running (:meth:`reconciled`). An answer "lease
        lost" changes nothing: whoever holds the job now reconciles it the same way."""
        envelope = reservation.envelope

        def write() -> None:
            record_failure(envelope, self.connection, failure)
            batches.record_failure(envelope)

        self._commit_with_history(write)
        self._unacked.append(reservation)

    def reconciled(self, reservation: Reservation) -> bool:
        """Is this job a recovery of an execution whose final failure is recorded already?

        Then it is acknowledged without running again -- no second failed-job row, no second
        count in its batch. Only recovered jobs are looked up (the common path pays nothing),
        and only on a queue that is not the database, where :meth:`fail` commits before it
        acknowledges; the lookup is keyed by job id and attempt, so a job ``queue:retry``
        put back (attempts counted afresh) is not mistaken for its earlier failure.
        """
        envelope = reservation.envelope
        if not envelope.recoveries or self.driver.name == "database" or not failure_recorded(envelope):
            return False
        log.info("%s [%s]: its failure was recorded before its worker was lost", envelope.job, envelope.id)
        self._unacked.append(reservation)
        return True

    def skip(self, reservation: Reservation) -> None:
        """A member of a cancelled batch: acknowledged without running."""
        envelope = reservation.envelope
        with transaction.atomic():
            done = self.driver.complete(reservation)
            if done:
                batches.record_success(envelope, skipped=True)
                self.release_unique(envelope)
        if done:
            log.info("%s [%s] skipped: its batch is cancelled", envelope.job, envelope.id)

    def lease_lost(self, row: JobExecution) -> None:
        log.warning("%s [%s]: %s", row.job_class, row.job_uuid, LEASE_LOST)
        row.status = Status.RELEASED
        row.exception_message = LEASE_LOST

    def release_unique(self, envelope: Envelope) -> None:
        if envelope.unique_key is not None:
            self.driver.release_unique(envelope.unique_key, envelope.id)

    def flush(self) -> set[str]:
        """Acknowledge the bundled successes, in one transaction with their history rows;
        the ids acknowledged or found lost (no longer in hand either way).

        With the database driver the acknowledgement, the history rows and the batch
        counters commit together: a worker killed at any point leaves either a job still
        reserved (it runs again) or a job done *and* recorded -- never a success without
        its history row, which is what "exactly one success recorded" rests on. On an
        error the successes stay bundled, to be acknowledged again: an acknowledgement
        whose reply was lost may have removed the job already, and only a retry of it
        (which the driver treats as "in doubt") records that success.
        """
        if self.driver.name != "database":
            return self._flush_elsewhere()
        if not self._acks:
            return set()
        acks, self._acks = self._acks, []

        def write() -> list[bool]:
            done = self.driver.complete_many([r for r, _ in acks])
            for (reservation, row), ok in zip(acks, done, strict=True):
                if not ok:
                    self.lease_lost(row)
                    history.amend(row)  # written as succeeded by the flush before
                    continue
                if reservation.envelope.batch_id is not None:
                    batches.record_success(reservation.envelope)
                self.release_unique(reservation.envelope)  # with the ack (database driver)
            return done

        try:
            done = self._commit_with_history(write)
        except BaseException:
            self._acks = acks + self._acks
            raise
        for ok in done:
            if not ok:
                self.processed -= 1
        return {reservation.envelope.id for reservation, _ in acks}

    def _flush_elsewhere(self) -> set[str]:
        """:meth:`flush` when the queue is not the database (Redis): the two stores cannot
        commit together, so the database side -- history rows, batch counters -- commits
        first and the acknowledgement follows, retried alone until answered. A worker lost
        between the two leaves the job to be recovered and run again; that run finds its
        success already recorded (looked up for recovered jobs only) and records nothing
        a second time: never a success counted twice, never a batch left pending."""
        acks, self._acks = self._acks, []
        if acks:
            repeats = _recorded_elsewhere([(r.envelope, row) for r, row in acks if r.envelope.recoveries])
            for reservation, row in acks:
                if reservation.envelope.id in repeats:
                    self.history.drop(row)  # a repeat of a success already recorded
                    self.processed -= 1

            def write() -> None:
                for reservation, _ in acks:
                    if reservation.envelope.batch_id is not None and reservation.envelope.id not in repeats:
                        batches.record_success(reservation.envelope)

            try:
                self._commit_with_history(write)
            except BaseException:
                self._acks = [a for a in acks if a[0].envelope.id not in repeats] + self._acks
                raise
            self._unacked += [reservation for reservation, _ in acks]
        unacked = self._unacked
        done = self.driver.complete_many(unacked)
        self._unacked = []
        for reservation, ok in zip(unacked, done, strict=True):
            if ok:
                self.release_unique(reservation.envelope)
            else:  # another worker has it now, and finds this outcome recorded
                log.warning("%s [%s]: %s", reservation.envelope.job, reservation.envelope.id, LEASE_LOST)
        return {reservation.envelope.id for reservation in unacked}

    def _commit_with_history(self, write: Callable[[], T]) -> T:
        """Flush the history buffer and run ``write`` in one transaction (with the database
        queue's acknowledgement inside it, or the database side of outcomes on a queue that
        cannot share it); what ``write`` returns. If it rolls back, the rows flushed are
        buffered again."""
        flushed: list[history.Flushed] = []
        try:
            with transaction.atomic():
                flushed.append(self.history.flush())
                return write()
        except BaseException:
            for batch in reversed(flushed):
                self.history.restore(batch)
            raise


def _recorded_elsewhere(recovered: list[tuple[Envelope, JobExecution]]) -> set[str]:
    """The ids of these recovered jobs whose success another execution already recorded.

    This execution's own row does not count: the history buffer may have written it as
    succeeded already (a periodic flush between the job's end and its acknowledgement), and
    taking it for an earlier run's would drop the job's only success.
    """
    if not recovered:
        return set()
    own = {envelope.id: row for envelope, row in recovered}
    found = JobExecution.objects.filter(job_uuid__in=list(own), status=Status.SUCCEEDED).values_list(
        "job_uuid", "worker_host", "worker_pid", "started_at"
    )
    # An execution is known by its worker and start (one worker runs one attempt once, as
    # history.amend relies on), whether or not its row object holds a pk.
    return {
        job
        for job, host, pid, started in found
        if (host, pid, started) != (own[job].worker_host, own[job].worker_pid, own[job].started_at)
    }
