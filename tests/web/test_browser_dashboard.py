"""The Jobs dashboard in real headless Chromium, against ``zwm web`` and real workers, on
the database queue and on Redis (the whole module runs once per connection).

What the issue asks to see: a failing job shows up in Failed Jobs, Retry puts it back, a
worker runs it and Jobs shows it succeeded; a batch's progress bar advances while a worker
runs; the overview's counters change without a reload; a paused queue is skipped by a
running worker until resumed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from serverkit import REDIS_URL, require_server

from .conftest import PASSWORD, _wait_until_serving, chromium_path, free_port, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
WAIT_MS = 30_000


@dataclass
class DashboardApp:
    url: str
    env: dict[str, str]
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def zwm(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "zwm", *args], env=self.env, input=stdin, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def dispatch(self, job: str, queue: str, **args: object) -> str:
        out = self.zwm("queue:dispatch", job, "--queue", queue, "--args", json.dumps(args), "--json")
        [job_id] = json.loads(out)["queued"]
        return str(job_id)

    def start(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "zwm", *args], env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.processes.append(process)
        return process


@pytest.fixture(scope="module", params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardApp]:
    """``zwm web`` on a private SQLite database, the queue on ``request.param``, and one
    worker serving ``held,default`` for the whole module."""
    chromium_path()
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "QUEUE_CONNECTION", "REDIS_URL"}
    }
    env = {
        **clean,
        "ZWM_DATA_DIR": str(tmp_path_factory.mktemp("dashboard")),
        "ZWM_SYNC_SCHEDULE": "",
        "QUEUE_CONNECTION": request.param,
        "PYTHONPATH": os.pathsep.join([str(HERE), clean.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "LOG_LEVEL": "WARNING",
    }
    prefix = f"zwm-test-{uuid.uuid4().hex}"
    if request.param == "redis":
        require_server("Redis", REDIS_URL, 6379)
        env.update(REDIS_URL=REDIS_URL, ZWM_QUEUE_PREFIX=prefix)
    app = DashboardApp(url="", env=env)
    app.zwm("migrate")
    app.zwm("user:create", "--username", "operator", "--role", "operator", "--password-stdin", stdin=PASSWORD)
    bind = f"127.0.0.1:{free_port()}"
    web = app.start("web", "--bind", bind)
    app.url = f"http://{bind}/"
    # One job at a time, so a batch's progress moves through values a page can see.
    app.start("queue:work", "--queue", "held,default", "--sleep", "0.2", "--lease", "5", "--concurrency", "1")
    try:
        _wait_until_serving(app.url, web)
        yield app
    finally:
        for process in app.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in app.processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        if request.param == "redis":
            from zwm.queue.drivers.redis import RedisDriver

            driver = RedisDriver(REDIS_URL, prefix=prefix)
            driver.delete_all_keys()
            driver.close()


@pytest.fixture
def signed_in(app: DashboardApp, page: Page) -> Page:
    sign_in(page, app.url, "operator")
    page.wait_for_url(re.compile(r".*/$"))
    return page


def reload_until(page: Page, text: str, selector: str) -> None:
    """Reload (Jobs and Waiting do not refresh themselves) until ``selector`` shows ``text``."""
    for _ in range(60):
        row = page.locator(selector)
        if row.count() and text in row.first.inner_text():
            return
        page.wait_for_timeout(500)
        page.reload()
    pytest.fail(f"{selector} never showed {text!r}")


def test_a_failed_job_retried_from_the_page_runs_and_succeeds(
    app: DashboardApp, signed_in: Page, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page = signed_in
    fixed = tmp_path / "fixed"
    job_id = app.dispatch("dashboard_jobs.FailsUntilFileExists", "default", path=str(fixed))
    page.goto(f"{app.url}jobs/failed/")
    reload_until(page, "waiting for", f'tr[data-failed="{job_id}"]')
    fixed.touch()  # the operator fixes the cause, then retries
    page.locator(f'tr[data-failed="{job_id}"] [data-action="retry"]').click()
    expect(page.locator("#messages")).to_contain_text("retried")
    page.goto(f"{app.url}jobs/history/?q={job_id}")
    reload_until(page, "succeeded", f'tr[data-job="{job_id}"]')
    expect(page.locator(f'tr[data-job="{job_id}"] [data-status]').first).to_have_text("succeeded")
    page.goto(f"{app.url}jobs/failed/")
    expect(page.locator(f'tr[data-failed="{job_id}"]')).to_have_count(0)


def test_a_batch_progress_bar_advances_while_a_worker_runs(app: DashboardApp, signed_in: Page) -> None:
    page = signed_in
    done = subprocess.run(
        [sys.executable, "-m", "dashboard_jobs", "batch", "8", "0.6"], env=app.env, capture_output=True,
        text=True, timeout=60, cwd=HERE,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    batch_id = done.stdout.strip()
    page.goto(f"{app.url}jobs/batches/{batch_id}/")
    bar = page.locator("#batch-live progress")
    seen = {int(bar.get_attribute("value") or 0)}
    for _ in range(120):  # the fragment polls itself; no reload here
        seen.add(int(page.locator("#batch-live progress").get_attribute("value") or 0))
        if 100 in seen:
            break
        page.wait_for_timeout(250)
    assert 100 in seen
    assert len(seen) >= 3, seen  # it moved through intermediate values, not straight to done
    assert page.url.endswith(f"/jobs/batches/{batch_id}/")


def test_overview_counters_change_without_a_reload(
    app: DashboardApp, signed_in: Page, screenshot: Callable[[str], Path]
) -> None:
    from playwright.sync_api import expect

    page = signed_in
    page.goto(f"{app.url}jobs/")
    page.evaluate("window.__marker = 'same page'")
    queue = f"parked-{uuid.uuid4().hex[:6]}"  # no worker serves it, so its jobs stay waiting
    for _ in range(2):
        app.dispatch("zwm.queue.diagnostics.Noop", queue)
    expect(page.locator(f'#live tr[data-queue="{queue}"] td').nth(1)).to_have_text("2", timeout=WAIT_MS)
    assert page.evaluate("window.__marker") == "same page"
    expect(page.locator(".charts [data-chart=throughput] canvas")).to_have_count(1)
    screenshot("overview")


def test_a_paused_queue_is_skipped_by_a_running_worker_until_resumed(
    app: DashboardApp, signed_in: Page
) -> None:
    from playwright.sync_api import expect

    page = signed_in
    app.dispatch("zwm.queue.diagnostics.Noop", "default")  # the queue shows up on the page
    page.goto(f"{app.url}jobs/queues/")
    page.fill("#pause-queue input[name=queue]", "held")
    page.locator("#pause-queue button").click()
    expect(page.locator("#messages")).to_contain_text("Queue held paused")
    page.wait_for_timeout(1500)  # a worker reads the paused set at most once a second
    held = app.dispatch("zwm.queue.diagnostics.Noop", "held")
    after = app.dispatch("zwm.queue.diagnostics.Noop", "default")  # 'held' comes first for the worker
    page.goto(f"{app.url}jobs/history/?q={after}")
    reload_until(page, "succeeded", f'tr[data-job="{after}"]')
    page.goto(f"{app.url}jobs/waiting/?queue=held")
    expect(page.locator(f'tr[data-job="{held}"]')).to_contain_text("waiting")
    page.goto(f"{app.url}jobs/queues/")
    page.locator('tr[data-queue="held"] [data-action="resume"]').click()
    expect(page.locator("#messages")).to_contain_text("Queue held resumed.")
    page.goto(f"{app.url}jobs/history/?q={held}")
    reload_until(page, "succeeded", f'tr[data-job="{held}"]')
