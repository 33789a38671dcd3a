"""Tables of the catalog: customers (Zuora tenants), workflows, tasks, linkages, versions, sync runs.

Design points, each fixing something the original application got wrong:

* A customer's name is unique (the CLI finds customers by name) and its environment is a
  stable slug or a validated custom base URL -- never a free URL to a host that does not exist.
* The client secret is stored only encrypted (:mod:`zwm.catalog.crypto`) in
  ``client_secret_encrypted``; :attr:`Customer.client_secret` decrypts on demand and nothing
  (``repr``, ``str``, admin, CLI, JSON) ever prints it.
* A workflow is unique per (customer, Zuora id) -- not globally, since two tenants can share
  an id -- and keeps *every* definition field, not five of them.
* The export is kept as the canonical JSON text Zuora's content hash is computed over, so
  change detection compares one column; the previous export survives in
  :class:`WorkflowVersion` when it changes.
* Tasks are unique per (workflow, Zuora task id) in the schema, not only by convention, and
  linkages are rows, so the graph needs no JSON digging.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from zwm.catalog import crypto


class Customer(models.Model):
    """A Zuora tenant we catalog: where it lives and the OAuth client we sign in with."""

    name = models.CharField(max_length=150, unique=True)
    environment = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Slug of a Zuora environment (zwm.zuora.ENVIRONMENTS).",
    )
    base_url = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="Custom REST base URL, used when no environment is set.",
    )
    client_id = models.CharField(max_length=255)
    client_secret_encrypted = models.TextField(help_text="Fernet token of the client secret; never shown.")
    entity_id = models.CharField(max_length=64, blank=True, default="")
    active = models.BooleanField(default=True, help_text="Inactive customers are left out of 'sync all'.")
    last_sync_status = models.CharField(max_length=20, blank=True, default="")
    last_sync_error = models.TextField(blank=True, default="")
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "catalog_customers"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Customer {self.pk}: {self.name}>"

    @property
    def client_secret(self) -> str:
        """The decrypted client secret (raises :class:`crypto.SecretDecryptionError`)."""
        return crypto.decrypt(self.client_secret_encrypted)

    @client_secret.setter
    def client_secret(self, value: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(value)

    @property
    def target(self) -> str:
        """What to show for "where": the environment slug or the custom base URL."""
        return self.environment or self.base_url


class Workflow(models.Model):
    """One workflow definition of a customer, with its current export."""

    # No index of its own: the unique (customer, zuora_id) index serves lookups by customer.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="workflows", db_index=False)
    zuora_id = models.CharField(max_length=64, help_text="Zuora workflow definition id.")
    name = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=32, blank=True, default="")
    type = models.CharField(max_length=64, blank=True, default="")
    version = models.CharField(max_length=32, blank=True, default="")
    active_version_id = models.CharField(max_length=64, blank=True, default="")
    ondemand_trigger = models.BooleanField(default=False)
    callout_trigger = models.BooleanField(default=False)
    scheduled_trigger = models.BooleanField(default=False)
    interval = models.CharField(max_length=100, blank=True, default="")
    timezone = models.CharField(max_length=100, blank=True, default="")
    priority = models.CharField(max_length=32, blank=True, default="")
    zuora_created_at = models.DateTimeField(null=True, blank=True)
    zuora_updated_at = models.DateTimeField(null=True, blank=True)
    inactive_versions = models.JSONField(
        default=list, blank=True, help_text="Zuora's latest inactive versions."
    )
    export_json = models.TextField(
        null=True, blank=True, help_text="Canonical JSON of the active version's export."
    )
    content_hash = models.CharField(max_length=64, blank=True, default="", help_text="sha256 of export_json.")
    exported_version_id = models.CharField(max_length=64, blank=True, default="")
    exported_at = models.DateTimeField(
        null=True, blank=True, help_text="When the export was last downloaded (and compared)."
    )
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "catalog_workflows"
        ordering = ["customer_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "zuora_id"], name="catalog_workflow_customer_zuora_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["zuora_id"], name="catalog_workflow_zuora_idx"),
            models.Index(fields=["customer", "name"], name="catalog_workflow_name_idx"),
            models.Index(fields=["status"], name="catalog_workflow_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.zuora_id})"

    @property
    def export(self) -> dict[str, Any] | None:
        """The stored export, decoded (None when no export has been downloaded yet)."""
        return None if self.export_json is None else json.loads(self.export_json)


class Task(models.Model):
    """One task of a workflow's exported version."""

    # No index of its own: the unique (workflow, zuora_task_id) index serves lookups by workflow.
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="tasks", db_index=False)
    zuora_task_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True, default="")
    description = models.TextField(
        blank=True, default="", help_text="A one-line summary built from the task."
    )
    action_type = models.CharField(max_length=100, blank=True, default="")
    object = models.CharField(max_length=255, blank=True, default="")
    object_id = models.CharField(max_length=255, blank=True, default="")
    call_type = models.CharField(max_length=64, blank=True, default="")
    parent_task_id = models.CharField(
        max_length=64, blank=True, default="", help_text="Zuora's task_id: the primary upstream task."
    )
    priority = models.CharField(max_length=32, blank=True, default="")
    concurrent_limit = models.IntegerField(null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    css = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    assignment = models.JSONField(default=list, blank=True)
    zuora_org_id = models.CharField(max_length=64, blank=True, default="")
    zuora_org_ids = models.JSONField(default=list, blank=True)
    subprocess_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "catalog_tasks"
        ordering = ["workflow_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "zuora_task_id"], name="catalog_task_workflow_zuora_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["zuora_task_id"], name="catalog_task_zuora_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.zuora_task_id})"


class Linkage(models.Model):
    """One edge of a workflow's task graph (``source_task_id`` empty on the entry edge)."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="linkages")
    source_workflow_id = models.CharField(max_length=64, blank=True, default="")
    source_task_id = models.CharField(max_length=64, blank=True, default="")
    target_task_id = models.CharField(max_length=64)
    target_workflow_id = models.CharField(max_length=64, blank=True, default="")
    linkage_type = models.CharField(max_length=100)

    class Meta:
        db_table = "catalog_linkages"
        ordering = ["workflow_id", "id"]

    def __str__(self) -> str:
        return f"{self.source_task_id or 'start'} -[{self.linkage_type}]-> {self.target_task_id}"


class SyncRun(models.Model):
    """One synchronisation of one customer: what triggered it, how it went, what it changed."""

    class Trigger(models.TextChoices):
        UI = "ui"
        SCHEDULE = "schedule"
        CLI = "cli"

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial"
        """Finished, but some workflows could not be exported (their warnings say why)."""
        FAILED = "failed"
        SKIPPED = "skipped"
        """Not run: another sync of the customer was running (``error`` names it)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    full = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    listed = models.IntegerField(default=0, help_text="Workflows Zuora listed.")
    exported = models.IntegerField(default=0, help_text="Exports downloaded.")
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    failed = models.IntegerField(default=0, help_text="Workflows skipped with a warning.")
    verified = models.IntegerField(
        default=0, help_text="Workflows re-exported to verify them (their listing showed no change)."
    )
    withheld = models.IntegerField(
        default=0,
        help_text="Workflows missing from the listing but not deleted: more than ZWM_SYNC_MAX_DELETE_PERCENT "
        "of the catalog (a full sync, after confirmation, may delete them).",
    )
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "catalog_sync_runs"
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-started_at"], name="catalog_syncrun_customer_idx"),
            models.Index(fields=["finished_at"], name="catalog_syncrun_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"sync #{self.pk} of {self.customer_id} ({self.status})"

    def counts(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "exported": self.exported,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "failed": self.failed,
            "verified": self.verified,
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no secrets here: runs hold counts and messages only)."""
        return {
            "id": self.pk,
            "customer": self.customer.name,
            "trigger": self.trigger,
            "full": self.full,
            "status": self.status,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            **self.counts(),
            "withheld": self.withheld,
            "warnings": list(self.warnings),
            "error": self.error,
        }


class WorkflowVersion(models.Model):
    """An export that was replaced: kept so users can see what changed, and when."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=32, blank=True, default="")
    exported_version_id = models.CharField(max_length=64, blank=True, default="")
    export_json = models.TextField()
    content_hash = models.CharField(max_length=64)
    zuora_updated_at = models.DateTimeField(null=True, blank=True)
    replaced_at = models.DateTimeField()
    sync_run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        db_table = "catalog_workflow_versions"
        ordering = ["workflow_id", "-replaced_at", "-id"]
        indexes = [models.Index(fields=["workflow", "-replaced_at"], name="catalog_wfversion_idx")]

    def __str__(self) -> str:
        return f"{self.workflow_id} v{self.version or '?'} replaced {self.replaced_at:%Y-%m-%d %H:%M}"


class StoredToken(models.Model):
    """An OAuth token shared by every process (see :mod:`zwm.catalog.token_cache`); encrypted."""

    key = models.CharField(max_length=191, primary_key=True)
    token_encrypted = models.TextField()
    expires_at = models.FloatField(help_text="Epoch seconds.")
    refresh_at = models.FloatField(help_text="Epoch seconds.")

    class Meta:
        db_table = "catalog_zuora_tokens"

    def __str__(self) -> str:
        return self.key


class SyncLock(models.Model):
    """Held while a sync of the customer runs, by whichever process runs it (see
    :mod:`zwm.catalog.services.sync_lock`): one sync per customer at a time, everywhere."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="+")
    run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    owner = models.CharField(max_length=32)
    expires_at = models.FloatField(
        help_text="Epoch seconds; an expired lock (its process died) is taken over."
    )

    class Meta:
        db_table = "catalog_sync_locks"

    def __str__(self) -> str:
        return f"sync lock of {self.customer_id} (run {self.run_id})"


class TokenLock(models.Model):
    """A cross-process lock row: held while one process requests a token for a credential."""

    key = models.CharField(max_length=191, primary_key=True)
    owner = models.CharField(max_length=32)
    expires_at = models.FloatField(help_text="Epoch seconds; an expired lock may be taken over.")

    class Meta:
        db_table = "catalog_zuora_token_locks"

    def __str__(self) -> str:
        return self.key
