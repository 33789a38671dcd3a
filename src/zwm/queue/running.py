"""The middle step of a job's run in a worker: running it, with its lease kept.

Jobs with a timeout run in the executor child (:mod:`zwm.queue.executor`): consecutive
jobs of a batch go to the child in one message and their results stream back one by one
(a round trip per job would cost more than a no-op job). A job with no timeout
(``--timeout 0`` or ``timeout = 0`` on the class) runs in the worker process itself, with
a thread renewing the leases: nothing will need killing, so it skips the pipe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from zwm.queue.acknowledge import Acknowledger
from zwm.queue.drivers.base import Driver, Reservation
from zwm.queue.executor import Executor, Result, execute
from zwm.queue.hold import Hand, Run
from zwm.queue.lease import LeaseKeeper
from zwm.queue.models import JobExecution


class Steps(Protocol):
    """What the worker does around each run (the runner only moves jobs through the executor)."""

    def start(self, run: Run) -> JobExecution:
        """The job starts now: its history row."""

    def finish(self, run: Run, row: JobExecution, result: Result) -> None:
        """The job ended: settle its outcome."""

    def tick(self) -> None:
        """Housekeeping while a job runs (lease renewal, acknowledgements, history)."""

    def in_hand(self) -> list[Reservation]:
        """Every reservation whose lease must be kept."""


class Runner:
    """Runs a worker's jobs: pipelined in the executor child, or inline."""

    def __init__(
        self, driver: Driver, connection: str, lease: float, hand: Hand, acks: Acknowledger, steps: Steps
    ) -> None:
        self.driver = driver
        self.connection = connection
        self.lease = lease
        self.hand = hand
        self.acks = acks
        self.steps = steps
        self.executor = Executor()
        self._keeper: LeaseKeeper | None = None

    def submitted(self, runs: list[Run]) -> None:
        """Run jobs in the executor child, pipelined: all are sent at once, each result is
        settled as it arrives. A timeout or a crash kills the child and loses the requests
        queued behind; those are sent again to the next child.

        ``failed()`` hooks wait until nothing is in flight (they share the pipe), and an
        error escaping mid-pipeline kills the child so that no stale result can be read
        as a later job's.
        """
        self.stop_keeper()  # no thread may be alive when the executor forks
        hand = self.hand
        try:
            pending = runs
            while pending:
                pending = [run for run in pending if not hand.take_lost(run.reservation.envelope.id)]
                hand.running = list(pending)
                self.executor.submit([run.request(self.connection) for run in pending])
                pending = []
                while hand.running:
                    run = hand.running[0]
                    row = self.steps.start(run)
                    result = self.executor.next_result(
                        timeout=run.timeout, tick=self.steps.tick, on_progress=self.progress_of(row)
                    )
                    assert result is not None
                    hand.running.pop(0)
                    self.steps.finish(run, row, result)
                    if result.status in ("timed_out", "crashed"):
                        pending, hand.running = hand.running, []
                        self.run_hooks()
                    else:
                        self.steps.tick()
            self.run_hooks()
        finally:
            # What is still in hand.running never started here: the worker gives it back.
            if self.executor.in_flight:
                self.executor.kill()

    def inline(self, run: Run) -> None:
        """A job with no timeout runs in the worker process itself: nothing will ever need
        killing, so the pipe round trip to the executor is pure overhead. A thread renews
        the leases meanwhile (the loop is busy running the job)."""
        row = self.steps.start(run)
        if self._keeper is None:
            self._keeper = LeaseKeeper(self.driver, self.lease)
            self._keeper.start()
        self._keeper.watch(self.steps.in_hand())
        try:
            result, _ = execute(
                run.reservation.envelope,
                connection=self.connection,
                max_tries=run.tries,
                reporter=self.progress_of(row),
            )
        finally:
            self.hand.lost |= self._keeper.unwatch()
        self.steps.finish(run, row, result)

    def run_hooks_if_idle(self) -> None:
        if self.acks.hooks and not self.executor.in_flight:
            self.run_hooks()

    def run_hooks(self) -> None:
        """Run the ``failed()`` hooks waiting for the executor (never while jobs are in flight)."""
        while self.acks.hooks:
            hook = self.acks.hooks.pop(0)
            self.stop_keeper()
            self.executor.run(hook, timeout=60.0, tick=self.steps.tick, on_progress=lambda _: None)

    def progress_of(self, row: JobExecution) -> Callable[[int], None]:
        buffer = self.acks.history

        def record(percent: int) -> None:
            row.progress = percent
            buffer.changed(row)

        return record

    def stop_keeper(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None

    def abandon(self) -> None:
        """Kill the child if a job is in flight (the worker gave up on the jobs in hand)."""
        if self.executor.in_flight:
            self.executor.kill()

    def close(self) -> None:
        self.stop_keeper()
        self.executor.close()
