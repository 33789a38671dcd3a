"""The home page (catalog size, jobs, last sync per customer, failures) and global search."""

from __future__ import annotations

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from zwm.catalog.models import Customer, SyncRun, Task, Workflow
from zwm.queue.overview import overview
from zwm.queue.redis_safety import QueueConnectionError
from zwm.web.roles import Role, require_role

SEARCH_LIMIT = 20


def _job_figures() -> dict[str, object]:
    """Jobs waiting, running and failed in 24 h (the dashboard's capped counts), or why not."""
    try:
        figures = overview()
    except QueueConnectionError as exc:
        return {"jobs_unavailable": str(exc)}
    return {
        "jobs_waiting": figures.waiting + figures.delayed,
        "jobs_running": figures.running,
        "jobs_failed_24h": figures.failed_24h,
    }


@require_role(Role.VIEWER)
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "customer_count": Customer.objects.count(),
        "workflow_count": Workflow.objects.count(),
        "task_count": Task.objects.count(),
        **_job_figures(),
        "customers": Customer.objects.order_by("name")[:50],
        "failing": Customer.objects.filter(last_sync_status=SyncRun.Status.FAILED).order_by("name"),
        "recent_runs": SyncRun.objects.select_related("customer").order_by("-started_at", "-id")[:10],
    }
    return render(request, "web/home.html", context)


@require_role(Role.VIEWER)
def search(request: HttpRequest) -> HttpResponse:
    """Customers, workflows and tasks whose name (or Zuora id) matches, at most 20 of each."""
    query = request.GET.get("q", "").strip()[:200]
    results = {}
    if query:
        results = {
            "customers": list(Customer.objects.filter(name__icontains=query).order_by("name")[:SEARCH_LIMIT]),
            "workflows": list(
                Workflow.objects.select_related("customer")
                .filter(Q(name__icontains=query) | Q(zuora_id__iexact=query))
                .order_by("name")[:SEARCH_LIMIT]
            ),
            "tasks": list(
                Task.objects.select_related("workflow")
                .filter(Q(name__icontains=query) | Q(zuora_task_id__iexact=query))
                .order_by("pk")[:SEARCH_LIMIT]
            ),
        }
    return render(request, "web/search.html", {"q": query, "results": results, "limit": SEARCH_LIMIT})
