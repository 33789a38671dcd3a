"""Routes of the web app (namespace ``web``); ``zwm.urls`` mounts them at the root."""

from __future__ import annotations

from django.urls import path

from zwm.web.views import auth, customers, home, syncruns, tasks, users, workflows

app_name = "web"

urlpatterns = [
    path("", home.home, name="home"),
    path("search/", home.search, name="search"),
    path("login/", auth.SignInView.as_view(), name="login"),
    path("logout/", auth.SignOutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password-change"),
    path("setup/", auth.first_admin, name="setup"),
    path("customers/", customers.customer_list, name="customer-list"),
    path("customers/new/", customers.customer_create, name="customer-create"),
    path("customers/sync/", customers.customer_bulk_sync, name="customer-bulk-sync"),
    path("customers/sync-all/", customers.customer_sync_all, name="customer-sync-all"),
    path("customers/batches/<str:batch_id>/", customers.batch_progress, name="batch-progress"),
    path("customers/<int:pk>/", customers.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/edit/", customers.customer_edit, name="customer-edit"),
    path("customers/<int:pk>/delete/", customers.customer_delete, name="customer-delete"),
    path("customers/<int:pk>/sync/", customers.customer_sync, name="customer-sync"),
    path("customers/<int:pk>/full-sync/", customers.customer_full_sync, name="customer-full-sync"),
    path("workflows/", workflows.workflow_list, name="workflow-list"),
    path("workflows/<int:pk>/", workflows.workflow_detail, name="workflow-detail"),
    path("workflows/<int:pk>/download/", workflows.workflow_download, name="workflow-download"),
    path("workflows/<int:pk>/versions/", workflows.workflow_diff, name="workflow-diff"),
    path("workflows/<int:pk>/reextract/", workflows.workflow_reextract, name="workflow-reextract"),
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task-detail"),
    path("sync-runs/", syncruns.syncrun_list, name="syncrun-list"),
    path("sync-runs/<int:pk>/", syncruns.syncrun_detail, name="syncrun-detail"),
    path("users/", users.user_list, name="user-list"),
    path("users/new/", users.user_create, name="user-create"),
    path("users/role/", users.user_set_role, name="user-set-role"),
    path("users/active/", users.user_set_active, name="user-set-active"),
]
