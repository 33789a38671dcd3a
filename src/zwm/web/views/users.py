"""Users, for admins: who may sign in, and as what. The rules live in ``zwm.web.users``
(the CLI's ``user:*`` commands use the same functions)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from zwm.web.forms import NewUserForm
from zwm.web.roles import ROLE_NAMES, Role, require_role
from zwm.web.users import UserError, create_user, list_users, set_active, set_role


@require_role(Role.ADMIN)
def user_list(request: HttpRequest) -> HttpResponse:
    return render(request, "web/users/list.html", {"users": list_users(), "roles": ROLE_NAMES})


@require_role(Role.ADMIN)
@sensitive_post_parameters("password1", "password2")
def user_create(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = create_user(data["username"], Role.parse(data["role"]), data["password1"])
        except UserError as exc:
            form.add_error("username" if "user" in str(exc) else None, str(exc))
        else:
            messages.success(request, f"User {user.username} created ({data['role']}).")
            return redirect("web:user-list")
    return render(request, "web/users/form.html", {"form": form})


def _username(request: HttpRequest) -> str:
    return request.POST.get("username", "")


@require_POST
@require_role(Role.ADMIN)
def user_set_role(request: HttpRequest) -> HttpResponseBase:
    try:
        role = Role.parse(request.POST.get("role", ""))
        user = set_role(_username(request), role)
    except (UserError, ValueError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{user.username} is now {role.label}.")
    return redirect("web:user-list")


@require_POST
@require_role(Role.ADMIN)
def user_set_active(request: HttpRequest) -> HttpResponseBase:
    active = request.POST.get("active") == "1"
    try:
        user = set_active(_username(request), active)
    except UserError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{user.username} {'may sign in again' if active else 'can no longer sign in'}."
        )
    return redirect("web:user-list")
