"""The scheduler: one dispatch per slot whatever the number of schedulers; bad entries refused."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import close_old_connections, connections
from django.test import override_settings
from rediskit import free_port
from workerkit import Workers

from zwm.cli import cli
from zwm.queue.connections import close_drivers, get_driver
from zwm.queue.drivers.redis import RedisDriver
from zwm.queue.models import QueuedJob, ScheduledRun
from zwm.queue.redis_safety import QueueConnectionError
from zwm.queue.schedule import ScheduleEntry, ScheduleError, fire_due, load_entries, prune, run_now

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True)]

NOOP = "zwm.queue.diagnostics.Noop"
HOURLY = {"name": "hourly-noop", "cron": "0 * * * *", "job": NOOP, "queue": "schedule-test"}
SLOT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
TWO_PAST = datetime(2026, 11, 20, 10, 2, tzinfo=UTC).timestamp()


def jobs_queued() -> int:
    return QueuedJob.objects.filter(queue="schedule-test").count()


def test_a_due_slot_fires_once_and_only_once() -> None:
    entries = load_entries([HOURLY])
    fired = fire_due(entries, now=TWO_PAST)
    assert [r.scheduled_for for r in fired] == [SLOT]
    assert fired[0].job_id
    assert fire_due(entries, now=TWO_PAST + 30) == []
    assert jobs_queued() == 1
    # the next hour is a new slot
    assert len(fire_due(entries, now=TWO_PAST + 3600)) == 1
    assert jobs_queued() == 2


def test_a_slot_missed_by_more_than_catch_up_is_skipped_not_fired_late() -> None:
    entries = load_entries([{**HOURLY, "catch_up": 60}])
    assert fire_due(entries, now=TWO_PAST) == []  # the 10:00 slot is 120 s old
    assert jobs_queued() == 0
    assert len(fire_due(entries, now=datetime(2026, 11, 20, 11, 0, 30, tzinfo=UTC).timestamp())) == 1


def test_concurrent_schedulers_never_double_fire() -> None:
    entries = load_entries([HOURLY])
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(len(fire_due(entries, now=TWO_PAST)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert sum(results) == 1
    assert ScheduledRun.objects.count() == 1
    assert jobs_queued() == 1


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**HOURLY, "cron": "every hour"}, "invalid cron expression"),
        ({**HOURLY, "cron": "61 * * * *"}, "invalid cron expression"),
        ({**HOURLY, "name": ""}, "name must be 1-100 characters"),
        ({**HOURLY, "catch_up": -1}, "catch_up must be >= 0"),
        ({**HOURLY, "timezone": "Mars/Olympus_Mons"}, "'hourly-noop': unknown time zone 'Mars/Olympus_Mons'"),
        ({**HOURLY, "timezone": "../etc/passwd"}, "unknown time zone"),
        ({**HOURLY, "cron": "61 * * * *"}, "'hourly-noop': invalid cron expression"),
        ({**HOURLY, "colour": "blue"}, "is malformed"),
    ],
)
def test_malformed_entries_are_refused_with_the_entry_named(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        load_entries([entry])


def test_duplicate_entry_names_are_refused() -> None:
    with pytest.raises(ScheduleError, match="unique"):
        load_entries([HOURLY, HOURLY])


def test_prune_drops_old_runs_only() -> None:
    entries = load_entries([{**HOURLY, "catch_up": 3600}])
    fire_due(entries, now=TWO_PAST)
    fire_due(entries, now=datetime.now(UTC).timestamp())
    assert prune(hours=24) == 1
    assert ScheduledRun.objects.count() == 1


def test_the_default_schedule_syncs_every_customer_hourly() -> None:
    entry, *others = load_entries()  # the others are the operations entries (pruning, alerts)
    assert [e.name for e in others] == ["ops-prune-history"]
    assert entry == ScheduleEntry(
        name="sync-customer-workflows",
        cron="0 * * * *",
        job="zwm.catalog.jobs.SyncAllCustomers",
        args={"trigger": "schedule"},
    )


def test_cli_lists_and_runs_the_schedule() -> None:
    runner = CliRunner()
    with override_settings(ZWM_SCHEDULE=[{**HOURLY, "catch_up": 3600}]):
        listed = runner.invoke(cli, ["schedule:list", "--json"])
        assert listed.exit_code == 0, listed.output
        (row,) = json.loads(listed.output)
        assert row["name"] == "hourly-noop"
        assert row["last_run"] is None
        ran = runner.invoke(cli, ["schedule:run"])
        assert ran.exit_code == 0, ran.output
        assert "Dispatched hourly-noop" in ran.output
        again = runner.invoke(cli, ["schedule:run"])
        assert "Dispatched" not in again.output
    assert jobs_queued() == 1


def test_cli_reports_a_bad_schedule_as_a_usage_error() -> None:
    with override_settings(ZWM_SCHEDULE=[{**HOURLY, "cron": "nope"}]):
        result = CliRunner().invoke(cli, ["schedule:list"])
    assert result.exit_code == 2
    assert "invalid cron expression" in result.output


def test_cli_prunes_old_runs_and_refuses_negative_hours() -> None:
    fire_due(load_entries([HOURLY]), now=TWO_PAST)
    runner = CliRunner()
    assert runner.invoke(cli, ["schedule:prune", "--hours", "-1"]).exit_code == 2
    assert ScheduledRun.objects.count() == 1
    result = runner.invoke(cli, ["schedule:prune", "--hours", "24"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 schedule run record(s)" in result.output
    assert ScheduledRun.objects.count() == 0


@pytest.mark.parametrize(
    ("job", "args", "problem"),
    [
        ("zwm.nowhere.Job", {}, "cannot import module"),
        ("zwm.config.Config", {}, "is not a job class"),
        ("zwm.queue.diagnostics.Sleep", {"minutes": 3}, "minutes"),
    ],
)
def test_an_entry_whose_job_cannot_be_built_is_skipped_while_the_others_run(
    job: str, args: dict[str, object], problem: str
) -> None:
    entries = load_entries([{**HOURLY, "name": "vanished", "job": job, "args": args}, HOURLY])
    assert problem in (entries[0].problem or "")
    assert entries[1].problem is None
    fired = fire_due(entries, now=TWO_PAST)
    assert [run.name for run in fired] == ["hourly-noop"]
    with pytest.raises(ScheduleError, match="'vanished' cannot run"):
        run_now(entries[0])


def test_the_cron_is_read_in_the_entrys_time_zone() -> None:
    (entry,) = load_entries([{**HOURLY, "cron": "0 9 * * *", "timezone": "Europe/Rome"}])
    winter = datetime(2026, 1, 15, 12, 0, tzinfo=UTC).timestamp()
    summer = datetime(2026, 7, 15, 12, 0, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(entry.previous_slot(winter), UTC) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(entry.previous_slot(summer), UTC) == datetime(2026, 7, 15, 7, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(entry.next_slot(summer), UTC) == datetime(2026, 7, 16, 7, 0, tzinfo=UTC)


def test_without_overlapping_skips_a_slot_while_the_previous_job_waits(workers: Workers) -> None:
    entries = load_entries([{**HOURLY, "without_overlapping": True}])
    (first,) = fire_due(entries, now=TWO_PAST)
    assert fire_due(entries, now=TWO_PAST + 3600) == []  # 11:00: the 10:00 job still waits
    assert jobs_queued() == 1
    skipped = ScheduledRun.objects.get(scheduled_for=datetime(2026, 11, 20, 11, 0, tzinfo=UTC))
    assert skipped.job_id == ""  # recorded, so the slot is not fired late either
    assert fire_due(entries, now=TWO_PAST + 3630) == []
    assert workers.work("--queue", "schedule-test", "--stop-when-empty", "--sleep", "0").returncode == 0
    assert not QueuedJob.objects.filter(uuid=first.job_id).exists()
    assert len(fire_due(entries, now=TWO_PAST + 7200)) == 1  # 12:00: the job is done
    assert jobs_queued() == 1


def test_without_overlapping_does_not_wait_for_ever_for_a_lost_job() -> None:
    entries = load_entries([{**HOURLY, "without_overlapping": True}])
    fire_due(entries, now=TWO_PAST)
    QueuedJob.objects.all().delete()  # lost with its queue: never runs, never fails
    ScheduledRun.objects.update(fired_at=datetime(2026, 11, 19, 9, 0, tzinfo=UTC))  # 25 h before
    assert len(fire_due(entries, now=TWO_PAST + 3600)) == 1


@pytest.fixture
def on_redis(configure: Callable[..., None], redis_url: str) -> Iterator[RedisDriver]:
    """The schedule's jobs go to Redis, under a prefix of this test's own."""
    configure(QUEUE_CONNECTION="redis", REDIS_URL=redis_url, ZWM_QUEUE_PREFIX=f"zwm-test-{uuid.uuid4().hex}")
    close_drivers()
    driver = get_driver("redis")
    assert isinstance(driver, RedisDriver)
    yield driver
    driver.delete_all_keys()
    close_drivers()


def redis_waiting(driver: RedisDriver) -> int:
    return driver.counts(["schedule-test"])["schedule-test"].waiting


def left_unconfirmed() -> None:
    """Claims as a scheduler lost before confirming its push leaves them, a while ago."""
    ScheduledRun.objects.update(pushed=False, fired_at=datetime.now(UTC) - timedelta(seconds=10))


@pytest.mark.redis
def test_a_slot_whose_push_fails_stays_claimed_and_is_pushed_at_a_later_tick(
    configure: Callable[..., None], on_redis: RedisDriver, redis_url: str
) -> None:
    """Claim and dispatch are all or nothing -- a slot fires once, never zero times."""
    entries = load_entries([HOURLY])
    configure(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    close_drivers()
    with pytest.raises(QueueConnectionError):
        fire_due(entries, now=TWO_PAST)
    assert ScheduledRun.objects.filter(pushed=False).count() == 1

    configure(REDIS_URL=redis_url)
    close_drivers()
    driver = get_driver("redis")
    assert fire_due(entries, now=TWO_PAST + 1) == []  # claimed; its push is not overdue yet
    left_unconfirmed()
    assert fire_due(entries, now=TWO_PAST + 1) == []
    assert ScheduledRun.objects.get().pushed
    assert isinstance(driver, RedisDriver)
    assert redis_waiting(driver) == 1


def fire_and_die_before_the_push(entries: list[ScheduleEntry]) -> None:
    """A scheduler process SIGKILLed between its claim's commit and its push to Redis."""
    connections.close_all()

    def killed(self: RedisDriver, script: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        if script == "push":
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, script, keys, args)

    original = RedisDriver._run
    RedisDriver._run = killed  # type: ignore[method-assign]
    fire_due(entries, now=TWO_PAST)


