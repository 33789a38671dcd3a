"""Tasks across every workflow and customer: the filtered list and the detail page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from zwm.catalog.models import Customer, Task
from zwm.web.listing import listing
from zwm.web.roles import Role, require_role
from zwm.web.taskcard import task_card
from zwm.web.views.filters import int_param

# Sorting is offered on indexed columns only: a list of 500,000 tasks must stay fast.
TASK_SORTS = {"id": "pk", "workflow": "workflow_id"}
COMMON_ACTION_TYPES = (
    "Email",
    "Export",
    "Callout",
    "If",
    "Iterate",
    "Query",
    "Create",
    "Update",
    "Delay",
    "Approval",
    "Logic::Case",
    "Logic::Lambda",
    "Logic::CustomCode",
)
PRIORITIES = ("High", "Medium", "Low")


@require_role(Role.VIEWER)
def task_list(request: HttpRequest) -> HttpResponse:
    tasks = Task.objects.select_related("workflow__customer").only(
        "pk",
        "zuora_task_id",
        "name",
        "action_type",
        "object",
        "priority",
        "call_type",
        "workflow__id",
        "workflow__name",
        "workflow__customer__id",
        "workflow__customer__name",
    )
    customer_id, workflow_id = int_param(request, "customer"), int_param(request, "workflow")
    if customer_id is not None:
        tasks = tasks.filter(workflow__customer_id=customer_id)
    if workflow_id is not None:
        tasks = tasks.filter(workflow_id=workflow_id)
    action_type = request.GET.get("action_type", "").strip()[:100]
    if action_type:
        tasks = tasks.filter(action_type=action_type)
    priority = request.GET.get("priority", "")
    if priority in PRIORITIES:
        tasks = tasks.filter(priority=priority)
    if query := request.GET.get("q", "").strip():
        tasks = tasks.filter(name__icontains=query)
    context = {
        "listing": listing(request, tasks, sorts=TASK_SORTS, default_sort="-id"),
        "customers": Customer.objects.order_by("name").only("pk", "name"),
        "action_types": COMMON_ACTION_TYPES,
        "priorities": PRIORITIES,
        "selected": {
            "customer": customer_id,
            "workflow": workflow_id,
            "action_type": action_type,
            "priority": priority if priority in PRIORITIES else "",
            "q": query,
        },
    }
    return render(request, "web/tasks/list.html", context)


@require_role(Role.VIEWER)
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(Task.objects.select_related("workflow__customer"), pk=pk)
    return render(request, "web/tasks/detail.html", {"task": task, "card": task_card(task)})
