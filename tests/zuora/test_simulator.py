"""The simulator's Zuora endpoints over real HTTP: OAuth, listing, export, headers, control API."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from zwm.zuora.simulator import ZuoraSimulator, demo_tenants, start_demo

from .simulator_client import SimApi, running, token_form

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LIST_KEYS = {
    "id",
    "name",
    "description",
    "status",
    "ondemandTrigger",
    "calloutTrigger",
    "scheduledTrigger",
    "interval",
    "timezone",
    "createdAt",
    "updatedAt",
    "active_version",
    "latest_inactive_verisons",
}
TASK_KEYS = {
    "id",
    "name",
    "action_type",
    "object",
    "object_id",
    "call_type",
    "task_id",
    "priority",
    "concurrent_limit",
    "parameters",
    "css",
    "tags",
    "assignment",
    "zuora_org_id",
    "zuora_org_ids",
    "subprocess_id",
}


@pytest.fixture
def acme() -> Iterator[tuple[ZuoraSimulator, SimApi]]:
    with running(workflows=30) as pair:
        yield pair


def walk(api: SimApi, page_length: int = 50) -> list[dict[str, object]]:
    """Follow next_page to the end, checking every link stays on the simulator's host."""
    pages: list[dict[str, object]] = []
    response = api.get("/workflows", params={"page_length": page_length})
    for _ in range(100):
        assert response.status_code == 200
        body = response.json()
        pages.append(body)
        next_page = body["pagination"].get("next_page")
        if not next_page:
            return pages
        parts = urlsplit(next_page)
        assert f"{parts.scheme}://{parts.netloc}" == str(api.http.base_url).rstrip("/")
        response = api.get(next_page)
    raise AssertionError("pagination never ended")


# -- OAuth ----------------------------------------------------------------------------------


def test_token_is_issued_for_form_credentials(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    response = api.http.post("/oauth/token", data=token_form(api.tenant))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    tenant = api.tenant
    assert body["scope"].split() == [
        f"user.{tenant.user_id}",
        f"entity.{tenant.entity_id}",
        "service.workflow.read",
        f"tenant.{tenant.tenant_id}",
    ]
    assert int(response.headers["X-RateLimit-Limit-minute"]) > int(
        response.headers["X-RateLimit-Remaining-minute"]
    )
    assert len(response.headers["Zuora-Request-Id"]) == 36
    assert sim.stats("acme")["token"] == 2  # the helper's token and this one


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("oauth", {"error": "invalid_client", "error_description": "Invalid client credentials"}),
        ("message", {"message": "Authentication error"}),
        (
            "reasons",
            {"success": False, "reasons": [{"code": 90000011, "message": "Invalid client credentials"}]},
        ),
    ],
)
def test_wrong_secret_is_a_401_in_the_chosen_style(style: str, expected: dict[str, object]) -> None:
    with running(workflows=1, token_error_style=style) as (sim, api):
        response = api.http.post("/oauth/token", data=token_form(api.tenant, secret="wrong"))
        assert response.status_code == 401
        assert response.json() == expected
        assert "WWW-Authenticate" in response.headers
        assert sim.stats("acme")["token_denied"] == 1


def test_unknown_client_and_plain_text_style() -> None:
    with running(workflows=1, token_error_style="text") as (_, api):
        form = {**token_form(api.tenant), "client_id": "0" * 36}
        response = api.http.post("/oauth/token", data=form)
        assert (response.status_code, response.text) == (401, "Unauthorized")


def test_credentials_outside_the_form_body_are_rejected(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    tenant = api.tenant
    basic = api.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(tenant.client_id, tenant.client_secret),
    )
    as_json = api.http.post("/oauth/token", json=token_form(tenant))
    bad_grant = api.http.post("/oauth/token", data={**token_form(tenant), "grant_type": "password"})
    assert [r.status_code for r in (basic, as_json, bad_grant)] == [400, 400, 400]
    assert basic.json()["error"] == "invalid_request"
    assert bad_grant.json()["error"] == "unsupported_grant_type"


def test_token_expires_after_its_ttl() -> None:
    with running(workflows=1, token_ttl=0.4) as (sim, api):
        assert api.get("/workflows").status_code == 200
        time.sleep(0.5)
        response = api.get("/workflows")
        assert response.status_code == 401
        assert response.json() == {"message": "Authentication error"}
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=Zuora API")
        assert sim.stats("acme")["status_401"] == 1


