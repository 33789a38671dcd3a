"""Fixtures of the web tests.

Server-side tests use Django's test client with users of each role. Browser tests use a
real app -- ``zwm up`` in a child process, on a free port and a private data directory --
and real headless Chromium driven by Playwright. One app and one browser per module,
not per test: starting them is the slow part. Chromium or Playwright missing skips the
browser tests with the reason (fails under CI=true). Each browser test can save
screenshots under ``var/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.test import Client
from django.utils import timezone

from zwm.catalog.models import Customer, Linkage, SyncRun, Task, Workflow, WorkflowVersion
from zwm.catalog.token_cache import shared_token_cache
from zwm.web.roles import Role
from zwm.web.users import create_user
from zwm.zuora.simulator import ZuoraSimulator

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct-horse-battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def client_as(db: None) -> Callable[[Role | None], Client]:
    """``client_as(Role.VIEWER)``: a test client signed in as a new user of that role
    (``None``: signed in, but in no role group)."""

    def make(role: Role | None) -> Client:
        name = role.label if role else "norole"
        if role is None:
            from django.contrib.auth.models import User

            user = User.objects.create_user(username=name, password=PASSWORD)
        else:
            user = create_user(name, role, PASSWORD)
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture(scope="module")
def sim() -> Iterator[ZuoraSimulator]:
    """A Zuora simulator on loopback (a real HTTP server), shared by a module's tests."""
    with ZuoraSimulator(seed=11) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _fresh_token_memory() -> Iterator[None]:
    """Each test starts with an empty in-process token layer (rows live in the test database)."""
    shared_token_cache()._memory.clear()
    yield
    shared_token_cache()._memory.clear()


HOSTILE = "<script>alert('x')</script>"


@dataclass
class Catalog:
    customer: Customer
    workflow: Workflow
    tasks: list[Task]
    version: WorkflowVersion
    run: SyncRun


def make_catalog(name: str = "acme", *, workflow_name: str = "Invoice run", tasks: int = 3) -> Catalog:
    """A customer with one synced workflow: a chain of ``tasks`` tasks, one older version and a run."""
    customer = Customer(name=name, base_url="https://rest.test.zuora.com", client_id="id-" + name)
    customer.client_secret = "stored-secret-" + name
    customer.save()
    export = {"workflow": {"name": workflow_name, "version": "2"}, "tasks": [{"id": i} for i in range(tasks)]}
    workflow = Workflow.objects.create(
        customer=customer,
        zuora_id=f"wf-{name}",
        name=workflow_name,
        status="Active",
        type="Workflow::Setup",
        version="2",
        ondemand_trigger=True,
        export_json=json.dumps(export),
    )
    made = [
        Task.objects.create(
            workflow=workflow,
            zuora_task_id=str(100 + i),
            name=f"Step {i}",
            action_type="Iterate" if i == 1 else "Email",
            priority="High",
            parameters={"to": "ops@example.com", "note": HOSTILE},
            css={"top": "10px", "left": f"{i * 100}px"},
        )
        for i in range(tasks)
    ]
    Linkage.objects.create(
        workflow=workflow, source_workflow_id=workflow.zuora_id, target_task_id="100", linkage_type="Start"
    )
    for a, b in itertools.pairwise(made):
        Linkage.objects.create(
            workflow=workflow,
            source_task_id=a.zuora_task_id,
            target_task_id=b.zuora_task_id,
            linkage_type="Success",
        )
    old = {"workflow": {"name": workflow_name, "version": "1"}, "tasks": [{"id": 0}]}
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        version="1",
        export_json=json.dumps(old),
        content_hash="0" * 64,
        replaced_at=timezone.now(),
    )
    run = SyncRun.objects.create(
        customer=customer,
        trigger=SyncRun.Trigger.UI,
        status=SyncRun.Status.SUCCEEDED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        listed=1,
        exported=1,
        warnings=[f"workflow {HOSTILE} skipped"],
    )
    return Catalog(customer, workflow, made, version, run)


@pytest.fixture
def catalog(db: None) -> Catalog:
    return make_catalog()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium_path() -> str:
    """Where Chromium is, or skip (fail under CI) saying what is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright for Python is not installed (pip install -e '.[dev]')"
    else:
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        if found:
            return found
        reason = "Chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


@dataclass
class LiveApp:
    """A running ``zwm up``: its URL, and ``zwm`` commands against the same database."""

    url: str
    env: dict[str, str]

    def zwm(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zwm", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )


def _wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"zwm up exited with {process.returncode}: {process.stdout and process.stdout.read()}"
            )
        try:
            with urllib.request.urlopen(f"{url}login/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"zwm up did not serve {url} within {timeout:.0f}s")


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """``zwm up --no-demo`` (web, one worker, no scheduler) on SQLite in a private directory."""
    chromium_path()
    data_dir = tmp_path_factory.mktemp("live-app")
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "QUEUE_CONNECTION", "REDIS_URL"}
    }
    env = {**clean, "ZWM_DATA_DIR": str(data_dir), "ZWM_DEMO": "false", "ZWM_SYNC_SCHEDULE": ""}
    bind = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zwm",
            "up",
            "--no-demo",
            "--no-scheduler",
            "--processes",
            "1",
            "--bind",
            bind,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_serving(f"http://{bind}/", process)
        yield LiveApp(url=f"http://{bind}/", env=env)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, downloads allowed."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot("customers")`` saves var/screenshots/<test>-customers.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, **options: Any) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True, **options)
        return path

    return take


def sign_in(page: Page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{url}login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
