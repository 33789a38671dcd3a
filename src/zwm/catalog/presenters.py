"""JSON-ready views of catalog rows, shared by the CLI (and later the web app's API).

One place decides what a customer "looks like" outside the database, so the client secret
can be left out once and for all: no view here has a field for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zwm.catalog.models import Customer, Linkage, Task, Workflow


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def customer_view(customer: Customer, workflows: int | None = None) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "name": customer.name,
        "environment": customer.environment or None,
        "base_url": customer.base_url or None,
        "client_id": customer.client_id,
        "entity_id": customer.entity_id or None,
        "active": customer.active,
        "workflows": workflows,
        "last_sync_status": customer.last_sync_status or None,
        "last_sync_error": customer.last_sync_error or None,
        "last_synced_at": _iso(customer.last_synced_at),
        "created_at": _iso(customer.created_at),
        "updated_at": _iso(customer.updated_at),
    }


def workflow_view(workflow: Workflow, tasks: int | None = None) -> dict[str, Any]:
    return {
        "id": workflow.pk,
        "customer": workflow.customer.name,
        "zuora_id": workflow.zuora_id,
        "name": workflow.name,
        "description": workflow.description,
        "status": workflow.status,
        "type": workflow.type,
        "version": workflow.version,
        "active_version_id": workflow.active_version_id,
        "ondemand_trigger": workflow.ondemand_trigger,
        "callout_trigger": workflow.callout_trigger,
        "scheduled_trigger": workflow.scheduled_trigger,
        "interval": workflow.interval,
        "timezone": workflow.timezone,
        "priority": workflow.priority,
        "zuora_created_at": _iso(workflow.zuora_created_at),
        "zuora_updated_at": _iso(workflow.zuora_updated_at),
        "last_synced_at": _iso(workflow.last_synced_at),
        "content_hash": workflow.content_hash or None,
        "tasks": tasks,
    }


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk,
        "zuora_task_id": task.zuora_task_id,
        "name": task.name,
        "description": task.description,
        "action_type": task.action_type,
        "object": task.object,
        "object_id": task.object_id,
        "call_type": task.call_type,
        "parent_task_id": task.parent_task_id or None,
        "priority": task.priority,
        "concurrent_limit": task.concurrent_limit,
        "tags": task.tags,
        "assignment": task.assignment,
        "css": task.css,
        "parameters": task.parameters,
        "zuora_org_id": task.zuora_org_id or None,
        "zuora_org_ids": task.zuora_org_ids,
        "subprocess_id": task.subprocess_id or None,
    }


def linkage_view(linkage: Linkage) -> dict[str, Any]:
    return {
        "source_workflow_id": linkage.source_workflow_id or None,
        "source_task_id": linkage.source_task_id or None,
        "target_task_id": linkage.target_task_id,
        "target_workflow_id": linkage.target_workflow_id or None,
        "linkage_type": linkage.linkage_type,
    }
