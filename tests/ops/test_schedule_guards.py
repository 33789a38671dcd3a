"""Schedule guards seen from the command line: ``schedule:test`` dispatches an entry now, a
vanished job class is listed and skipped, a bad entry stops the scheduler naming it, and
``ZWM_SYNC_SCHEDULE`` takes the seed's "every 30 minutes"."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from django.test import override_settings
from workerkit import Workers

from zwm.cli import cli
from zwm.cli.base import OperationFailed
from zwm.queue.models import QueuedJob, ScheduledRun


def test_schedule_test_dispatches_the_entry_now(workers: Workers) -> None:
    done = workers.run("schedule:test", "sync-customer-workflows")
    assert done.returncode == 0, done.stderr
    job = QueuedJob.objects.get()
    assert job.job_class == "zwm.catalog.jobs.SyncAllCustomers"
    assert (
        done.stdout.strip()
        == f"Dispatched sync-customer-workflows: zwm.catalog.jobs.SyncAllCustomers (job {job.uuid})"
    )
    assert ScheduledRun.objects.get().job_id == job.uuid


def test_schedule_test_of_a_unique_job_already_queued_dispatches_nothing(workers: Workers) -> None:
    assert workers.run("schedule:test", "ops-prune-history").returncode == 0
    again = workers.run("schedule:test", "ops-prune-history")
    assert again.returncode == 0
    assert QueuedJob.objects.count() == 1  # PruneHistory is unique: the second was dropped


def test_schedule_test_of_an_unknown_entry_is_a_usage_error(workers: Workers) -> None:
    done = workers.run("schedule:test", "nightly-report")
    assert done.returncode == 2
    assert (
        "no schedule entry 'nightly-report' (entries: ops-prune-history, sync-customer-workflows)"
        in done.stderr
    )


EVERY_MINUTE = {
    "name": "every-minute",
    "cron": "* * * * *",
    "job": "zwm.queue.diagnostics.Noop",
    "catch_up": 120,
}
VANISHED = {"name": "old-report", "cron": "* * * * *", "job": "zwm.reports.jobs.NightlyReport"}


@pytest.mark.django_db(transaction=True)
def test_a_vanished_job_class_is_listed_and_skipped_while_the_others_fire() -> None:
    runner = CliRunner()
    with override_settings(ZWM_SCHEDULE=[VANISHED, EVERY_MINUTE]):
        listed = runner.invoke(cli, ["schedule:list", "--json"])
        plain = runner.invoke(cli, ["schedule:list"])
        fired = runner.invoke(cli, ["schedule:run"])
        tested = runner.invoke(cli, ["schedule:test", "old-report"])
    assert listed.exit_code == 0, listed.output
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert "cannot import module 'zwm.reports.jobs'" in rows["old-report"]["problem"]
    assert rows["every-minute"]["problem"] is None
    assert "SKIPPED: cannot import module" in plain.output
    assert fired.exit_code == 0
    assert "Dispatched every-minute" in fired.output
    assert "old-report" not in fired.output
    assert QueuedJob.objects.get().job_class == "zwm.queue.diagnostics.Noop"
    assert isinstance(tested.exception, OperationFailed)  # exit code 1 through zwm.cli.main
    assert "'old-report' cannot run: cannot import module" in str(tested.exception)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {**EVERY_MINUTE, "timezone": "Europe/Atlantis"},
            "'every-minute': unknown time zone 'Europe/Atlantis'",
        ),
        ({**EVERY_MINUTE, "cron": "every 30 minutes"}, "'every-minute': invalid cron expression"),
    ],
)
def test_the_scheduler_refuses_to_start_on_a_bad_entry_naming_it(
    entry: dict[str, object], message: str
) -> None:
    with override_settings(ZWM_SCHEDULE=[entry]):
        result = CliRunner().invoke(cli, ["schedule:work", "--tick", "0.05"])
    assert result.exit_code == 2
    assert message in result.output


def test_zwm_sync_schedule_accepts_every_30_minutes(workers: Workers) -> None:
    workers.env["ZWM_SYNC_SCHEDULE"] = "every 30 minutes"
    listed = json.loads(workers.run("schedule:list", "--json").stdout)
    assert {row["name"]: row["cron"] for row in listed}["sync-customer-workflows"] == "*/30 * * * *"
