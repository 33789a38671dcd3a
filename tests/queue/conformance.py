"""The driver conformance suite: what every queue driver must do, checked the same way.

A driver's test module subclasses :class:`DriverConformance` and provides:

* the ``driver`` fixture (a ready, empty-enough driver; every test uses its own queue
  names, so drivers sharing a server between tests need no flushing);
* :meth:`DriverConformance.store_raw_payload`, which stores a job whose payload text is
  given verbatim -- the only storage-specific hook, used to prove that a corrupt payload is
  handed to the worker to fail rather than dropped or crashing ``reserve``;
* optionally :meth:`DriverConformance.after_thread`, run at the end of each helper thread
  (the database driver closes that thread's connections there).

Nothing here knows how a driver stores jobs. Waits are bounded; times are generous
(hundreds of milliseconds) because these are behaviour checks, not benchmarks.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from zwm.queue.drivers.base import Driver, QueueCounts
from zwm.queue.job import Envelope, PayloadError

LEASE = 30.0
SHORT = 0.3
"""A lease or delay short enough to lapse within a test, long enough not to race it."""


def envelope(queue: str, **args: object) -> Envelope:
    return Envelope(job="tests.queue.conformance.Nothing", args=dict(args), queue=queue)


def _consume_in_child(
    driver: Driver, queue: str, results: multiprocessing.Queue[list[str]], cleanup: Callable[[], None]
) -> None:
    """A forked consumer: reserve and acknowledge until the queue is empty (bounded).

    Sends back every id it reserved, plus ``"rejected"`` per refused acknowledgement.
    """
    seen: list[str] = []
    deadline = time.monotonic() + 50
    try:
        while time.monotonic() < deadline:
            got = driver.reserve([queue], lease=LEASE, limit=5)
            if not got:
                break
            seen.extend(r.envelope.id for r in got)
            # A job handed out twice shows up twice in `seen`; an acknowledgement the
            # fencing refused shows up as "rejected" (the same bug, seen from the loser).
            seen.extend("rejected" for ok in driver.complete_many(got) if not ok)
    finally:
        results.put(seen)
        cleanup()


class DriverConformance:
    """Inherit from this in ``test_conformance_<driver>.py`` and provide the fixture/hook."""

    @pytest.fixture
    def driver(self) -> Iterator[Driver]:
        raise NotImplementedError("a driver's test module provides the `driver` fixture")

    def store_raw_payload(self, driver: Driver, queue: str, job_id: str, raw: str) -> None:
        raise NotImplementedError("a driver's test module stores a job with a verbatim payload")

    def after_thread(self) -> None:
        """Clean-up at the end of a helper thread or process (e.g. close its connections)."""

    def before_fork(self) -> None:
        """Make the driver safe to inherit through ``fork`` (e.g. close the parent's sockets)."""

    @pytest.fixture
    def queue(self) -> str:
        return f"cq-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def other_queue(self) -> str:
        return f"cq-{uuid.uuid4().hex[:12]}"

    def run_threads(self, count: int, target: Callable[[int], None], timeout: float = 60.0) -> None:
        """Run ``target(i)`` in ``count`` threads; re-raise the first error; bounded."""
        errors: list[BaseException] = []

        def body(index: int) -> None:
            try:
                target(index)
            except BaseException as exc:
                errors.append(exc)
            finally:
                self.after_thread()

        threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "threads did not finish in time"
        if errors:
            raise errors[0]

    # -- push / reserve ----------------------------------------------------------

    def test_fifo_one_by_one(self, driver: Driver, queue: str) -> None:
        for i in range(3):
            driver.push([envelope(queue, i=i)])
        got = [driver.reserve([queue], lease=LEASE)[0].envelope.args["i"] for _ in range(3)]
        assert got == [0, 1, 2]
        assert driver.reserve([queue], lease=LEASE) == []

    def test_fifo_in_one_push_and_limit(self, driver: Driver, queue: str) -> None:
        envelopes = [envelope(queue, i=i) for i in range(5)]
        driver.push(envelopes)
        first = driver.reserve([queue], lease=LEASE, limit=3)
        assert [r.envelope.id for r in first] == [e.id for e in envelopes[:3]]
        rest = driver.reserve([queue], lease=LEASE, limit=10)
        assert [r.envelope.id for r in rest] == [e.id for e in envelopes[3:]]

    def test_reservation_carries_the_envelope(self, driver: Driver, queue: str) -> None:
        sent = Envelope(
            job="pkg.mod.Sync", args={"customer_id": 7}, queue=queue, max_tries=3,
            backoff=[60.0, 120.0], timeout=600.0, batch_id="b" * 36, unique_key="sync:7",
        )  # fmt: skip
        driver.push([sent])
        (got,) = driver.reserve([queue], lease=LEASE)
        assert got.envelope == Envelope(**{**sent.__dict__, "attempts": 1})
        assert got.token
        assert got.reserved_at <= time.time() < got.lease_expires_at

    def test_delay(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue, which="later")], available_at=time.time() + 60)
        driver.push([envelope(queue, which="soon")], available_at=time.time() + SHORT)
        assert driver.reserve([queue], lease=LEASE, limit=5) == []
        assert driver.counts([queue])[queue] == QueueCounts(waiting=0, delayed=2, reserved=0)
        time.sleep(SHORT + 0.1)
        got = driver.reserve([queue], lease=LEASE, limit=5)
        assert [r.envelope.args["which"] for r in got] == ["soon"]

    def test_strict_priority(self, driver: Driver, queue: str, other_queue: str) -> None:
        high, low = queue, other_queue
        driver.push([envelope(low, i=1), envelope(low, i=2)])
        driver.push([envelope(high, i=3), envelope(high, i=4)])
        assert driver.reserve([high, low], lease=LEASE)[0].envelope.args["i"] == 3
        got = driver.reserve([high, low], lease=LEASE, limit=2)
        assert [(r.envelope.queue, r.envelope.args["i"]) for r in got] == [(high, 4), (low, 1)]
        assert driver.reserve([high, low], lease=LEASE)[0].envelope.args["i"] == 2

    def test_attempts_counted_at_reserve(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        first = driver.reserve([queue], lease=LEASE)[0]
        assert first.envelope.attempts == 1
        assert driver.release(first)
        second = driver.reserve([queue], lease=LEASE)[0]
        assert second.envelope.attempts == 2
        assert second.token != first.token

    # -- leases and fencing --------------------------------------------------------

    def test_lapsed_lease_is_redelivered_and_fenced(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        lost = driver.reserve([queue], lease=SHORT)[0]
        assert driver.reserve([queue], lease=LEASE) == []
        time.sleep(SHORT + 0.1)
        rescued = driver.reserve([queue], lease=LEASE)[0]
        assert rescued.envelope.id == lost.envelope.id
        # A recovery, not a try: the lost worker's try is made again (issue point 2).
        assert (rescued.envelope.attempts, rescued.envelope.recoveries) == (1, 1)
        assert rescued.token != lost.token
        # The worker that lost its lease can change nothing any more.
        assert driver.extend([lost], lease=LEASE) == [False]
        assert driver.complete(lost) is False
        assert driver.release(lost) is False
        assert driver.complete_many([lost]) == [False]
        assert driver.counts([queue])[queue].reserved == 1
        assert driver.complete(rescued) is True
        assert driver.counts([queue])[queue] == QueueCounts()

    def test_recoveries_accumulate_and_tries_stay_with_releases(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        lost = driver.reserve([queue], lease=SHORT)[0]
        time.sleep(SHORT + 0.1)
        again = driver.reserve([queue], lease=SHORT)[0]
        time.sleep(SHORT + 0.1)
        third = driver.reserve([queue], lease=LEASE)[0]
        assert [(r.envelope.attempts, r.envelope.recoveries) for r in (lost, again, third)] == [
            (1, 0),
            (1, 1),
            (1, 2),
        ]
        assert driver.release(third)
        retried = driver.reserve([queue], lease=LEASE)[0]
        assert (retried.envelope.attempts, retried.envelope.recoveries) == (2, 2)

    def test_give_back_returns_unstarted_jobs_in_place_without_a_try(
        self, driver: Driver, queue: str
    ) -> None:
        driver.push([envelope(queue, i=i) for i in range(4)])
        held = driver.reserve([queue], lease=LEASE, limit=3)
        assert driver.give_back(held[1:]) == [True, True]
        assert driver.give_back(held[1:]) == [False, False]  # fenced: no longer reserved by them
        assert driver.counts([queue])[queue] == QueueCounts(waiting=3, reserved=1)
        again = driver.reserve([queue], lease=LEASE, limit=3)
        assert [r.envelope.args["i"] for r in again] == [1, 2, 3]
        assert [(r.envelope.attempts, r.envelope.recoveries) for r in again] == [(1, 0)] * 3
        assert driver.give_back([]) == []

    def test_give_back_after_a_lapsed_lease_is_refused(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        lost = driver.reserve([queue], lease=SHORT)[0]
        time.sleep(SHORT + 0.1)
        rescued = driver.reserve([queue], lease=LEASE)[0]
        assert driver.give_back([lost]) == [False]
        assert driver.complete(rescued) is True

    def test_extend_keeps_the_job(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        held = driver.reserve([queue], lease=SHORT)[0]
        assert driver.extend([held], lease=LEASE) == [True]
        time.sleep(SHORT + 0.1)
        assert driver.reserve([queue], lease=LEASE) == []
        assert driver.complete(held) is True

    def test_complete_twice_and_complete_many(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue, i=i) for i in range(3)])
        a, b, c = driver.reserve([queue], lease=LEASE, limit=3)
        assert driver.complete(a) is True
        assert driver.complete(a) is False
        assert driver.complete_many([a, b, c]) == [False, True, True]
        assert driver.counts([queue])[queue] == QueueCounts()

    def test_release_with_delay(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        held = driver.reserve([queue], lease=LEASE)[0]
        assert driver.release(held, delay=60) is True
        assert driver.reserve([queue], lease=LEASE) == []
        assert driver.counts([queue])[queue] == QueueCounts(delayed=1)
        assert driver.release(held) is False  # no longer reserved by that token

    def test_release_now_is_available_at_once(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        held = driver.reserve([queue], lease=LEASE)[0]
        assert driver.release(held, delay=0) is True
        assert driver.counts([queue])[queue] == QueueCounts(waiting=1)
        assert driver.reserve([queue], lease=LEASE)[0].envelope.id == held.envelope.id

    # -- inspection and management ------------------------------------------------

    def test_counts(self, driver: Driver, queue: str, other_queue: str) -> None:
        driver.push([envelope(queue) for _ in range(3)])
        driver.push([envelope(queue)], available_at=time.time() + 60)
        driver.reserve([queue], lease=LEASE)
        counts = driver.counts([queue, other_queue])
        assert counts[queue] == QueueCounts(waiting=2, delayed=1, reserved=1)
        assert counts[other_queue] == QueueCounts()
        assert driver.counts()[queue] == counts[queue]

    def test_waiting_listing(self, driver: Driver, queue: str, other_queue: str) -> None:
        envelopes = [envelope(queue, i=i) for i in range(4)]
        driver.push(envelopes)
        driver.push([envelope(other_queue)])
        held = driver.reserve([queue], lease=LEASE)[0]
        listed = driver.waiting(queue)
        assert [j.envelope.id for j in listed] == [e.id for e in envelopes]
        assert listed[0].reserved_at is not None
        assert listed[0].envelope.attempts == 1
        assert [j.reserved_at for j in listed[1:]] == [None, None, None]
        assert [j.envelope.id for j in driver.waiting(queue, limit=2, offset=1)] == [
            e.id for e in envelopes[1:3]
        ]
        assert held.envelope.id == envelopes[0].id

    def test_delete_and_clear(self, driver: Driver, queue: str, other_queue: str) -> None:
        waiting, reserved, delayed = envelope(queue), envelope(queue), envelope(queue)
        driver.push([reserved, waiting])
        driver.push([delayed], available_at=time.time() + 60)
        driver.push([envelope(other_queue)])
        held = driver.reserve([queue], lease=LEASE)[0]
        assert held.envelope.id == reserved.id
        assert driver.delete(reserved.id) is False  # reserved: the worker owns it
        assert driver.delete(uuid.uuid4().hex) is False
        assert driver.delete(waiting.id) is True
        driver.push([envelope(queue)])
        assert driver.clear(queue) == 2  # the new waiting one and the delayed one
        assert driver.counts([queue, other_queue]) == {
            queue: QueueCounts(reserved=1),
            other_queue: QueueCounts(waiting=1),
        }
        assert driver.complete(held) is True

    # -- unique locks ----------------------------------------------------------------

    def test_unique_lock(self, driver: Driver, queue: str) -> None:
        key = f"{queue}:customer:7"
        assert driver.acquire_unique(key, "job-a", ttl=LEASE) is True
        assert driver.acquire_unique(key, "job-b", ttl=LEASE) is False
        driver.release_unique(key, "job-b")  # not the owner: ignored
        assert driver.acquire_unique(key, "job-c", ttl=LEASE) is False
        driver.release_unique(key, "job-a")
        assert driver.acquire_unique(key, "job-c", ttl=LEASE) is True
        assert driver.acquire_unique(f"{key}:other", "job-d", ttl=LEASE) is True

    def test_unique_lock_renewed_by_its_owner_only(self, driver: Driver, queue: str) -> None:
        """Issue point 10: a lock is renewed with its job's lease, never by another job."""
        mine, theirs = f"{queue}:renewed", f"{queue}:not-renewed"
        assert driver.acquire_unique(mine, "job-a", ttl=SHORT) is True
        assert driver.acquire_unique(theirs, "job-b", ttl=SHORT) is True
        driver.renew_unique([(mine, "job-a"), (theirs, "job-x")], ttl=LEASE)
        driver.renew_unique([], ttl=LEASE)
        time.sleep(SHORT + 0.1)
        assert driver.acquire_unique(mine, "job-c", ttl=LEASE) is False
        assert driver.acquire_unique(theirs, "job-c", ttl=LEASE) is True

    def test_unique_lock_expires(self, driver: Driver, queue: str) -> None:
        key = f"{queue}:crashed"
        assert driver.acquire_unique(key, "job-a", ttl=SHORT) is True
        time.sleep(SHORT + 0.1)
        assert driver.acquire_unique(key, "job-b", ttl=LEASE) is True
        driver.release_unique(key, "job-a")  # the crashed owner coming back frees nothing
        assert driver.acquire_unique(key, "job-c", ttl=LEASE) is False

    def test_long_unique_key(self, driver: Driver, queue: str) -> None:
        key = f"{queue}:" + "k" * 500
        assert driver.acquire_unique(key, "job-a", ttl=LEASE) is True
        assert driver.acquire_unique(key, "job-b", ttl=LEASE) is False
        assert driver.acquire_unique(key[:-1] + "x", "job-b", ttl=LEASE) is True

    # -- waking up ---------------------------------------------------------------------

    def test_wait_returns_early_when_a_job_arrives(self, driver: Driver, queue: str) -> None:
        driver.wait([queue], 0.05)  # lets a driver that listens start listening
        pushed = threading.Event()

        def push_soon(_: int) -> None:
            time.sleep(0.2)
            driver.push([envelope(queue)])
            pushed.set()

        started = time.monotonic()
        pusher = threading.Thread(target=self.run_threads, args=(1, push_soon), daemon=True)
        pusher.start()
        driver.wait([queue], 20.0)
        elapsed = time.monotonic() - started
        pusher.join(20)
        assert pushed.is_set()
        assert elapsed < 10.0, f"wait() ignored the new job for {elapsed:.1f}s"
        assert len(driver.reserve([queue], lease=LEASE)) == 1

    def test_wait_returns_at_once_when_a_job_is_available(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        started = time.monotonic()
        driver.wait([queue], 20.0)
        assert time.monotonic() - started < 10.0

    def test_wait_without_jobs_times_out(self, driver: Driver, queue: str) -> None:
        started = time.monotonic()
        driver.wait([queue], 0.2)
        assert 0.15 <= time.monotonic() - started < 10.0

    # -- concurrency -------------------------------------------------------------------

    def test_concurrent_reservers_never_share_a_job(self, driver: Driver, queue: str) -> None:
        envelopes = [envelope(queue, i=i) for i in range(1000)]
        driver.push(envelopes)
        seen: list[str] = []
        lock = threading.Lock()
        deadline = time.monotonic() + 50

        def consume(_: int) -> None:
            while time.monotonic() < deadline:
                got = driver.reserve([queue], lease=LEASE, limit=10)
                if not got:
                    return
                assert all(driver.complete_many(got))
                with lock:
                    seen.extend(r.envelope.id for r in got)

        self.run_threads(4, consume)
        counted = Counter(seen)
        assert [job_id for job_id, n in counted.items() if n > 1] == []
        assert set(counted) == {e.id for e in envelopes}

    def test_concurrent_processes_never_share_a_job(self, driver: Driver, queue: str) -> None:
        envelopes = [envelope(queue, i=i) for i in range(400)]
        driver.push(envelopes)
        self.before_fork()
        context = multiprocessing.get_context("fork")
        results: multiprocessing.Queue[list[str]] = context.Queue()
        workers = [
            context.Process(target=_consume_in_child, args=(driver, queue, results, self.after_thread))
            for _ in range(2)
        ]
        for worker in workers:
            worker.start()
        try:
            seen = [job_id for _ in workers for job_id in results.get(timeout=60)]
        finally:
            for worker in workers:
                worker.join(10)
                if worker.is_alive():
                    worker.kill()
        assert [w.exitcode for w in workers] == [0, 0]
        counted = Counter(seen)
        assert [job_id for job_id, n in counted.items() if n > 1] == []
        assert set(counted) == {e.id for e in envelopes}

    # -- payloads ----------------------------------------------------------------------

    def test_corrupt_payload_is_handed_out_to_fail(self, driver: Driver, queue: str) -> None:
        job_id = uuid.uuid4().hex
        self.store_raw_payload(driver, queue, job_id, '{"job": "x", "args": [truncated')
        (got,) = driver.reserve([queue], lease=LEASE)
        assert got.envelope.id == job_id
        assert got.envelope.attempts == 1
        with pytest.raises(PayloadError, match="not valid JSON"):
            got.envelope.build()
        assert driver.complete(got) is True

    def test_unicode_and_large_payloads(self, driver: Driver, queue: str) -> None:
        text = "Zürich — 東京 — 🚀 — \u0000 — 'quotes' \"and\" \\ backslash"
        big = "x" * 1_000_000
        driver.push([envelope(queue, text=text, nested={"ключ": [text]}), envelope(queue, big=big)])
        first, second = driver.reserve([queue], lease=LEASE, limit=2)
        assert first.envelope.args == {"text": text, "nested": {"ключ": [text]}}
        assert second.envelope.args["big"] == big

    # -- bad input ---------------------------------------------------------------------

    def test_bad_arguments(self, driver: Driver, queue: str) -> None:
        driver.push([envelope(queue)])
        with pytest.raises(ValueError, match="limit"):
            driver.reserve([queue], lease=LEASE, limit=0)
        with pytest.raises(ValueError, match="lease"):
            driver.reserve([queue], lease=-1)
        with pytest.raises(TypeError):
            driver.reserve(queue, lease=LEASE)
        with pytest.raises(ValueError, match=r"(?i)nan"):
            driver.push([envelope(queue)], available_at=float("nan"))
        driver.push([])  # nothing to do, not an error
        held = driver.reserve([queue], lease=LEASE)[0]
        with pytest.raises(ValueError, match="delay"):
            driver.release(held, delay=-1)
        assert driver.complete(held) is True
