"""Tables of the job system.

Two kinds of time live here, on purpose:

* Times that drive *reservation* (``available_at``, ``lease_expires_at``, a unique lock's
  ``expires_at``) are epoch seconds in a DOUBLE column: the hot queries compare them with
  one number, with no time-zone conversion and no backend-specific datetime arithmetic.
* Times shown to people (history, failures, batches, workers) are aware datetimes, so the
  admin, the dashboard and SQL consoles read them naturally.

A waiting job, a job held under a lease and a job whose lease lapsed are one row in
``jobs``: reserving a job moves its ``available_at`` to the end of the lease, so "may be
taken now" is always ``available_at <= now`` and one index serves fresh jobs and jobs to
rescue from dead workers alike.
"""

from __future__ import annotations

from django.db import models


class QueuedJob(models.Model):
    """A job waiting, delayed or reserved (the seed's ``jobs`` table; "Jobs Waiting")."""

    id = models.BigAutoField(primary_key=True)
    uuid = models.CharField(max_length=32, unique=True)
    queue = models.CharField(max_length=100)  # indexed first in jobs_reserve_idx
    job_class = models.CharField(max_length=255)
    payload = models.TextField(help_text="The job's Envelope as JSON.")
    attempts = models.IntegerField(
        default=0,
        help_text="Tries used: counted at reserve, not counted again when a lost worker's job is recovered.",
    )
    recoveries = models.IntegerField(
        db_default=0, help_text="Times the job was recovered from a worker that was lost while holding it."
    )
    available_at = models.FloatField(
        help_text="Epoch seconds from which the job may be reserved; for a reserved job, its lease end."
    )
    reserved_at = models.FloatField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, null=True, blank=True)
    lease_expires_at = models.FloatField(null=True, blank=True)
    created_at = models.FloatField()

    class Meta:
        db_table = "jobs"
        verbose_name = "queued job"
        # Reservation: the next jobs of one queue with available_at <= now, oldest first.
        # Because a lease moves available_at to its end, lapsed leases are found through the
        # same index -- no index of their own. Every index here is written by each push,
        # reserve and acknowledgement, so there is deliberately no other.
        indexes = [models.Index(fields=["queue", "available_at", "id"], name="jobs_reserve_idx")]

    def __str__(self) -> str:
        return f"{self.job_class} [{self.queue}] {self.uuid}"


class UniqueLock(models.Model):
    """Held while a unique job waits or runs; expires so a crashed worker's lock frees itself."""

    key = models.CharField(max_length=191, primary_key=True)
    owner = models.CharField(max_length=32, help_text="uuid of the job holding the lock.")
    expires_at = models.FloatField(help_text="Epoch seconds.")

    class Meta:
        db_table = "job_unique_locks"

    def __str__(self) -> str:
        return self.key


