"""What a task shows, computed once in Python: the task page renders it with a template, the
workflow page ships it as JSON so the side panel opens without asking the server (and
without rendering 300 panels server-side that nobody may open)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils import timezone

from zwm.catalog.models import Task


def pretty_json(value: Any) -> str:
    """Indented JSON of a stored value, as text (escaped wherever it is shown)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def task_card(task: Task) -> dict[str, Any]:
    css = task.css if isinstance(task.css, dict) else {}
    return {
        "id": task.pk,
        "title": task.name or task.zuora_task_id,
        "url": reverse("web:task-detail", args=[task.pk]),
        "facts": [
            ["Task ID", task.zuora_task_id],
            ["Action type", task.action_type],
            ["Priority", task.priority],
            ["Object", task.object],
            ["Object ID", task.object_id],
            ["Call type", task.call_type],
            ["Parent task", task.parent_task_id],
            ["Concurrent limit", "" if task.concurrent_limit is None else str(task.concurrent_limit)],
            ["Position (CSS)", f"top {css.get('top', '?')}, left {css.get('left', '?')}"],
            ["First stored here", _when(task.created_at)],
            ["Updated here", _when(task.updated_at)],
        ],
        "tags": [str(tag) for tag in task.tags] if isinstance(task.tags, list) else [],
        "description": task.description,
        "parameters": pretty_json(task.parameters),
        "assignment": pretty_json(task.assignment),
    }
