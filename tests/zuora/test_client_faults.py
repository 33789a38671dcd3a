"""Retries, backoff and typed errors against the simulator's injected faults."""

from __future__ import annotations

import logging
import time

import pytest

from zwm.zuora import (
    WorkflowDefinition,
    ZuoraClient,
    ZuoraInvalidResponseError,
    ZuoraNotFoundError,
    ZuoraPermissionError,
    ZuoraRateLimitedError,
    ZuoraRequestError,
    ZuoraTransientError,
)
from zwm.zuora.simulator import Faults, ZuoraSimulator

from .support import TENANT, ClientFactory


@pytest.fixture
def workflow_id(sim: ZuoraSimulator, client: ZuoraClient) -> str:
    """A workflow id, with the token already fetched and the counters reset."""
    client.validate_credentials()
    sim.reset_stats(TENANT)
    return sim.workflow_ids(TENANT)[0]


def test_429_waits_what_retry_after_says(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim.set_faults(TENANT, Faults(retry_after=1))
    sim.fail_next(TENANT, count=1, status=429)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="zwm.zuora"):
        client.export_workflow(workflow_id)
    assert time.monotonic() - started >= 0.95  # our own backoff would be <= 0.05 s here
    assert client.stats.waited_seconds == 1.0
    assert sim.stats(TENANT)["status_429"] == 1
    (record,) = [r for r in caplog.records if r.name == "zwm.zuora"]
    assert record.levelno == logging.WARNING
    assert "HTTP 429" in record.getMessage()
    assert "attempt 1 of 4" in record.getMessage()
    assert "retrying in 1.00s" in record.getMessage()


