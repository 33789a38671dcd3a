"""Workflows: the searchable list, and the detail page (fields, tasks, graph, JSON, versions)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.contrib import messages
from django.db.models import Count, Func, IntegerField, OuterRef, Q, Subquery, Value
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from zwm.catalog.models import Customer, Task, Workflow, WorkflowVersion
from zwm.catalog.services import NoStoredExport, reextract_tasks
from zwm.web.graph import build_graph
from zwm.web.listing import listing
from zwm.web.roles import Role, require_role
from zwm.web.taskcard import task_card
from zwm.web.views.filters import as_id, choice_param, int_param
from zwm.zuora import ZuoraInvalidResponseError

WORKFLOW_SORTS = {
    "name": "name",
    "customer": "customer__name",
    "zuora_id": "zuora_id",
    "status": "status",
    "tasks": "task_count",
    "last_synced": "last_synced_at",
}
TRIGGERS = {"ondemand": "ondemand_trigger", "callout": "callout_trigger", "scheduled": "scheduled_trigger"}


def _distinct(field: str) -> list[str]:
    return sorted(v for v in Workflow.objects.order_by().values_list(field, flat=True).distinct() if v)


@require_role(Role.VIEWER)
def workflow_list(request: HttpRequest) -> HttpResponse:
    workflows = Workflow.objects.select_related("customer").only(
        "pk", "name", "zuora_id", "status", "type", "last_synced_at", "customer__name", "customer__id"
    )
    if query := request.GET.get("q", "").strip():
        workflows = workflows.filter(Q(name__icontains=query) | Q(zuora_id__iexact=query))
    customer_id = int_param(request, "customer")
    if customer_id is not None:
        workflows = workflows.filter(customer_id=customer_id)
    statuses, types = _distinct("status"), _distinct("type")
    if status := choice_param(request, "state", statuses):
        workflows = workflows.filter(status=status)
    if kind := choice_param(request, "type", types):
        workflows = workflows.filter(type=kind)
    if trigger := choice_param(request, "trigger", list(TRIGGERS)):
        workflows = workflows.filter(**{TRIGGERS[trigger]: True})
    by_tasks = request.GET.get("sort", "").removeprefix("-") == "tasks"
    if by_tasks:  # counting every workflow's tasks is the slow path: only when sorting by it
        workflows = workflows.annotate(task_count=_task_count_subquery())
    page = listing(request, workflows, sorts=WORKFLOW_SORTS, default_sort="name")
    if not by_tasks:
        _attach_task_counts(list(page.page.object_list))
    context = {
        "listing": page,
        "q": query,
        "customers": Customer.objects.order_by("name").only("pk", "name"),
        "statuses": statuses,
        "types": types,
        "triggers": list(TRIGGERS),
        "selected": {"customer": customer_id, "state": status, "type": kind, "trigger": trigger},
    }
    return render(request, "web/workflows/list.html", context)


def _task_count_subquery() -> Subquery:
    """Each workflow's task count as a correlated ``SELECT COUNT(1)``: an index-only range per
    workflow on (workflow, zuora_task_id). ``Count()`` here would count ``id`` (read from every
    task row) and group; at 500,000 tasks this is several times faster than either."""
    count = Func(Value(1), function="COUNT", output_field=IntegerField())
    return Subquery(Task.objects.filter(workflow=OuterRef("pk")).order_by().annotate(n=count).values("n"))


def _attach_task_counts(workflows: list[Workflow]) -> None:
    """``task_count`` on each workflow of one page, in one query."""
    counts = dict(
        Task.objects.filter(workflow_id__in=[w.pk for w in workflows])
        .order_by()
        .values_list("workflow_id")
        .annotate(n=Count("*"))
        .values_list("workflow_id", "n")
    )
    for workflow in workflows:
        workflow.task_count = counts.get(workflow.pk, 0)  # type: ignore[attr-defined]


def _workflow(pk: int) -> Workflow:
    return get_object_or_404(Workflow.objects.select_related("customer"), pk=pk)


def _pretty(export_json: str) -> str:
    """An export pretty-printed for reading and diffing (stored text as is if it is not JSON)."""
    try:
        return json.dumps(json.loads(export_json), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return export_json


@require_role(Role.VIEWER)
def workflow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = _workflow(pk)
    tasks = list(workflow.tasks.all())
    graph = build_graph(tasks, workflow.linkages.all())
    versions = list(
        WorkflowVersion.objects.filter(workflow=workflow).only("pk", "version", "replaced_at", "content_hash")
    )
    context = {
        "workflow": workflow,
        "tasks": tasks,
        "task_cards": {task.pk: task_card(task) for task in tasks},
        "graph": graph.elements(),
        "export_pretty": _pretty(workflow.export_json) if workflow.export_json else "",
        "versions": versions,
    }
    return render(request, "web/workflows/detail.html", context)


@require_role(Role.VIEWER)
def workflow_download(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = _workflow(pk)
    if not workflow.export_json:
        raise Http404("this workflow has no export yet")
    response = HttpResponse(_pretty(workflow.export_json), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{workflow.name or workflow.zuora_id}.json"
    )
    return response


def _version_text(workflow: Workflow, key: str) -> tuple[str, str] | None:
    """(label, pretty export) of ``current`` or a stored version's id; None if unknown."""
    if key == "current":
        return (f"current (v{workflow.version or '?'})", _pretty(workflow.export_json or ""))
    pk = as_id(key)
    if pk is None:
        return None
    version = WorkflowVersion.objects.filter(workflow=workflow, pk=pk).first()
    if version is None:
        return None
    label = f"v{version.version or '?'} replaced {version.replaced_at:%Y-%m-%d %H:%M}"
    return (label, _pretty(version.export_json))


@require_role(Role.VIEWER)
def workflow_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """A unified diff between two exports: ``?a=<version id>&b=current`` (any two)."""
    workflow = _workflow(pk)
    versions = list(WorkflowVersion.objects.filter(workflow=workflow).only("pk", "version", "replaced_at"))
    a_key = request.GET.get("a", str(versions[0].pk) if versions else "current")
    b_key = request.GET.get("b", "current")
    left, right = _version_text(workflow, a_key), _version_text(workflow, b_key)
    if left is None or right is None:
        raise Http404("no such version of this workflow")
    lines: list[dict[str, Any]] = []
    for line in difflib.unified_diff(
        left[1].splitlines(), right[1].splitlines(), left[0], right[0], n=3, lineterm=""
    ):
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx"
        if line.startswith(("+++", "---")):
            kind = "head"
        lines.append({"kind": kind, "text": line})
    context = {
        "workflow": workflow,
        "versions": versions,
        "a": a_key,
        "b": b_key,
        "labels": (left[0], right[0]),
        "lines": lines,
    }
    return render(request, "web/workflows/diff.html", context)


@require_POST
@require_role(Role.OPERATOR)
def workflow_reextract(request: HttpRequest, pk: int) -> HttpResponseBase:
    workflow = Workflow.objects.filter(pk=pk).first()
    if workflow is None:
        messages.error(request, "That workflow no longer exists (deleted by a sync meanwhile).")
        return redirect("web:workflow-list")
    try:
        count = reextract_tasks(workflow)
    except NoStoredExport:
        messages.error(request, "This workflow has no stored export yet: sync its customer first.")
    except (ZuoraInvalidResponseError, ValueError) as exc:  # ValueError: the stored text is not JSON
        messages.error(request, f"The stored export could not be read: {exc}")
    else:
        messages.success(request, f"Re-extracted {count} task(s) from the stored export.")
    return redirect("web:workflow-detail", pk=pk)
