"""Failed Jobs: filters, retry and delete of one, of a selection, or of everything matching
the filter -- each bulk action confirmed first with the count it will touch, and done in
bounded time (chunks until a deadline; pressing again continues)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from zwm.queue import failed as store
from zwm.queue.failed import BulkOutcome, FailedFilter
from zwm.queue.redis_safety import QueueConnectionError
from zwm.web.dashboard.common import PAGE, action, back, may_see_payloads
from zwm.web.dashboard.params import SINCE_CHOICES, Params
from zwm.web.roles import Role, require_role

BULK_SECONDS = 5.0
"""Longest a bulk action runs within one request."""
VERBS = {"retry": ("Retry", "retried"), "delete": ("Delete", "deleted")}


def _filter(params: Params, request: HttpRequest) -> FailedFilter:
    return FailedFilter(
        queue=params.queue(),
        job_class=params.job_class(),
        search=params.text("q"),
        since=params.since(),
        search_payload=may_see_payloads(request),
    )


@require_role(Role.VIEWER)
def failed(request: HttpRequest) -> HttpResponse:
    params = Params(request.GET)
    where = _filter(params, request)
    page = params.number("page", largest=10_000) or 1
    rows = store.failed_page(where, limit=PAGE + 1, offset=(page - 1) * PAGE)
    context = {
        "params": params,
        "rows": rows[:PAGE],
        "total": store.count_failed(where),
        "filtered": bool(params.kept),
        "since_choices": list(SINCE_CHOICES),
        "previous": params.link(page=page - 1) if page > 1 else None,
        "next_page": params.link(page=page + 1) if len(rows) > PAGE else None,
    }
    return render(request, "web/dashboard/failed.html", context)


def _ids(request: HttpRequest) -> list[int]:
    return [int(v) for v in request.POST.getlist("ids") if v.isdigit() and len(v) < 19]


def _report(request: HttpRequest, verb: str, outcome: BulkOutcome) -> None:
    done = VERBS[verb][1]
    text = f"{outcome.done:,} failed job(s) {done}."
    if outcome.skipped:
        text += f" {outcome.skipped:,} left alone: already retried or deleted by someone else"
        text += ", or a payload that cannot be decoded." if verb == "retry" else "."
    if not outcome.finished:
        text += f" More match: one request stops after {BULK_SECONDS:g} s -- press {VERBS[verb][0]} again."
    (messages.success if outcome.done or outcome.finished else messages.warning)(request, text)


@action
def one(request: HttpRequest) -> HttpResponse:
    """Retry or delete one failed job (``do`` and ``id`` in the form)."""
    verb = request.POST.get("do", "")
    ids = _ids(request)
    if verb not in VERBS or len(ids) != 1:
        messages.error(request, "Choose one failed job and retry or delete.")
        return back(request, "dashboard:failed")
    act = store.retry_selected if verb == "retry" else store.forget_selected
    outcome = act(ids)
    if outcome.done:
        messages.success(request, f"Failed job {ids[0]} {VERBS[verb][1]}.")
    else:
        messages.warning(request, f"Failed job {ids[0]} is gone: someone already retried or deleted it.")
    return back(request, "dashboard:failed")


@action
def bulk(request: HttpRequest) -> HttpResponse:
    """Retry or delete the selection or everything matching: confirm (with the count), then act."""
    verb, scope = request.POST.get("do", ""), request.POST.get("scope", "")
    if verb not in VERBS or scope not in ("selected", "matching"):
        messages.error(request, "Choose retry or delete, for the selection or for everything matching.")
        return back(request, "dashboard:failed")
    params = Params(request.POST)
    where = _filter(params, request)
    if params.notices and scope == "matching":  # ignoring a filter here would widen the action
        messages.error(request, "Nothing done: " + " ".join(params.notices))
        return back(request, "dashboard:failed")
    ids = _ids(request)
    if scope == "selected" and not ids:
        messages.warning(request, "Nothing selected: tick the failed jobs to act on first.")
        return back(request, "dashboard:failed")
    if len(ids) > store.MAX_SELECTION:
        messages.error(request, f"Select at most {store.MAX_SELECTION:,} failed jobs, or act on the filter.")
        return back(request, "dashboard:failed")
    if request.POST.get("confirmed") != "yes":
        count = store.count_failed(where, cap=100_000) if scope == "matching" else len(ids)
        context: dict[str, object] = {"verb": verb, "label": VERBS[verb][0], "scope": scope, "ids": ids}
        context.update(count=count, params=params, hidden=_carried(request.POST))
        return render(request, "web/dashboard/failed_confirm.html", context)
    try:
        if scope == "selected":
            outcome = (store.retry_selected if verb == "retry" else store.forget_selected)(ids)
        elif verb == "retry":
            outcome = store.retry_matching(where, seconds=BULK_SECONDS)
        else:
            outcome = store.forget_matching(where, seconds=BULK_SECONDS)
    except QueueConnectionError as exc:
        messages.error(request, f"Nothing more was retried: the queue is unreachable ({exc}).")
        return back(request, "dashboard:failed")
    _report(request, verb, outcome)
    return back(request, "dashboard:failed")


def _carried(form: QueryDict) -> list[tuple[str, str]]:
    """The form's fields to send again with the confirmation."""
    keep = ("do", "scope", "queue", "job_class", "q", "since", "next")
    return [(name, value) for name in keep for value in form.getlist(name)]
