"""URL routes. Every page sits behind a login (the admin's for now)."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
