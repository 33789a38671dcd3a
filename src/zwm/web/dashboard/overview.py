"""The overview: live counters, queues and workers (an htmx fragment polled every few
seconds while the tab is visible), and charts drawn by uPlot from a JSON endpoint."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from zwm.config import get_config
from zwm.queue import charts
from zwm.queue.overview import overview
from zwm.queue.redis_safety import QueueConnectionError
from zwm.web.roles import Role, require_role

REFRESH_SECONDS = 3


def _figures(request: HttpRequest) -> dict[str, object]:
    try:
        return {"figures": overview(get_config().queue_connection), "refresh": REFRESH_SECONDS}
    except QueueConnectionError as exc:
        return {"unavailable": f"The queue is unreachable: {exc}", "refresh": REFRESH_SECONDS}


@require_role(Role.VIEWER)
def index(request: HttpRequest) -> HttpResponse:
    context = {**_figures(request), "windows": list(charts.WINDOWS)}
    return render(request, "web/dashboard/overview.html", context)


@require_role(Role.VIEWER)
def live(request: HttpRequest) -> HttpResponse:
    """The part of the overview that refreshes itself."""
    return render(request, "web/dashboard/live.html", _figures(request))


@require_role(Role.VIEWER)
def chart_data(request: HttpRequest) -> JsonResponse:
    window = request.GET.get("window", "hours")
    if window not in charts.WINDOWS:
        return JsonResponse({"error": f"window must be one of {', '.join(charts.WINDOWS)}"}, status=400)
    return JsonResponse(charts.series(window))
