"""Parsing of Zuora's workflow JSON into the typed models, with Zuora's documented quirks."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from zwm.zuora import ExportTask, Linkage, WorkflowDefinition, WorkflowExport, ZuoraInvalidResponseError
from zwm.zuora.models import parse_id, parse_timestamp

# The documented list item (zuora-api.md section 3.2), verbatim.
LIST_ITEM: dict[str, Any] = {
    "id": 48,
    "name": "New test workflow",
    "description": "",
    "status": "Active",
    "ondemandTrigger": True,
    "calloutTrigger": True,
    "scheduledTrigger": False,
    "interval": None,
    "timezone": None,
    "createdAt": "2019-05-31T14:52:38.171Z",
    "updatedAt": "2019-06-03T21:02:26.694Z",
    "active_version": {
        "id": 49,
        "description": "",
        "version": "0.0.1",
        "type": "Workflow::Setup",
        "status": "Active",
    },
    "latest_inactive_verisons": [
        {
            "id": 50,
            "name": "test",
            "description": "",
            "version": "0.0.2",
            "type": "Workflow::Setup",
            "ondemandTrigger": True,
            "calloutTrigger": True,
            "scheduledTrigger": False,
            "interval": "",
            "timezone": "Sydney",
            "createdAt": "2021-09-22T19:30:52.350Z",
            "updatedAt": "2021-09-22T19:30:52.350Z",
            "priority": "Medium",
            "status": "Inactive",
        }
    ],
}

# A composed export in the documented envelope (section 4.6), trimmed.
EXPORT: dict[str, Any] = {
    "workflow_definition": {"name": "Daily Overdue Invoice Alerts", "category": "Collections"},
    "workflow": {
        "id": 5102,
        "name": "Daily Overdue Invoice Alerts",
        "ondemand_trigger": True,
        "scheduled_trigger": True,
        "status": None,
        "version": "0.0.3",
        "priority": "Medium",
    },
    "tasks": [
        {
            "id": 90011,
            "name": "Export overdue invoices",
            "action_type": "Export",
            "object": "Invoice",
            "object_id": None,
            "call_type": "SOAP",
            "task_id": None,
            "concurrent_limit": 9999999,
            "priority": "Medium",
            "tags": ["collections"],
            "css": {"top": "40px", "left": "350px"},
            "assignment": [],
            "parameters": {"where_clause": "Invoice.Balance > 0", "strict_variables": "true"},
            "zuora_org_ids": ["org-1"],
            "some_future_field": {"kept": True},
        },
        {
            "id": "90012",
            "name": "For each invoice",
            "action_type": "Iterate",
            "task_id": 90011,
            "concurrent_limit": "150",
        },
    ],
    "linkages": [
        {
            "source_workflow_id": 5102,
            "source_task_id": None,
            "target_task_id": 90011,
            "linkage_type": "Start",
        },
        {
            "source_workflow_id": None,
            "source_task_id": 90011,
            "target_task_id": 90012,
            "linkage_type": "For Each",
        },
    ],
}


def test_documented_list_item() -> None:
    wf = WorkflowDefinition.from_json(LIST_ITEM)
    assert (wf.id, wf.name, wf.description, wf.status) == ("48", "New test workflow", "", "Active")
    assert (wf.type, wf.version, wf.active_version_id) == ("Workflow::Setup", "0.0.1", "49")
    assert (wf.ondemand_trigger, wf.callout_trigger, wf.scheduled_trigger) == (True, True, False)
    assert (wf.interval, wf.timezone, wf.priority) == (None, None, None)
    assert wf.created_at == datetime(2019, 5, 31, 14, 52, 38, 171000, tzinfo=UTC)
    assert wf.updated_at == datetime(2019, 6, 3, 21, 2, 26, 694000, tzinfo=UTC)
    (inactive,) = wf.inactive_versions
    assert (inactive.id, inactive.version, inactive.status, inactive.priority) == (
        "50",
        "0.0.2",
        "Inactive",
        "Medium",
    )
    assert (inactive.timezone, inactive.interval) == ("Sydney", None)  # "" is no schedule
    assert wf.raw["latest_inactive_verisons"][0]["id"] == 50


def test_snake_case_triggers_and_string_ids_and_the_other_timestamp_format() -> None:
    wf = WorkflowDefinition.from_json(
        {
            "id": "7",
            "scheduled_trigger": "true",
            "callout_trigger": False,
            "priority": "High",
            "type": "Workflow::Setup",
            "version": "1.2.3",
            "createdAt": "2019-09-10 19:32:21 UTC",
            "updatedAt": "2019-09-10 19:32:21",
        }
    )
    assert (wf.id, wf.scheduled_trigger, wf.callout_trigger, wf.priority) == ("7", True, False, "High")
    assert (wf.type, wf.version, wf.active_version_id) == ("Workflow::Setup", "1.2.3", None)
    assert wf.created_at == wf.updated_at == datetime(2019, 9, 10, 19, 32, 21, tzinfo=UTC)


def test_missing_and_null_optional_fields_are_tolerated() -> None:
    wf = WorkflowDefinition.from_json({"id": 1, "name": None, "active_version": None, "unknown": [1, 2]})
    assert (wf.name, wf.description, wf.status, wf.version, wf.active_version_id) == (
        "",
        "",
        None,
        None,
        None,
    )
    assert (wf.ondemand_trigger, wf.created_at, wf.inactive_versions) == (False, None, ())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"name": "no id"}, "'id' is missing"),
        ({"id": None}, "'id' is missing"),
        ({"id": ""}, "'id' is missing"),
        ({"id": True}, "'id' is missing"),
        ({"id": 1.5}, "'id' is missing"),
        ([1], "is not a JSON object"),
        ("x", "is not a JSON object"),
    ],
)
def test_definition_without_a_usable_id_is_invalid(bad: object, message: str) -> None:
    with pytest.raises(ZuoraInvalidResponseError, match=f"^workflow list item #3.*{message}"):
        WorkflowDefinition.from_json(bad, "workflow list item #3")


def test_inactive_version_without_id_is_invalid_and_named() -> None:
    item = copy.deepcopy(LIST_ITEM)
    del item["latest_inactive_verisons"][0]["id"]
    with pytest.raises(ZuoraInvalidResponseError, match=r"workflow definition 48: inactive version: 'id'"):
        WorkflowDefinition.from_json(item)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-05-31T14:52:38.171Z", datetime(2019, 5, 31, 14, 52, 38, 171000, tzinfo=UTC)),
        ("2019-05-31T16:52:38+02:00", datetime(2019, 5, 31, 14, 52, 38, tzinfo=UTC)),
        ("2019-09-19 18:25:33 UTC", datetime(2019, 9, 19, 18, 25, 33, tzinfo=UTC)),
        ("2019-09-19", datetime(2019, 9, 19, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (12345, None),
    ],
)
def test_parse_timestamp(text: object, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_parse_id() -> None:
    assert parse_id(12, "x") == "12"
    assert parse_id(" 12 ", "x") == "12"
    assert parse_id(12.0, "x") == "12"


def test_export_parses_tasks_linkages_and_keeps_everything() -> None:
    export = WorkflowExport.from_json(copy.deepcopy(EXPORT))
    assert export.version_id == "5102"
    assert export.version == "0.0.3"
    assert export.workflow_definition == {"name": "Daily Overdue Invoice Alerts", "category": "Collections"}
    first, second = export.tasks
    assert first == ExportTask(
        id="90011",
        name="Export overdue invoices",
        action_type="Export",
        object="Invoice",
        object_id=None,
        call_type="SOAP",
        parent_task_id=None,
        priority="Medium",
        concurrent_limit=9999999,
        parameters={"where_clause": "Invoice.Balance > 0", "strict_variables": "true"},
        css={"top": "40px", "left": "350px"},
        tags=("collections",),
        assignment=(),
        zuora_org_id=None,
        zuora_org_ids=("org-1",),
        subprocess_id=None,
    )
    assert first.raw["some_future_field"] == {"kept": True}
    assert (second.id, second.parent_task_id, second.concurrent_limit, second.parameters) == (
        "90012",
        "90011",
        150,
        {},
    )
    assert export.linkages == (
        Linkage("5102", None, "90011", None, "Start"),
        Linkage(None, "90011", "90012", None, "For Each"),
    )


def test_export_without_workflow_definition_and_with_open_linkage_types() -> None:
    doc = copy.deepcopy(EXPORT)
    del doc["workflow_definition"]
    doc["linkages"].append({"source_task_id": 90012, "target_task_id": 90011, "linkage_type": "Page:approve"})
    export = WorkflowExport.from_json(doc)
    assert export.workflow_definition is None
    assert export.linkages[-1].linkage_type == "Page:approve"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("tasks"), r"'tasks' is missing or not a list"),
        (lambda d: d.update(tasks={"id": 1}), r"'tasks' is missing or not a list"),
        (lambda d: d.pop("linkages"), r"'linkages' is missing or not a list"),
        (lambda d: d.pop("workflow"), r"'workflow' is not a JSON object"),
        (lambda d: d["tasks"][1].pop("id"), r"task #1: 'id'"),
        (lambda d: d["tasks"].__setitem__(0, "task"), r"task #0 is not a JSON object"),
        (lambda d: d["linkages"][0].pop("target_task_id"), r"linkage #0: 'target_task_id'"),
        (lambda d: d["linkages"][1].update(linkage_type=None), r"linkage #1: 'linkage_type'"),
    ],
)
def test_export_missing_required_parts_is_invalid(mutate: Any, message: str) -> None:
    doc = copy.deepcopy(EXPORT)
    mutate(doc)
    with pytest.raises(ZuoraInvalidResponseError, match=message):
        WorkflowExport.from_json(doc, "export of workflow 48")


def test_export_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(ZuoraInvalidResponseError, match="export is not a JSON object"):
        WorkflowExport.from_json([EXPORT])


def test_content_hash_ignores_key_order_and_whitespace_but_not_content() -> None:
    export = WorkflowExport.from_json(copy.deepcopy(EXPORT))
    reordered = json.loads(json.dumps(EXPORT, indent=4, sort_keys=True))
    assert WorkflowExport.from_json(reordered).content_hash == export.content_hash
    changed = copy.deepcopy(EXPORT)
    changed["tasks"][0]["parameters"]["where_clause"] = "Invoice.Balance > 100"
    assert WorkflowExport.from_json(changed).content_hash != export.content_hash
    assert len(export.content_hash) == 64
    assert json.loads(export.canonical_json) == EXPORT