def test_expire_tokens_invalidates_issued_tokens_only(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.expire_tokens("acme")
    assert api.get("/workflows").status_code == 401
    api.token = api.new_token()
    assert api.get("/workflows").status_code == 200


def test_missing_or_unknown_bearer_is_a_401(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    assert api.http.get("/workflows").status_code == 401
    assert api.http.get("/workflows", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_tenants_are_told_apart_by_token() -> None:
    sim = ZuoraSimulator(seed=3)
    acme, globex = sim.add_tenant("acme", workflows=2), sim.add_tenant("globex", workflows=5)
    with sim:
        a, g = SimApi(sim, acme), SimApi(sim, globex)
        assert len(a.get("/workflows").json()["data"]) == 2
        assert len(g.get("/workflows").json()["data"]) == 5
        a.close()
        g.close()


# -- listing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (50, 1), (51, 2)])
def test_pagination_edges(count: int, pages: int) -> None:
    with running(workflows=count) as (sim, api):
        walked = walk(api)
        assert len(walked) == pages
        ids = [str(item["id"]) for page in walked for item in page["data"]]  # type: ignore[attr-defined]
        assert ids == sim.workflow_ids("acme")
        assert walked[-1]["pagination"] == {"page": pages, "page_length": 50, "next_page": None}


def test_default_page_length_is_20_and_over_50_is_a_400(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    first = api.get("/workflows").json()
    assert len(first["data"]) == 20
    assert first["pagination"]["next_page"].endswith("/workflows?page=2&page_length=20")
    response = api.get("/workflows", params={"page_length": 51})
    assert response.status_code == 400
    assert "50" in response.json()["errors"][0]["title"]


def test_filters_by_name_and_trigger(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    everything = api.get("/workflows", params={"page_length": 50}).json()["data"]
    wanted = everything[3]
    by_name = api.get("/workflows", params={"name": wanted["name"]}).json()["data"]
    assert [w["id"] for w in by_name] == [wanted["id"]]
    scheduled = api.get("/workflows", params={"page_length": 50, "scheduled_trigger": "true"}).json()["data"]
    assert scheduled
    assert all(w["scheduledTrigger"] and w["interval"] and w["timezone"] for w in scheduled)
    assert len(scheduled) < len(everything)


def test_listed_workflow_has_the_documented_shape(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    data = api.get("/workflows", params={"page_length": 50}).json()["data"]
    for item in data:
        assert set(item) == LIST_KEYS
        assert isinstance(item["id"], int)
        assert ISO_MS.match(item["createdAt"])
        assert ISO_MS.match(item["updatedAt"])
        assert item["createdAt"] <= item["updatedAt"]
        assert set(item["active_version"]) == {"id", "description", "version", "type", "status"}
        assert item["active_version"]["id"] != item["id"]
        for version in item["latest_inactive_verisons"]:
            assert version["status"] == "Inactive"
            assert "priority" in version
    assert {len(item["latest_inactive_verisons"]) for item in data} == {0, 1, 2}  # 1-3 versions


def test_get_and_versions(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    listed = api.get("/workflows").json()["data"][0]
    one = api.get(f"/workflows/{listed['id']}").json()
    assert one["priority"] in {"High", "Medium", "Low"}
    assert "latest_inactive_verisons" not in one
    assert {k: v for k, v in one.items() if k != "priority"} == {
        k: v for k, v in listed.items() if k != "latest_inactive_verisons"
    }
    versions = api.get(f"/workflows/{listed['id']}/versions").json()["data"]
    assert [v["version"] for v in versions] == [f"0.0.{n}" for n in range(1, len(versions) + 1)]
    assert versions[-1]["id"] == listed["active_version"]["id"]
    missing = api.get("/workflows/1")
    assert missing.status_code == 404
    assert missing.json()["errors"][0].startswith("Invalid ID")


def test_task_listing_pages_up_to_100(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    assert api.get("/workflows/tasks", params={"page_length": 101}).status_code == 400
    first = api.get("/workflows/tasks", params={"page_length": 100}).json()
    second = api.get(first["pagination"]["next_page"]).json()
    assert len(first["data"]) == 100
    assert not {t["id"] for t in first["data"]} & {t["id"] for t in second["data"]}
    version_id = first["data"][0]["workflow_id"]
    only = api.get("/workflows/tasks", params={"workflow_id": version_id, "page_length": 100}).json()["data"]
    assert only
    assert {t["workflow_id"] for t in only} == {version_id}


# -- export ----------------------------------------------------------------------------------


def test_export_envelope_and_graph(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    action_types: set[str] = set()
    linkage_types: set[str] = set()
    with_definition = 0
    for item in api.get("/workflows", params={"page_length": 50}).json()["data"]:
        export = api.get(f"/workflows/{item['id']}/export").json()
        assert (
            {"workflow", "tasks", "linkages"}
            <= set(export)
            <= {"workflow", "tasks", "linkages", "workflow_definition"}
        )
        with_definition += "workflow_definition" in export
        workflow = export["workflow"]
        assert workflow["id"] == item["active_version"]["id"]
        assert workflow["version"] == item["active_version"]["version"]
        assert workflow["ondemand_trigger"] == item["ondemandTrigger"]
        tasks = {t["id"]: t for t in export["tasks"]}
        assert 3 <= len(tasks) <= 40
        for task in tasks.values():
            assert set(task) >= TASK_KEYS
            assert task["task_id"] is None or task["task_id"] in tasks
        starts = [link for link in export["linkages"] if link["linkage_type"] == "Start"]
        assert len(starts) == 1
        assert starts[0]["source_workflow_id"] == workflow["id"]
        assert starts[0]["source_task_id"] is None
        for link in export["linkages"]:
            assert link["target_task_id"] in tasks
            if link["linkage_type"] != "Start":
                assert link["source_workflow_id"] is None
                assert link["source_task_id"] in tasks
        action_types |= {t["action_type"] for t in tasks.values()}
        linkage_types |= {link["linkage_type"] for link in export["linkages"]}
    assert 0 < with_definition < 30
    assert {"Email", "Callout", "If", "Iterate", "Logic::Case", "Delay"} <= action_types
    assert {"Start", "Success", "Failure", "True", "False", "For Each", "Case_1"} <= linkage_types


def test_export_versions(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _sim, api = acme
    multi = next(
        w
        for w in api.get("/workflows", params={"page_length": 50}).json()["data"]
        if w["latest_inactive_verisons"]
    )
    first = api.get(f"/workflows/{multi['id']}/export", params={"version": "0.0.1"}).json()
    latest = api.get(f"/workflows/{multi['id']}/export", params={"version": "latest"}).json()
    assert first["workflow"]["version"] == "0.0.1"
    assert latest["workflow"]["id"] == multi["active_version"]["id"]
    assert {t["id"] for t in first["tasks"]}.isdisjoint({t["id"] for t in latest["tasks"]})
    invalid = api.get(f"/workflows/{multi['id']}/export", params={"version": "x"})
    unknown = api.get(f"/workflows/{multi['id']}/export", params={"version": "9.9.9"})
    assert invalid.status_code == 400
    assert invalid.json()["errors"][0]["code"] == "invalid"
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["status"] == 400


def test_change_delete_and_add_between_calls(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    ids = sim.workflow_ids("acme")
    before = api.get(f"/workflows/{ids[0]}").json()
    tasks_before = {t["id"] for t in api.get(f"/workflows/{ids[0]}/export").json()["tasks"]}
    sim.change_workflow("acme", ids[0])
    after = api.get(f"/workflows/{ids[0]}").json()
    assert after["updatedAt"] > before["updatedAt"]
    assert after["active_version"]["id"] != before["active_version"]["id"]
    assert after["active_version"]["version"] != before["active_version"]["version"]
    assert tasks_before.isdisjoint({t["id"] for t in api.get(f"/workflows/{ids[0]}/export").json()["tasks"]})
    sim.delete_workflow("acme", ids[1])
    assert api.get(f"/workflows/{ids[1]}/export").status_code == 404
    new_id = sim.add_workflow("acme")
    listed = [str(w["id"]) for w in api.get("/workflows", params={"page_length": 50}).json()["data"]]
    assert ids[1] not in listed
    assert new_id in listed
    with pytest.raises(KeyError):
        sim.delete_workflow("acme", ids[1])


# -- headers -----------------------------------------------------------------------------------


def test_gzip_only_when_asked_and_over_1000_bytes() -> None:
    with running(workflows=10) as (sim, api):
        large_id = sim.workflow_ids("acme")[6]  # every 40th workflow from the 7th is large
        raw = api.get(f"/workflows/{large_id}/export", headers={"Accept-Encoding": "gzip"}, extensions={})
        assert raw.headers["Content-Encoding"] == "gzip"
        assert len(raw.content) > 300_000  # httpx decoded it
        plain = api.get(f"/workflows/{large_id}/export", headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert plain.json() == raw.json()
        small = api.get("/workflows/1", headers={"Accept-Encoding": "gzip"})
        assert "Content-Encoding" not in small.headers


def test_track_id_is_echoed_and_request_id_always_sent(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    _, api = acme
    response = api.get("/workflows", headers={"Zuora-Track-Id": "sync-42"})
    assert response.headers["Zuora-Track-Id"] == "sync-42"
    assert len(response.headers["Zuora-Request-Id"]) == 36
    assert all(h in response.headers for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"))
    assert "Zuora-Track-Id" not in api.get("/workflows").headers
    assert api.get("/workflows", headers={"Zuora-Track-Id": "a:b"}).status_code == 400


# -- determinism and demo ---------------------------------------------------------------------


def _snapshot(seed: int) -> tuple[str, str, list[object], object]:
    with running(workflows=12, seed=seed) as (_sim, api):
        listing = api.get("/workflows", params={"page_length": 50}).json()["data"]
        export = api.get(f"/workflows/{listing[5]['id']}/export").json()
        return api.tenant.client_id, api.tenant.client_secret, listing, export


def test_same_seed_same_tenant_and_catalog() -> None:
    first, again, other = _snapshot(1), _snapshot(1), _snapshot(2)
    assert first == again
    assert first[0] != other[0]
    assert first[2] != other[2]
    assert len(first[0]) == 36
    assert len(first[1]) <= 42


def test_large_catalog_and_secret_free_reprs() -> None:
    sim = ZuoraSimulator(seed=5)
    tenant = sim.add_tenant("big", workflows=1500)
    assert len(sim.workflow_ids("big")) == 1500
    assert tenant.client_secret not in repr(tenant)
    assert tenant.client_secret not in repr(sim)


def test_demo_tenants_match_the_started_demo() -> None:
    sim = start_demo(seed=4, latency=0.0)
    try:
        assert sim.tenants() == demo_tenants(4)
        tenant = sim.tenants()[0]
        api = SimApi(sim, tenant)
        assert api.get("/workflows").status_code == 200
        api.close()
    finally:
        sim.stop()
    assert demo_tenants(4) != demo_tenants(5)


def test_stop_closes_idle_keep_alive_connections() -> None:
    with running(workflows=1) as (sim, api):
        assert api.get("/workflows").status_code == 200
        sim.stop()
        with pytest.raises(httpx.TransportError):
            api.get("/workflows")


# -- control API -----------------------------------------------------------------------------


def test_control_api(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    http = api.http
    tenants = http.get("/_simulator/tenants").json()["tenants"]
    assert tenants[0]["client_secret"] == api.tenant.client_secret  # loopback caller
    faults = http.put("/_simulator/tenants/acme/faults", json={"empty_listing": True, "retry_after": 2})
    assert faults.json()["empty_listing"] is True
    assert api.get("/workflows").json()["data"] == []
    assert http.get("/_simulator/tenants/acme/faults").json()["retry_after"] == 2
    assert http.put("/_simulator/tenants/acme/faults", json={"bogus": 1}).status_code == 400
    assert http.put("/_simulator/tenants/acme/faults", json={"error_rate": 3}).status_code == 400
    http.post("/_simulator/tenants/acme/fail-next", json={"count": 1, "status": 502})
    assert api.get("/workflows").status_code == 502
    http.post("/_simulator/tenants/acme/expire-tokens")
    assert api.get("/workflows").status_code == 401
    stats = http.get("/_simulator/tenants/acme/stats").json()
    assert stats["list"] == 2
    assert stats["status_5xx"] == 1
    assert stats["status_401"] == 1
    http.post("/_simulator/tenants/acme/reset-stats")
    assert http.get("/_simulator/tenants/acme/stats").json()["list"] == 0
    new_id = http.post("/_simulator/tenants/acme/workflows").json()["id"]
    assert http.post(f"/_simulator/tenants/acme/workflows/{new_id}/change").status_code == 200
    assert http.delete(f"/_simulator/tenants/acme/workflows/{new_id}").status_code == 200
    assert new_id not in http.get("/_simulator/tenants/acme/workflows").json()["ids"]
    assert http.get("/_simulator/tenants/nobody/stats").status_code == 404
    created = http.post("/_simulator/tenants", json={"name": "globex", "workflows": 3})
    assert created.status_code == 201
    assert sim.workflow_ids("globex")
    assert http.put("/_simulator/settings", json={"latency": 0.01}).json()["latency"] == 0.01
    assert sim.latency == 0.01
    assert http.put("/_simulator/settings", json={"latency": -1}).status_code == 400