def test_429_asking_for_more_than_the_wait_budget_fails_at_once(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.set_faults(TENANT, Faults(retry_after=30))  # the client's budget is 5 s
    sim.fail_next(TENANT, count=1, status=429)
    with pytest.raises(ZuoraRateLimitedError, match="API Rate limit exceeded") as caught:
        client.export_workflow(workflow_id)
    assert (caught.value.retry_after, caught.value.status_code, caught.value.retryable) == (30.0, 429, True)
    assert client.stats.retries == 0


def test_persistent_429_ends_after_the_bounded_retries(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.set_faults(TENANT, Faults(rate_limit_rate=1.0, retry_after=0))
    with pytest.raises(ZuoraRateLimitedError) as caught:
        client.get_workflow(workflow_id)
    assert caught.value.retry_after == 0.0
    assert sim.stats(TENANT)["status_429"] == 4  # 1 + max_retries (3)


def test_429_without_retry_after_falls_back_to_ratelimit_reset_or_backoff(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.rate_limit_per_minute = 1  # per-minute window: 429 with RateLimit-Reset (up to 60 s), no Retry-After
    client.get_workflow(workflow_id)
    with pytest.raises(ZuoraRateLimitedError) as caught:
        client.get_workflow(workflow_id)
    # RateLimit-Reset exceeds the 5 s budget: backoff was used (fast), and the hint is reported.
    assert client.stats.retries == 3
    assert client.stats.waited_seconds < 1.0
    assert caught.value.retry_after is not None
    assert 5.0 < caught.value.retry_after <= 60.0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_5xx_burst_then_success(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str, status: int
) -> None:
    sim.fail_next(TENANT, count=3, status=status)
    assert client.export_workflow(workflow_id).tasks
    assert sim.stats(TENANT)["status_5xx"] == 3
    assert client.stats.retries == 3


def test_503_honours_its_retry_after(sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str) -> None:
    sim.fail_next(TENANT, count=1, status=503)  # the simulator's 503 carries Retry-After: 1
    client.get_workflow(workflow_id)
    assert client.stats.waited_seconds == 1.0


def test_persistent_5xx_is_transient_after_bounded_retries(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.fail_next(TENANT, count=10, status=500)
    with pytest.raises(ZuoraTransientError) as caught:
        client.export_workflow(workflow_id)
    error = caught.value
    assert type(error) is ZuoraTransientError
    assert (error.status_code, error.reason, error.retryable) == (500, "Internal Server Error", True)
    assert error.request_id
    assert sim.stats(TENANT)["status_5xx"] == 4


def test_gateway_html_error_body_becomes_a_readable_reason(
    sim: ZuoraSimulator, make_client: ClientFactory, workflow_id: str
) -> None:
    client = make_client(max_retries=0)
    sim.fail_next(TENANT, count=1, status=502)
    with pytest.raises(ZuoraTransientError, match="502 Bad Gateway") as caught:
        client.get_workflow(workflow_id)
    assert caught.value.status_code == 502


def test_hanging_requests_time_out_and_are_retried(
    sim: ZuoraSimulator, make_client: ClientFactory, workflow_id: str
) -> None:
    client = make_client(timeout=0.2, max_retries=2)
    sim.set_faults(TENANT, Faults(timeout_rate=1.0, hang_seconds=1.0))
    with pytest.raises(ZuoraTransientError, match="ReadTimeout") as caught:
        client.get_workflow(workflow_id)
    assert caught.value.status_code is None
    assert sim.stats(TENANT)["timeouts"] == 3
    assert client.stats.retries == 2


def test_dropped_connections_are_retried_then_transient(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.set_faults(TENANT, Faults(drop_rate=1.0))
    with pytest.raises(ZuoraTransientError, match="RemoteProtocolError"):
        client.export_workflow(workflow_id)
    assert sim.stats(TENANT)["dropped"] == 4


def test_some_drops_are_absorbed(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    sim.set_faults(TENANT, Faults(drop_rate=0.3, error_rate=0.2))
    ids = sim.workflow_ids(TENANT)
    exports = [client.export_workflow(workflow_id) for workflow_id in ids]
    assert len(exports) == len(ids)
    stats = sim.stats(TENANT)
    assert stats["dropped"] + stats["status_5xx"] > 0
    assert client.stats.retries == stats["dropped"] + stats["status_5xx"]


def test_malformed_bodies_are_invalid_responses_and_not_retried(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.set_faults(TENANT, Faults(malformed_rate=1.0))
    for _ in range(6):  # the simulator picks truncated JSON, an HTML page or an empty body
        with pytest.raises(ZuoraInvalidResponseError, match="not JSON") as caught:
            client.list_workflows()
        assert caught.value.status_code == 200
        assert caught.value.retryable is False
    assert sim.stats(TENANT)["malformed"] == 6
    assert client.stats.retries == 0


def test_one_broken_export_does_not_affect_the_others(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    broken, *others = sim.workflow_ids(TENANT)
    sim.set_faults(TENANT, Faults(malformed_export_ids=frozenset({int(broken)})))
    with pytest.raises(ZuoraInvalidResponseError, match=f"export of workflow {broken}"):
        client.export_workflow(broken)
    assert all(client.export_workflow(workflow_id).tasks for workflow_id in others)


@pytest.mark.parametrize("field", ["tasks", "linkages", "workflow"])
def test_export_missing_a_required_part_is_invalid(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str, field: str
) -> None:
    sim.set_faults(
        TENANT, Faults(missing_field_export_ids=frozenset({int(workflow_id)}), missing_export_field=field)
    )
    with pytest.raises(ZuoraInvalidResponseError, match=f"'{field}'"):
        client.export_workflow(workflow_id)


def test_export_without_workflow_id_is_tolerated(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    faults = Faults(
        missing_field_export_ids=frozenset({int(workflow_id)}), missing_export_field="workflow.id"
    )
    sim.set_faults(TENANT, faults)
    export = client.export_workflow(workflow_id)
    assert export.version_id is None
    assert export.tasks


def test_exports_with_missing_task_ids_are_invalid(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    sim.set_faults(TENANT, Faults(missing_fields_rate=1.0))
    with pytest.raises(ZuoraInvalidResponseError, match=r"task #0: 'id' is missing"):
        client.export_workflow(workflow_id)


def test_definitions_missing_fields_parse_tolerantly_unless_the_id_is_gone(
    sim: ZuoraSimulator, client: ZuoraClient
) -> None:
    """The simulator drops one of id, name, updatedAt, active_version from each definition."""
    sim.set_faults(TENANT, Faults(missing_fields_rate=1.0))
    outcomes: list[WorkflowDefinition | ZuoraInvalidResponseError] = []
    for _ in range(4):
        for workflow_id in sim.workflow_ids(TENANT):
            try:
                outcomes.append(client.get_workflow(workflow_id))
            except ZuoraInvalidResponseError as error:
                outcomes.append(error)
    failures = [str(o) for o in outcomes if isinstance(o, ZuoraInvalidResponseError)]
    assert failures  # some lacked the id...
    assert all("'id' is missing" in message for message in failures)  # ...and only that is fatal
    parsed = [o for o in outcomes if isinstance(o, WorkflowDefinition)]
    assert all(d.name == "" or d.updated_at is None or d.active_version_id is None for d in parsed)
    assert {d.name == "" for d in parsed} == {True, False}


def test_listing_with_an_item_without_id_fails_as_a_whole(
    sim: ZuoraSimulator, make_client: ClientFactory
) -> None:
    sim.add_workflow(TENANT)  # 6 items, each losing a field at random: with seed 0, one loses its id
    sim.set_faults(TENANT, Faults(missing_fields_rate=1.0))
    with pytest.raises(ZuoraInvalidResponseError, match=r"workflow list item #\d+: 'id' is missing"):
        make_client().list_workflows()


def test_workflow_gone_between_listing_and_export(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    listed = [wf.id for wf in client.list_workflows()]
    sim.set_faults(TENANT, Faults(vanish_during_export_ids=frozenset({int(listed[1])})))
    with pytest.raises(ZuoraNotFoundError, match="Invalid ID") as caught:
        client.export_workflow(listed[1])
    assert (caught.value.status_code, caught.value.retryable) == (404, False)
    assert sim.stats(TENANT)["export"] == 1  # never retried


def test_version_errors_trust_the_http_status(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str
) -> None:
    with pytest.raises(ZuoraRequestError, match="The input of version 'abc' is invalid") as invalid:
        client.export_workflow(workflow_id, version="abc")
    assert invalid.value.status_code == 400
    with pytest.raises(ZuoraNotFoundError, match=r"Workflow version '9\.9\.9' is not found") as missing:
        client.export_workflow(workflow_id, version="9.9.9")
    assert missing.value.status_code == 404  # the body says 400
    assert client.export_workflow(workflow_id, version="latest").tasks
    assert client.stats.retries == 0


@pytest.mark.parametrize(
    ("status", "error"), [(403, ZuoraPermissionError), (409, ZuoraRequestError), (422, ZuoraRequestError)]
)
def test_other_4xx_are_final(
    sim: ZuoraSimulator, client: ZuoraClient, workflow_id: str, status: int, error: type[Exception]
) -> None:
    sim.fail_next(TENANT, count=1, status=status)
    with pytest.raises(error, match=f"Simulated error {status}"):
        client.get_workflow(workflow_id)
    assert client.stats.retries == 0


def test_a_failing_listing_page_fails_the_listing_after_the_earlier_pages(
    sim: ZuoraSimulator, client: ZuoraClient
) -> None:
    sim.set_faults(TENANT, Faults(list_page_error=2))
    seen: list[str] = []
    with pytest.raises(ZuoraTransientError, match="workflow list page 2"):
        seen.extend(wf.id for wf in client.iter_workflows(page_length=2))
    assert seen == sim.workflow_ids(TENANT)[:2]
