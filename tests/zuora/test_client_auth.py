"""OAuth against the simulator: caching, expiry, 401 refresh, bad credentials."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from zwm.zuora import Credentials, ZuoraAuthenticationError, ZuoraClient, ZuoraRateLimitedError
from zwm.zuora.simulator import SimTenant, ZuoraSimulator

from .support import TENANT, ClientFactory


def test_token_is_cached_and_shared_by_clients_of_one_tenant(
    sim: ZuoraSimulator, make_client: ClientFactory
) -> None:
    first, second = make_client(), make_client()
    ids = [wf.id for wf in first.list_workflows()]
    for workflow_id in ids:
        second.export_workflow(workflow_id)
    first.get_workflow(ids[0])
    assert sim.stats(TENANT)["token"] == 1
    assert first.stats.token_requests + second.stats.token_requests == 1


def test_a_wrong_secret_is_never_lent_the_cached_token_of_the_right_one(
    sim: ZuoraSimulator, tenant: SimTenant, make_client: ClientFactory
) -> None:
    right = make_client()
    right.list_workflows()  # the right credentials' token is now cached
    wrong = make_client(Credentials(sim.base_url, tenant.client_id, "not-the-secret"))
    with pytest.raises(ZuoraAuthenticationError):
        wrong.list_workflows()
    assert sim.stats(TENANT)["token_denied"] == 1
    assert sim.stats(TENANT)["list"] == 1  # only the right client listed


def test_token_is_refreshed_before_it_expires(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    sim.token_ttl = 1  # the client stops using it after ttl/2
    workflow_id = client.list_workflows()[0].id
    time.sleep(0.6)
    client.export_workflow(workflow_id)
    stats = sim.stats(TENANT)
    assert (stats["token"], stats["status_401"]) == (2, 0)  # refreshed proactively, never refused


def test_revoked_token_is_refreshed_once_and_the_call_replayed(
    sim: ZuoraSimulator, client: ZuoraClient
) -> None:
    workflow_id = client.list_workflows()[0].id
    sim.expire_tokens(TENANT)
    export = client.export_workflow(workflow_id)
    assert export.tasks
    stats = sim.stats(TENANT)
    assert (stats["token"], stats["status_401"], stats["export"]) == (2, 1, 1)  # 401s are not routed
    assert client.stats.auth_refreshes == 1


def test_concurrent_401s_cause_a_single_refresh(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    ids = [wf.id for wf in client.list_workflows()]
    sim.latency = 0.05  # keep the requests overlapping
    sim.expire_tokens(TENANT)
    with ThreadPoolExecutor(5) as pool:
        exports = list(pool.map(client.export_workflow, ids))
    assert len(exports) == len(ids)
    assert sim.stats(TENANT)["token"] == 2


def test_401_that_survives_a_refresh_is_an_authentication_error(
    sim: ZuoraSimulator, client: ZuoraClient
) -> None:
    client.list_workflows()
    sim.fail_next(TENANT, count=2, status=401)
    with pytest.raises(ZuoraAuthenticationError, match="Authentication error") as caught:
        client.get_workflow(sim.workflow_ids(TENANT)[0])
    assert caught.value.status_code == 401
    assert caught.value.retryable is False
    stats = sim.stats(TENANT)
    assert (stats["token"], stats["get"]) == (2, 2)  # one refresh, one replay, no more


@pytest.mark.parametrize(
    ("style", "reason"),
    [
        ("oauth", "invalid_client: Invalid client credentials"),
        ("message", "Authentication error"),
        ("reasons", "Invalid client credentials"),
        ("text", "Unauthorized"),
    ],
)
def test_wrong_secret_is_never_retried(
    sim: ZuoraSimulator, tenant: SimTenant, make_client: ClientFactory, style: str, reason: str
) -> None:
    sim.token_error_style = style
    client = make_client(Credentials(sim.base_url, tenant.client_id, "not-the-secret"), max_retries=5)
    with pytest.raises(ZuoraAuthenticationError) as caught:
        client.list_workflows()
    assert caught.value.reason == reason
    assert caught.value.status_code == 401
    assert caught.value.request_id  # Zuora-Request-Id, for a support ticket
    assert sim.stats(TENANT)["token_denied"] == 1
    assert (client.stats.token_requests, client.stats.retries) == (1, 0)


def test_malformed_credentials_are_an_authentication_error(
    sim: ZuoraSimulator, make_client: ClientFactory
) -> None:
    client = make_client(Credentials(sim.base_url, "too-short-client-id", "secret"))
    with pytest.raises(ZuoraAuthenticationError, match="Invalid input") as caught:
        client.validate_credentials()
    assert caught.value.status_code == 400
    assert client.stats.token_requests == 1


def test_validate_credentials_always_asks_zuora(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    client.validate_credentials()
    client.validate_credentials()
    client.list_workflows()  # uses the token validate_credentials cached
    assert sim.stats(TENANT)["token"] == 2


def test_rate_limited_token_request_is_not_an_authentication_error(
    sim: ZuoraSimulator, make_client: ClientFactory
) -> None:
    sim.auth_rate_limit_per_minute = 1  # the second token request gets a 429 (Retry-After: window reset)
    client = make_client(max_retry_wait=0.5)
    client.validate_credentials()
    with pytest.raises(ZuoraRateLimitedError) as caught:
        client.validate_credentials()
    assert caught.value.status_code == 429
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0.5
    assert client.stats.retries == 0  # a hint beyond the wait budget ends the call at once
