"""Structured logs: context on every line, plain or JSON, and no secret through any path."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from workerkit import Workers

from zwm import logcontext
from zwm.ops.logs import ContextFilter, JsonFormatter, PlainFormatter, RedactFilter
from zwm.queue.context import JobContext, activate, deactivate

HERE = Path(__file__).resolve().parent
SECRET_KEY = "q" * 20 + "-log-test-secret-key"
METRICS_TOKEN = "metrics-token-0123456789"
DB_PASSWORD = "db-pa55word-xyz"
RAW = "raw-zuora-secret-7c1d"
"""A secret no setting knows: only its shape (after client_secret=, Bearer, password=)
can give it away."""


@pytest.fixture
def secrets(configure: Callable[..., None]) -> tuple[str, ...]:
    configure(
        SECRET_KEY=SECRET_KEY,
        ZWM_METRICS_TOKEN=METRICS_TOKEN,
        REDIS_URL=f"redis://:{DB_PASSWORD}@127.0.0.1:6379/0",
    )
    return (SECRET_KEY, METRICS_TOKEN, DB_PASSWORD, RAW)


@pytest.fixture(params=["plain", "json"])
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The console handler as logging_config builds it, writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(PlainFormatter() if request.param == "plain" else JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)  # not `.level =`: that keeps the cached isEnabledFor answers
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def every_log_path() -> None:
    """A secret through each way code writes logs: every layer's logger, arguments,
    f-strings, extra context, exceptions with tracebacks, stack traces."""
    for name in ("", "zwm.queue", "zwm.catalog.services.sync", "zwm.zuora.client", "django.request", "httpx"):
        logger = logging.getLogger(name)
        logger.warning("token=%s", RAW)
        logger.warning(f"client_secret: {RAW}")
        logger.error("header %s", {"Authorization": f"Bearer {RAW}"})
        logger.warning("settings leak %s and %s", SECRET_KEY, METRICS_TOKEN)
        logger.warning("connecting to redis://:%s@127.0.0.1:6379/0", DB_PASSWORD)
    try:
        raise ValueError(f"bad response {{'access_token': '{RAW}', 'key': '{SECRET_KEY}'}}")
    except ValueError:
        logging.getLogger("zwm.queue").exception("job failed")
    logging.getLogger("zwm").warning("where am I (password=%s)", RAW, stack_info=True)
    with logcontext.bind(customer=f"Acme password={RAW}", sync_run=7):
        logging.getLogger("zwm.catalog").info("synced")


def test_no_secret_reaches_the_handler_through_any_path(
    secrets: tuple[str, ...], captured: io.StringIO
) -> None:
    every_log_path()
    text = captured.getvalue()
    assert text.count("[redacted]") >= 30
    for secret in secrets:
        assert secret not in text
    assert "Traceback" in text  # the traceback is kept, only redacted


def test_json_lines_carry_the_job_and_the_sync_context(secrets: tuple[str, ...]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("zwm.test.context")
    logger.addHandler(handler)
    logger.propagate = False
    token = activate(
        JobContext(job_id="j1", attempt=2, connection="database", queue="high", job_class="a.Job")
    )
    try:
        with logcontext.bind(customer="Acme", sync_run=42):
            logger.warning("sync %s", "started")
        logger.warning("outside the sync")
    finally:
        deactivate(token)
        logger.removeHandler(handler)
        logger.propagate = True
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "sync started"
    assert {k: inside[k] for k in ("job_id", "job_class", "queue", "attempt", "customer", "sync_run")} == {
        "job_id": "j1",
        "job_class": "a.Job",
        "queue": "high",
        "attempt": 2,
        "customer": "Acme",
        "sync_run": 42,
    }
    assert "customer" not in outside
    assert outside["job_id"] == "j1"


def worker_run(workers: Workers, secrets: tuple[str, ...], log_format: str) -> str:
    from ops_test_jobs import LogsASecret

    LogsASecret(RAW).dispatch()
    workers.env.update(
        SECRET_KEY=SECRET_KEY,
        ZWM_METRICS_TOKEN=METRICS_TOKEN,
        LOG_LEVEL="INFO",
        ZWM_LOG_FORMAT=log_format,
        PYTHONPATH=os.pathsep.join([str(HERE), workers.env["PYTHONPATH"]]),
    )
    done = workers.work("--queue", "default", "--stop-when-empty", "--verbose")
    assert done.returncode == 0, done.stderr
    for secret in secrets:
        assert secret not in done.stderr + done.stdout
    assert "Failed:" in done.stdout  # the seed's Processing / Processed / Failed lines stay
    return done.stderr


def test_a_real_worker_writes_json_lines_with_context_and_no_secret(
    workers: Workers, secrets: tuple[str, ...]
) -> None:
    lines = [json.loads(line) for line in worker_run(workers, secrets, "json").splitlines()]
    own = next(line for line in lines if line["logger"] == "zwm.catalog.services.sync")
    assert own["message"] == "calling Zuora with client_secret=[redacted]"
    assert own["job_class"] == "ops_test_jobs.LogsASecret"
    assert own["queue"] == "default"
    assert own["attempt"] == 1
    assert len(own["job_id"]) == 32
    failed = next(
        line for line in lines if line["message"].endswith("failed: Zuora rejected password=[redacted]")
    )
    assert failed["level"] == "WARNING"


def test_a_real_worker_writes_plain_lines_with_context(workers: Workers, secrets: tuple[str, ...]) -> None:
    stderr = worker_run(workers, secrets, "plain")
    line = next(line for line in stderr.splitlines() if "Authorization" in line)
    assert " WARNING zwm.zuora.client: retrying with Authorization: Bearer [redacted] {job_id=" in line
    assert "job_class=ops_test_jobs.LogsASecret queue=default attempt=1}" in line


@pytest.mark.django_db(transaction=True)
def test_a_syncs_lines_carry_the_customer_and_run_even_from_its_export_threads() -> None:
    from zwm.catalog.models import Customer
    from zwm.catalog.services.sync import sync_customer
    from zwm.zuora.simulator import ZuoraSimulator

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    zuora_log = logging.getLogger("zwm.zuora")
    zuora_log.addHandler(handler)
    level = zuora_log.level
    zuora_log.setLevel(logging.DEBUG)  # not `.level =`: that keeps the cached isEnabledFor answers
    try:
        with ZuoraSimulator(seed=5) as sim:
            tenant = sim.add_tenant("globex", workflows=4)
            customer = Customer(name="globex", base_url=sim.base_url, client_id=tenant.client_id)
            customer.client_secret = tenant.client_secret
            customer.save()
            run = sync_customer(customer, workers=2)
    finally:
        zuora_log.removeHandler(handler)
        zuora_log.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    exports = [line for line in lines if line["message"].startswith("Zuora export of workflow")]
    assert len(exports) == 4
    assert {(line["customer"], line["sync_run"]) for line in exports} == {("globex", run.pk)}
