"""Workflow, task, sync-run and search pages: filters fed wrong, escaping of what Zuora or a
user supplies, the JSON download, version diffs, the graph's elements, unknown ids."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from zwm.catalog.models import Customer, Linkage, Task, Workflow
from zwm.web.graph import build_graph
from zwm.web.roles import Role

from .conftest import HOSTILE, Catalog, make_catalog

pytestmark = pytest.mark.backends


@pytest.fixture
def viewer(client_as: Callable[[Role | None], Client]) -> Client:
    return client_as(Role.VIEWER)


def test_a_planted_script_in_a_workflow_name_and_a_task_parameter_is_rendered_inert(
    viewer: Client, db: None
) -> None:
    planted = make_catalog("evil", workflow_name=HOSTILE)
    pages = [
        "/workflows/",
        f"/workflows/{planted.workflow.pk}/",
        f"/workflows/{planted.workflow.pk}/versions/",
        f"/tasks/{planted.tasks[0].pk}/",
        "/tasks/",
        f"/sync-runs/{planted.run.pk}/",
        "/search/?q=script",
        "/",
    ]
    for path in pages:
        body = viewer.get(path).content.decode()
        assert HOSTILE not in body, path
        assert "<script>alert" not in body, path
    detail = viewer.get(f"/workflows/{planted.workflow.pk}/").content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in detail
    task_page = viewer.get(f"/tasks/{planted.tasks[0].pk}/").content.decode()
    assert "&lt;script&gt;alert" in task_page  # the parameter, shown escaped


def test_the_detail_page_has_every_section_and_the_graph_elements(viewer: Client, catalog: Catalog) -> None:
    response = viewer.get(f"/workflows/{catalog.workflow.pk}/")
    body = response.content.decode()
    for text in (
        "General information",
        "wf-acme",
        "on demand",
        "Step 2",
        "Copy JSON",
        "Download Invoice run.json",
    ):
        assert text in body
    graph = response.context["graph"]
    assert len(graph["nodes"]) == 1 + 3  # Start + tasks
    assert [e["data"]["label"] for e in graph["edges"]] == ["Start", "Success", "Success"]
    assert graph["edges"][0]["data"]["source"] == "start"
    assert 'id="graph-data"' in body
    assert {n["data"].get("task") for n in graph["nodes"]} == {None, *(t.pk for t in catalog.tasks)}


def test_every_task_card_is_in_the_workflow_page_and_each_task_has_its_page(
    viewer: Client, catalog: Catalog
) -> None:
    response = viewer.get(f"/workflows/{catalog.workflow.pk}/")
    cards = response.context["task_cards"]
    assert set(cards) == {t.pk for t in catalog.tasks}
    card = cards[catalog.tasks[1].pk]
    assert card["title"] == "Step 1"
    assert ["Action type", "Iterate"] in card["facts"]
    assert HOSTILE in card["parameters"]  # shipped as data...
    body = response.content.decode()
    assert 'id="task-cards"' in body
    assert HOSTILE not in body  # ...inside a JSON script element, where < is escaped
    page = viewer.get(f"/tasks/{catalog.tasks[1].pk}/").content.decode()
    assert "Workflow related to" in page
    assert "<dt>Action type</dt><dd>Iterate</dd>" in page


def test_download_is_the_pretty_export_named_after_the_workflow(viewer: Client, catalog: Catalog) -> None:
    response = viewer.get(f"/workflows/{catalog.workflow.pk}/download/")
    assert response["Content-Disposition"] == 'attachment; filename="Invoice run.json"'
    assert json.loads(response.content) == json.loads(catalog.workflow.export_json)
    catalog.workflow.name = 'a"b/c'
    catalog.workflow.save()
    odd = viewer.get(f"/workflows/{catalog.workflow.pk}/download/")
    assert odd["Content-Disposition"].startswith("attachment; filename")
    assert '"b' not in odd["Content-Disposition"].split("filename")[1][:4]
    Workflow.objects.filter(pk=catalog.workflow.pk).update(export_json=None)
    assert viewer.get(f"/workflows/{catalog.workflow.pk}/download/").status_code == 404


def test_the_version_diff_shows_what_changed_between_any_two_exports(
    viewer: Client, catalog: Catalog
) -> None:
    wf = catalog.workflow.pk
    diff = viewer.get(f"/workflows/{wf}/versions/?a={catalog.version.pk}&b=current")
    lines = diff.context["lines"]
    assert {"kind": "del", "text": '-    "version": "1"'} in lines
    assert {"kind": "add", "text": '+    "version": "2"'} in lines
    same = viewer.get(f"/workflows/{wf}/versions/?a=current&b=current")
    assert "The two exports are identical." in same.content.decode()
    for bad in ("a=999999", "a=abc", "b=-1", f"a={catalog.version.pk + 1000}", "a=" + "9" * 30):
        assert viewer.get(f"/workflows/{wf}/versions/?{bad}").status_code == 404, bad
    other = make_catalog("other")
    assert (
        viewer.get(f"/workflows/{wf}/versions/?a={other.version.pk}").status_code == 404
    )  # not this workflow's


def test_re_extract_rebuilds_tasks_from_the_stored_export_or_says_why_not(
    client_as: Callable[[Role | None], Client], catalog: Catalog
) -> None:
    operator = client_as(Role.OPERATOR)
    response = operator.post(f"/workflows/{catalog.workflow.pk}/reextract/", follow=True)
    assert response.status_code == 200
    assert "stored export" in response.content.decode()
    Workflow.objects.filter(pk=catalog.workflow.pk).update(export_json="{broken")
    broken = operator.post(f"/workflows/{catalog.workflow.pk}/reextract/", follow=True)
    assert "The stored export could not be read" in broken.content.decode()
    assert Task.objects.filter(workflow=catalog.workflow).count() == 3  # nothing half-applied
    Workflow.objects.filter(pk=catalog.workflow.pk).update(export_json=None)
    empty = operator.post(f"/workflows/{catalog.workflow.pk}/reextract/", follow=True)
    assert "This workflow has no stored export yet" in empty.content.decode()
    gone = operator.post("/workflows/999999/reextract/", follow=True)
    assert "That workflow no longer exists" in gone.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/workflows/999999/",
        "/workflows/999999/download/",
        "/workflows/999999/versions/",
        "/tasks/999999/",
        "/sync-runs/999999/",
        "/workflows/x/",
        "/tasks/1.5/",
    ],
)
def test_unknown_ids_are_404(viewer: Client, catalog: Catalog, path: str) -> None:
    assert viewer.get(path).status_code == 404


def test_workflow_search_filters_and_sorting(viewer: Client, catalog: Catalog) -> None:
    other = make_catalog("globex", workflow_name="Dunning", tasks=5)
    Workflow.objects.filter(pk=other.workflow.pk).update(status="Inactive", ondemand_trigger=False)

    def names(query: str) -> list[str]:
        response = viewer.get(f"/workflows/?{query}")
        assert response.status_code == 200, query
        return [w.name for w in response.context["listing"].page]

    assert names("q=dunn") == ["Dunning"]
    assert names("q=wf-acme") == ["Invoice run"]
    assert names(f"customer={other.customer.pk}") == ["Dunning"]
    assert names("state=Inactive") == ["Dunning"]
    assert names("trigger=ondemand") == ["Invoice run"]
    assert names("sort=-name") == ["Invoice run", "Dunning"]
    assert names("sort=tasks") == ["Invoice run", "Dunning"]
    assert names("sort=-tasks") == ["Dunning", "Invoice run"]
    counts = {w.name: w.task_count for w in viewer.get("/workflows/").context["listing"].page}
    assert counts == {"Invoice run": 3, "Dunning": 5}
    for junk in (
        "customer=abc",
        "customer=99999999999999999999999",
        "state=<b>",
        "trigger=sometimes",
        "type=%00",
        "sort=__class__",
        "page=-1",
        "per_page=100000",
    ):
        assert len(names(junk)) in {0, 2}, junk


def test_task_and_sync_run_lists_filter_and_survive_junk(viewer: Client, catalog: Catalog) -> None:
    def count(path: str) -> int:
        response = viewer.get(path)
        assert response.status_code == 200, path
        return len(response.context["listing"].page)

    assert count("/tasks/") == 3
    assert count("/tasks/?action_type=Iterate") == 1
    assert count(f"/tasks/?workflow={catalog.workflow.pk}&priority=High") == 3
    assert count("/tasks/?priority=Urgent&customer=x&action_type=" + "y" * 500) == 3 - 3  # an unknown type
    assert count("/sync-runs/?status=succeeded") == 1
    assert count("/sync-runs/?status=bogus&customer=-3") == 1
    run = viewer.get(f"/sync-runs/{catalog.run.pk}/").content.decode()
    assert "Warnings (1)" in run
    assert "skipped" in run


def test_global_search_finds_each_kind(viewer: Client, catalog: Catalog) -> None:
    results = viewer.get("/search/?q=step").context["results"]
    assert len(results["tasks"]) == 3
    assert viewer.get("/search/?q=acme").context["results"]["customers"][0].name == "acme"
    assert viewer.get("/search/?q=" + "z" * 5000).status_code == 200


def test_graph_chains_tasks_without_linkages_and_leaves_out_dangling_edges(catalog: Catalog) -> None:
    tasks = list(catalog.workflow.tasks.all())
    chained = build_graph(tasks, [])
    assert [(e["data"]["source"], e["data"]["target"]) for e in chained.edges] == [
        ("start", "task-100"),
        ("task-100", "task-101"),
        ("task-101", "task-102"),
    ]
    dangling = [
        Linkage(source_task_id="100", target_task_id="999", linkage_type="Success"),
        Linkage(source_task_id="555", target_task_id="101", linkage_type="Failure"),
        Linkage(source_task_id="100", target_task_id="101", linkage_type="Success"),
    ]
    graph = build_graph(tasks, dangling)
    assert graph.dangling == 2
    assert len(graph.edges) == 1


def test_graph_orders_numeric_task_ids_numerically() -> None:
    tasks = [Task(pk=i, zuora_task_id=tid, name=tid) for i, tid in enumerate(["10", "2", "b", "1"])]
    graph = build_graph(tasks, [])
    assert [n["data"]["label"] for n in graph.nodes] == ["Start", "1", "2", "10", "b"]


def test_home_counts_the_catalog_and_names_failing_customers(viewer: Client, catalog: Catalog) -> None:
    Customer.objects.filter(pk=catalog.customer.pk).update(
        last_sync_status="failed", last_sync_error="token refused"
    )
    response = viewer.get("/")
    assert (response.context["workflow_count"], response.context["task_count"]) == (1, 3)
    assert str(response.context["jobs_failed_24h"]) == "0"
    body = response.content.decode()
    assert "Failing customers" in body
    assert "token refused" in body


def test_home_says_when_the_job_figures_cannot_be_read(
    viewer: Client, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUEUE_CONNECTION", "redis")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    from zwm.config import get_config

    get_config.cache_clear()
    try:
        body = viewer.get("/").content.decode()
    finally:
        monkeypatch.undo()
        get_config.cache_clear()
    assert "Job figures unavailable" in body
    assert '<span class="figure">1</span> workflows' in body  # the catalog part still renders
