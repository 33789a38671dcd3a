"""Django admin for the catalog.

Customers are editable through a form that takes a *new* secret in a password field and
never renders the stored one (not even encrypted): the same rules as the CLI, through the
same service functions -- Zuora must accept new or changed credentials before they are
saved (the form shows Zuora's reason otherwise), and a new customer's first sync is queued.
Workflows, tasks, versions and sync runs are written by the sync; the admin shows them
read-only so an edit cannot race a running sync.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from zwm.catalog import models
from zwm.catalog.services.customers import CustomerError, CustomerInput, prepare_customer, queue_first_sync
from zwm.zuora import ENVIRONMENTS


class CustomerForm(forms.ModelForm):  # type: ignore[type-arg]
    environment = forms.ChoiceField(
        required=False,
        choices=[("", "-- custom base URL --"), *((slug, env.name) for slug, env in ENVIRONMENTS.items())],
    )
    new_client_secret = forms.CharField(
        label="Client secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown. Leave empty to keep the current secret.",
    )

    class Meta:
        model = models.Customer
        fields = ("name", "environment", "base_url", "client_id", "entity_id", "active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        secret = data.get("new_client_secret") or None
        if self.instance.pk is None and secret is None:
            self.add_error("new_client_secret", "A new customer needs a client secret.")
            return data
        try:
            prepare_customer(
                self.instance,
                CustomerInput(
                    name=data.get("name", ""),
                    environment=data.get("environment", ""),
                    base_url=data.get("base_url", ""),
                    client_id=data.get("client_id", ""),
                    client_secret=secret,
                    entity_id=data.get("entity_id", ""),
                    active=data.get("active"),
                ),
            )
        except CustomerError as exc:
            raise forms.ValidationError(str(exc)) from None
        for name in (
            "name",
            "environment",
            "base_url",
            "client_id",
            "entity_id",
        ):  # keep the normalised values
            data[name] = getattr(self.instance, name)
        return data


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = CustomerForm
    list_display = ("name", "target", "client_id", "active", "last_sync_status", "last_synced_at")
    list_filter = ("active", "last_sync_status", "environment")
    search_fields = ("name", "client_id")
    readonly_fields = ("last_sync_status", "last_sync_error", "last_synced_at", "created_at", "updated_at")
    fields = (
        "name",
        "environment",
        "base_url",
        "client_id",
        "new_client_secret",
        "entity_id",
        "active",
        *readonly_fields,
    )
    actions = ("queue_sync",)

    def save_model(self, request: HttpRequest, obj: models.Customer, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change and queue_first_sync(obj) is not None:
            self.message_user(request, f"The first sync of {obj.name} is queued.", messages.SUCCESS)

    @admin.action(description="Sync selected customers now")
    def queue_sync(self, request: HttpRequest, queryset: QuerySet[models.Customer]) -> None:
        from zwm.catalog.jobs import dispatch_sync

        queued = sum(1 for customer in queryset if dispatch_sync(customer) is not None)
        self.message_user(request, f"Queued {queued} sync(s) on the high queue.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskInline(admin.TabularInline):  # type: ignore[type-arg]
    model = models.Task
    fields = ("zuora_task_id", "name", "action_type", "object", "call_type", "parent_task_id")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(models.Workflow)
class WorkflowAdmin(ReadOnlyAdmin):
    list_display = ("name", "customer", "zuora_id", "status", "version", "zuora_updated_at", "last_synced_at")
    list_filter = ("customer", "status", "type", "scheduled_trigger", "callout_trigger", "ondemand_trigger")
    search_fields = ("name", "description", "zuora_id")
    list_select_related = ("customer",)
    inlines = (TaskInline,)


@admin.register(models.Task)
class TaskAdmin(ReadOnlyAdmin):
    list_display = ("name", "zuora_task_id", "action_type", "object", "workflow")
    list_filter = ("action_type", "call_type")
    search_fields = ("name", "zuora_task_id", "description")
    list_select_related = ("workflow",)


@admin.register(models.WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdmin):
    list_display = ("workflow", "version", "content_hash", "replaced_at", "sync_run")
    list_select_related = ("workflow",)


@admin.register(models.SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "customer",
        "trigger",
        "status",
        "started_at",
        "finished_at",
        "created",
        "updated",
        "unchanged",
        "deleted",
        "failed",
    )
    list_filter = ("status", "trigger", "customer")
    list_select_related = ("customer",)
