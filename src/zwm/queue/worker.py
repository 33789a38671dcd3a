"""The worker: reserve, run under a lease, acknowledge -- and ``run_now`` for in-process runs.

One :class:`Worker` is one process (``zwm queue:work``); ``--processes N`` runs N of them
under :mod:`zwm.queue.supervisor`. The loop:

1. **Reserve** up to a few jobs from the queues in strict priority order. The batch size
   adapts to how long jobs take (a batch holds about :data:`PREFETCH_BUDGET` seconds of
   work, at most ``prefetch`` jobs), so no-op jobs cost two database round trips per
   batch, not per job, while a slow job is never held hostage behind another: slow jobs
   are reserved one at a time.
2. **Run** the jobs in the executor child (:mod:`zwm.queue.executor`), each with its
   timeout: consecutive jobs of a batch go to the child in one message and their results
   stream back one by one (a round trip per job would cost more than a no-op job). The
   worker renews the leases of every job in hand (``driver.extend``) every ``lease / 3``
   seconds while they run: a long job keeps its lease as long as the worker lives, and a
   dead worker's jobs are re-delivered within one lease. A job with no timeout
   (``--timeout 0`` or ``timeout = 0`` on the class) runs in the worker process itself,
   with a thread renewing the leases: nothing will need killing, so it skips the pipe.
3. **Acknowledge**: successes are bundled (``complete_many`` at most
   :data:`ACK_WINDOW` seconds later); a retryable failure is released with its backoff; a
   job out of tries, failing with a ``dont_retry`` exception, or already handed out more
   times than its tries (it keeps killing its workers) is completed and recorded in
   failed jobs, in one transaction, and its ``failed()`` hook runs. When the driver
   reports the lease lost (fencing), nothing is recorded as success or failure: the job
   belongs to another worker now.

Between jobs the worker flushes buffered history, beats its registry row and checks
``--max-jobs``, ``--max-time``, ``--memory`` and the ``queue:restart`` signal. SIGTERM and
SIGINT stop it after the jobs in hand.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TextIO

from django.db import Error as DatabaseError
from django.db import connections, transaction

from zwm.config import get_config
from zwm.queue import batches, history
from zwm.queue import policy as retry_policy
from zwm.queue.connections import check_connection, close_drivers, get_driver
from zwm.queue.drivers.base import Driver, Reservation
from zwm.queue.executor import Executor, MaxAttemptsExceeded, Result, execute, rss_bytes
from zwm.queue.failed import FailureInfo, record_failure
from zwm.queue.job import Envelope, Job
from zwm.queue.models import JobExecution
from zwm.queue.registry import Registration, restart_requested_since

log = logging.getLogger("zwm.queue")

Status = JobExecution.Status

PREFETCH_BUDGET = 0.05
"""Seconds of expected work one reservation may take: bounds how long a job can wait
behind prefetched ones, and keeps the per-batch round trips small for no-op jobs."""
ACK_WINDOW = 0.05
"""Seconds a success may wait to be acknowledged together with the next ones."""
REGISTRY_EVERY = 5.0
SIGNAL_EVERY = 1.0
EXIT_MEMORY = 12
"""Exit code when ``--memory`` was exceeded (Laravel's), so a supervisor can tell."""
LEASE_LOST = "lease lost before the outcome was recorded; the job was handed to another worker"
SYNC_MAX_WAIT = 1.0
"""``run_now`` honours a retry backoff up to this many seconds, and retries at once after
longer ones: a CLI or web request must not sleep for minutes."""


class _Interrupted(Exception):
    """Raised by the signal handler to cut an idle wait short."""


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "the database or Redis is unavailable for now": wait and retry."""
    errors: list[type[BaseException]] = [DatabaseError, ConnectionError, TimeoutError]
    redis = sys.modules.get("redis.exceptions")
    if redis is not None:
        errors.append(redis.RedisError)
    return tuple(errors)


@dataclass(frozen=True)
class WorkerOptions:
    """``queue:work``'s options."""

    connection: str | None = None
    queues: tuple[str, ...] = ("default",)
    sleep: float = 3.0
    defaults: retry_policy.Defaults = field(default_factory=retry_policy.Defaults)
    lease: float = 30.0
    max_jobs: int = 0
    max_time: float = 0.0
    memory: int = 128
    """Megabytes of resident memory (worker or executor child); 0 = no limit."""
    stop_when_empty: bool = False
    once: bool = False
    verbose: bool = False
    name: str | None = None
    prefetch: int = 200

    def __post_init__(self) -> None:
        if not self.queues or any(not q for q in self.queues):
            raise ValueError("at least one queue name is needed")
        if self.lease <= 0 or self.sleep < 0 or self.max_time < 0 or self.max_jobs < 0 or self.memory < 0:
            raise ValueError("lease must be positive; sleep, max-time, max-jobs and memory non-negative")
        if self.prefetch < 1:
            raise ValueError("prefetch must be at least 1")


class Worker:
    """One worker process's loop (see the module docstring)."""

    def __init__(self, options: WorkerOptions, *, out: TextIO | None = None) -> None:
        self.options = options
        self.connection = check_connection(options.connection or get_config().queue_connection)
        if self.connection == "sync":
            raise ValueError(
                "the sync connection runs jobs when they are dispatched: there is no queue to work"
            )
        self.driver = get_driver(self.connection)
        self.out = out or sys.stdout
        self.executor = Executor()
        self.history = history.HistoryBuffer()
        self.exit_code = 0
        self.stop_reason: str | None = None
        self.processed = 0
        self.failed = 0
        self.handled = 0
        self._held: list[Reservation] = []
        self._current: Reservation | None = None
        self._submitted: list[_Run] = []
        """Jobs sent to the executor whose result has not arrived (the first is running)."""
        self._hooks: list[dict[str, Any]] = []
        """``failed()`` hook requests waiting for the executor's pipeline to drain."""
        self._acks: list[tuple[Reservation, JobExecution]] = []
        self._acks_since = 0.0
        self._lost: set[str] = set()
        self._avg_duration = PREFETCH_BUDGET
        self._waiting = False
        self._waited_once = False
        self._errors = 0
        self._registration: Registration | None = None
        self._keeper: _LeaseKeeper | None = None
        self._status = "starting"
        self._next_extend = 0.0
        self._next_registry = 0.0
        self._next_signal = 0.0
        self._transient = _transient_errors()

    # -- lifecycle -------------------------------------------------------------------

    def run(self) -> int:
        """Work until told to stop; the process exit code."""
        self.started_at = time.time()
        self._started = time.monotonic()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._registration = Registration(
                name=self.options.name, connection=self.connection, queues=self.options.queues
            )
            log.info(
                "worker %s started on %s [%s]",
                self._registration.row.name,
                self.connection,
                ",".join(self.options.queues),
            )
            while self.stop_reason is None:
                self._iterate_safely()
        finally:
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code

    def stop(self, reason: str, exit_code: int = 0) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.exit_code = exit_code
            log.info("worker stopping after the jobs in hand: %s", reason)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop(f"received {signal.Signals(signum).name}")
        if self._waiting:
            raise _Interrupted

    def _iterate_safely(self) -> None:
        try:
            self._iterate()
            self._errors = 0
        except _Interrupted:
            return
        except self._transient as exc:
            self._errors += 1
            pause = min(30.0, 0.5 * 2 ** min(self._errors, 6))
            log.warning(
                "queue backend unavailable (%s: %s); retrying in %.1f s", type(exc).__name__, exc, pause
            )
            # Jobs not yet finished are dropped, not lost: their leases lapse and they are
            # re-delivered. Finished ones waiting for their acknowledgement are kept and
            # acknowledged again: an acknowledgement whose reply was lost may have removed the
            # job already, and only a retry of it (which the driver treats as "in doubt")
            # records that success -- dropping it would leave the job done but never recorded.
            self._held.clear()
            self._current = None
            self._submitted.clear()
            self._hooks.clear()
            if self.executor.in_flight:
                self.executor.kill()
            with contextlib.suppress(Exception):
                connections.close_all()
            self._pause(pause)

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.stop_reason is None and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _shutdown(self) -> None:
        self._stop_keeper()
        try:
            self._flush_acks()
            self.history.flush()
        except Exception:
            log.exception("could not record the last outcomes on shutdown")
        self.executor.close()
        if self._registration is not None:
            try:
                self._registration.stopped(processed=self.processed, failed=self.failed)
            except Exception:
                log.exception("could not mark the worker stopped")
        close_drivers()
        log.info(
            "worker stopped: %s (%d processed, %d failed)", self.stop_reason, self.processed, self.failed
        )

    # -- the loop --------------------------------------------------------------------

    def _iterate(self) -> None:
        self._check_limits()
        if self.stop_reason is not None:
            return
        reservations = self.driver.reserve(
            self.options.queues, lease=self.options.lease, limit=self._batch_size()
        )
        if not reservations:
            self._idle()
            return
        self._waited_once = False
        self._next_extend = time.monotonic() + self.options.lease / 3
        self._held = list(reservations)
        self._beat("busy")
        while self._held:
            runs = self._next_runs()
            if not runs:
                continue
            if runs[0].timeout is None:
                self._run_inline(runs[0])
            else:
                self._run_submitted(runs)
        if self.options.once:
            self.stop("--once: one job processed")

    def _batch_size(self) -> int:
        if self.options.once:
            return 1
        size = max(1, min(self.options.prefetch, int(PREFETCH_BUDGET / max(self._avg_duration, 1e-6))))
        if self.options.max_jobs:
            size = min(size, self.options.max_jobs - self.handled)
        return max(1, size)

    def _idle(self) -> None:
        if self._acks:
            self._flush_acks()
            return  # acknowledging may have queued jobs (batch callbacks): look again first
        self.history.flush()
        self._beat("idle")
        if self.options.stop_when_empty:
            self.stop("--stop-when-empty: the queues are empty")
            return
        if self.options.once and self._waited_once:
            self.stop("--once: no job arrived")
            return
        wait = min(self.options.sleep, REGISTRY_EVERY)
        if self.options.max_time:
            wait = min(wait, max(0.0, self.options.max_time - (time.monotonic() - self._started)))
        self._waited_once = True
        self._waiting = True
        try:
            if self.stop_reason is None:
                self.driver.wait(self.options.queues, wait)
        finally:
            self._waiting = False

    def _check_limits(self) -> None:
        options = self.options
        now = time.monotonic()
        if options.max_jobs and self.handled >= options.max_jobs:
            self.stop(f"--max-jobs: {self.handled} jobs processed")
        elif options.max_time and now - self._started >= options.max_time:
            self.stop(f"--max-time: ran {options.max_time:g} s")
        elif options.memory and max(rss_bytes(), self.executor.rss_bytes()) > options.memory * 1024 * 1024:
            self.stop(f"--memory: over {options.memory} MB", EXIT_MEMORY)
        elif now >= self._next_signal:
            self._next_signal = now + SIGNAL_EVERY
            if restart_requested_since(self.started_at):
                self.stop("queue:restart")

    # -- one job ---------------------------------------------------------------------

    def _next_runs(self) -> list[_Run]:
        """Take the next jobs to run from those in hand: one job without a timeout (it runs
        inline), or every consecutive job with one (they go to the executor together).
        Jobs that need no run (lease lost, out of tries, cancelled batch) are settled here."""
        runs: list[_Run] = []
        defaults = self.options.defaults
        while self._held:
            inline = retry_policy.timeout(self._held[0].envelope, defaults) is None
            if runs and inline:
                break
            run = self._prepare(self._held.pop(0))
            if run is not None:
                runs.append(run)
                if inline:
                    break
            else:
                self._tick()
        return runs

    def _prepare(self, reservation: Reservation) -> _Run | None:
        """The job as a run, or ``None`` when it was settled without running."""
        envelope = reservation.envelope
        defaults = self.options.defaults
        tries = retry_policy.max_tries(envelope, defaults)
        self.handled += 1
        if envelope.id in self._lost:
            self._lost.discard(envelope.id)
            return None  # its lease lapsed while it waited in hand: another worker has it
        if envelope.attempts > tries:
            reason = f"{envelope.job} has been attempted too many times ({envelope.attempts - 1} of {tries})"
            failure = FailureInfo(f"{MaxAttemptsExceeded.__module__}.MaxAttemptsExceeded", reason)
            self._fail(reservation, None, failure, Status.FAILED, run_hook=True)
            return None
        if envelope.batch_id is not None and batches.should_skip(envelope):
            self._skip(reservation)
            return None
        return _Run(reservation, tries, retry_policy.timeout(envelope, defaults))

    def _start(self, run: _Run) -> JobExecution:
        """The job starts now: its history row (``running``), the ``Processing`` line."""
        envelope = run.reservation.envelope
        self._current = run.reservation
        run.row = history.new_execution(
            envelope, connection=self.connection, reserved_at=run.reservation.reserved_at
        )
        run.started = time.monotonic()
        self.history.started(run.row)
        self._echo("Processing", envelope)
        return run.row

    def _finished(self, run: _Run, row: JobExecution, result: Result) -> None:
        self._avg_duration = 0.7 * self._avg_duration + 0.3 * (time.monotonic() - run.started)
        self._current = None
        self._settle(run.reservation, row, result, run.tries)

    def _run_submitted(self, runs: list[_Run]) -> None:
        """Run jobs in the executor child, pipelined: all are sent at once, each result is
        settled as it arrives. A timeout or a crash kills the child and loses the requests
        queued behind; those are sent again to the next child.

        ``failed()`` hooks wait until nothing is in flight (they share the pipe), and an
        error escaping mid-pipeline kills the child so that no stale result can be read
        as a later job's.
        """
        self._stop_keeper()  # no thread may be alive when the executor forks
        try:
            pending = runs
            while pending:
                pending = [run for run in pending if self._still_ours(run)]
                self._submitted = list(pending)
                self.executor.submit([self._request(run) for run in pending])
                pending = []
                while self._submitted:
                    run = self._submitted[0]
                    row = self._start(run)
                    result = self.executor.next_result(
                        timeout=run.timeout, tick=self._tick_while_running, on_progress=self._progress_of(row)
                    )
                    assert result is not None
                    self._submitted.pop(0)
                    self._finished(run, row, result)
                    if result.status in ("timed_out", "crashed"):
                        pending, self._submitted = self._submitted, []
                        self._run_hooks()
                    else:
                        self._tick_while_running()
            self._run_hooks()
        finally:
            if self.executor.in_flight:
                self.executor.kill()
                self._submitted = []

    def _still_ours(self, run: _Run) -> bool:
        """Before (re)sending a job: is its lease still held? (See :meth:`_prepare`.)"""
        if run.reservation.envelope.id in self._lost:
            self._lost.discard(run.reservation.envelope.id)
            return False
        return True

    def _request(self, run: _Run) -> dict[str, Any]:
        return {
            "op": "run",
            "envelope": run.reservation.envelope.to_dict(),
            "connection": self.connection,
            "max_tries": run.tries,
        }

    def _run_inline(self, run: _Run) -> None:
        """A job with no timeout runs in the worker process itself: nothing will ever need
        killing, so the pipe round trip to the executor is pure overhead. A thread renews
        the leases meanwhile (the loop is busy running the job)."""
        row = self._start(run)
        if self._keeper is None:
            self._keeper = _LeaseKeeper(self.driver, self.options.lease)
            self._keeper.start()
        self._keeper.watch(self._in_hand())
        try:
            result, _ = execute(
                run.reservation.envelope,
                connection=self.connection,
                max_tries=run.tries,
                reporter=self._progress_of(row),
            )
        finally:
            self._lost |= self._keeper.unwatch()
        self._finished(run, row, result)
        self._tick()

    def _stop_keeper(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None

    def _settle(self, reservation: Reservation, row: JobExecution, result: Result, tries: int) -> None:
        envelope = reservation.envelope
        if result.status == "succeeded":
            history.finish(row, Status.SUCCEEDED, progress=result.progress)
            self.history.changed(row)
            if not self._acks:
                self._acks_since = time.monotonic()
            self._acks.append((reservation, row))
            self.processed += 1
            self._echo("Processed", envelope)
            return
        failure = result.failure or FailureInfo("Exception", "unknown failure")
        timed_out = result.status == "timed_out"
        if result.dont_retry or envelope.attempts >= tries:
            status = Status.TIMED_OUT if timed_out else Status.FAILED
            self._fail(
                reservation, row, failure, status, run_hook=not result.hook_ran, progress=result.progress
            )
            return
        delay = retry_policy.retry_delay(envelope, self.options.defaults)
        released = self.driver.release(reservation, delay=delay)
        history.finish(row, Status.TIMED_OUT if timed_out else Status.RELEASED, message=failure.message)
        if not released:
            self._lease_lost(row)
        else:
            self._echo("Released", envelope)
            log.info(
                "%s [%s] attempt %d failed, retrying in %.3g s",
                envelope.job,
                envelope.id,
                envelope.attempts,
                delay,
            )
        self.history.changed(row)

    def _fail(
        self,
        reservation: Reservation,
        row: JobExecution | None,
        failure: FailureInfo,
        status: str,
        *,
        run_hook: bool,
        progress: int | None = None,
    ) -> None:
        """Failed for good: record the failure and complete the job in one transaction."""
        envelope = reservation.envelope
        with transaction.atomic():
            record_failure(envelope, self.connection, failure)
            done = self.driver.complete(reservation)
            if done:
                batches.record_failure(envelope)
            else:
                transaction.set_rollback(True)
        if row is not None:
            history.finish(row, status, message=failure.message, progress=progress)
        if not done:
            if row is not None:
                self._lease_lost(row)
                self.history.changed(row)
            return
        if row is not None:
            self.history.changed(row)
        self.failed += 1
        self._release_unique(envelope)
        log.warning("%s [%s] failed: %s", envelope.job, envelope.id, failure.message)
        self._echo("Failed", envelope)
        if run_hook:
            hook: dict[str, Any] = {
                "op": "failed",
                "envelope": envelope.to_dict(),
                "type": failure.type.rsplit(".", 1)[-1],
                "message": failure.message,
            }
            self._hooks.append(hook)
            if not self.executor.in_flight:
                self._run_hooks()

    def _run_hooks(self) -> None:
        """Run the ``failed()`` hooks waiting for the executor (never while jobs are in flight)."""
        while self._hooks:
            hook = self._hooks.pop(0)
            self._stop_keeper()
            self.executor.run(hook, timeout=60.0, tick=self._tick_while_running, on_progress=lambda _: None)

    def _skip(self, reservation: Reservation) -> None:
        """A member of a cancelled batch: acknowledged without running."""
        envelope = reservation.envelope
        with transaction.atomic():
            done = self.driver.complete(reservation)
            if done:
                batches.record_success(envelope, skipped=True)
        if done:
            self._release_unique(envelope)
            log.info("%s [%s] skipped: its batch is cancelled", envelope.job, envelope.id)

    def _lease_lost(self, row: JobExecution) -> None:
        log.warning("%s [%s]: %s", row.job_class, row.job_uuid, LEASE_LOST)
        row.status = Status.RELEASED
        row.exception_message = LEASE_LOST

    def _release_unique(self, envelope: Envelope) -> None:
        if envelope.unique_key is not None:
            self.driver.release_unique(envelope.unique_key, envelope.id)

    def _progress_of(self, row: JobExecution) -> Callable[[int], None]:
        def record(percent: int) -> None:
            row.progress = percent
            self.history.changed(row)

        return record

    # -- housekeeping between and during jobs ------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_extend:
            self._extend()
        if self._acks and (now - self._acks_since >= ACK_WINDOW or len(self._acks) >= self.options.prefetch):
            self._flush_acks()
        if self.history.due:
            self.history.flush()
        if now >= self._next_registry:
            self._beat(self._status, force=True)

    def _tick_while_running(self) -> None:
        """The tick while a job runs: a database hiccup must not abandon the running job."""
        try:
            self._tick()
        except self._transient as exc:
            log.warning("housekeeping failed while a job runs (%s); will retry", exc)

    def _extend(self) -> None:
        self._next_extend = time.monotonic() + self.options.lease / 3
        in_hand = self._in_hand()
        if not in_hand:
            return
        for reservation, kept in zip(
            in_hand, self.driver.extend(in_hand, lease=self.options.lease), strict=True
        ):
            if not kept and reservation.envelope.id not in self._lost:
                self._lost.add(reservation.envelope.id)
                log.warning("%s [%s]: lease lost", reservation.envelope.job, reservation.envelope.id)

    def _in_hand(self) -> list[Reservation]:
        running = [run.reservation for run in self._submitted]
        if self._current is not None and (not running or running[0] is not self._current):
            running.insert(0, self._current)
        return running + self._held + [r for r, _ in self._acks]

    def _flush_acks(self) -> None:
        """Acknowledge the bundled successes, in one transaction with their history rows.

        With the database driver the acknowledgement, the history rows and the batch
        counters commit together: a worker killed at any point leaves either a job still
        reserved (it runs again) or a job done *and* recorded -- never a success without
        its history row, which is what "exactly one success recorded" rests on.
        """
        if not self._acks:
            return
        acks, self._acks = self._acks, []
        flushed: list[history.Flushed] = []
        try:
            with transaction.atomic():
                flushed.append(self.history.flush())
                done = self.driver.complete_many([r for r, _ in acks])
                for (reservation, row), ok in zip(acks, done, strict=True):
                    if not ok:
                        self._lease_lost(row)
                        history.amend(row)  # written as succeeded by the flush above
                    elif reservation.envelope.batch_id is not None:
                        batches.record_success(reservation.envelope)
        except BaseException:
            self._acks = acks + self._acks
            for batch in reversed(flushed):
                self.history.restore(batch)
            raise
        for (reservation, _), ok in zip(acks, done, strict=True):
            if ok:
                self._release_unique(reservation.envelope)
            else:
                self.processed -= 1
            self._lost.discard(reservation.envelope.id)

    def _beat(self, status: str, *, force: bool = False) -> None:
        if self._registration is None or (status == self._status and not force):
            return
        self._status = status
        self._next_registry = time.monotonic() + REGISTRY_EVERY
        current = self._current.envelope.id if self._current is not None else None
        self._registration.heartbeat(status, processed=self.processed, failed=self.failed, current=current)

    def _echo(self, verb: str, envelope: Envelope) -> None:
        if self.options.verbose:
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            self.out.write(f"[{stamp}][{envelope.id}] {verb}: {envelope.job}\n")
            self.out.flush()


@dataclass
class _Run:
    """A reserved job on its way through the executor: its policy, then its history row."""

    reservation: Reservation
    tries: int
    timeout: float | None
    row: JobExecution | None = None
    started: float = 0.0


class _LeaseKeeper(threading.Thread):
    """Renews leases every ``lease / 3`` seconds while jobs run inline in the worker.

    One thread for the worker's life, armed per job (:meth:`watch`/:meth:`unwatch` cost a
    lock, where a thread per job would cost more than a no-op job). It is stopped before
    the worker forks an executor child, so no thread is alive across ``fork``.
    """

    def __init__(self, driver: Driver, lease: float) -> None:
        super().__init__(name="zwm-lease-keeper", daemon=True)
        self.driver = driver
        self.lease = lease
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._watched: list[Reservation] = []
        self._lost: set[str] = set()
        self._due = 0.0

    def watch(self, reservations: list[Reservation]) -> None:
        with self._lock:
            self._watched, self._lost = reservations, set()
            self._due = time.monotonic() + self.lease / 3
        self._wake.set()

    def unwatch(self) -> set[str]:
        """Stop renewing; the ids whose lease was found lost meanwhile."""
        with self._lock:
            self._watched = []
            return self._lost

    def run(self) -> None:
        try:
            while not self._stopping:
                with self._lock:
                    watched, due = self._watched, self._due
                if not watched:
                    self._wake.wait()
                    self._wake.clear()
                    continue
                if time.monotonic() < due:
                    self._wake.wait(due - time.monotonic())
                    self._wake.clear()
                    continue
                self._renew(watched)
        finally:
            connections.close_all()  # this thread's own database connections

    def _renew(self, watched: list[Reservation]) -> None:
        try:
            kept = self.driver.extend(watched, lease=self.lease)
        except _transient_errors() as exc:
            log.warning("could not renew leases (%s); will retry", exc)
            kept = [True] * len(watched)
        with self._lock:
            if self._watched is watched:
                self._lost |= {r.envelope.id for r, ok in zip(watched, kept, strict=True) if not ok}
                self._due = time.monotonic() + self.lease / 3

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.join()


# -- in-process runs -------------------------------------------------------------------


def run_envelope(envelope: Envelope, *, connection: str = "sync", raise_errors: bool = False) -> bool:
    """Run a job here and now with its retry policy and failure recording; did it succeed?

    What ``dispatch_now`` and the ``sync`` connection use. Differences from a worker, on
    purpose: the caller's process runs the job, so there is no timeout (nothing could
    kill it safely); retries happen at once, waiting a backoff only when it is at most
    :data:`SYNC_MAX_WAIT` seconds; every execution's history row is written immediately.
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
