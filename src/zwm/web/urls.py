"""Routes of the web app (namespace ``web``); ``zwm.urls`` mounts them at the root."""

from __future__ import annotations

from django.urls import path

from zwm.web.views import auth, home

app_name = "web"

urlpatterns = [
    path("", home.home, name="home"),
    path("login/", auth.SignInView.as_view(), name="login"),
    path("logout/", auth.SignOutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password-change"),
    path("setup/", auth.first_admin, name="setup"),
]
