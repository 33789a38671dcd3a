"""The worker: reserve and hold, run under a lease, acknowledge.

One :class:`Worker` is one process (``zwm queue:work``); ``--processes N`` runs N of them
under :mod:`zwm.queue.supervisor`. Each job goes through three steps, each in its module:

1. **Reserve and hold** (:mod:`zwm.queue.hold`): up to a few jobs at once from the queues
   in strict priority order, sized so no job waits long behind prefetched ones. Those that
   wait unsent behind the jobs in hand are overtaken by jobs of a higher-priority queue
   dispatched meanwhile, and given back when they wait too long (:meth:`Worker._look_after_unsent`).
2. **Run**: with ``--concurrency N`` (N > 1, the default) up to N jobs at once, each in a
   child of the worker's executor pool (:mod:`zwm.queue.pool`); with ``--concurrency 1``
   (or ``--once``) one at a time (:mod:`zwm.queue.running`): in the executor child, each
   with its timeout, or inline for jobs without one. The leases of every job in hand are
   renewed every ``lease / 3`` seconds (:mod:`zwm.queue.lease`).
3. **Acknowledge** (:mod:`zwm.queue.acknowledge`): successes bundled, retries released
   with their backoff, final failures recorded with the acknowledgement in one
   transaction.

This module is the loop around them. Between jobs the worker flushes buffered history,
beats its registry row and checks ``--max-jobs``, ``--max-time``, ``--memory`` and the
``queue:restart`` signal. SIGTERM and SIGINT stop it after the jobs in hand (with a pool:
the jobs already started; those reserved but not started are given back).

Per-queue limits (``--queue high:2,default``) cap how many jobs of a queue one worker holds
at once; a limited queue is reserved from on its own, so the cap holds exactly.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO

from django.db import connections

from zwm.config import get_config
from zwm.queue import batches, history
from zwm.queue import policy as retry_policy
from zwm.queue.acknowledge import Acknowledger
from zwm.queue.backlog import backlog_of
from zwm.queue.connections import check_connection, close_drivers, get_driver
from zwm.queue.drivers.base import Reservation
from zwm.queue.executor import PoisonJob, Result, rss_bytes
from zwm.queue.failed import FailureInfo
from zwm.queue.hold import HOLD_LIMIT, PREFETCH_BUDGET, Durations, Hand, Run, prefetch_size
from zwm.queue.job import Envelope
from zwm.queue.lease import renew, transient_errors
from zwm.queue.models import JobExecution
from zwm.queue.pool import Pool
from zwm.queue.registry import Registration, restart_requested_since
from zwm.queue.running import Runner

log = logging.getLogger("zwm.queue")

Status = JobExecution.Status

REGISTRY_EVERY = 5.0
SIGNAL_EVERY = 1.0
MEMORY_EVERY = 0.25
EXIT_MEMORY = 12
"""Exit code when ``--memory`` was exceeded (Laravel's), so a supervisor can tell."""
TICK_EVERY = 0.25
"""Seconds a pool worker waits for results before its housekeeping runs again."""
OVERTAKE_EVERY = PREFETCH_BUDGET
"""While reserved jobs wait unsent, how often the queues of higher priority than theirs
are looked at: a higher-priority job waits for the jobs in hand, not for those."""
RESERVE_BACKOFF = (0.005, 0.2)
"""While jobs run and the queues are empty, reserve again after 5 ms, doubling to 200 ms:
how soon a busy pool worker sees a new job, against one empty reserve per result."""


class _Interrupted(Exception):
    """Raised by the signal handler to cut an idle wait short."""


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
    concurrency: int = field(default_factory=lambda: get_config().queue_concurrency)
    """Jobs in flight at once in this worker (1: one at a time, the executor pipelined)."""
    limits: Mapping[str, int] = field(default_factory=dict)
    """Most jobs of a queue held at once by this worker (queues not named: no limit)."""

    def __post_init__(self) -> None:
        if not self.queues or any(not q for q in self.queues):
            raise ValueError("at least one queue name is needed")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        unknown = set(self.limits) - set(self.queues)
        if unknown or any(limit < 1 for limit in self.limits.values()):
            raise ValueError("queue limits must be at least 1 and name queues the worker works")
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
        self.history = history.HistoryBuffer()
        self.hand = Hand()
        self.durations = Durations()
        self.acks = Acknowledger(self.driver, self.connection, self.history, options.defaults, self._event)
        self.runner = Runner(self.driver, self.connection, options.lease, self.hand, self.acks, self)
        self.pool = (
            Pool(
                options.concurrency,
                self.connection,
                self.hand,
                self.acks,
                self,
                durations=self.durations,
                rank=options.queues.index,
            )
            if options.concurrency > 1 and not options.once
            else None
        )
        self._reserve_backoff = RESERVE_BACKOFF[0]
        self._next_reserve = 0.0
        self.exit_code = 0
        self.stop_reason: str | None = None
        self.handled = 0
        self._avg_duration = PREFETCH_BUDGET
        self._waiting = False
        self._waited_once = False
        self._errors = 0
        self._registration: Registration | None = None
        self._status = "starting"
        self._next_extend = 0.0
        self._next_overtake = 0.0
        self._next_registry = 0.0
        self._next_sweep = 0.0
        self._next_signal = 0.0
        self._next_memory = 0.0
        self._backlog = backlog_of(self.driver)
        self._paused: set[str] = set()
        self._next_paused = 0.0
        self._transient = transient_errors()
        self._unstarted: list[Reservation] = []
        """Reserved jobs this worker will not start, to give back (see :meth:`_give_back`)."""

    @property
    def processed(self) -> int:
        return self.acks.processed

    @property
    def failed(self) -> int:
        return self.acks.failed

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
            if self.pool is not None:
                self._iterate_pool(self.pool)
            else:
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
            # Jobs not started are given back (once the backend answers again) with their
            # tries unused; a started one lapses and is recovered. Finished ones waiting for
            # their acknowledgement are kept and acknowledged again (Acknowledger.flush).
            # A pool's children run on: what they are running finishes, and its outcome is
            # recorded after the pause (killing them would run those jobs a second time).
            self.acks.hooks.clear()
            if self.pool is not None:
                self._unstarted += self.hand.held + self.pool.unsent()
                self.hand.held.clear()
            else:
                self._unstarted += self.hand.drop()
                self.runner.abandon()
            with contextlib.suppress(Exception):  # Redis down: the database side still records
                self._flush_acks()
            with contextlib.suppress(Exception):
                connections.close_all()
            self._pause(pause)

    def _pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.stop_reason is None and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _shutdown(self) -> None:
        self.runner.stop_keeper()
        try:
            self._unstarted += self.hand.drop()
            self._give_back()
            self._flush_acks()
            self.history.flush()
        except Exception:
            log.exception("could not record the last outcomes on shutdown")
        self.runner.close()
        if self.pool is not None:
            self.pool.abandon()  # nothing is in flight after a drain; after an error, nothing survives
            self.pool.close()
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
        self._give_back()
        self._check_limits()
        if self.stop_reason is not None:
            return
        reservations = self._reserve(self._batch_size())
        if not reservations:
            self._idle()
            return
        self._waited_once = False
        self._next_extend = time.monotonic() + self.options.lease / 3
        self.hand.hold(reservations)
        self._busy()
        while self.hand.held:
            if self.stop_reason is not None:  # stopping: what was not started goes back
                self._unstarted += self.hand.drop()
                self._give_back()
                break
            runs = self._next_runs()
            if not runs:
                continue
            if runs[0].timeout is None:
                self.runner.inline(runs[0])
                self._tick()
            else:
                self.runner.submitted(runs)
        if self.options.once:
            self.stop("--once: one job processed")

    def _give_back(self) -> None:
        """Give back the jobs reserved but never started here, their tries unused. One whose
        lease lapsed meanwhile is refused (fencing): it was recovered, also without a try."""
        if self._unstarted:
            given = self.driver.give_back(self._unstarted)
            log.info("gave back %d jobs not started", sum(given))
            self._unstarted = []

    def _iterate_pool(self, pool: Pool) -> None:
        """One turn of a worker with a pool: take more jobs while there is room, wait a
        little for results, housekeeping. Stopping drains the pool before returning."""
        self._give_back()
        self._check_limits()
        if self.stop_reason is None:
            if self._fill(pool) and not pool.busy:
                return  # all settled without running (skipped, poison): look again first
            if pool.busy:
                pool.wait(TICK_EVERY)
                self.tick()
                pool.dispatch(self._depth())
            else:
                self._idle()  # a signal here raises _Interrupted: nothing is in flight
        if self.stop_reason is not None:  # whenever it came: the loop ends after this turn
            self._drain(pool)

    def _depth(self) -> int:
        """Jobs queued per child: as many as fit the prefetch budget (1 for slow jobs)."""
        return prefetch_size(self._avg_duration, self.options.prefetch)

    def _fill(self, pool: Pool) -> bool:
        """Reserve jobs for the room in the pool (did it get any?). While jobs run, wait for
        room worth a child's share before reserving, and back off while the queues are empty."""
        depth = self._depth()
        room = min(pool.room(depth), self._batch_size(self.options.prefetch))
        now = time.monotonic()
        busy = pool.busy
        if room < 1 or (busy and (room < depth or now < self._next_reserve)):
            return False
        reservations = self._reserve(room)
        if not reservations:
            self._next_reserve = now + self._reserve_backoff
            self._reserve_backoff = min(RESERVE_BACKOFF[1], self._reserve_backoff * 2)
            return False
        self._reserve_backoff, self._next_reserve = RESERVE_BACKOFF[0], 0.0
        self._waited_once = False
        if not busy and not self.acks.pending:  # nothing else in hand: the timer starts now
            self._next_extend = now + self.options.lease / 3
        self.hand.hold(reservations)
        runs: list[Run] = []
        while self.hand.held:
            run = self._prepare(self.hand.held.pop(0))
            if run is not None:
                runs.append(run)
        pool.add(runs, depth)
        self._busy()
        return True

    def _drain(self, pool: Pool) -> None:
        """Stopping: jobs no child has started are given back; those in flight finish."""
        while True:
            self._unstarted += pool.unsent()
            self._give_back()
            if not pool.busy:
                return
            pool.wait(TICK_EVERY)
            self.tick()
            pool.dispatch(self._depth())

    def _reserve(self, limit: int, queues: Sequence[str] | None = None) -> list[Reservation]:
        """Up to ``limit`` jobs from the queues (default: every open one) in priority order,
        within the queue limits.

        Unlimited queues next to each other are reserved from in one call; a limited queue
        alone, with its remaining allowance as the limit.
        """
        if queues is None:
            queues = self._queues_to_reserve()
        limits = self.options.limits
        if not limits:
            return self.driver.reserve(queues, lease=self.options.lease, limit=limit) if queues else []
        held = Counter(r.envelope.queue for r in self.hand.reservations())
        reserved: list[Reservation] = []
        group: list[str] = []
        for index, queue in enumerate(queues):
            if queue not in limits:
                group.append(queue)
                if index + 1 < len(queues) and queues[index + 1] not in limits:
                    continue
                take, names, group = limit - len(reserved), group, []
            else:
                take, names = min(limit - len(reserved), limits[queue] - held[queue]), [queue]
            if take > 0:
                reserved += self.driver.reserve(names, lease=self.options.lease, limit=take)
            if len(reserved) >= limit:
                break
        return reserved

    def _queues_to_reserve(self) -> Sequence[str]:
        """The queues to take jobs from now, in priority order: paused ones are skipped
        (``queue:pause``; the paused set is read again at most every SIGNAL_EVERY seconds)."""
        now = time.monotonic()
        if now >= self._next_paused:
            self._next_paused = now + SIGNAL_EVERY
            self._paused = self._backlog.paused()
        return [queue for queue in self.options.queues if queue not in self._paused]

    def _batch_size(self, size: int | None = None) -> int:
        """How many jobs to reserve: ``size``, else what the prefetch budget allows; within
        ``--once`` and ``--max-jobs``."""
        if self.options.once:
            return 1
        if size is None:
            size = prefetch_size(self._avg_duration, self.options.prefetch)
        if self.options.max_jobs:
            size = min(size, self.options.max_jobs - self.handled)
        return max(1, size)

    def _idle(self) -> None:
        if self.acks.pending:
            self._flush_acks()
            return  # acknowledging may have queued jobs (batch callbacks): look again first
        self.history.flush()
        self._beat("idle")
        self._sweep(time.monotonic())
        if self.options.stop_when_empty and not self._queues_hold_work():
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
            queues = self._queues_to_reserve()
            if self.stop_reason is None and queues:
                self.driver.wait(queues, wait)
            elif self.stop_reason is None:  # every queue paused: nothing to wait on but time
                time.sleep(min(wait, SIGNAL_EVERY))
        finally:
            self._waiting = False

    def _queues_hold_work(self) -> bool:
        """Do these queues still hold jobs this worker could run (delayed ones aside)?

        Jobs other workers hold count: a worker that died holding them leaves them to be
        recovered when their leases lapse, and a ``--stop-when-empty`` worker stays to run
        them. Waiting jobs of the queues not paused count too: a lease that lapsed between the
        reservation that found nothing and this count (the database driver counts on an
        estimate of the server's clock, the reservation on the clock itself) is due now, and
        the next reservation takes it.
        """
        counts = self.driver.counts(list(self.options.queues))
        open_queues = set(self._queues_to_reserve())
        return any(
            count.reserved or (count.waiting and queue in open_queues) for queue, count in counts.items()
        )

    def _check_limits(self) -> None:
        options = self.options
        now = time.monotonic()
        if options.max_jobs and self.handled >= options.max_jobs:
            self.stop(f"--max-jobs: {self.handled} jobs processed")
        elif options.max_time and now - self._started >= options.max_time:
            self.stop(f"--max-time: ran {options.max_time:g} s")
        elif options.memory and now >= self._next_memory and self._over_memory(now):
            self.stop(f"--memory: over {options.memory} MB", EXIT_MEMORY)
        elif now >= self._next_signal:
            self._next_signal = now + SIGNAL_EVERY
            if restart_requested_since(self.started_at):
                self.stop("queue:restart")

    def _over_memory(self, now: float) -> bool:
        """Is the worker or a child above ``--memory``? Read from ``/proc`` at most every
        MEMORY_EVERY seconds: a pool worker turns once per result, with a file per child."""
        self._next_memory = now + MEMORY_EVERY
        return self._rss() > self.options.memory * 1024 * 1024

    def _rss(self) -> int:
        """Resident memory of the worker or its largest executor child."""
        pool = self.pool.rss_bytes() if self.pool is not None else 0
        return max(rss_bytes(), self.runner.executor.rss_bytes(), pool)

    # -- one job ---------------------------------------------------------------------

    def _next_runs(self) -> list[Run]:
        """Take the next jobs to run from those in hand: one job without a timeout (it runs
        inline), or consecutive jobs with one (they go to the executor together) as long as
        those behind the first are expected to fit the prefetch budget.
        Jobs that need no run (lease lost, out of tries, cancelled batch) are settled here."""
        runs: list[Run] = []
        defaults = self.options.defaults
        held = self.hand.held
        queued = 0.0  # seconds expected behind the first run (see Durations.joined)
        while held:
            inline = retry_policy.timeout(held[0].envelope, defaults) is None
            if runs:
                joined = None if inline else self.durations.joined(queued, held[0].envelope.job)
                if joined is None:
                    break
                queued = joined
            run = self._prepare(held.pop(0))
            if run is not None:
                runs.append(run)
                if inline:
                    break
            else:
                self._tick()
        return runs

    def _prepare(self, reservation: Reservation) -> Run | None:
        """The job as a run, or ``None`` when it was settled without running."""
        envelope = reservation.envelope
        defaults = self.options.defaults
        tries = retry_policy.max_tries(envelope, defaults)
        self.handled += 1
        if self.hand.take_lost(envelope.id):
            return None  # its lease lapsed while it waited in hand: another worker has it
        if self.acks.reconciled(reservation):
            return None  # its failure was recorded before its worker was lost
        recoveries = retry_policy.max_recoveries(envelope, defaults)
        if envelope.recoveries and envelope.recoveries >= recoveries:
            self._poison(reservation, recoveries)
            return None
        if envelope.batch_id is not None and batches.should_skip(envelope):
            self.acks.skip(reservation)
            return None
        return Run(reservation, tries, retry_policy.timeout(envelope, defaults))

    def _poison(self, reservation: Reservation, limit: int) -> None:
        """A job recovered from lost workers ``limit`` times fails instead of running again:
        it is most likely what kills them. Its execution row says so (and counts as failed)."""
        envelope = reservation.envelope
        reason = (
            f"{envelope.job} failed as poison: its worker was lost {envelope.recoveries} times"
            f" while holding it (limit {limit}); it is most likely what kills them"
        )
        failure = FailureInfo(f"{PoisonJob.__module__}.{PoisonJob.__qualname__}", reason)
        row = history.new_execution(envelope, connection=self.connection, reserved_at=reservation.reserved_at)
        history.finish(row, Status.FAILED, message=reason)
        self.history.started(row, recovered=True)
        self.acks.fail(reservation, row, failure, Status.FAILED, run_hook=True)
        self._hooks_if_idle()

    # Steps (zwm.queue.running.Steps): what the worker does around each run.

    def start(self, run: Run) -> JobExecution:
        """The job starts now: its history row (``running``), the ``Processing`` line."""
        envelope = run.reservation.envelope
        self.hand.current = run.reservation
        run.row = history.new_execution(
            envelope, connection=self.connection, reserved_at=run.reservation.reserved_at
        )
        run.started = time.monotonic()
        self.history.started(run.row, recovered=envelope.recoveries > 0)
        self._event("Processing", envelope)
        return run.row

    def finish(self, run: Run, row: JobExecution, result: Result) -> None:
        took = time.monotonic() - run.started
        self._avg_duration = 0.7 * self._avg_duration + 0.3 * took
        self.durations.record(run.job, took)
        self.hand.current = None
        self.acks.settle(run.reservation, row, result, run.tries)
        self._hooks_if_idle()

    def _hooks_if_idle(self) -> None:
        """Run waiting ``failed()`` hooks now if the single executor is idle (a pool sends
        them to a child on its next turn)."""
        if self.pool is None:
            self.runner.run_hooks_if_idle()

    def tick(self) -> None:
        """The tick while a job runs: a database hiccup must not abandon the running job."""
        try:
            self._tick()
        except self._transient as exc:
            log.warning("housekeeping failed while a job runs (%s); will retry", exc)

    def in_hand(self) -> list[Reservation]:
        return self.hand.reservations() + self.acks.pending

    # -- housekeeping between and during jobs ------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_extend:
            self._extend()
        if self.acks.due(self.options.prefetch):
            self._flush_acks()
        if self.history.due:
            self.history.flush()
        if now >= self._next_registry:
            self._beat(self._status, force=True)
        self._sweep(now)
        self._look_after_unsent(now)

    def _unsent(self) -> list[Reservation]:
        """The jobs reserved here that no executor child has yet."""
        if self.pool is not None:
            return [run.reservation for run in self.pool.waiting()]
        return list(self.hand.held)

    def _unsent_since(self) -> float | None:
        """Since when the oldest unsent job waits (``None``: none does)."""
        if self.pool is not None:
            return self.pool.waiting_since()
        return self.hand.held_since if self.hand.held else None

    def _look_after_unsent(self, now: float) -> None:
        """Jobs waiting unsent behind the jobs in hand: a job of a higher-priority queue
        dispatched meanwhile goes before them (looked for at most every OVERTAKE_EVERY
        seconds), and once they waited HOLD_LIMIT they go back to the queue, their tries
        unused, for an idle worker to take. The jobs in hand then took longer than the batch
        size assumed: the average is corrected, so the next reservations are smaller."""
        since = self._unsent_since()
        if since is None or self.stop_reason is not None:
            return
        if now - since >= HOLD_LIMIT:
            self._avg_duration = max(self._avg_duration, now - since)
            if self.pool is not None:
                unsent = self.pool.unsent()
                self.handled -= len(unsent)  # prepared, never run: --max-jobs must not count them
                self._unstarted += unsent
            else:
                self._unstarted += self.hand.take_held()
            self._give_back()
        elif now >= self._next_overtake:
            self._next_overtake = now + OVERTAKE_EVERY
            self._overtake(self._unsent())

    def _overtake(self, unsent: list[Reservation]) -> None:
        """Reserve jobs of the queues of higher priority than every unsent job's and put
        them before those (a pool keeps its waiting runs in priority order)."""
        rank = self.options.queues.index
        top = min(rank(reservation.envelope.queue) for reservation in unsent)
        higher = [queue for queue in self._queues_to_reserve() if rank(queue) < top]
        reservations = self._reserve(self._batch_size(), higher) if higher else []
        if not reservations:
            return
        log.debug(
            "%d jobs of higher-priority queues go before %d reserved ones", len(reservations), len(unsent)
        )
        if self.pool is None:
            self.hand.held[:0] = reservations
            return
        runs = [run for run in map(self._prepare, reservations) if run is not None]
        self.pool.add(runs, self._depth())

    def _sweep(self, now: float) -> None:
        """Push batch callbacks whose push met an outage of a non-database queue (see
        :func:`zwm.queue.batches.push_unpushed`), every few seconds."""
        if self.connection != "database" and now >= self._next_sweep:
            self._next_sweep = now + REGISTRY_EVERY
            batches.push_unpushed()

    def _extend(self) -> None:
        self._next_extend = time.monotonic() + self.options.lease / 3
        in_hand = self.in_hand()
        self.hand.mark_lost(in_hand, renew(self.driver, in_hand, self.options.lease))

    def _flush_acks(self) -> None:
        self.hand.lost -= self.acks.flush()

    def _busy(self) -> None:
        """Jobs are in hand: the registry row says so at the next tick, after they started --
        a database write (a WAL flush on PostgreSQL) is not put on a job's way to its start."""
        if self._status != "busy":
            self._status = "busy"
            self._next_registry = 0.0

    def _beat(self, status: str, *, force: bool = False) -> None:
        if self._registration is None or (status == self._status and not force):
            return
        self._status = status
        self._next_registry = time.monotonic() + REGISTRY_EVERY
        current = self.hand.current.envelope.id if self.hand.current is not None else None
        self._registration.heartbeat(status, processed=self.processed, failed=self.failed, current=current)

    def _event(self, kind: str, envelope: Envelope) -> None:
        """One step of a job's life (``Processing``, ``Processed``, ``Released``, ``Failed``):
        the single place where a worker reports on jobs."""
        if self.options.verbose:
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
            self.out.write(f"[{stamp}][{envelope.id}] {kind}: {envelope.job}\n")
            self.out.flush()
