"""Several jobs in flight in one worker: a pool of executor children (``--concurrency N``).

Why children and not threads: a job that overruns its timeout must be killed, and only a
process can be killed without taking its neighbours along. Each child runs one job at a
time; the worker keeps up to N of them, forked when there is work for them and kept for
the worker's life. Fast jobs are pipelined into a child a few at a time, as
:class:`~zwm.queue.running.Runner` does with its single child (a round trip per no-op job
would cost more than the job); a slow job, or one of a class not seen yet, gets a child to
itself (:meth:`Durations.joined <zwm.queue.hold.Durations.joined>`) and waits
unsent in the pool until one is free.

What each guarantee rests on:

* **Leases and heartbeats per job**: every job the pool holds -- waiting for a child, or
  sent to one -- is in :attr:`Hand.running <zwm.queue.hold.Hand.running>` until its result
  is settled, so the worker's timer renews its lease like any other job in hand.
* **Fencing**: outcomes go through the worker's :class:`~zwm.queue.acknowledge.Acknowledger`.
* **Timeouts kill only the job that overran**: a job's deadline counts from when its child
  started it; past it, that child's process group alone is SIGKILLed and the job times out.
  The jobs queued behind it in that child never started: they go to the front of the
  pool's queue, for the next free child.
* **Strict priority**: the runs waiting for a child are kept in queue priority order (a
  job of a higher queue reserved later goes before them), and only jobs expected to fit
  the prefetch budget queue in a child behind a running one: a higher-priority job waits
  for at most the jobs in hand.
* **Graceful stop**: :meth:`Pool.unsent` hands back what no child has yet (to be given back
  to the queue); :meth:`Pool.wait` then drains what is in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait as wait_any
from typing import Any

from zwm.queue.acknowledge import Acknowledger
from zwm.queue.drivers.base import Reservation
from zwm.queue.executor import Executor
from zwm.queue.hold import Durations, Hand, Run
from zwm.queue.models import JobExecution
from zwm.queue.running import Steps

TRIVIAL = 0.001
"""Seconds under which a job is trivial: cheaper to queue behind another trivial one in a
busy child than to run in a child of its own (see :meth:`Pool._trivial_child`)."""
HOOK_TIMEOUT = 60.0
"""Seconds a ``failed()`` hook may run in a child before it is killed."""


@dataclass
class _Entry:
    """One request sent to a child: a job's run, or a ``failed()`` hook (``run is None``)."""

    message: dict[str, Any]
    timeout: float | None
    run: Run | None = None
    row: JobExecution | None = None
    expected: float | None = None
    """Seconds the run is expected to take (``None``: a hook, or a class not seen yet)."""


@dataclass
class _Child:
    executor: Executor = field(default_factory=Executor)
    entries: list[_Entry] = field(default_factory=list)
    """Sent to the child, in order; the first one is running."""
    queued: float = 0.0
    """Seconds expected of the entries behind the running one."""

    def clear(self) -> list[_Entry]:
        """Forget every entry (the child was killed or died); those that were sent."""
        entries, self.entries, self.queued = self.entries, [], 0.0
        return entries


