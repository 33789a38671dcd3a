"""The queue tables: names the dashboard and operators rely on, and migrations in sync."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from zwm.queue import models

pytestmark = [pytest.mark.backends, pytest.mark.django_db]


def test_migrations_match_the_models() -> None:
    call_command("makemigrations", "zwm_queue", "--check", "--dry-run", verbosity=0)


def test_table_names_are_the_seeds() -> None:
    tables = {m._meta.db_table for m in (models.QueuedJob, models.FailedJob, models.JobBatch)}
    assert tables == {"jobs", "failed_jobs", "job_batches"}
    assert set(connection.introspection.table_names()) >= tables | {
        "job_unique_locks",
        "job_history",
        "job_queue_workers",
        "job_signals",
    }


def test_reservation_index_exists() -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "jobs")
    columns = [c["columns"] for c in constraints.values() if c["index"]]
    assert ["queue", "available_at", "id"] in columns


def test_reservation_times_are_double_precision() -> None:
    """Epoch seconds need ~16 significant digits: a 4-byte float would round to minutes."""
    row = models.QueuedJob.objects.create(
        uuid="a" * 32, queue="q", job_class="x.Y", payload="{}", available_at=1.8e9 + 0.123456, created_at=0
    )
    row.refresh_from_db()
    assert row.available_at == pytest.approx(1.8e9 + 0.123456, abs=1e-5)
