"""Sign-in, sign-out, password change, and the first-admin page.

Django's own auth views do the work (sessions, CSRF, throttling through django-axes);
these only add the first-run rule: while no user exists, the sign-in page sends the
visitor to the page that creates the first admin, and that page exists only then.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from zwm.web.forms import UsernamePasswordForm
from zwm.web.roles import Role
from zwm.web.users import UserError, create_user, no_user_exists


@method_decorator(login_not_required, name="dispatch")  # overriding dispatch drops Django's mark
class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if no_user_exists():
            return redirect("web:setup")
        return super().dispatch(request, *args, **kwargs)


class SignOutView(auth_views.LogoutView):
    """POST only (Django's rule): a link cannot sign anyone out behind their back."""


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/password_change.html"
    success_url = reverse_lazy("web:home")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response


@login_not_required
@sensitive_post_parameters("password1", "password2")
def first_admin(request: HttpRequest) -> HttpResponse:
    """Create the first admin; 404 as soon as any user exists."""
    if not no_user_exists():
        raise Http404("the first admin already exists")
    form = UsernamePasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = create_user(form.cleaned_data["username"], Role.ADMIN, form.cleaned_data["password1"])
        except UserError as exc:
            form.add_error(None, str(exc))
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}: you are the first admin.")
            return redirect("web:home")
    return render(request, "web/setup.html", {"form": form})
