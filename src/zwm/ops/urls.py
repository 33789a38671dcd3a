"""Routes of the operations endpoints, included at the site root by :mod:`zwm.urls`."""

from django.urls import path

from zwm.ops import views

urlpatterns = [
    path("health", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
]
