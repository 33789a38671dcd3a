"""Tasks and linkages from a workflow export, stored as rows.

Used by the sync (on a changed export) and by ``zwm sync-tasks`` (re-extraction from the
stored export, no API call). Rows are written in bulk -- one upsert for tasks, one delete
and one insert for linkages -- instead of the original's one ``updateOrCreate`` per task.
Tasks are upserted on (workflow, Zuora task id) so a task keeps its primary key across
syncs; tasks gone from the export are deleted. The caller holds the transaction.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection

from zwm.catalog.models import Linkage, Task, Workflow
from zwm.zuora import ExportTask, WorkflowExport

_TASK_FIELDS = [
    "name",
    "description",
    "action_type",
    "object",
    "object_id",
    "call_type",
    "parent_task_id",
    "priority",
    "concurrent_limit",
    "parameters",
    "css",
    "tags",
    "assignment",
    "zuora_org_id",
    "zuora_org_ids",
    "subprocess_id",
    "updated_at",
]
_WHERE_PREVIEW = 50
_BATCH = 500


def summarize(task: ExportTask) -> str:
    """A one-line description: type, object, call type, e-mail subject, query preview."""
    parts = []
    if task.action_type:
        parts.append(f"Type: {task.action_type}")
    if task.object:
        parts.append(f"Object: {task.object}")
    if task.call_type:
        parts.append(f"Call: {task.call_type}")
    email = task.parameters.get("email")
    if isinstance(email, dict) and isinstance(email.get("subject"), str) and email["subject"]:
        parts.append(f"Subject: {email['subject']}")
    where = task.parameters.get("where_clause")
    if isinstance(where, str) and where:
        parts.append(f"Where: {where[:_WHERE_PREVIEW]}{'...' if len(where) > _WHERE_PREVIEW else ''}")
    return " | ".join(parts)


def _plain(value: Any) -> Any:
    """JSON-ready copies of the client's read-only mappings and tuples."""
    return json.loads(json.dumps(value, default=lambda o: dict(o) if hasattr(o, "keys") else list(o)))


def task_row(workflow: Workflow, task: ExportTask) -> Task:
    return Task(
        workflow=workflow,
        zuora_task_id=task.id,
        name=task.name,
        description=summarize(task),
        action_type=task.action_type or "",
        object=task.object or "",
        object_id=task.object_id or "",
        call_type=task.call_type or "",
        parent_task_id=task.parent_task_id or "",
        priority=task.priority or "",
        concurrent_limit=task.concurrent_limit,
        parameters=_plain(task.parameters),
        css=_plain(task.css),
        tags=list(task.tags),
        assignment=_plain(list(task.assignment)),
        zuora_org_id=task.zuora_org_id or "",
        zuora_org_ids=list(task.zuora_org_ids),
        subprocess_id=task.subprocess_id or "",
    )


def store_graph(workflow: Workflow, export: WorkflowExport) -> int:
    """Make ``workflow``'s task and linkage rows match ``export``; returns the task count.

    Call inside a transaction: a half-written graph must never be visible.
    """
    tasks: dict[str, Task] = {}
    for task in export.tasks:
        tasks[task.id] = task_row(workflow, task)  # a repeated id: the last one wins, as in Zuora's UI
    unique_fields = (
        ["workflow", "zuora_task_id"] if connection.features.supports_update_conflicts_with_target else None
    )
    if tasks:
        Task.objects.bulk_create(
            list(tasks.values()),
            batch_size=_BATCH,
            update_conflicts=True,
            unique_fields=unique_fields,
            update_fields=_TASK_FIELDS,
        )
    Task.objects.filter(workflow=workflow).exclude(zuora_task_id__in=list(tasks)).delete()
    Linkage.objects.filter(workflow=workflow).delete()
    Linkage.objects.bulk_create(
        [
            Linkage(
                workflow=workflow,
                source_workflow_id=link.source_workflow_id or "",
                source_task_id=link.source_task_id or "",
                target_task_id=link.target_task_id,
                target_workflow_id=link.target_workflow_id or "",
                linkage_type=link.linkage_type,
            )
            for link in export.linkages
        ],
        batch_size=_BATCH,
    )
    return len(tasks)


def parse_stored_export(workflow: Workflow) -> WorkflowExport | None:
    """The stored export parsed again (None when none is stored); ZuoraInvalidResponseError if broken."""
    if workflow.export_json is None:
        return None
    return WorkflowExport.from_json(json.loads(workflow.export_json))
