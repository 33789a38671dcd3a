"""Job Batches: the list with progress bars, a batch's detail (live) with its jobs, cancel,
and retrying its failed jobs."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from zwm.queue import batches, executions
from zwm.queue.batches import BatchInfo, BatchNotFound
from zwm.queue.executions import ExecutionFilter
from zwm.queue.models import FailedJob
from zwm.web.dashboard.common import PAGE, action
from zwm.web.dashboard.params import Params
from zwm.web.roles import Role, require_role


@require_role(Role.VIEWER)
def batch_list(request: HttpRequest) -> HttpResponse:
    params = Params(request.GET)
    state = params.choice("state", batches.BATCH_STATES)
    search = params.text("q")
    page = params.number("page", largest=10_000) or 1
    rows = batches.list_batches(state, search, limit=PAGE + 1, offset=(page - 1) * PAGE)
    context = {
        "params": params,
        "rows": rows[:PAGE],
        "total": batches.count_batches(state, search),
        "states": batches.BATCH_STATES,
        "previous": params.link(page=page - 1) if page > 1 else None,
        "next_page": params.link(page=page + 1) if len(rows) > PAGE else None,
    }
    return render(request, "web/dashboard/batches.html", context)


def _batch(batch_id: str) -> BatchInfo:
    try:
        return batches.find(batch_id)
    except BatchNotFound:
        raise Http404("no such batch (it may have been pruned)") from None


@require_role(Role.VIEWER)
def batch(request: HttpRequest, batch_id: str) -> HttpResponse:
    info = _batch(batch_id)
    context = {
        "batch": info,
        "executions": executions.executions(ExecutionFilter(batch_id=batch_id), limit=PAGE),
        "failures": FailedJob.objects.filter(uuid__in=info.failed_job_ids).order_by("-failed_at")[:PAGE],
    }
    return render(request, "web/dashboard/batch.html", context)


@require_role(Role.VIEWER)
def batch_live(request: HttpRequest, batch_id: str) -> HttpResponse:
    """The batch's counters and progress bar, polled while the batch runs."""
    return render(request, "web/dashboard/batch_live.html", {"batch": _batch(batch_id)})


@action
def cancel(request: HttpRequest, batch_id: str) -> HttpResponse:
    try:
        info = batches.find(batch_id)
        batches.cancel(batch_id)
    except BatchNotFound:
        messages.warning(request, f"Batch {batch_id} is gone: it was pruned meanwhile.")
        return redirect("dashboard:batches")
    if info.cancelled:
        messages.info(request, f"Batch {batch_id} was already cancelled.")
    else:
        messages.success(request, f"Batch {batch_id} cancelled: its jobs not yet run will be skipped.")
    return redirect("dashboard:batch", batch_id=batch_id)


@action
def retry_failed(request: HttpRequest, batch_id: str) -> HttpResponse:
    try:
        requeued = batches.retry_failed(batch_id)
    except BatchNotFound:
        messages.warning(request, f"Batch {batch_id} is gone: it was pruned meanwhile.")
        return redirect("dashboard:batches")
    if requeued:
        messages.success(request, f"{len(requeued)} failed job(s) of the batch pushed back onto the queue.")
    else:
        messages.info(request, "The batch has no failed jobs to retry (someone may have retried them).")
    return redirect("dashboard:batch", batch_id=batch_id)
