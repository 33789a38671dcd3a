"""Schedule: each entry with its cron expression, next and last run, and "run now"."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from zwm.queue import schedule
from zwm.queue.schedule import ScheduleError
from zwm.web.dashboard.common import action
from zwm.web.roles import Role, require_role


@require_role(Role.VIEWER)
def entries(request: HttpRequest) -> HttpResponse:
    try:
        rows = schedule.status(schedule.load_entries())
    except ScheduleError as exc:
        messages.error(request, f"The schedule is misconfigured: {exc}")
        rows = []
    return render(request, "web/dashboard/schedule.html", {"rows": rows})


@action
def run_now(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        entry = next((e for e in schedule.load_entries() if e.name == name), None)
    except ScheduleError as exc:
        messages.error(request, f"The schedule is misconfigured: {exc}")
        return redirect("dashboard:schedule")
    if entry is None:
        messages.error(request, f"No schedule entry is named {name[:100]!r}.")
    elif entry.problem is not None:
        messages.error(request, f"{entry.name} cannot run: {entry.problem}")
    else:
        run = schedule.run_now(entry)
        messages.success(request, f"{entry.name}: job {run.job_id or '(dropped as a duplicate)'} queued now.")
    return redirect("dashboard:schedule")
