"""Tasks and linkages from a workflow export, stored as rows.

Used by the sync (on a changed export) and by ``zwm sync-tasks`` (re-extraction from the
stored export, no API call). Tasks keep their primary key while their Zuora id stays in the
export (a link to a task survives a re-sync); tasks gone from the export are deleted;
linkages, which have no identity of their own, are replaced.

Rows are written by :mod:`zwm.catalog.services.bulk` -- a few multi-row statements for
many tasks -- rather than through model instances: on a sync of thousands of workflows,
building and adapting one ORM object per task cost more than the database itself
(profiled: ~80% of a first sync), and that CPU competes for the GIL with the threads
downloading exports. Values are adapted by Django's own field code, so JSON columns get
what each backend expects. The caller holds the transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from zwm.catalog.models import Linkage, Task, Workflow
from zwm.catalog.services.bulk import insert_rows
from zwm.catalog.services.columns import text_limits
from zwm.zuora import ExportTask, WorkflowExport
from zwm.zuora import Linkage as ZuoraLinkage

_WHERE_PREVIEW = 50
_TASK_COLUMNS = (
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
)
_JSON_COLUMNS = frozenset({"parameters", "css", "tags", "assignment", "zuora_org_ids"})
_LINKAGE_COLUMNS = (
    "workflow_id",
    "source_workflow_id",
    "source_task_id",
    "target_task_id",
    "target_workflow_id",
    "linkage_type",
)


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
    if isinstance(email, Mapping) and isinstance(email.get("subject"), str) and email["subject"]:
        parts.append(f"Subject: {email['subject']}")
    where = task.parameters.get("where_clause")
    if isinstance(where, str) and where:
        parts.append(f"Where: {where[:_WHERE_PREVIEW]}{'...' if len(where) > _WHERE_PREVIEW else ''}")
    return " | ".join(parts)


class _JsonAdapter:
    """The backend's JSON adaptation of a task's containers, for one batch of rows.

    Most tasks have no tags, assignment or org ids: their empty containers are adapted once
    per batch, not once per task. Containers go to the backend as they are (JSON encodes a
    tuple as an array), so no copy is made -- the values stored are the same.
    """

    def __init__(self) -> None:
        self._adapt = connection.ops.adapt_json_value
        self._empty_list = self._adapt([], None)
        self._empty_object = self._adapt({}, None)

    def __call__(self, value: Mapping[str, Any] | Sequence[Any]) -> Any:
        if not value:
            return self._empty_object if isinstance(value, Mapping) else self._empty_list
        return self._adapt(value if isinstance(value, dict | tuple | list) else dict(value), None)


def _task_values(task: ExportTask, now: Any, adapt: Callable[[Any], Any]) -> list[Any]:
    """The values of ``_TASK_COLUMNS``, in that order (``now`` already a database value),
    text cut to its column (see :mod:`.columns`; :func:`overlong_fields` names what was cut)."""
    values = _uncut_task_values(task, now, adapt)
    for index, limit in _TASK_CUTS:
        if len(values[index]) > limit:
            values[index] = values[index][:limit]
    return values


def _uncut_task_values(task: ExportTask, now: Any, adapt: Callable[[Any], Any]) -> list[Any]:
    return [
        task.name,
        summarize(task),
        task.action_type or "",
        task.object or "",
        task.object_id or "",
        task.call_type or "",
        task.parent_task_id or "",
        task.priority or "",
        task.concurrent_limit,
        adapt(task.parameters),
        adapt(task.css),
        adapt(task.tags),
        adapt(task.assignment),
        task.zuora_org_id or "",
        adapt(task.zuora_org_ids),
        task.subprocess_id or "",
        now,
    ]


_TASK_LIMITS = text_limits(Task, (*_TASK_COLUMNS, "zuora_task_id"))
_TASK_CUTS = tuple((i, _TASK_LIMITS[c]) for i, c in enumerate(_TASK_COLUMNS) if c in _TASK_LIMITS)
_TASK_ID_LIMIT = _TASK_LIMITS["zuora_task_id"]
_LINK_LIMITS = text_limits(Linkage, _LINKAGE_COLUMNS)
_LINK_CUTS = tuple((i, _LINK_LIMITS[c]) for i, c in enumerate(_LINKAGE_COLUMNS) if c in _LINK_LIMITS)


def overlong_fields(export: WorkflowExport) -> list[str]:
    """What of ``export`` is too long for its column and is stored cut, e.g.
    ``"task 12: name, object"`` -- for a warning; empty for any ordinary export."""
    found = []
    for task in export.tasks:
        values = _uncut_task_values(task, None, lambda value: None)
        names = [_TASK_COLUMNS[i] for i, limit in _TASK_CUTS if len(values[i]) > limit]
        names += ["id"] if len(task.id) > _TASK_ID_LIMIT else []
        if names:
            found.append(f"task {task.id[:_TASK_ID_LIMIT]}: {', '.join(names)}")
    for index, link in enumerate(export.linkages):
        row = _link_row(0, link)
        names = [_LINKAGE_COLUMNS[i] for i, limit in _LINK_CUTS if len(row[i]) > limit]
        if names:
            found.append(f"linkage #{index}: {', '.join(names)}")
    return found


def _db_now() -> Any:
    now: datetime = timezone.now()
    return Task._meta.get_field("updated_at").get_db_prep_save(now, connection)


_INSERT_TASK_COLUMNS = (*_TASK_COLUMNS, "created_at", "workflow_id", "zuora_task_id")
_PG_TYPES = {
    "concurrent_limit": "int4",
    "updated_at": "timestamptz",
    "created_at": "timestamptz",
    "workflow_id": "int8",
}
_TASK_TYPES = tuple(_PG_TYPES.get(c, "jsonb" if c in _JSON_COLUMNS else "text") for c in _INSERT_TASK_COLUMNS)
"""PostgreSQL types of ``_INSERT_TASK_COLUMNS``, for a binary COPY."""
_LINKAGE_TYPES = ("int8", "text", "text", "text", "text", "text")


def _link_row(workflow_id: int, link: ZuoraLinkage) -> list[Any]:
    return [
        workflow_id,
        link.source_workflow_id or "",
        link.source_task_id or "",
        link.target_task_id,
        link.target_workflow_id or "",
        link.linkage_type,
    ]


def _fitted_link_row(workflow_id: int, link: ZuoraLinkage) -> list[Any]:
    row = _link_row(workflow_id, link)
    for index, limit in _LINK_CUTS:
        if len(row[index]) > limit:
            row[index] = row[index][:limit]
    return row


def insert_graphs(graphs: Sequence[tuple[int, WorkflowExport]]) -> None:
    """Insert the tasks and linkages of workflows that have none yet (just created), all at once.

    Many small workflows become a few large statements: the first sync of a big catalog
    writes a statement per hundred tasks instead of several per workflow.
    """
    now = _db_now()
    adapt = _JsonAdapter()
    task_rows: list[list[Any]] = []
    link_rows: list[list[Any]] = []
    for workflow_id, export in graphs:
        tasks = {task.id[:_TASK_ID_LIMIT]: task for task in export.tasks}  # a repeated id: the last one wins
        task_rows.extend([*_task_values(t, now, adapt), now, workflow_id, i] for i, t in tasks.items())
        link_rows.extend(_fitted_link_row(workflow_id, link) for link in export.linkages)
    insert_rows(Task._meta.db_table, _INSERT_TASK_COLUMNS, task_rows, types=_TASK_TYPES)
    insert_rows(Linkage._meta.db_table, _LINKAGE_COLUMNS, link_rows, types=_LINKAGE_TYPES)


def store_graph(workflow: Workflow, export: WorkflowExport) -> int:
    """Make ``workflow``'s task and linkage rows match ``export``; returns the task count.

    Call inside a transaction: a half-written graph must never be visible.
    """
    now = _db_now()
    adapt = _JsonAdapter()
    tasks = {task.id[:_TASK_ID_LIMIT]: task for task in export.tasks}  # a repeated id: the last one wins
    existing = dict(Task.objects.filter(workflow=workflow).values_list("zuora_task_id", "pk"))
    inserts = [
        [*_task_values(t, now, adapt), now, workflow.pk, i] for i, t in tasks.items() if i not in existing
    ]
    updates = [[*_task_values(t, now, adapt), existing[i]] for i, t in tasks.items() if i in existing]
    gone = [pk for zuora_id, pk in existing.items() if zuora_id not in tasks]
    with connection.cursor() as cursor:
        if gone:
            Task.objects.filter(pk__in=gone).delete()
        if updates:
            quote = connection.ops.quote_name
            assignments = ", ".join(f"{quote(c)} = %s" for c in _TASK_COLUMNS)
            cursor.executemany(
                f"UPDATE {quote(Task._meta.db_table)} SET {assignments} WHERE id = %s",  # noqa: S608 -- as above
                updates,
            )
    insert_rows(Task._meta.db_table, _INSERT_TASK_COLUMNS, inserts, types=_TASK_TYPES)
    Linkage.objects.filter(workflow=workflow).delete()
    links = [_fitted_link_row(workflow.pk, link) for link in export.linkages]
    insert_rows(Linkage._meta.db_table, _LINKAGE_COLUMNS, links, types=_LINKAGE_TYPES)
    return len(tasks)


def parse_stored_export(workflow: Workflow) -> WorkflowExport | None:
    """The stored export parsed again (None when none is stored); ZuoraInvalidResponseError if broken."""
    if workflow.export_json is None:
        return None
    return WorkflowExport.from_json(json.loads(workflow.export_json))
