"""Schedule guards seen from the command line: ``schedule:test`` dispatches an entry now."""

from __future__ import annotations

from workerkit import Workers

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