@pytest.mark.redis
def test_a_scheduler_killed_between_its_claim_and_its_push_loses_no_slot(on_redis: RedisDriver) -> None:
    entries = load_entries([HOURLY])
    connections.close_all()  # the child opens its own
    child = multiprocessing.get_context("fork").Process(target=fire_and_die_before_the_push, args=(entries,))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    assert ScheduledRun.objects.count() == 1  # claimed, and nothing pushed
    assert redis_waiting(on_redis) == 0

    ScheduledRun.objects.update(fired_at=datetime.now(UTC) - timedelta(seconds=10))
    fire_due(entries, now=TWO_PAST + 5)

    assert redis_waiting(on_redis) == 1


@pytest.mark.redis
def test_a_slot_pushed_again_is_queued_once_even_after_its_job_ran(on_redis: RedisDriver) -> None:
    entries = load_entries([HOURLY])
    (run,) = fire_due(entries, now=TWO_PAST)
    left_unconfirmed()  # the scheduler was lost after its push, before confirming it
    fire_due(entries, now=TWO_PAST + 5)
    assert redis_waiting(on_redis) == 1

    (reservation,) = on_redis.reserve(["schedule-test"], lease=30)
    assert reservation.envelope.id == run.job_id
    assert on_redis.complete(reservation)
    left_unconfirmed()
    fire_due(entries, now=TWO_PAST + 10)

    assert redis_waiting(on_redis) == 0
    assert ScheduledRun.objects.get().pushed
