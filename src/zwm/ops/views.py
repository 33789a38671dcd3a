"""``GET /health`` and ``GET /metrics``: plain endpoints for load balancers and Prometheus.

Neither needs a session: they are exempt from sign-in and carry their own protection
(``/health`` says nothing but ok/failing; ``/metrics`` wants the bearer token).
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from zwm.config import get_config
from zwm.ops import health as health_checks


@never_cache
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    """200 when every check passes, 503 otherwise; the body names each check's state."""
    report = health_checks.run()
    return JsonResponse(report.public(), status=200 if report.ok else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format for ``Authorization: Bearer <ZWM_METRICS_TOKEN>``; 401 for any
    other credential, 404 while no token is configured (the endpoint is off)."""
    token = get_config().metrics_token
    if not token:
        return HttpResponse(
            "metrics are disabled (set ZWM_METRICS_TOKEN)\n", status=404, content_type="text/plain"
        )
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        response = HttpResponse("a valid bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="zwm metrics"'
        return response
    from prometheus_client import CONTENT_TYPE_LATEST

    from zwm.ops.metrics import exposition

    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
