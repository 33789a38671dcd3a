"""The backlog (waiting / delayed / reserved jobs, filters, honest counts, pause) behaves the
same on the database and on Redis: every test runs on both."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from django.db import connections

from zwm.queue.backlog import Backlog, BacklogFilter, NoBacklog, State, backlog_of
from zwm.queue.drivers.base import Driver
from zwm.queue.drivers.database import DatabaseDriver
from zwm.queue.drivers.sync import SyncDriver
from zwm.queue.job import Envelope

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]

NOOP = "zwm.queue.diagnostics.Noop"
FAIL = "zwm.queue.diagnostics.Fail"


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def backlog(request: pytest.FixtureRequest) -> Iterator[Backlog]:
    driver: Driver
    if request.param == "database":
        driver = DatabaseDriver()
    else:
        from zwm.queue.drivers.redis import RedisDriver

        driver = RedisDriver(request.getfixturevalue("redis_url"), prefix=f"zwm-test-{uuid.uuid4().hex}")
    yield backlog_of(driver)
    if isinstance(driver, DatabaseDriver):
        connections.close_all()
    else:
        driver.delete_all_keys()  # type: ignore[attr-defined]
    driver.close()


def push(backlog: Backlog, queue: str, job: str = NOOP, delay: float = 0.0, **args: object) -> Envelope:
    envelope = Envelope(job=job, args=dict(args), queue=queue)
    backlog.driver.push([envelope], available_at=time.time() + delay if delay else None)
    return envelope


def ids(jobs: list) -> list[str]:  # type: ignore[type-arg]
    return [job.id for job in jobs]


def test_lists_every_state_with_its_state_oldest_first(backlog: Backlog) -> None:
    first, second = push(backlog, "mail"), push(backlog, "mail")
    later = push(backlog, "mail", delay=600)
    held = push(backlog, "mail")
    [reservation] = backlog.driver.reserve(["mail"], lease=30, limit=1)
    assert reservation.envelope.id == first.id
    jobs = backlog.jobs(BacklogFilter(queue="mail"))
    states = {job.id: job.state for job in jobs}
    assert states == {
        first.id: State.RESERVED,
        second.id: State.WAITING,
        held.id: State.WAITING,
        later.id: State.DELAYED,
    }
    waiting = backlog.jobs(BacklogFilter(queue="mail", state=State.WAITING))
    assert ids(waiting) == [second.id, held.id]
    assert backlog.count(BacklogFilter(queue="mail", state=State.WAITING)).value == 2
    [reserved] = backlog.jobs(BacklogFilter(queue="mail", state=State.RESERVED))
    assert reserved.reserved_at is not None
    assert backlog.count(BacklogFilter(queue="mail")).value == 4


def test_filters_by_job_class_and_search_and_pages(backlog: Backlog) -> None:
    pushed = [push(backlog, "q1", customer=f"acme-{n}") for n in range(5)]
    failing = push(backlog, "q1", job=FAIL, message="Needle in a haystack")
    push(backlog, "q2", customer="acme-other")
    by_class = backlog.jobs(BacklogFilter(job_class=FAIL))
    assert ids(by_class) == [failing.id]
    assert backlog.count(BacklogFilter(job_class=FAIL)).value == 1
    found = backlog.jobs(BacklogFilter(search="NEEDLE"))
    assert ids(found) == [failing.id]
    acme = BacklogFilter(queue="q1", search="acme")
    assert backlog.count(acme).value == 5
    assert ids(backlog.jobs(acme, limit=2)) == [e.id for e in pushed[:2]]
    assert ids(backlog.jobs(acme, limit=2, offset=4)) == [pushed[4].id]
    assert ids(backlog.jobs(BacklogFilter(queue="q1"), limit=3, offset=2)) == [e.id for e in pushed[2:5]]
    assert backlog.jobs(BacklogFilter(search="no such text")) == []


def test_counts_are_capped(backlog: Backlog) -> None:
    backlog.driver.push([Envelope(job=NOOP, args={"n": n}, queue="big") for n in range(30)])
    assert str(backlog.count(BacklogFilter(queue="big"), cap=10)) == "10+"
    assert backlog.count(BacklogFilter(queue="big", search='"n"'), cap=10).capped
    assert str(backlog.count(BacklogFilter(queue="big"), cap=100)) == "30"


def test_get_run_now_and_delete_report_what_happened(backlog: Backlog) -> None:
    later = push(backlog, "jobs", delay=600, who="x")
    got = backlog.get(later.id)
    assert got is not None
    assert got.state is State.DELAYED
    assert got.envelope.args == {"who": "x"}
    assert got.available_at > time.time() + 500
    assert backlog.run_now(later.id) is True
    assert backlog.run_now(later.id) is False  # already waiting: nothing to do
    now = backlog.get(later.id)
    assert now is not None
    assert now.state is State.WAITING
    [taken] = backlog.driver.reserve(["jobs"], lease=30)
    assert taken.envelope.id == later.id
    assert backlog.delete(later.id) is False  # a worker holds it
    assert backlog.driver.complete(taken)
    assert backlog.get(later.id) is None
    assert backlog.run_now(later.id) is False
    assert backlog.delete(uuid.uuid4().hex) is False


def test_oldest_available_per_queue(backlog: Backlog) -> None:
    before = time.time()
    push(backlog, "old")
    push(backlog, "later", delay=600)
    oldest = backlog.oldest_available(["old", "later", "empty"])
    assert set(oldest) == {"old"}
    assert before - 1 <= oldest["old"] <= time.time() + 1


def test_pause_and_resume(backlog: Backlog) -> None:
    name = f"p-{uuid.uuid4().hex[:8]}"
    assert backlog.pause(name) is True
    assert backlog.pause(name) is False
    assert name in backlog.paused()
    assert backlog.resume(name) is True
    assert backlog.resume(name) is False
    assert name not in backlog.paused()


def test_clear_removes_waiting_and_delayed(backlog: Backlog) -> None:
    push(backlog, "c")
    push(backlog, "c", delay=600)
    push(backlog, "keep")
    assert backlog.clear("c") == 2
    assert backlog.count(BacklogFilter(queue="c")).value == 0
    assert backlog.count(BacklogFilter(queue="keep")).value == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"queue": ""},
        {"queue": "x" * 101},
        {"job_class": ""},
        {"search": ""},
        {"search": "s" * 201},
    ],
)
def test_bad_filters_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be"):
        BacklogFilter(**bad)  # type: ignore[arg-type]


def test_the_sync_connection_has_no_backlog() -> None:
    with pytest.raises(NoBacklog, match="no queues"):
        backlog_of(SyncDriver(lambda envelope, connection: None))


def test_queue_counts_per_state(backlog: Backlog) -> None:
    backlog.driver.push([Envelope(job=NOOP, args={}, queue="qa") for _ in range(12)])
    push(backlog, "qb")
    push(backlog, "qb", delay=600)
    backlog.driver.reserve(["qb"], lease=30)
    counts = backlog.queue_counts()
    assert {"qa", "qb"} <= set(counts)
    assert str(counts["qa"].waiting) == "12"
    assert (counts["qb"].waiting.value, counts["qb"].delayed.value, counts["qb"].reserved.value) == (0, 1, 1)
