"""Queues: each queue's backlog and state, with pause, resume and clear."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from zwm.queue.backlog import Backlog
from zwm.queue.drivers.base import MAX_QUEUE_NAME
from zwm.queue.overview import overview
from zwm.web.dashboard.common import action, current_backlog
from zwm.web.roles import Role, require_role


@require_role(Role.VIEWER)
def queue_list(request: HttpRequest) -> HttpResponse:
    backlog = current_backlog(request)
    figures = overview(backlog.driver.name) if backlog is not None else None
    return render(request, "web/dashboard/queues.html", {"figures": figures})


def _target(request: HttpRequest) -> tuple[Backlog | None, str]:
    name = request.POST.get("queue", "").strip()
    if not 0 < len(name) <= MAX_QUEUE_NAME:
        messages.error(request, f"A queue name is 1-{MAX_QUEUE_NAME} characters.")
        return None, name
    return current_backlog(request), name


@action
def pause(request: HttpRequest) -> HttpResponse:
    backlog, name = _target(request)
    if backlog is not None:
        if backlog.pause(name):
            messages.success(request, f"Queue {name} paused: workers skip it until it is resumed.")
        else:
            messages.info(request, f"Queue {name} was already paused.")
    return redirect("dashboard:queues")


@action
def resume(request: HttpRequest) -> HttpResponse:
    backlog, name = _target(request)
    if backlog is not None:
        if backlog.resume(name):
            messages.success(request, f"Queue {name} resumed.")
        else:
            messages.info(request, f"Queue {name} was not paused.")
    return redirect("dashboard:queues")


@action
def clear(request: HttpRequest) -> HttpResponse:
    backlog, name = _target(request)
    if backlog is not None:
        if request.POST.get("confirmed") != "yes":
            counts = backlog.driver.counts([name])[name]
            context = {"queue": name, "count": counts.waiting + counts.delayed, "reserved": counts.reserved}
            return render(request, "web/dashboard/queue_clear.html", context)
        removed = backlog.clear(name)
        messages.success(request, f"Cleared {removed:,} job(s) from queue {name}; running jobs finish.")
    return redirect("dashboard:queues")
