"""The database driver against the conformance suite, on every database backend."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from conformance import DriverConformance
from django.db import connections

from zwm.queue.drivers.base import Driver
from zwm.queue.drivers.database import DatabaseDriver
from zwm.queue.models import QueuedJob

pytestmark = [pytest.mark.backends, pytest.mark.django_db(transaction=True, available_apps=["zwm.queue"])]


class TestDatabaseDriver(DriverConformance):
    @pytest.fixture
    def driver(self) -> Iterator[Driver]:
        driver = DatabaseDriver(poll_max=0.05)
        yield driver
        driver.close()

    def store_raw_payload(self, driver: Driver, queue: str, job_id: str, raw: str) -> None:
        now = time.time()
        QueuedJob.objects.create(
            uuid=job_id, queue=queue, job_class="gone.Job", payload=raw, available_at=now, created_at=now
        )

    def after_thread(self) -> None:
        connections.close_all()

    def before_fork(self) -> None:
        connections.close_all()
