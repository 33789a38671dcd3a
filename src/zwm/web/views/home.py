"""The home page (catalog size, jobs, last sync per customer, failures) and global search."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from zwm.catalog.models import Customer, SyncRun, Task, Workflow
from zwm.queue import monitor
from zwm.queue.models import FailedJob
from zwm.web.roles import Role, require_role

SEARCH_LIMIT = 20


@require_role(Role.VIEWER)
def home(request: HttpRequest) -> HttpResponse:
    queues = monitor.stats().queues.values()
    context = {
        "customer_count": Customer.objects.count(),
        "workflow_count": Workflow.objects.count(),
        "task_count": Task.objects.count(),
        "jobs_waiting": sum(q.waiting + q.delayed for q in queues),
        "jobs_running": sum(q.reserved for q in queues),
        "jobs_failed_24h": FailedJob.objects.filter(
            failed_at__gte=timezone.now() - timedelta(hours=24)
        ).count(),
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
