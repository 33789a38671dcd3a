"""In-process runs: ``dispatch_now`` and the ``sync`` connection.

This sits above the drivers: the ``sync`` driver stores nothing and hands each pushed job
to :func:`run_envelope`, which it is given when this module registers the connection (a
driver never imports what runs jobs; the app's ``ready()`` imports this module). The
worker's retry policy, failure recording, history and batch accounting apply, with
differences on purpose: the caller's process runs the job, so there is no timeout
(nothing could kill it safely); retries happen at once, waiting a backoff only when it is
at most :data:`SYNC_MAX_WAIT` seconds; every execution's history row is written at once.
"""

from __future__ import annotations

import logging
import time

from django.db import transaction

from zwm.queue import batches, history
from zwm.queue import policy as retry_policy
from zwm.queue.connections import register_connection
from zwm.queue.drivers.sync import SyncDriver
from zwm.queue.executor import execute
from zwm.queue.failed import FailureInfo, record_failure
from zwm.queue.job import Envelope, Job
from zwm.queue.models import JobExecution

log = logging.getLogger("zwm.queue")

Status = JobExecution.Status

SYNC_MAX_WAIT = 1.0
"""``run_now`` honours a retry backoff up to this many seconds, and retries at once after
longer ones: a CLI or web request must not sleep for minutes."""


def run_envelope(envelope: Envelope, *, connection: str = "sync", raise_errors: bool = False) -> bool:
    """Run a job here and now with its retry policy and failure recording; did it succeed?

    With ``raise_errors`` the final exception is re-raised after it was recorded.
    """
    defaults = retry_policy.Defaults()
    tries = retry_policy.max_tries(envelope, defaults)
    if envelope.batch_id is not None and batches.should_skip(envelope):
        batches.record_success(envelope, skipped=True)
        return True
    while True:
        envelope.attempts += 1
        row = history.new_execution(envelope, connection=connection, reserved_at=time.time())
        history.record(row)

        def report(percent: int, row: JobExecution = row) -> None:
            JobExecution.objects.filter(pk=row.pk).update(progress=percent)

        result, exc = execute(envelope, connection=connection, max_tries=tries, reporter=report)
        if result.status == "succeeded":
            history.finish(row, Status.SUCCEEDED, progress=result.progress)
            with transaction.atomic():
                history.record(row)
                batches.record_success(envelope)
            return True
        failure = result.failure or FailureInfo("Exception", "unknown failure")
        if result.dont_retry or envelope.attempts >= tries:
            history.finish(row, Status.FAILED, message=failure.message, progress=result.progress)
            with transaction.atomic():
                history.record(row)
                record_failure(envelope, connection, exc if exc is not None else failure)
                batches.record_failure(envelope)
            log.warning("%s [%s] failed: %s", envelope.job, envelope.id, failure.message)
            if raise_errors and exc is not None:
                raise exc
            return False
        history.finish(row, Status.RELEASED, message=failure.message)
        history.record(row)
        delay = retry_policy.retry_delay(envelope, defaults)
        if delay <= SYNC_MAX_WAIT:
            time.sleep(delay)
        else:
            log.info(
                "%s [%s]: retrying at once instead of waiting %.3g s (run in-process)",
                envelope.job,
                envelope.id,
                delay,
            )


def run_now(job: Job, *, queue: str | None = None) -> str:
    """Run ``job`` in this process now (``dispatch_now``); its id. Re-raises a final failure."""
    envelope = Envelope.for_job(job, queue=queue)
    run_envelope(envelope, connection="sync", raise_errors=True)
    return envelope.id


def _run_pushed(envelope: Envelope, connection: str) -> None:
    run_envelope(envelope, connection=connection)


register_connection("sync", lambda: SyncDriver(_run_pushed))
