"""Server-side permissions: every view of the web app, every role.

Walks the URL patterns rather than a hand-kept list, so a new view without
``@require_role`` fails here instead of being open to everyone signed in; and a new view
whose arguments this test cannot fill fails too, so it gets checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from zwm.queue.batches import Batch
from zwm.queue.models import QueuedJob
from zwm.web.roles import Role, required_role_of

from .conftest import Catalog

# Pages any signed-in user (or anyone) may reach, by URL name.
SIGN_IN_PAGES = {"web:login", "web:logout", "web:setup", "web:password-change"}
# Actions that change something: POST only.
POST_ONLY = {
    "web:customer-sync",
    "web:customer-bulk-sync",
    "web:customer-sync-all",
    "web:workflow-reextract",
    "web:user-set-role",
    "web:user-set-active",
}


def web_patterns() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns: list[URLPattern | URLResolver], namespace: str) -> Iterator[tuple[str, URLPattern]]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace)
            elif entry.name and entry.callback.__module__.startswith("zwm.web"):
                yield f"{namespace}:{entry.name}", entry

    yield from walk(get_resolver().url_patterns, "")


def test_every_view_declares_the_role_it_needs() -> None:
    missing = [
        name
        for name, pattern in web_patterns()
        if name not in SIGN_IN_PAGES and required_role_of(pattern.callback) is None
    ]
    assert missing == []


def _url(name: str, pattern: URLPattern, catalog: Catalog, batch_id: str) -> str:
    params = list(pattern.pattern.converters)
    if not params:
        return reverse(name)
    pk_of = {
        "web:workflow-detail": catalog.workflow.pk,
        "web:workflow-download": catalog.workflow.pk,
        "web:workflow-diff": catalog.workflow.pk,
        "web:workflow-reextract": catalog.workflow.pk,
        "web:task-detail": catalog.tasks[0].pk,
        "web:syncrun-detail": catalog.run.pk,
    }
    if params == ["pk"]:
        return reverse(name, kwargs={"pk": pk_of.get(name, catalog.customer.pk)})
    if params == ["batch_id"]:
        return reverse(name, kwargs={"batch_id": batch_id})
    if params == ["job_uuid"]:  # a member of the batch, waiting in the queue
        return reverse(name, kwargs={"job_uuid": QueuedJob.objects.values_list("uuid", flat=True).first()})
    raise AssertionError(f"{name}: teach this test the arguments {params}")


@pytest.mark.parametrize("role", [*Role, None], ids=lambda r: r.label if r else "no-role")
def test_each_role_reaches_exactly_the_views_it_may(
    role: Role | None, client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    from zwm.catalog.jobs import SyncCustomerWorkflows

    batch_id = Batch([SyncCustomerWorkflows(catalog.customer.pk, "ui", False)], name="probe").dispatch()
    client = client_as(role)
    outcomes, expected = {}, {}
    for name, pattern in web_patterns():
        needed = required_role_of(pattern.callback)
        if needed is None:
            continue
        url = _url(name, pattern, catalog, batch_id)
        allowed = role is not None and role >= needed
        if name in POST_ONLY or getattr(pattern.callback, "post_only", False):
            outcomes[name] = client.post(url, {"ids": [catalog.customer.pk]}).status_code
            expected[name] = 302 if allowed else 403
            assert client.get(url).status_code in {403, 405}, name
        else:
            outcomes[name] = client.get(url).status_code
            expected[name] = 200 if allowed else 403
    assert outcomes == expected
    assert len(outcomes) >= 20


def test_a_viewer_posting_an_admin_form_changes_nothing(
    client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    viewer = client_as(Role.VIEWER)
    url = reverse("web:customer-delete", args=[catalog.customer.pk])
    assert viewer.post(url).status_code == 403
    edit = reverse("web:customer-edit", args=[catalog.customer.pk])
    assert viewer.post(edit, {"name": "renamed"}).status_code == 403
    catalog.customer.refresh_from_db()
    assert catalog.customer.name == "acme"


def test_pages_hide_the_buttons_a_role_cannot_use(
    client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    viewer_page = client_as(Role.VIEWER).get("/customers/").content.decode()
    assert "Sync workflows" not in viewer_page
    assert "New customer" not in viewer_page
    operator_page = client_as(Role.OPERATOR).get("/customers/").content.decode()
    assert "Sync workflows" in operator_page
    assert "New customer" not in operator_page
