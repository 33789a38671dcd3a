"""``GET /health`` and ``GET /metrics``: plain endpoints for load balancers and Prometheus.

Neither needs a session: they are exempt from sign-in and carry their own protection
(``/health`` says nothing but ok/failing; ``/metrics`` wants the bearer token).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from zwm.ops import health as health_checks


@never_cache
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, 503 otherwise; the body names each check's state."""
    report = health_checks.run()
    return JsonResponse(report.public(), status=200 if report.ok else 503)
