"""Every fault switch, the rate limit and the concurrency limit of the simulator, over real HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from zwm.zuora.simulator import Faults, ZuoraSimulator

from .simulator_client import SimApi, running, token_form


@pytest.fixture
def acme() -> Iterator[tuple[ZuoraSimulator, SimApi]]:
    with running(workflows=12) as pair:
        yield pair


def test_fail_next_answers_the_status_n_times(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.fail_next("acme", count=3, status=503)
    assert [api.get("/workflows").status_code for _ in range(4)] == [503, 503, 503, 200]
    assert sim.stats("acme")["status_5xx"] == 3


def test_forced_429_carries_retry_after_and_ratelimit_headers(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(retry_after=7))
    sim.fail_next("acme", count=1, status=429)
    response = api.get("/workflows")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == "7"
    assert response.json()["reasons"][0]["code"] == 70
    assert sim.stats("acme")["status_429"] == 1


def test_error_rate_gives_5xx_bodies_a_client_must_survive(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(error_rate=1.0))
    statuses = {api.get("/workflows").status_code for _ in range(30)}
    assert statuses == {500, 502, 503, 504}
    assert sim.stats("acme")["status_5xx"] == 30


def _error_sequence(seed: int) -> list[int]:
    with running(workflows=3, seed=seed) as (sim, api):
        sim.set_faults("acme", Faults(error_rate=0.5))
        return [api.get("/workflows").status_code for _ in range(20)]


def test_fault_draws_are_reproducible_from_the_seed() -> None:
    first = _error_sequence(9)
    assert first == _error_sequence(9)
    assert 200 in first
    assert any(status >= 500 for status in first)


def test_rate_limit_rate_gives_429_with_retry_after(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(rate_limit_rate=1.0, retry_after=3))
    response = api.get("/workflows")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert "retry after 3 seconds" in response.json()["reasons"][0]["message"]


def test_timeout_rate_hangs_past_the_client_timeout(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(timeout_rate=1.0, hang_seconds=1.0))
    with pytest.raises(httpx.ReadTimeout):
        api.get("/workflows", timeout=0.2)
    assert sim.stats("acme")["timeouts"] == 1


def test_drop_rate_closes_the_connection_without_a_response(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(drop_rate=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/workflows")
    sim.set_faults("acme", Faults())
    assert api.get("/workflows").status_code == 200  # a new connection works
    assert sim.stats("acme")["dropped"] == 1


def test_malformed_rate_gives_200_with_a_non_json_body(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(malformed_rate=1.0))
    for _ in range(6):
        response = api.get("/workflows")
        assert response.status_code == 200
        with pytest.raises(ValueError, match=r"."):
            json.loads(response.content)
    assert sim.stats("acme")["malformed"] == 6


def test_missing_fields_rate_drops_required_fields(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(missing_fields_rate=1.0))
    for item in api.get("/workflows").json()["data"]:
        assert not {"id", "name", "updatedAt", "active_version"} <= set(item)
    export = api.get(f"/workflows/{sim.workflow_ids('acme')[0]}/export").json()
    assert "id" not in export["workflow"]
    assert all("id" not in task for task in export["tasks"])


def test_malformed_export_ids_break_only_those_exports(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    broken, fine = sim.workflow_ids("acme")[:2]
    sim.set_faults("acme", Faults(malformed_export_ids={broken}))
    response = api.get(f"/workflows/{broken}/export")
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"."):
        json.loads(response.content)
    assert api.get(f"/workflows/{fine}/export").json()["tasks"]


@pytest.mark.parametrize(
    ("field", "check"),
    [
        ("tasks", lambda e: "tasks" not in e),
        ("linkages", lambda e: "linkages" not in e),
        ("workflow", lambda e: "workflow" not in e),
        ("workflow.id", lambda e: "id" not in e["workflow"] and e["tasks"]),
    ],
)
def test_missing_field_export_ids(acme: tuple[ZuoraSimulator, SimApi], field: str, check: object) -> None:
    sim, api = acme
    target = sim.workflow_ids("acme")[2]
    sim.set_faults("acme", Faults(missing_field_export_ids={target}, missing_export_field=field))
    assert check(api.get(f"/workflows/{target}/export").json())  # type: ignore[operator]


def test_empty_listing(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(empty_listing=True))
    body = api.get("/workflows").json()
    assert body == {"data": [], "pagination": {"page": 1, "page_length": 20, "next_page": None}}


def test_list_page_error_fails_that_page_every_time(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(list_page_error=2))
    first = api.get("/workflows", params={"page_length": 5})
    assert first.status_code == 200
    for _ in range(3):
        assert api.get(first.json()["pagination"]["next_page"]).status_code == 500


def test_vanished_workflow_is_listed_but_gone_when_fetched(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    gone = sim.workflow_ids("acme")[4]
    sim.set_faults("acme", Faults(vanish_during_export_ids={gone}))
    assert gone in [str(w["id"]) for w in api.get("/workflows").json()["data"]]
    response = api.get(f"/workflows/{gone}/export")
    assert response.status_code == 404
    assert response.json()["errors"][0].endswith(f"ObjectId: {gone}")
    assert api.get(f"/workflows/{gone}").status_code == 404


@pytest.mark.parametrize(
    ("style", "expected"), [("absent", {}), ("null", {"next_page": None}), ("empty", {"next_page": ""})]
)
def test_last_page_styles(
    acme: tuple[ZuoraSimulator, SimApi], style: str, expected: dict[str, object]
) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(last_page_style=style))
    pagination = api.get("/workflows", params={"page_length": 50}).json()["pagination"]
    assert pagination == {"page": 1, "page_length": 50, **expected}


def test_trailing_empty_page_and_foreign_next_page(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(trailing_empty_page=True, next_page_base="https://rest.zuora.com"))
    full = api.get("/workflows", params={"page_length": 12}).json()
    assert len(full["data"]) == 12
    assert full["pagination"]["next_page"] == "https://rest.zuora.com/workflows?page=2&page_length=12"
    after = api.get("/workflows", params={"page": 2, "page_length": 12}).json()
    assert after["data"] == []
    assert after["pagination"]["next_page"] is None


def test_short_page_length_serves_short_pages_that_link_on(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.set_faults("acme", Faults(short_page_length=5))
    first = api.get("/workflows", params={"page_length": 50}).json()
    assert [str(w["id"]) for w in first["data"]] == sim.workflow_ids("acme")[:5]
    assert first["pagination"]["next_page"].endswith("/workflows?page=2&page_length=50")
    last = api.get("/workflows", params={"page": 3, "page_length": 50}).json()
    assert [str(w["id"]) for w in last["data"]] == sim.workflow_ids("acme")[10:]
    assert last["pagination"]["next_page"] is None


def test_delete_during_listing_deletes_after_page_one(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    ids = sim.workflow_ids("acme")
    sim.set_faults("acme", Faults(delete_during_listing_ids={int(ids[0])}))
    first = api.get("/workflows", params={"page_length": 6}).json()
    assert str(first["data"][0]["id"]) == ids[0]  # listed, then deleted
    second = api.get("/workflows", params={"page": 2, "page_length": 6}).json()
    assert [str(w["id"]) for w in second["data"]] == ids[7:]  # shifted: ids[6] is never listed
    assert api.get(f"/workflows/{ids[0]}").status_code == 404


@pytest.mark.parametrize("field", ["id", "name", "updatedAt", "active_version"])
def test_missing_field_listing_ids(acme: tuple[ZuoraSimulator, SimApi], field: str) -> None:
    sim, api = acme
    target = int(sim.workflow_ids("acme")[3])
    sim.set_faults("acme", Faults(missing_field_listing_ids={target}, missing_listing_field=field))
    items = api.get("/workflows").json()["data"]
    assert field not in items[3]
    assert all(field in item for i, item in enumerate(items) if i != 3)


def test_wrong_type_and_overlong_listing_items(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    ids = [int(i) for i in sim.workflow_ids("acme")]
    sim.set_faults("acme", Faults(wrong_type_listing_ids={ids[0]}, overlong_text_ids={ids[1]}))
    items = api.get("/workflows").json()["data"]
    assert isinstance(items[0]["name"], dict)
    assert isinstance(items[0]["updatedAt"], int)
    assert len(items[1]["name"]) == 1000
    assert len(api.get(f"/workflows/{ids[1]}/export").json()["tasks"][0]["name"]) == 1000


def test_forbidden_exports(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    ids = sim.workflow_ids("acme")
    sim.set_faults("acme", Faults(forbidden_export_ids={int(ids[1])}))
    assert api.get(f"/workflows/{ids[0]}/export").status_code == 200
    assert api.get(f"/workflows/{ids[1]}/export").status_code == 403
    sim.set_faults("acme", Faults(forbidden_exports=True))
    denied = api.get(f"/workflows/{ids[0]}/export")
    assert denied.status_code == 403
    assert "permission" in denied.json()["errors"][0]["title"]
    assert api.get("/workflows").status_code == 200


def test_edited_in_place_changes_the_export_only(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    target = sim.workflow_ids("acme")[2]
    before = (api.get(f"/workflows/{target}").json(), api.get(f"/workflows/{target}/export").json())
    sim.set_faults("acme", Faults(edited_in_place_ids={int(target)}))
    after = (api.get(f"/workflows/{target}").json(), api.get(f"/workflows/{target}/export").json())
    assert after[0] == before[0]  # same updatedAt, same active version
    assert after[1]["workflow"] == before[1]["workflow"]
    assert after[1]["tasks"][0]["name"] == before[1]["tasks"][0]["name"] + " (edited in place)"


def test_rate_limit_per_minute() -> None:
    with running(workflows=1, rate_limit_per_minute=3) as (_sim, api):
        statuses = [api.get("/workflows") for _ in range(4)]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        limited = statuses[-1]
        assert limited.headers["RateLimit-Remaining"] == "0"
        assert 1 <= int(limited.headers["RateLimit-Reset"]) <= 60
        assert limited.headers["RateLimit-Limit"].startswith("3, 3;w=60")
        assert "Retry-After" not in limited.headers
        assert (
            api.http.post("/oauth/token", data=token_form(api.tenant)).status_code == 200
        )  # AUTH is separate


def test_auth_rate_limit_per_minute() -> None:
    with running(workflows=1, auth_rate_limit_per_minute=2) as (_, api):  # the helper took one token
        ok, limited = (api.http.post("/oauth/token", data=token_form(api.tenant)) for _ in range(2))
        assert ok.status_code == 200
        assert ok.headers["X-RateLimit-Remaining-minute"] == "0"
        assert limited.status_code == 429
        assert limited.headers["X-RateLimit-Limit-minute"] == "2"
        assert int(limited.headers["Retry-After"]) >= 1


def test_concurrency_limit_and_oauth_is_not_bound_by_it() -> None:
    with running(workflows=1, concurrency_limit=2, latency=0.6) as (sim, api):
        sim.set_faults("acme", Faults(retry_after=5))
        barrier = threading.Barrier(6)
        results: list[httpx.Response] = []
        lock = threading.Lock()

        def call() -> None:
            with httpx.Client(base_url=sim.base_url, timeout=5) as http:
                barrier.wait(timeout=5)
                response = http.get("/workflows", headers={"Authorization": f"Bearer {api.token}"})
            with lock:
                results.append(response)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for thread in threads:
            thread.start()
        token = api.http.post("/oauth/token", data=token_form(api.tenant), timeout=0.3)
        for thread in threads:
            thread.join(timeout=10)
        assert token.status_code == 200  # answered while the API calls were in flight
        limited = [r for r in results if r.status_code == 429]
        assert sorted(r.status_code for r in results) == [200, 200, 429, 429, 429, 429]
        assert all(r.headers["Retry-After"] == "5" for r in limited)
        assert all(r.json()["reasons"][0]["code"] == 50000070 for r in limited)
        assert sim.stats("acme")["max_concurrency"] >= 3


def test_latency_is_settable_at_run_time(acme: tuple[ZuoraSimulator, SimApi]) -> None:
    sim, api = acme
    sim.latency = 1.0
    with pytest.raises(httpx.ReadTimeout):
        api.get("/workflows", timeout=0.2)
    sim.latency = 0.0
    assert api.get("/workflows").status_code == 200


@pytest.mark.parametrize(
    "bad",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"hang_seconds": -1},
        {"list_page_error": 0},
        {"last_page_style": "missing"},
        {"missing_export_field": "name"},
        {"next_page_base": "ftp://x"},
        {"malformed_export_ids": ["abc"]},
        {"short_page_length": 0},
        {"missing_listing_field": "tasks"},
        {"edited_in_place_ids": ["x"]},
    ],
)
def test_faults_reject_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        Faults.from_json(bad)


def test_faults_text_form_and_json_round_trip() -> None:
    faults = (
        Faults()
        .with_setting("error-rate", "0.25")
        .with_setting("malformed_export_ids", "12, 14")
        .with_setting("empty_listing", "yes")
        .with_setting("list_page_error", "3")
        .with_setting("short_page_length", "49")
        .with_setting("forbidden_exports", "on")
    )
    assert faults == Faults(
        error_rate=0.25,
        malformed_export_ids={12, 14},
        empty_listing=True,
        list_page_error=3,
        short_page_length=49,
        forbidden_exports=True,
    )
    assert Faults.from_json(faults.to_json()) == faults
    with pytest.raises(ValueError, match="unknown fault kind"):
        faults.with_setting("explode", "1")
    with pytest.raises(ValueError, match="bad value"):
        faults.with_setting("retry_after", "soon")
    with pytest.raises(ValueError, match="unknown fault kind"):
        Faults.from_json({"nope": 1})
