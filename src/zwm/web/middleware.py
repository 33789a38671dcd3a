"""Sign-in required everywhere, except the few pages that must work signed out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponseBase


class SignInRequiredMiddleware(LoginRequiredMiddleware):
    """Django's ``LoginRequiredMiddleware`` (views opt out with ``@login_not_required``),
    plus the paths in ``settings.ZWM_PUBLIC_PATHS``: ``/health`` and ``/metrics`` belong to
    another app whose views need not know about this rule."""

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        path = request.path_info.rstrip("/")
        if path in settings.ZWM_PUBLIC_PATHS:
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
