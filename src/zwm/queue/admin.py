"""Django admin views of the queue tables: for looking, not for editing.

Queue rows are changed by the engine (leases, fencing tokens, counters); an edit in a form
would race a worker. Failed jobs may be deleted (the same as ``queue:forget``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from zwm.queue import models


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.QueuedJob)
class QueuedJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "job_class", "queue", "attempts", "available_at", "reserved_at", "created_at")
    list_filter = ("queue",)
    search_fields = ("uuid", "job_class")


@admin.register(models.FailedJob)
class FailedJobAdmin(ReadOnlyAdmin):
    list_display = ("id", "job_class", "queue", "connection", "exception_type", "failed_at")
    list_filter = ("queue", "connection")
    search_fields = ("uuid", "job_class", "exception_message")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


@admin.register(models.JobExecution)
class JobExecutionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "job_class",
        "queue",
        "attempt",
        "status",
        "worker_host",
        "started_at",
        "duration_ms",
    )
    list_filter = ("status", "queue")
    search_fields = ("job_uuid", "job_class")


@admin.register(models.JobBatch)
class JobBatchAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "total_jobs", "pending_jobs", "failed_jobs", "created_at", "finished_at")


@admin.register(models.Worker)
class WorkerAdmin(ReadOnlyAdmin):
    list_display = ("name", "status", "queues", "jobs_processed", "jobs_failed", "last_heartbeat_at")
    list_filter = ("status",)


admin.site.register(models.UniqueLock, ReadOnlyAdmin)
admin.site.register(models.QueueSignal, ReadOnlyAdmin)
