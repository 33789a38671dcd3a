"""Routes of the Jobs dashboard (namespace ``dashboard``, mounted at ``/jobs/``)."""

from __future__ import annotations

from django.urls import path

from zwm.web.dashboard import batches, failed, history, overview, queues, schedule, waiting

app_name = "dashboard"

urlpatterns = [
    path("", overview.index, name="index"),
    path("live/", overview.live, name="live"),
    path("charts/", overview.chart_data, name="charts"),
    path("history/", history.jobs, name="jobs"),
    path("job/<str:job_uuid>/", history.job, name="job"),
    path("waiting/", waiting.waiting, name="waiting"),
    path("waiting/delete/", waiting.delete, name="waiting-delete"),
    path("waiting/run-now/", waiting.run_now, name="waiting-run-now"),
    path("failed/", failed.failed, name="failed"),
    path("failed/one/", failed.one, name="failed-one"),
    path("failed/bulk/", failed.bulk, name="failed-bulk"),
    path("batches/", batches.batch_list, name="batches"),
    path("batches/<str:batch_id>/", batches.batch, name="batch"),
    path("batches/<str:batch_id>/live/", batches.batch_live, name="batch-live"),
    path("batches/<str:batch_id>/cancel/", batches.cancel, name="batch-cancel"),
    path("batches/<str:batch_id>/retry/", batches.retry_failed, name="batch-retry"),
    path("queues/", queues.queue_list, name="queues"),
    path("queues/pause/", queues.pause, name="queue-pause"),
    path("queues/resume/", queues.resume, name="queue-resume"),
    path("queues/clear/", queues.clear, name="queue-clear"),
    path("schedule/", schedule.entries, name="schedule"),
    path("schedule/run/", schedule.run_now, name="schedule-run"),
]
