"""URL routes. Every page sits behind a login, except ``/health`` and ``/metrics`` (``zwm.ops.urls``)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("zwm.ops.urls")),
]
