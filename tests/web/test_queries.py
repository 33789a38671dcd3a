"""Every list page costs the same number of queries for 2 rows as for 12 (no N+1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from zwm.web.roles import Role

from .conftest import make_catalog

pytestmark = pytest.mark.backends

PAGES = [
    "/",
    "/customers/",
    "/workflows/",
    "/workflows/?sort=tasks",
    "/tasks/",
    "/sync-runs/",
    "/search/?q=step",
]


def queries(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


@pytest.mark.parametrize("path", PAGES)
def test_list_pages_do_not_query_per_row(client_as: Callable[[Role | None], Client], path: str) -> None:
    client = client_as(Role.ADMIN)
    for name in ("a", "b"):
        make_catalog(name, workflow_name=f"wf {name}")
    few = queries(client, path)
    for i in range(10):
        make_catalog(f"c{i}", workflow_name=f"wf c{i}")
    assert queries(client, path) == few


def test_the_workflow_page_queries_do_not_grow_with_its_tasks(
    client_as: Callable[[Role | None], Client],
) -> None:
    client = client_as(Role.VIEWER)
    small, large = make_catalog("s", tasks=2), make_catalog("l", tasks=40)
    assert queries(client, f"/workflows/{small.workflow.pk}/") == queries(
        client, f"/workflows/{large.workflow.pk}/"
    )