class Pool:
    """Up to ``size`` executor children running one worker's jobs."""

    def __init__(
        self,
        size: int,
        connection: str,
        hand: Hand,
        acks: Acknowledger,
        steps: Steps,
        *,
        durations: Durations,
        rank: Callable[[str], int],
    ) -> None:
        if size < 1:
            raise ValueError("concurrency must be at least 1")
        self.size = size
        self.connection = connection
        self.hand = hand
        self.acks = acks
        self.steps = steps
        self.durations = durations
        self.rank = rank
        """A queue's priority (lower starts first)."""
        self._children: list[_Child] = []
        self._queue: list[Run] = []
        """Runs waiting for room in a child, in the order they are to start."""

    # -- state -----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Is anything in the pool: a job or a ``failed()`` hook, sent to a child or waiting?"""
        return bool(self._queue or self.acks.hooks) or any(child.entries for child in self._children)

    def room(self, depth: int) -> int:
        """How many more jobs the pool can start soon: ``depth`` per child at most."""
        spare = (self.size - len(self._children)) * depth
        spare += sum(max(0, depth - len(child.entries)) for child in self._children)
        return max(0, spare - len(self._queue))

    def rss_bytes(self) -> int:
        """Resident memory of the largest child."""
        return max((child.executor.rss_bytes() for child in self._children), default=0)

    # -- sending ---------------------------------------------------------------------

    def waiting(self) -> list[Run]:
        """The runs no child has received yet, in the order they are to start."""
        return list(self._queue)

    def waiting_since(self) -> float | None:
        """When the run that has waited longest for a child was prepared (``None``: none waits)."""
        return min(run.prepared for run in self._queue) if self._queue else None

    def add(self, runs: list[Run], depth: int) -> None:
        """Queue ``runs`` among those waiting, by queue priority (behind those of the same
        queue), and send what fits, at most ``depth`` requests per child."""
        self._enqueue(self._queue + runs)
        self.dispatch(depth)

    def _enqueue(self, runs: list[Run]) -> None:
        """Wait for a child: ``runs`` in queue priority order (a stable sort: within a queue
        they keep the order given)."""
        self._queue = sorted(runs, key=lambda run: self.rank(run.reservation.envelope.queue))

    def dispatch(self, depth: int) -> None:
        """Send the waiting ``failed()`` hooks, then the waiting runs, to children with room;
        a run sent to an idle child starts now (in queue order: strict priority)."""
        sent: dict[int, list[_Entry]] = {}
        heads: list[_Entry] = []
        while self.acks.hooks:  # hooks first: they never wait behind jobs for room
            target = self._child_with_room(depth) or min(self._children, key=lambda c: len(c.entries))
            self._put(target, _Entry(self.acks.hooks.pop(0), HOOK_TIMEOUT), sent, heads)
        while self._queue:
            child = self._child_with_room(depth, self._queue[0].job)
            if child is None:
                break
            run = self._queue.pop(0)
            expected = self.durations.expected(run.job)
            self._put(
                child, _Entry(run.request(self.connection), run.timeout, run, expected=expected), sent, heads
            )
        for child in self._children:
            entries = sent.get(id(child))
            if entries:
                child.executor.submit([entry.message for entry in entries])
        for entry in heads:
            self._start(entry)
        self._sync_hand()

    def _put(self, child: _Child, entry: _Entry, sent: dict[int, list[_Entry]], heads: list[_Entry]) -> None:
        if not child.entries:
            heads.append(entry)
        else:
            child.queued += entry.expected or 0.0
        child.entries.append(entry)
        sent.setdefault(id(child), []).append(entry)

    def _child_with_room(self, depth: int, job: str | None = None) -> _Child | None:
        """For a trivial job, a child running trivial ones it can join (:meth:`_trivial_child`);
        else an idle child, else a new one, else the least loaded one with room -- for a run
        of ``job``, only if it is expected to fit behind what that child has: a job never
        waits behind another while a child could run it now, nor queues behind a job of
        unknown length."""
        if job is not None:
            trivial = self._trivial_child(depth, job)
            if trivial is not None:
                return trivial
        for child in self._children:
            if not child.entries:
                return child
        if len(self._children) < self.size:
            self._children.append(_Child())
            return self._children[-1]
        for child in sorted(self._children, key=lambda c: len(c.entries)):
            if len(child.entries) >= depth:
                return None
            if job is None or self.durations.joined(child.queued, job) is not None:
                return child
        return None

    def _trivial_child(self, depth: int, job: str) -> _Child | None:
        """A child running a trivial job that a run of ``job``, trivial too, can join within
        the prefetch budget. Jobs under :data:`TRIVIAL` seconds gain less from running side
        by side than spreading them costs (a message, a result channel and a process switch
        per child; measured: 16 children spent ~40 us more CPU per no-op job than one), so
        they fill one child's pipeline before the next child is woken, as with
        ``--concurrency 1``; more children join as the worker reserves more."""
        expected = self.durations.expected(job)
        if expected is None or expected >= TRIVIAL:
            return None
        for child in self._children:
            head = child.entries[0] if child.entries else None
            if (
                head is not None
                and head.expected is not None
                and head.expected < TRIVIAL
                and len(child.entries) < depth
                and self.durations.joined(child.queued, job) is not None
            ):
                return child
        return None

    def _start(self, entry: _Entry) -> None:
        if entry.run is not None:
            entry.row = self.steps.start(entry.run)

    # -- receiving -------------------------------------------------------------------

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds (less when a job's deadline comes first) for
        results and settle each one that arrived. The worker then refills the children that
        freed up (:meth:`dispatch`), after it had a chance to reorder what waits."""
        busy = [child for child in self._children if child.entries]
        if busy:
            now = time.monotonic()
            deadlines = [d - now for d in (self._deadline(child) for child in busy) if d is not None]
            channels = [child.executor.channel for child in busy if child.executor.channel is not None]
            wait_any(channels, max(0.0, min([timeout, *deadlines])))
            for child in busy:
                self._collect(child)

    def _deadline(self, child: _Child) -> float | None:
        timeout = child.entries[0].timeout
        return None if timeout is None else child.executor.started_at + timeout

    def _collect(self, child: _Child) -> None:
        while child.entries:
            head = child.entries[0]
            done, result = child.executor.poll(timeout=head.timeout, on_progress=self._progress_of(head))
            if not done:
                return
            child.entries.pop(0)
            if child.entries:
                child.queued = max(0.0, child.queued - (child.entries[0].expected or 0.0))  # it starts now
            if head.run is not None and head.row is not None and result is not None:
                self.steps.finish(head.run, head.row, result)
            if result is not None and result.status in ("timed_out", "crashed"):
                # That child is gone: what was queued behind its job never started.
                behind = child.clear()
                self._enqueue([entry.run for entry in behind if entry.run is not None] + self._queue)
                self.acks.hooks += [entry.message for entry in behind if entry.run is None]
                return
            if child.entries:
                self._start(child.entries[0])

    def _progress_of(self, entry: _Entry) -> Callable[[int], None]:
        buffer = self.acks.history

        def record(percent: int) -> None:
            if entry.row is not None:
                entry.row.progress = percent
                buffer.changed(entry.row)

        return record

    def _sync_hand(self) -> None:
        sent = [entry.run for child in self._children for entry in child.entries if entry.run is not None]
        self.hand.running = sent + self._queue

    # -- stopping --------------------------------------------------------------------

    def unsent(self) -> list[Reservation]:
        """Take back the runs no child has received yet (a stopping worker gives them back)."""
        runs, self._queue = self._queue, []
        self._sync_hand()
        return [run.reservation for run in runs]

    def abandon(self) -> None:
        """Kill every child with work in flight and forget every run (the worker gave up on
        the jobs in hand: their leases lapse, or they are given back)."""
        for child in self._children:
            if child.entries:
                child.executor.kill()
                child.clear()
        self._queue = []
        self._sync_hand()

    def close(self) -> None:
        for child in self._children:
            child.executor.close()
        self._children = []
