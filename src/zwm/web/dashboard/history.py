"""Jobs (running and completed executions, from history) and one job's detail page."""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from zwm.queue import executions
from zwm.queue.backlog import NoBacklog, backlog_for
from zwm.queue.backlog.base import PendingJob
from zwm.queue.executions import ExecutionFilter
from zwm.queue.models import FailedJob, JobExecution
from zwm.queue.redis_safety import QueueConnectionError
from zwm.web.dashboard.common import PAGE, counted_from_page, may_see_payloads
from zwm.web.dashboard.params import Params
from zwm.web.roles import Role, require_role

MAX_ID = 2**63 - 1


@require_role(Role.VIEWER)
def jobs(request: HttpRequest) -> HttpResponse:
    params = Params(request.GET)
    where = ExecutionFilter(
        status=params.choice("status", JobExecution.Status.values),
        queue=params.queue(),
        job_class=params.job_class(),
        search=params.text("q"),
        since=params.since(),
    )
    before = params.number("before", largest=MAX_ID)
    rows = executions.executions(where, limit=PAGE + 1, before=before)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    context = {
        "params": params,
        "rows": rows,
        "total": counted_from_page(0, len(rows) + more) if where.search else executions.count(where),
        "older": params.link(before=rows[-1].id) if more and rows else None,
        "newest": params.link() if before else None,
        "statuses": JobExecution.Status.values,
        "searched_span": executions.SEARCH_SPAN if where.search else None,
    }
    return render(request, "web/dashboard/jobs.html", context)


def _pending(job_uuid: str) -> PendingJob | None:
    try:
        return backlog_for().get(job_uuid)
    except (NoBacklog, QueueConnectionError):
        return None


def pretty_payload(raw: str) -> str:
    """A stored payload indented for reading (as stored when it is not valid JSON)."""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


@require_role(Role.VIEWER)
def job(request: HttpRequest, job_uuid: str) -> HttpResponse:
    """Everything known of one job: where it is now, its payload, every attempt."""
    if not 0 < len(job_uuid) <= 32:
        raise Http404("no such job")
    attempts = executions.attempts(job_uuid)
    pending = _pending(job_uuid)
    failure = FailedJob.objects.filter(uuid=job_uuid).first()
    if not attempts and pending is None and failure is None:
        raise Http404("no such job (it finished long ago and was pruned, or never existed)")
    payload = None
    if may_see_payloads(request):
        if pending is not None:
            payload = pretty_payload(pending.envelope.to_json())
        elif failure is not None:
            payload = pretty_payload(failure.payload)
    job_class = pending.job_class if pending else failure.job_class if failure else attempts[0].job_class
    context = {
        "job_uuid": job_uuid,
        "job_class": job_class,
        "attempts": attempts,
        "pending": pending,
        "failure": failure,
        "payload": payload,
        "show_payload": may_see_payloads(request),
    }
    return render(request, "web/dashboard/job.html", context)
