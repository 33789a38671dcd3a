"""What the dashboard's views share: the decorators of an action, going back, the backlog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from zwm.config import get_config
from zwm.queue.backlog import Backlog, NoBacklog, backlog_for
from zwm.queue.counting import CappedCount
from zwm.queue.redis_safety import QueueConnectionError
from zwm.web.roles import Role, has_role, require_role

View = TypeVar("View", bound=Callable[..., Any])

PAGE = 50
"""Rows per page."""


def action(view: View) -> View:
    """A view that changes something: operator role (checked first: a viewer gets 403
    whatever the method), then POST only (CSRF-checked). Marked ``post_only`` for the
    permission walk."""
    guarded = require_role(Role.OPERATOR)(require_POST(view))
    guarded.post_only = True  # type: ignore[attr-defined]
    return guarded


def counted_from_page(offset: int, fetched: int) -> CappedCount:
    """The count a search shows, from its page alone (fetched with one row to spare): a
    rare match costs one scan for the page, not a second one for the count."""
    if fetched > PAGE:
        return CappedCount(offset + PAGE, capped=True)
    return CappedCount(offset + fetched)


def may_see_payloads(request: HttpRequest) -> bool:
    """Payloads may carry customer data: operators and admins only."""
    return has_role(request.user, Role.OPERATOR)


def back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` (a path on this site) or to the URL name ``default``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return HttpResponseRedirect(target)
    return redirect(default)


def current_backlog(request: HttpRequest) -> Backlog | None:
    """The backlog of ``QUEUE_CONNECTION``; ``None`` (with a message) when it has none or
    cannot be reached."""
    try:
        backlog = backlog_for(get_config().queue_connection)
        backlog.paused()  # reachable? (one cheap call, so pages fail softly)
        return backlog
    except NoBacklog as exc:
        messages.info(request, f"{exc}: there is nothing waiting to show.")
    except QueueConnectionError as exc:
        messages.error(request, f"The queue is unreachable: {exc}")
    return None
