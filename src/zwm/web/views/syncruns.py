"""Sync runs: the history of every customer's syncs, with counts and readable warnings."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from zwm.catalog.models import Customer, SyncRun
from zwm.web.listing import listing
from zwm.web.roles import Role, require_role
from zwm.web.views.filters import choice_param, int_param

RUN_SORTS = {"started": "started_at", "status": "status"}


@require_role(Role.VIEWER)
def syncrun_list(request: HttpRequest) -> HttpResponse:
    runs = SyncRun.objects.select_related("customer")
    customer_id = int_param(request, "customer")
    if customer_id is not None:
        runs = runs.filter(customer_id=customer_id)
    status = choice_param(request, "status", SyncRun.Status.values)
    if status:
        runs = runs.filter(status=status)
    context = {
        "listing": listing(request, runs, sorts=RUN_SORTS, default_sort="-started"),
        "customers": Customer.objects.order_by("name").only("pk", "name"),
        "statuses": SyncRun.Status.values,
        "selected_customer": customer_id,
        "selected_status": status,
    }
    return render(request, "web/syncruns/list.html", context)


@require_role(Role.VIEWER)
def syncrun_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun.objects.select_related("customer"), pk=pk)
    return render(request, "web/syncruns/detail.html", {"run": run})