class FailedJob(models.Model):
    """A job that failed for good, kept until retried, forgotten or pruned."""

    id = models.BigAutoField(primary_key=True)
    uuid = models.CharField(max_length=32, unique=True)
    connection = models.CharField(max_length=100)
    queue = models.CharField(max_length=100, db_index=True)
    job_class = models.CharField(max_length=255, db_index=True)
    payload = models.TextField()
    exception_type = models.CharField(max_length=255, blank=True, default="")
    exception_message = models.TextField(blank=True, default="")
    exception_traceback = models.TextField(blank=True, default="")
    failed_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "failed_jobs"
        ordering = ["-failed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.job_class} failed {self.uuid}"


class JobExecution(models.Model):
    """One execution (attempt) of a job: the dashboard's "Jobs" table."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        RELEASED = "released"
        TIMED_OUT = "timed_out"

    id = models.BigAutoField(primary_key=True)
    job_uuid = models.CharField(max_length=32, db_index=True)
    job_class = models.CharField(max_length=255, db_index=True)
    queue = models.CharField(max_length=100, db_index=True)
    connection = models.CharField(max_length=100)
    attempt = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    worker_host = models.CharField(max_length=255, blank=True, default="")
    worker_pid = models.IntegerField(null=True, blank=True)
    reserved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    duration_ms = models.FloatField(null=True, blank=True)
    progress = models.IntegerField(null=True, blank=True, help_text="0-100, reported by the job.")
    exception_message = models.TextField(blank=True, default="")
    batch_id = models.CharField(max_length=36, null=True, blank=True, db_index=True)
    wait_ms = models.FloatField(
        null=True,
        blank=True,
        help_text="First attempts: milliseconds from dispatch to reservation (a dispatch delay included).",
    )

    class Meta:
        db_table = "job_history"
        verbose_name = "job execution"
        indexes = [models.Index(fields=["started_at"], name="job_history_started_idx")]

    def __str__(self) -> str:
        return f"{self.job_class} #{self.attempt} {self.status}"


class JobBatch(models.Model):
    """A batch of related jobs with ``then``/``catch``/``finally`` callbacks (Laravel's columns)."""

    id = models.CharField(max_length=36, primary_key=True)
    name = models.CharField(max_length=255, blank=True, default="")
    total_jobs = models.IntegerField(default=0)
    pending_jobs = models.IntegerField(default=0)
    failed_jobs = models.IntegerField(default=0)
    failed_job_ids = models.JSONField(default=list)
    options = models.JSONField(
        default=dict, help_text="Callbacks as envelopes, allow_failures, queue, connection."
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "job_batches"
        verbose_name_plural = "job batches"

    def __str__(self) -> str:
        return self.name or self.id


class Worker(models.Model):
    """A worker process, kept up to date by its heartbeat."""

    class Status(models.TextChoices):
        STARTING = "starting"
        IDLE = "idle"
        BUSY = "busy"
        STOPPING = "stopping"
        STOPPED = "stopped"

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=255, db_index=True, help_text="host:pid")
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    connection = models.CharField(max_length=100)
    queues = models.CharField(max_length=1000, help_text="Comma-separated, in priority order.")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    started_at = models.DateTimeField()
    last_heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    jobs_processed = models.IntegerField(default=0)
    jobs_failed = models.IntegerField(default=0)
    current_job_uuid = models.CharField(max_length=32, null=True, blank=True)

    class Meta:
        db_table = "job_queue_workers"

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class QueueSignal(models.Model):
    """A named flag workers poll cheaply, e.g. ``restart`` set by ``queue:restart``."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.FloatField(help_text="Epoch seconds when the signal was raised.")

    class Meta:
        db_table = "job_signals"

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class ScheduledRun(models.Model):
    """One fired slot of a schedule entry; unique, so no slot ever fires twice."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=100)
    scheduled_for = models.DateTimeField(help_text="The cron slot this run fired for.")
    fired_at = models.DateTimeField(auto_now_add=True)
    job_id = models.CharField(max_length=32, blank=True, default="")
    pushed = models.BooleanField(
        default=True,
        help_text="False while the job of a claim on a queue outside the database is not known to be pushed.",
    )

    class Meta:
        db_table = "job_schedule_runs"
        constraints = [
            models.UniqueConstraint(fields=["name", "scheduled_for"], name="job_schedule_runs_slot_uniq")
        ]
        indexes = [
            models.Index(fields=["scheduled_for"], name="job_schedule_runs_when_idx"),
            models.Index(fields=["pushed", "fired_at"], name="job_schedule_runs_push_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.scheduled_for:%Y-%m-%d %H:%M}"


class PausedQueue(models.Model):
    """A queue workers of the database connection skip until it is resumed (``queue:pause``).

    The Redis connection keeps the same flag in Redis (a set), next to its queues, so a
    pause always lives where the queue lives.
    """

    name = models.CharField(max_length=100, primary_key=True)
    paused_at = models.DateTimeField()

    class Meta:
        db_table = "job_paused_queues"

    def __str__(self) -> str:
        return self.name


class ChartBucket(models.Model):
    """The dashboard's chart figures of one time bucket that is over, computed once from
    execution history when first asked for and kept, so a seven-day chart re-reads only
    the buckets still filling (see :mod:`zwm.queue.charts`)."""

    step = models.IntegerField(help_text="Seconds per bucket.")
    bucket = models.BigIntegerField(help_text="Bucket number: its start in epoch seconds / step.")
    succeeded = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    runtime_p50 = models.FloatField(null=True)
    runtime_p95 = models.FloatField(null=True)
    wait_p50 = models.FloatField(null=True)
    wait_p95 = models.FloatField(null=True)

    class Meta:
        db_table = "job_chart_buckets"
        constraints = [models.UniqueConstraint(fields=["step", "bucket"], name="job_chart_buckets_uniq")]

    def __str__(self) -> str:
        return f"{self.step}s #{self.bucket}"
