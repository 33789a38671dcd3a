"""``/metrics``: the bearer token, and values that match the stores after a known run --
jobs run by a real worker, a customer synced from the Zuora simulator by a real process."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from django.db.models import Count
from prometheus_client.parser import text_string_to_metric_families
from workerkit import Workers

from zwm.catalog.models import Customer, SyncRun, Workflow
from zwm.queue.connections import get_driver
from zwm.queue.job import Envelope
from zwm.queue.models import FailedJob, JobExecution
from zwm.queue.registry import Registration, Status
from zwm.zuora.simulator import ZuoraSimulator

HERE = Path(__file__).resolve().parent
TOKEN = "scrape-token-0123456789abcdef"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metrics_on(configure: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The token set, and a metrics directory of this test's own (nothing else counts into it)."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    configure(ZWM_METRICS_TOKEN=TOKEN)
    return directory


def scrape(live_server: object, token: str | None = TOKEN, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return httpx.get(f"{live_server.url}/metrics", headers=headers, timeout=30)  # type: ignore[attr-defined]


def samples(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def total(found: Samples, name: str, **labels: str) -> float:
    """Sum over every sample of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("token", "scheme"),
    [
        (None, "Bearer"),
        ("wrong-token-0123456789abcdef", "Bearer"),
        (TOKEN, "Basic"),
        (TOKEN + "x", "Bearer"),
        (TOKEN[:-1], "Bearer"),
    ],
)
def test_a_missing_or_wrong_token_is_401(
    live_server: object, metrics_on: Path, token: str | None, scheme: str
) -> None:
    response = scrape(live_server, token, scheme)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "zwm_" not in response.text


@pytest.mark.django_db(transaction=True)
def test_metrics_are_off_without_a_token(live_server: object, configure: Callable[..., None]) -> None:
    configure(ZWM_METRICS_TOKEN="")
    assert scrape(live_server, "anything-at-all-1234").status_code == 404


@pytest.fixture
def sim() -> Iterator[ZuoraSimulator]:
    with ZuoraSimulator(seed=11) as simulator:
        yield simulator


