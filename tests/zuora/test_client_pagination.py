"""Listing pagination against the simulator, plus a scripted server for misbehaving paginators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from zwm.zuora import Credentials, ZuoraClient, ZuoraInvalidResponseError
from zwm.zuora.simulator import Faults, ZuoraSimulator

from .support import TENANT, ClientFactory, Script, ScriptedServer, listing


@pytest.mark.parametrize(
    ("workflows", "list_requests"), [(0, 1), (1, 1), (49, 1), (50, 1), (51, 2), (100, 2), (101, 3)]
)
def test_every_workflow_once_at_page_edges(
    sim: ZuoraSimulator, make_client: ClientFactory, workflows: int, list_requests: int
) -> None:
    sim.add_tenant("edge", workflows=workflows)
    edge = sim.tenants()[-1]
    client = make_client(Credentials(sim.base_url, edge.client_id, edge.client_secret))
    assert [wf.id for wf in client.iter_workflows()] == sim.workflow_ids("edge")
    assert sim.stats("edge")["list"] == list_requests


@pytest.mark.parametrize("style", ["absent", "null", "empty"])
def test_any_last_page_marker_ends_the_listing(sim: ZuoraSimulator, client: ZuoraClient, style: str) -> None:
    sim.set_faults(TENANT, Faults(last_page_style=style))
    assert len(client.list_workflows(page_length=2)) == 5
    assert sim.stats(TENANT)["list"] == 3


def test_a_full_last_page_linking_to_an_empty_one(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    sim.add_workflow(TENANT)  # 6 workflows, pages of 3: the second page is full
    sim.set_faults(TENANT, Faults(trailing_empty_page=True))
    assert len(client.list_workflows(page_length=3)) == 6
    assert sim.stats(TENANT)["list"] == 3


def test_empty_listing(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    sim.set_faults(TENANT, Faults(empty_listing=True))
    assert client.list_workflows() == []


def test_small_pages_use_the_default_page_length_of_the_client(
    sim: ZuoraSimulator, make_client: ClientFactory
) -> None:
    client = make_client(page_length=2)
    assert len(client.list_workflows()) == 5
    assert sim.stats(TENANT)["list"] == 3


@pytest.mark.parametrize("page_length", [0, 51, 100, -1])
def test_page_length_outside_1_to_50_is_refused_before_any_request(
    sim: ZuoraSimulator, make_client: ClientFactory, page_length: int
) -> None:
    with pytest.raises(ValueError, match="page_length must be between 1 and 50"):
        make_client(page_length=page_length)
    client = make_client()
    with pytest.raises(ValueError, match="page_length must be between 1 and 50"):
        client.list_workflows(page_length=page_length)
    assert sim.stats(TENANT)["list"] == 0


@pytest.mark.parametrize(
    "elsewhere",
    [
        "https://rest.zuora.com",  # what Zuora itself sends, whatever host was asked
        "https://rest.na.zuora.com",
        "https://evil.example.com",
        "http://127.0.0.2:{port}",
        "http://127.0.0.1:1",
    ],
)
def test_next_page_on_another_host_is_followed_on_our_own_base_url(
    sim: ZuoraSimulator, client: ZuoraClient, elsewhere: str
) -> None:
    """Only the page parameters of a foreign ``next_page`` are used: the listing completes,
    every request went to the simulator (a request elsewhere would fail: nothing listens on
    those hosts from here, and the simulator counts every page)."""
    sim.set_faults(TENANT, Faults(next_page_base=elsewhere.format(port=sim.port)))
    assert [wf.id for wf in client.list_workflows(page_length=2)] == sim.workflow_ids(TENANT)
    assert sim.stats(TENANT)["list"] == 3


def test_short_pages_with_a_next_page_are_followed(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    for _ in range(115):
        sim.add_workflow(TENANT)  # 120 workflows
    sim.set_faults(TENANT, Faults(short_page_length=49, next_page_base="https://rest.zuora.com"))
    assert [wf.id for wf in client.list_workflows()] == sim.workflow_ids(TENANT)
    assert sim.stats(TENANT)["list"] == 3  # 49 + 49 + 22


def test_items_without_an_id_are_reported_and_skipped_when_asked(
    sim: ZuoraSimulator, client: ZuoraClient
) -> None:
    broken = int(sim.workflow_ids(TENANT)[1])
    sim.set_faults(TENANT, Faults(missing_field_listing_ids=frozenset({broken})))
    with pytest.raises(ZuoraInvalidResponseError, match="'id' is missing"):
        client.list_workflows()
    reasons: list[str] = []
    listed = [wf.id for wf in client.iter_workflows(on_invalid=reasons.append)]
    assert listed == [i for i in sim.workflow_ids(TENANT) if i != str(broken)]
    assert len(reasons) == 1
    assert "'id' is missing" in reasons[0]


def test_tasks_listing_paginates_and_filters(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    workflow_id = sim.workflow_ids(TENANT)[0]
    export = client.export_workflow(workflow_id)
    tasks = client.list_tasks(workflow_id=export.version_id, page_length=2)
    assert [t.id for t in tasks] == [t.id for t in export.tasks]
    assert len(client.list_tasks()) >= len(tasks)
    assert client.list_tasks(instance=True) == []
    with pytest.raises(ValueError, match="between 1 and 100"):
        client.list_tasks(page_length=101)


def test_versions_and_single_definitions(sim: ZuoraSimulator, client: ZuoraClient) -> None:
    for listed in client.list_workflows():
        single = client.get_workflow(listed.id)
        assert (single.id, single.name, single.active_version_id) == (
            listed.id,
            listed.name,
            listed.active_version_id,
        )
        assert single.priority is not None
        versions = client.list_versions(listed.id)
        assert {v.id for v in versions} == {listed.active_version_id} | {
            v.id for v in listed.inactive_versions
        }


def test_content_hash_is_stable_and_changes_with_a_new_version(
    sim: ZuoraSimulator, client: ZuoraClient
) -> None:
    workflow_id = sim.workflow_ids(TENANT)[0]
    before = client.export_workflow(workflow_id)
    assert client.export_workflow(workflow_id).content_hash == before.content_hash
    sim.change_workflow(TENANT, workflow_id)
    after = client.export_workflow(workflow_id)
    assert after.content_hash != before.content_hash
    assert after.version_id != before.version_id


# -- a scripted server, for paginators the simulator never produces ------------------------

Start = Callable[[Script], tuple[ScriptedServer, ZuoraClient]]


def _items(page: int, count: int) -> list[dict[str, Any]]:
    return [{"id": page * 100 + i, "name": f"wf {page}-{i}"} for i in range(count)]


def _next(base: str, page: int) -> dict[str, Any]:
    return {"next_page": f"{base}/workflows?page={page}&page_length=2"}


def test_a_short_page_with_a_next_page_does_not_end_the_listing(scripted: Start) -> None:
    pages = {1: _items(1, 1), 2: _items(2, 2), 3: _items(3, 1)}

    def page(number: int, base: str) -> dict[str, Any]:
        more = {"next_page": f"https://rest.zuora.com/workflows?page={number + 1}&page_length=2"}
        return {"data": pages[number], "pagination": more if number < 3 else {"next_page": None}}

    server, client = scripted(listing(page))
    assert [wf.id for wf in client.list_workflows(page_length=2)] == ["100", "200", "201", "300"]
    assert [s.query.get("page") for s in server.seen[1:]] == [["1"], ["2"], ["3"]]


def test_empty_pages_that_keep_linking_are_refused(scripted: Start) -> None:
    _, client = scripted(listing(lambda page, base: {"data": [], "pagination": _next(base, page + 1)}))
    with pytest.raises(ZuoraInvalidResponseError, match="empty pages in a row"):
        client.list_workflows(page_length=2)


def test_a_server_repeating_a_next_page_url_is_refused(scripted: Start) -> None:
    _, client = scripted(listing(lambda page, base: {"data": _items(page, 2), "pagination": _next(base, 2)}))
    with pytest.raises(ZuoraInvalidResponseError, match="already visited; the server loops"):
        client.list_workflows(page_length=2)


def test_a_server_repeating_a_page_is_refused(scripted: Start) -> None:
    _, client = scripted(
        listing(lambda page, base: {"data": _items(1, 2), "pagination": _next(base, page + 1)})
    )
    with pytest.raises(ZuoraInvalidResponseError, match="same items as the page before"):
        client.list_workflows(page_length=2)


def test_relative_next_page_and_shifted_items_are_handled(scripted: Start) -> None:
    """A workflow created mid-listing shifts the pages: the repeated item is yielded once."""
    pages = {1: [1, 2], 2: [2, 3], 3: [4]}

    def page(number: int, base: str) -> dict[str, Any]:
        data = [{"id": i} for i in pages[number]]
        more = f"/workflows?page={number + 1}&page_length=2" if number < 3 else None
        return {"data": data, "pagination": {"next_page": more}}

    _, client = scripted(listing(page))
    assert [wf.id for wf in client.list_workflows(page_length=2)] == ["1", "2", "3", "4"]


def test_listing_body_without_data_is_invalid(scripted: Start) -> None:
    _, client = scripted(listing(lambda page, base: {"workflows": []}))
    with pytest.raises(ZuoraInvalidResponseError, match="'data' is missing or not a list"):
        client.list_workflows()
