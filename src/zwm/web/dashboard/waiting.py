"""Jobs Waiting: the backlog of the queue connection (waiting, delayed, reserved), with
delete and run now."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from zwm.queue.backlog import BacklogFilter, State
from zwm.web.dashboard.common import PAGE, action, back, counted_from_page, current_backlog, may_see_payloads
from zwm.web.dashboard.params import Params
from zwm.web.roles import Role, require_role

MOVED = "Job {id} is no longer waiting: a worker took it, or someone else deleted or ran it."


@require_role(Role.VIEWER)
def waiting(request: HttpRequest) -> HttpResponse:
    params = Params(request.GET)
    show_payload = may_see_payloads(request)
    search = params.text("q") if show_payload else None
    state = params.choice("state", [s.value for s in State])
    where = BacklogFilter(
        queue=params.queue(),
        job_class=params.job_class(),
        state=State(state) if state else None,
        search=search,
    )
    page = params.number("page", largest=10_000) or 1
    backlog = current_backlog(request)
    rows, total = [], None
    if backlog is not None:
        rows = backlog.jobs(where, limit=PAGE + 1, offset=(page - 1) * PAGE)
        # A job class or a search reads payloads on Redis (and rows without an index on the
        # database): the page's own rows give the count, rather than a second full pass.
        narrowed = where.narrowed
        total = counted_from_page((page - 1) * PAGE, len(rows)) if narrowed else backlog.count(where)
    context = {
        "params": params,
        "rows": rows[:PAGE],
        "total": total,
        "states": [s.value for s in State],
        "show_payload": show_payload,
        "previous": params.link(page=page - 1) if page > 1 else None,
        "next_page": params.link(page=page + 1) if len(rows) > PAGE else None,
        "page": page,
    }
    return render(request, "web/dashboard/waiting.html", context)


def _job_id(request: HttpRequest) -> str:
    return request.POST.get("job", "").strip()[:64]


@action
def delete(request: HttpRequest) -> HttpResponse:
    backlog, job_id = current_backlog(request), _job_id(request)
    if backlog is not None:
        if job_id and backlog.delete(job_id):
            messages.success(request, f"Job {job_id} deleted.")
        else:
            messages.warning(request, MOVED.format(id=job_id or "(none given)"))
    return back(request, "dashboard:waiting")


@action
def run_now(request: HttpRequest) -> HttpResponse:
    backlog, job_id = current_backlog(request), _job_id(request)
    if backlog is not None:
        pending = backlog.get(job_id) if job_id else None
        if pending is not None and backlog.run_now(job_id):
            messages.success(request, f"Job {job_id} is due now: the next free worker runs it.")
        elif pending is not None and pending.state is State.WAITING:
            messages.info(request, f"Job {job_id} is already waiting for the next free worker.")
        elif pending is not None:
            messages.warning(request, f"Job {job_id} is already running.")
        else:
            messages.warning(request, MOVED.format(id=job_id or "(none given)"))
    return back(request, "dashboard:waiting")
