"""URL routes: the web app at the root, the Django admin (admins only) at /admin/.

Every page sits behind sign-in (``zwm.web.middleware``) except /login/, the first-admin
page, and the probe paths in ``settings.ZWM_PUBLIC_PATHS``: ``/health`` and ``/metrics``
(``zwm.ops.urls``).
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("zwm.ops.urls")),
    path("jobs/", include("zwm.web.dashboard.urls")),
    path("", include("zwm.web.urls")),
]