def test_scraped_values_match_the_stores_after_a_known_run(
    live_server: object, metrics_on: Path, workers: Workers, sim: ZuoraSimulator, tmp_path: Path
) -> None:
    from ops_test_jobs import FailsWhileFlagged

    workers.env.update(
        PROMETHEUS_MULTIPROC_DIR=str(metrics_on),
        PYTHONPATH=os.pathsep.join([str(HERE), workers.env["PYTHONPATH"]]),
    )
    flag = tmp_path / "flag"
    flag.write_text("on")
    get_driver("database").push([Envelope(job="zwm.queue.diagnostics.Noop", args={}) for _ in range(4)])
    for _ in range(2):
        FailsWhileFlagged(str(flag), "x").dispatch()
    assert workers.work("--queue", "default", "--stop-when-empty", "--sleep", "0").returncode == 0
    get_driver("database").push([Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue="reports")])
    get_driver("database").push(
        [Envelope(job="zwm.queue.diagnostics.Noop", args={}, queue="reports")],
        available_at=time.time() + 3600,
    )
    Registration(name=None, connection="database", queues=["default"]).heartbeat(
        Status.IDLE, processed=0, failed=0, current=None
    )

    tenant = sim.add_tenant("acme", workflows=7)
    customer = Customer(name="acme", base_url=sim.base_url, client_id=tenant.client_id)
    customer.client_secret = tenant.client_secret
    customer.save()
    sim.fail_next("acme", 1, status=429)  # one rate-limit answer, retried by the client
    synced = workers.run("sync-workflows", "--customer=acme", "--sync")
    assert synced.returncode == 0, synced.stderr
    sim.expire_tokens("acme")  # the next call is refused once: one token refresh
    assert workers.run("sync-workflows", "--customer=acme", "--sync").returncode == 0

    response = scrape(live_server)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = samples(response.text)

    executions = JobExecution.objects.values("job_class", "status").annotate(n=Count("id"))
    assert {(r["job_class"], r["status"]): r["n"] for r in executions} == {
        ("zwm.queue.diagnostics.Noop", "succeeded"): 4,
        ("ops_test_jobs.FailsWhileFlagged", "failed"): 2,
    }
    for row in executions:
        labels = {"queue": "default", "job_class": row["job_class"]}
        assert value(found, "zwm_jobs_total", outcome=row["status"], **labels) == row["n"]
    assert (
        value(
            found, "zwm_job_duration_seconds_count", queue="default", job_class="zwm.queue.diagnostics.Noop"
        )
        == 4
    )

    counts = get_driver("database").counts()
    assert counts["reports"].waiting == 1
    for queue, state in [("reports", "waiting"), ("reports", "delayed"), ("default", "waiting")]:
        expected = getattr(counts[queue], state) if queue in counts else 0
        assert value(found, "zwm_queue_jobs", queue=queue, state=state) == expected
    assert 0 < value(found, "zwm_queue_oldest_waiting_seconds", queue="reports") < 600
    assert value(found, "zwm_failed_jobs", queue="default") == FailedJob.objects.count() == 2
    assert value(found, "zwm_workers_alive") == 1

    assert (
        value(found, "zwm_workflows", customer="acme")
        == Workflow.objects.filter(customer=customer).count()
        == 7
    )
    assert (
        value(found, "zwm_sync_runs", status="succeeded")
        == SyncRun.objects.filter(status="succeeded").count()
        == 2
    )
    assert value(found, "zwm_customer_last_sync_ok", customer="acme") == 1

    stats = sim.stats("acme")
    assert total(found, "zwm_zuora_requests_total", endpoint="/oauth/token", status="200") == stats["token"]
    listings = total(found, "zwm_zuora_requests_total", endpoint="/workflows")
    assert listings == stats["list"] + stats["status_401"]  # the refused call, then its replay
    assert total(found, "zwm_zuora_requests_total", status="429") == stats["status_429"] == 1
    assert total(found, "zwm_zuora_rate_limited_total") == 1
    assert total(found, "zwm_zuora_requests_total", status="401") == stats["status_401"] == 1
    assert total(found, "zwm_zuora_token_refreshes_total") == 1
    exports = total(found, "zwm_zuora_requests_total", endpoint="/workflows/{id}/export", status="200")
    assert exports == stats["export"] > 0


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1/workflows/123/export", "/v1/workflows/{id}/export"),
        ("/workflows/8a8aa0b97c0f4bd0017c1c5e3b2a21f0/versions", "/workflows/{id}/versions"),
        ("/workflows", "/workflows"),
        ("/oauth/token", "/oauth/token"),
    ],
)
def test_zuora_endpoints_are_few(path: str, endpoint: str) -> None:
    from zwm.zuora.observe import endpoint_of

    assert endpoint_of(path) == endpoint


def test_metrics_while_the_database_is_down_still_answer(tmp_path: Path) -> None:
    """A 200 with what is known (here: no process has counted anything yet) rather than a
    500 page; each store section left out is logged."""
    import subprocess
    import sys

    from rediskit import free_port

    script = (
        "import django; django.setup(); from django.test import Client; "
        f"r = Client().get('/metrics', HTTP_HOST='localhost', HTTP_AUTHORIZATION='Bearer {TOKEN}'); "
        "print(r.status_code); print(r.content.decode())"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "zwm.settings",
        "ZWM_DATA_DIR": str(tmp_path),
        "ZWM_METRICS_TOKEN": TOKEN,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_port()}/zwm_nowhere",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    status, _, body = done.stdout.partition("\n")
    assert status == "200", done.stderr
    names = {family.name for family in text_string_to_metric_families(body)}
    assert "zwm_workers_alive" not in names
    for section in ("queues", "workers", "catalog"):
        assert f"metrics: {section} unavailable: OperationalError" in done.stderr
