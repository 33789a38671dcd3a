"""Benchmark of the web app at catalog scale (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/web.py                          # 50 customers, 20,000 workflows, 500,000 tasks
    .venv/bin/python bench/web.py --workflows 2000 --tasks-per-workflow 25 --skip-browser

Seeds a throw-away PostgreSQL database (``zwm_bench_web_<random>``, dropped at the end) with
COPY: customers, workflows with a stored export, tasks, linkages, one stored version per 50
workflows, ten sync runs per customer, and one workflow of 300 tasks. Then it measures:

* **server side**: every list and detail page rendered through Django's test client (the
  whole middleware stack, templates and queries; no network), median and worst of
  ``--repeat`` renders after one warm-up, with the number of queries -- beside the **Django
  admin's** change lists of the same tables in the same run (the peer: the stock Django
  screen for these models);
* **in the browser**: ``zwm web`` (gunicorn) on the same database, headless Chromium opens
  the 300-task workflow and reads how long the cytoscape-dagre layout took (the page
  stamps it on the graph element), median of ``--repeat`` loads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACTIONS = ("Email", "Export", "Callout", "If", "Iterate", "Query", "Create", "Update", "Delay", "Approval")
PASSWORD = "bench-password-123"


def psql(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django(database_url: str) -> None:
    os.environ["ZWM_DATA_DIR"] = tempfile.mkdtemp(prefix="zwm-bench-web-")
    os.environ["DATABASE_URL"] = database_url
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zwm.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


# -- seeding ------------------------------------------------------------------------------------


def copy_rows(model: Any, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY ``rows`` into ``model``'s table (columns by field name); the row count.

    COPY cannot fall back on a column's default, so every other field that has a default
    gets it appended: a column added to the model later does not break the seeding.
    """
    from django.db import connection

    given = {model._meta.get_field(c).name for c in columns}
    defaults = [
        f
        for f in model._meta.concrete_fields
        if f.name not in given and not f.primary_key and f.has_default()
    ]
    tail = tuple(
        json.dumps(f.get_default()) if f.get_internal_type() == "JSONField" else f.get_default()
        for f in defaults
    )
    fields = [model._meta.get_field(c) for c in columns] + defaults
    names = [connection.ops.quote_name(f.column) for f in fields]
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor: COPY
        with raw.copy(f"COPY {model._meta.db_table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row + tail)
                count += 1
    return count


def export_of(name: str, tasks: int, rng: random.Random) -> str:
    body = {
        "workflow": {"name": name, "description": "seeded", "version": "1.0", "type": "Workflow::Setup"},
        "tasks": [{"id": i, "name": f"Task {i}", "action_type": rng.choice(ACTIONS)} for i in range(tasks)],
        "linkages": [
            {"source_task_id": i, "target_task_id": i + 1, "linkage_type": "Success"}
            for i in range(tasks - 1)
        ],
    }
    return json.dumps(body, sort_keys=True)


def seed(customers: int, workflows: int, tasks_per_workflow: int, big_graph: int) -> dict[str, int]:
    from django.db import transaction

    from zwm.catalog.models import Customer, Linkage, SyncRun, Task, Workflow, WorkflowVersion

    rng = random.Random(7)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with transaction.atomic():
        made = []
        for i in range(customers):
            customer = Customer(
                name=f"customer-{i:03d}", base_url="https://rest.test.zuora.com", client_id=f"id-{i}"
            )
            customer.client_secret = f"secret-{i}"
            customer.last_sync_status = "failed" if i % 10 == 0 else "succeeded"
            customer.last_synced_at = now
            made.append(customer)
        Customer.objects.bulk_create(made)
        ids = list(Customer.objects.order_by("pk").values_list("pk", flat=True))
        per_customer = workflows // customers

        def workflow_rows() -> Iterator[tuple[Any, ...]]:
            for c_index, customer_id in enumerate(ids):
                for w in range(per_customer):
                    n = c_index * per_customer + w
                    name = f"Workflow {n} {rng.choice(ACTIONS)}"
                    yield (
                        customer_id,
                        str(100000 + n),
                        name,
                        rng.choice(("Active", "Inactive")),
                        "Workflow::Setup",
                        "1.0",
                        w % 2 == 0,
                        w % 3 == 0,
                        w % 5 == 0,
                        export_of(name, 5, rng),
                        "0" * 64,
                        now,
                        now,
                        now,
                    )

        wf_columns = [
            "customer",
            "zuora_id",
            "name",
            "status",
            "type",
            "version",
            "ondemand_trigger",
            "callout_trigger",
            "scheduled_trigger",
            "export_json",
            "content_hash",
            "last_synced_at",
            "created_at",
            "updated_at",
        ]
        copy_rows(Workflow, wf_columns, workflow_rows())
        workflow_ids = list(Workflow.objects.order_by("pk").values_list("pk", flat=True))

        task_columns = [
            "workflow",
            "zuora_task_id",
            "name",
            "description",
            "action_type",
            "object",
            "object_id",
            "call_type",
            "parent_task_id",
            "priority",
            "parameters",
            "css",
            "tags",
            "assignment",
            "zuora_org_id",
            "zuora_org_ids",
            "subprocess_id",
            "created_at",
            "updated_at",
        ]

        def task_rows(workflow_id: int, count: int) -> Iterator[tuple[Any, ...]]:
            for t in range(count):
                yield (
                    workflow_id,
                    str(1000 + t),
                    f"Task {t}",
                    "",
                    rng.choice(ACTIONS),
                    "Account",
                    "",
                    "SOAP",
                    "",
                    rng.choice(("High", "Medium", "Low")),
                    json.dumps({"to": "ops@example.com", "n": t}),
                    json.dumps({"top": "10px", "left": f"{t * 10}px"}),
                    "[]",
                    "[]",
                    "",
                    "[]",
                    "",
                    now,
                    now,
                )

        def all_tasks() -> Iterator[tuple[Any, ...]]:
            for workflow_id in workflow_ids:
                yield from task_rows(workflow_id, tasks_per_workflow)

        tasks = copy_rows(Task, task_columns, all_tasks())
        link_columns = [
            "workflow",
            "source_workflow_id",
            "source_task_id",
            "target_task_id",
            "target_workflow_id",
            "linkage_type",
        ]

        def link_rows(workflow_id: int, count: int) -> Iterator[tuple[Any, ...]]:
            yield (workflow_id, "1", "", "1000", "", "Start")
            for t in range(count - 1):
                yield (
                    workflow_id,
                    "",
                    str(1000 + t),
                    str(1000 + t + 1),
                    "",
                    "Success" if t % 4 else "Failure",
                )

        copy_rows(Linkage, link_columns, (r for w in workflow_ids for r in link_rows(w, tasks_per_workflow)))
        version_columns = [
            "workflow",
            "version",
            "exported_version_id",
            "export_json",
            "content_hash",
            "replaced_at",
        ]
        copy_rows(
            WorkflowVersion,
            version_columns,
            ((w, "0.9", "", export_of("old", 4, rng), "1" * 64, now) for w in workflow_ids[::50]),
        )
        run_columns = [
            "customer",
            "trigger",
            "full",
            "status",
            "started_at",
            "finished_at",
            "listed",
            "exported",
            "created",
            "updated",
            "unchanged",
            "deleted",
            "failed",
            "warnings",
            "error",
        ]
        copy_rows(
            SyncRun,
            run_columns,
            (
                (
                    c,
                    "schedule",
                    False,
                    "succeeded",
                    now,
                    now,
                    per_customer,
                    3,
                    0,
                    3,
                    per_customer - 3,
                    0,
                    0,
                    json.dumps(["workflow 1 skipped: export forbidden"]),
                    "",
                )
                for c in ids
                for _ in range(10)
            ),
        )
        big = Workflow.objects.create(
            customer_id=ids[0],
            zuora_id="big-graph",
            name="Big graph",
            status="Active",
            export_json=export_of("Big graph", big_graph, rng),
        )
        copy_rows(Task, task_columns, task_rows(big.pk, big_graph))
        # a branching graph, not a line: each task links to the next and to one a few steps ahead
        copy_rows(
            Linkage,
            link_columns,
            iter(
                [(big.pk, "1", "", "1000", "", "Start")]
                + [
                    (big.pk, "", str(1000 + t), str(1000 + t + 1), "", "Success")
                    for t in range(big_graph - 1)
                ]
                + [
                    (big.pk, "", str(1000 + t), str(1000 + t + 3), "", "Failure")
                    for t in range(0, big_graph - 3, 5)
                ]
            ),
        )
    from django.db import connection

    with connection.cursor() as cursor:  # what autovacuum does to tables that stopped changing
        cursor.execute("VACUUM ANALYZE")
    print(
        f"seeded {customers} customers, {len(workflow_ids) + 1} workflows, {tasks + big_graph} tasks "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return {"customer": ids[0], "workflow": workflow_ids[len(workflow_ids) // 2], "big": big.pk}


# -- measuring ----------------------------------------------------------------------------------


def server_side(ids: dict[str, int], repeat: int) -> list[tuple[str, float, float, int]]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from zwm.catalog.models import SyncRun, Task, WorkflowVersion
    from zwm.web.roles import Role
    from zwm.web.users import create_user

    user = User.objects.filter(username="bench").first() or create_user("bench", Role.ADMIN, PASSWORD)
    client = Client()
    client.force_login(user)
    task = Task.objects.filter(workflow_id=ids["workflow"]).first()
    run = SyncRun.objects.filter(customer_id=ids["customer"]).first()
    version = WorkflowVersion.objects.order_by("pk").first()
    assert task is not None
    assert run is not None
    assert version is not None
    pages = [
        ("home", "/"),
        ("customers", "/customers/"),
        ("customer detail", f"/customers/{ids['customer']}/"),
        ("workflows", "/workflows/"),
        ("workflows, page 200", "/workflows/?page=200"),
        ("workflows, search", "/workflows/?q=Iterate"),
        ("workflows, one customer", f"/workflows/?customer={ids['customer']}"),
        ("workflows, sorted by tasks", "/workflows/?sort=-tasks"),
        ("workflow detail (25 tasks)", f"/workflows/{ids['workflow']}/"),
        ("workflow detail (300 tasks)", f"/workflows/{ids['big']}/"),
        ("workflow JSON download", f"/workflows/{ids['workflow']}/download/"),
        ("version diff", f"/workflows/{version.workflow_id}/versions/"),
        ("tasks", "/tasks/"),
        ("tasks, action type", "/tasks/?action_type=Iterate"),
        ("tasks, one customer", f"/tasks/?customer={ids['customer']}"),
        ("task detail", f"/tasks/{task.pk}/"),
        ("sync runs", "/sync-runs/"),
        ("sync run detail", f"/sync-runs/{run.pk}/"),
        ("search", "/search/?q=Workflow 1999"),
        ("peer: admin workflows", "/admin/catalog/workflow/"),
        ("peer: admin tasks", "/admin/catalog/task/"),
        ("peer: admin customers", "/admin/catalog/customer/"),
    ]
    results = []
    for label, path in pages:
        response = client.get(path)  # warm-up (and a check)
        if response.status_code != 200:
            print(f"  {label}: HTTP {response.status_code}", file=sys.stderr)
            continue
        times = []
        for _ in range(repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                client.get(path)
                times.append((time.perf_counter() - started) * 1000)
        median, worst = statistics.median(times), max(times)
        results.append((label, median, worst, len(queries)))
        print(f"  {label:32} median {median:7.1f} ms  worst {worst:7.1f} ms  {len(queries):3} queries")
    return results


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def browser_layout(database_url: str, big: int, repeat: int) -> list[float]:
    """Milliseconds the 300-task graph's layout took in headless Chromium, per page load."""
    from playwright.sync_api import sync_playwright

    bind = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "DATABASE_URL": database_url}
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/zwm"), "web", "--bind", bind, "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://{bind}/"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            deadline = time.monotonic() + 30
            while True:
                try:
                    page.goto(f"{base}login/")
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
            page.fill("input[name=username]", "bench")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            layouts: list[float] = []
            inits: list[float] = []
            for _ in range(repeat):
                page.goto(f"{base}workflows/{big}/")
                page.wait_for_selector("#task-graph[data-layout-ms]")
                nodes = page.get_attribute("#task-graph", "data-nodes")
                layouts.append(float(page.get_attribute("#task-graph", "data-layout-ms") or "nan"))
                inits.append(float(page.get_attribute("#task-graph", "data-init-ms") or "nan"))
            print(
                f"  300-task graph ({nodes} nodes incl. Start): "
                f"layout median {statistics.median(layouts):.0f} ms, "
                f"worst {max(layouts):.0f} ms over {repeat} loads (of which creating the graph "
                f"{statistics.median(inits):.0f} ms)"
            )
            browser.close()
            return layouts
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--workflows", type=int, default=20_000)
    parser.add_argument("--tasks-per-workflow", type=int, default=25)
    parser.add_argument("--big-graph", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--keep", action="store_true", help="Do not drop the database at the end.")
    args = parser.parse_args()
    database = f"zwm_bench_web_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {database}")
    url = f"postgres://postgres@127.0.0.1:5432/{database}"
    try:
        setup_django(url)
        ids = seed(args.customers, args.workflows, args.tasks_per_workflow, args.big_graph)
        print("server side (Django test client, PostgreSQL):")
        server_side(ids, args.repeat)
        if not args.skip_browser:
            print("browser (zwm web + headless Chromium):")
            browser_layout(url, ids["big"], args.repeat)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    main()
