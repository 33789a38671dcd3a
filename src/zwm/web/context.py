"""Template context every page gets: the user's role and the navigation it may see."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from zwm.web.nav import links_for
from zwm.web.roles import Role, role_of


def navigation(request: HttpRequest) -> dict[str, Any]:
    role = role_of(request.user) if hasattr(request, "user") else None
    return {
        "nav_links": links_for(role, request.path),
        "user_role": role.label if role else "",
        "can_operate": role is not None and role >= Role.OPERATOR,
        "is_admin": role is Role.ADMIN,
    }
