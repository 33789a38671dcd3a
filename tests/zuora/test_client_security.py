"""Secrets never leak; the track id is validated and reaches Zuora; gzip is negotiated."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qs

import pytest

from zwm.zuora import (
    Credentials,
    MemoryTokenCache,
    ZuoraAuthenticationError,
    ZuoraClient,
    ZuoraError,
    validate_track_id,
)
from zwm.zuora.simulator import Faults, SimTenant, ZuoraSimulator

from .support import TENANT, TOKEN_BODY, Answer, ClientFactory, ScriptedServer, Seen


def _texts(error: BaseException) -> list[str]:
    """Everything an error can show: str and repr of it and of its whole cause chain."""
    out: list[str] = []
    current: BaseException | None = error
    while current is not None:
        out += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return out


def _token(cache: MemoryTokenCache, client: ZuoraClient) -> str:
    cached = cache.get(client.credentials.cache_key)
    assert cached is not None
    return cached.access_token


def test_secrets_and_tokens_never_appear_in_logs_errors_or_reprs(
    sim: ZuoraSimulator,
    tenant: SimTenant,
    make_client: ClientFactory,
    cache: MemoryTokenCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    client = make_client(max_retries=1)
    workflow_id = client.list_workflows()[0].id
    tokens = {_token(cache, client)}
    sim.expire_tokens(TENANT)  # a 401, a refresh, a second token
    client.export_workflow(workflow_id)
    tokens.add(_token(cache, client))
    for faults in (Faults(drop_rate=1.0), Faults(malformed_rate=1.0), Faults(error_rate=1.0, retry_after=0)):
        sim.set_faults(TENANT, faults)
        with pytest.raises(ZuoraError) as caught:
            client.export_workflow(workflow_id)
        shown += _texts(caught.value)
    sim.set_faults(TENANT, Faults())
    sim.fail_next(TENANT, count=2, status=401)
    with pytest.raises(ZuoraAuthenticationError) as refused:
        client.get_workflow(workflow_id)
    shown += _texts(refused.value)
    bad = make_client(Credentials(sim.base_url, tenant.client_id, "wrong-secret-" + tenant.client_secret[:8]))
    with pytest.raises(ZuoraAuthenticationError) as denied:
        bad.validate_credentials()
    shown += _texts(denied.value)
    shown += [
        repr(client),
        str(client),
        repr(client.credentials),
        str(client.credentials),
        repr(client.stats),
    ]
    shown += [repr(cache), repr(cache.get(client.credentials.cache_key))]
    shown += [record.getMessage() for record in caplog.records] + [caplog.text]
    assert len(tokens) == 2
    secrets = {tenant.client_secret, bad.credentials.client_secret, *tokens}
    leaks = [(secret, text) for secret in secrets for text in shown if secret in text]
    assert leaks == []
    assert any("HTTP 401" in text for text in shown)  # the texts do describe the failures


@pytest.mark.parametrize(
    "track_id", ["", "a:b", "a;b", 'a"b', "a'b", "x" * 65, "caf\u00e9", "two words", "tab\there", "new\nline"]
)
def test_invalid_track_ids_are_refused(sim: ZuoraSimulator, tenant: SimTenant, track_id: str) -> None:
    with pytest.raises(ValueError, match="invalid Zuora-Track-Id"):
        ZuoraClient(Credentials(sim.base_url, tenant.client_id, tenant.client_secret), track_id=track_id)
    with pytest.raises(ValueError, match="invalid Zuora-Track-Id"):
        validate_track_id(track_id)


def test_track_id_reaches_zuora(
    sim: ZuoraSimulator, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    track_id = "sync-acme-2026-01-01T00.00.00Z-" + "x" * 33  # 64 characters
    caplog.set_level(logging.DEBUG, logger="zwm.zuora")
    client = make_client(track_id=track_id)
    client.list_workflows()
    echoes = [r.getMessage() for r in caplog.records if "Zuora-Track-Id" in r.getMessage()]
    assert len(echoes) == 2  # token and listing, both echoed back by the server
    assert all(f"Zuora-Track-Id {track_id})" in message for message in echoes)


def test_a_track_id_is_generated_per_client(make_client: ClientFactory) -> None:
    first, second = make_client(), make_client()
    assert first.track_id != second.track_id
    assert validate_track_id(first.track_id) == first.track_id


def test_exports_arrive_gzip_compressed(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    exports = [client.export_workflow(workflow_id) for workflow_id in sim.workflow_ids(TENANT)]
    assert all(e.tasks for e in exports)
    large = sum(len(e.canonical_json) > 1000 for e in exports)
    assert large >= 1
    assert client.stats.gzip_responses == large  # exactly the bodies over 1000 bytes came compressed


def test_exact_requests_on_the_wire(scripted: Callable[..., tuple[ScriptedServer, ZuoraClient]]) -> None:
    """Form-encoded token request without Authorization; bearer, gzip, track and entity headers."""
    entity = "1a2b7a37-3e7d-4cb3-b0e2-883de9e766cc"

    def script(seen: Seen, base_url: str) -> Answer:
        if seen.method == "POST":
            return 200, TOKEN_BODY
        return 200, {"data": [{"id": 1}], "pagination": {"next_page": None}}

    server, client = scripted(script, "client id+1", "s3cret&=x", entity_id=entity, track_id="trk-1")
    client.list_workflows()
    token, listing_request = server.seen
    assert (token.method, token.path) == ("POST", "/oauth/token")
    assert token.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token.body.decode()) == {
        "client_id": ["client id+1"],
        "client_secret": ["s3cret&=x"],
        "grant_type": ["client_credentials"],
    }
    assert "Authorization" not in token.headers
    assert (listing_request.method, listing_request.path) == ("GET", "/workflows")
    assert listing_request.query == {"page": ["1"], "page_length": ["50"]}
    assert listing_request.headers["Authorization"] == "Bearer scripted-token"
    for request in (token, listing_request):
        assert request.headers["Accept-Encoding"] == "gzip"
        assert request.headers["Zuora-Track-Id"] == "trk-1"
        assert request.headers["Zuora-Entity-Ids"] == entity


def test_token_request_is_retried_after_a_dropped_connection(
    scripted: Callable[..., tuple[ScriptedServer, ZuoraClient]],
) -> None:
    drops = iter([True, False])

    def script(seen: Seen, base_url: str) -> Answer:
        if seen.method == "POST":
            return None if next(drops) else (200, TOKEN_BODY)
        return 200, {"data": []}

    server, client = scripted(script)
    assert client.list_workflows() == []
    assert [s.method for s in server.seen] == ["POST", "POST", "GET"]
    assert (client.stats.token_requests, client.stats.retries) == (2, 1)
