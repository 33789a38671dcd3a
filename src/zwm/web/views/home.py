"""The home page: how big the catalog is, the last sync of each customer, what failed."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from zwm.catalog.models import Customer, Task, Workflow
from zwm.web.roles import Role, require_role


@require_role(Role.VIEWER)
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "customer_count": Customer.objects.count(),
        "workflow_count": Workflow.objects.count(),
        "task_count": Task.objects.count(),
    }
    return render(request, "web/home.html", context)
