"""The issue's walk-through in real Chromium against ``zwm up`` and the Zuora simulator:
create a customer with a wrong then a right secret, sync it from its row, open a workflow,
check its graph, open a task from a node, download the JSON, compare two versions, and see
that a viewer cannot reach an operator action. Screenshots of each page go to var/screenshots/.

One app and one browser for the module; the tests run in order and build on each other.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from zwm.zuora.simulator import ZuoraSimulator

from .conftest import PASSWORD, LiveApp, sign_in

pytestmark = pytest.mark.slow

TENANT = "browser-tenant"


@pytest.fixture(scope="module")
def app(live_app: LiveApp, sim: ZuoraSimulator) -> LiveApp:
    sim.add_tenant(TENANT, workflows=4)
    live_app.zwm("user:create", "--username", "ada", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    live_app.zwm("user:create", "--username", "vic", "--role", "viewer", "--password-stdin", stdin=PASSWORD)
    return live_app


def wait_for_runs(page: Page, url: str, runs: int, timeout: float = 60) -> None:
    """Reload the customer page until it lists ``runs`` finished, successful sync runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.goto(url)
        if page.locator("table .badge-succeeded").count() >= runs:
            return
        time.sleep(0.5)
    raise AssertionError(f"{runs} successful sync run(s) did not appear within {timeout:.0f}s")


def test_create_a_customer_wrong_then_right_secret_and_sync_it_from_its_row(
    app: LiveApp, sim: ZuoraSimulator, page: Page, screenshot: Callable[[str], Path]
) -> None:
    tenant = next(t for t in sim.tenants() if t.name == TENANT)
    sign_in(page, app.url, "ada")
    page.get_by_role("link", name="Customers").first.click()
    page.get_by_role("button", name="New customer").click()
    page.fill("#id_name", "Browser Co")
    page.fill("#id_base_url", sim.base_url)
    page.fill("#id_client_id", tenant.client_id)
    page.fill("#id_client_secret", "certainly-wrong")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_client_secret_error")).to_contain_text("Zuora did not accept the credentials")
    screenshot("customer-wrong-secret")
    page.fill("#id_client_secret", tenant.client_secret)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".message-success")).to_contain_text("Zuora accepted these credentials")
    page.fill("#id_client_secret", tenant.client_secret)  # a password field is never filled back
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".message-success")).to_contain_text("Customer Browser Co created")
    page.get_by_role("link", name="Browser Co").click()
    customer_url = page.url
    wait_for_runs(page, customer_url, 1)  # the first sync, queued on create

    first_workflow = sim.workflow_ids(TENANT)[0]
    sim.change_workflow(TENANT, first_workflow)  # so the next sync keeps a version to compare
    page.goto(f"{app.url}customers/")
    screenshot("customers")
    page.locator("tr", has_text="Browser Co").get_by_role("button", name="Sync workflows").click()
    expect(page.locator(".message-success")).to_contain_text("Sync of Browser Co queued.")
    wait_for_runs(page, customer_url, 2)
    screenshot("customer-runs")
    expect(page.locator("dl.facts")).to_contain_text("4")  # workflows count


def test_open_a_workflow_see_its_graph_open_a_task_download_and_compare(
    app: LiveApp, page: Page, screenshot: Callable[[str], Path], tmp_path: Path
) -> None:
    sign_in(page, app.url, "ada")
    page.goto(f"{app.url}workflows/")
    screenshot("workflows")
    links = page.locator("tbody tr td:first-child a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert len(hrefs) == 4, hrefs
    detail = None
    for href in hrefs:  # the changed workflow is the one with a stored version
        page.goto(f"{app.url}{href.lstrip('/')}")
        if page.locator("#versions form").count():
            detail = href
            break
    assert detail is not None, "no workflow kept an earlier version"
    pk = int(re.search(r"/workflows/(\d+)/", detail).group(1))  # type: ignore[union-attr]
    shown = json.loads(app.zwm("workflow:show", str(pk), "--json").stdout)
    tasks, linkages = shown["task_list"], shown["linkages"]
    graph = page.locator("#task-graph")
    expect(graph).to_have_attribute("data-nodes", str(len(tasks) + 1))
    expect(graph).to_have_attribute("data-edges", str(len(linkages) if linkages else len(tasks)))
    assert float(graph.get_attribute("data-layout-ms") or "nan") >= 0
    graph.scroll_into_view_if_needed()
    screenshot("workflow-graph")

    target = page.evaluate(
        """() => {
          const cy = window.zwmTaskGraph;
          const node = cy.nodes("[kind != 'start']")[0];
          const box = cy.container().getBoundingClientRect();
          const at = node.renderedPosition();
          return {x: box.left + at.x, y: box.top + at.y, label: node.data('label')};
        }"""
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.mouse.click(target["x"], target["y"])
    panel = page.locator("#side-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_contain_text(target["label"])
    screenshot("task-panel")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    page.locator("#tasks-table a[data-task]").nth(1).click()  # the tasks table opens the same panel
    expect(panel.locator("h2")).to_contain_text(tasks[1]["name"])
    page.keyboard.press("Escape")
    assert requests == []  # opening tasks from the graph or the table asks the server nothing

    name = shown["name"]
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"^Download ")).click()
    download = download_info.value
    assert download.suggested_filename == f"{name}.json"
    saved = tmp_path / "export.json"
    download.save_as(saved)
    assert isinstance(json.loads(saved.read_text()), dict)

    page.locator("#versions").get_by_role("button", name="Compare").click()
    expect(page.locator("pre.diff .add").first).to_be_visible()
    expect(page.locator("pre.diff .del").first).to_be_visible()
    screenshot("version-diff")


def test_sync_all_shows_live_progress_until_it_finishes(
    app: LiveApp, page: Page, screenshot: Callable[[str], Path]
) -> None:
    sign_in(page, app.url, "ada")
    page.goto(f"{app.url}customers/")
    page.get_by_role("button", name="Sync all").click()
    progress = page.locator("#batch-progress")
    expect(progress).to_contain_text("customers done")
    expect(progress).to_contain_text("finished", timeout=60_000)
    screenshot("sync-all")


def test_a_viewer_cannot_reach_an_operator_action(
    app: LiveApp, page: Page, screenshot: Callable[[str], Path]
) -> None:
    sign_in(page, app.url, "vic")
    page.goto(f"{app.url}customers/")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Sync workflows")).to_have_count(0)
    expect(page.get_by_role("button", name="Sync all")).to_have_count(0)
    screenshot("customers-as-viewer")
    customer = page.locator("tbody tr td:nth-child(1) a").first.get_attribute("href")
    token = page.evaluate("document.body.getAttribute('hx-headers')")
    csrf = json.loads(token)["X-CSRFToken"]
    refused = page.request.post(
        f"{app.url}{customer.lstrip('/')}sync/", headers={"X-CSRFToken": csrf, "Referer": app.url}
    )
    assert refused.status == 403
    assert page.goto(f"{app.url}customers/new/").status == 403
