"""Generated tasks and linkages of one workflow version, shaped like a Zuora export.

The graph is a tree grown from the Start edge: each new task hangs off an earlier one through
a linkage type that fits the parent's action (``True``/``False`` after ``If``, ``Case_N`` after
``Logic::Case``, ``For Each`` after ``Iterate``...), so clients meet every linkage type they
must treat as an open string. ``task_id`` names the parent, as in Zuora, but the linkages are
the real graph.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

TASKS_PER_VERSION_LIMIT = 100
"""Task ids are ``version_id * 100 + n``, unique in the tenant because version ids are."""

OBJECTS = ("Account", "Invoice", "Payment", "Subscription", "CreditMemo", "Usage", "Contact", "Order")
_EMAILS = ("billing-ops@example.com", "finance@example.com", "ar-team@example.com", "cs@example.com")

Params = dict[str, Any]


def _email(rng: random.Random, obj: str) -> Params:
    return {
        "email": {
            "to": [f"{{{{ Data.{obj}.BillToContact.WorkEmail }}}}", rng.choice(_EMAILS)],
            "subject": f"{obj} {{{{ Data.{obj}.Id }}}} needs attention",
            "body": f"<p>{obj} {{{{ Data.{obj}.Id }}}} changed on {{{{ 'now' | date: '%F' }}}}.</p>",
        },
        "strict_variables": "true",
    }


def _export(rng: random.Random, obj: str) -> Params:
    fields = rng.sample(
        ["Id", "Name", "Status", "Balance", "DueDate", "Amount", "CreatedDate", "Currency"], 4
    )
    return {
        "fields": {obj: dict.fromkeys(fields, "true")},
        "where_clause": f"{obj}.Status = '{rng.choice(['Posted', 'Active', 'Draft'])}'",
        "strict_variables": "true",
    }


def _callout(rng: random.Random, obj: str) -> Params:
    return {
        "url": f"https://hooks.example.com/zuora/{obj.lower()}",
        "method": rng.choice(["GET", "POST", "PUT"]),
        "headers": [{"key": "Content-Type", "value": "application/json"}],
        "raw_body": '{"id":"{{ Data.%s.Id }}"}' % obj,  # noqa: UP031 -- Liquid braces
        "body_type": "raw",
        "validation": {"zuora_call": "false", "status_codes": ["", "200"]},
        "retry_rules": {"retry_count": str(rng.randint(0, 3)), "retry_window": "30"},
        "authorization": {"type": "none"},
        "strict_variables": "true",
        "include_response_code": "true",
    }


def _condition(rng: random.Random, obj: str) -> Params:
    return {"if_clause": f"{{{{ Data.{obj}.Balance }}}} > {rng.randint(0, 500)}", "strict_variables": "true"}


def _case(rng: random.Random, obj: str) -> Params:
    cases = [{"when": f"{{{{ Data.{obj}.Status }}}} == '{s}'"} for s in ("Active", "Cancelled", "Suspended")]
    return {"cases": cases[: rng.randint(2, 3)], "strict_variables": "true"}


def _iterate(rng: random.Random, obj: str) -> Params:
    return {"file_type": "CSV", "fetched_data_is_array": "true", "object": obj, "strict_variables": "true"}


def _code(rng: random.Random, obj: str) -> Params:
    lines = [f"const rows = data.{obj} || [];", "let total = 0;"]
    lines += [f"total += rows.filter(r => r.Amount > {rng.randint(1, 999)}).length;" for _ in range(3)]
    return {
        "code": "\n".join([*lines, "return { total };"]),
        "language": "javascript",
        "strict_variables": "true",
    }


def _query(rng: random.Random, obj: str) -> Params:
    return {
        "zoql": f"select Id, Status from {obj} where UpdatedDate > '{{{{ 'now' | date: '%F' }}}}'",  # noqa: S608
        "limit": str(rng.choice([100, 500, 2000])),
    }


def _write(rng: random.Random, obj: str) -> Params:
    field = rng.choice(["Status", "Notes__c", "Segment__c", "AutoPay"])
    return {"object": obj, "fields": [{"name": field, "value": "{{ Data.Workflow.Value }}"}]}


def _delay(rng: random.Random, obj: str) -> Params:
    return {"delay": str(rng.choice([5, 30, 60, 3600])), "unit": "seconds"}


def _approval(rng: random.Random, obj: str) -> Params:
    return {"approvers": [rng.choice(_EMAILS)], "message": f"Approve {obj} change?"}


def _plain(rng: random.Random, obj: str) -> Params:
    return {"strict_variables": "true", "object": obj}


ActionSpec = tuple[str, Callable[[random.Random, str], Params], tuple[str, ...]]

ACTIONS: tuple[ActionSpec, ...] = (
    ("Email", _email, ("Success", "Failure")),
    ("Export", _export, ("Success", "Failure")),
    ("Callout", _callout, ("Success", "Failure")),
    ("If", _condition, ("True", "False")),
    ("Logic::Case", _case, ("Case_1", "Case_2", "Case_3", "Case_Else")),
    ("Iterate", _iterate, ("For Each", "Complete")),
    ("Logic::Lambda", _code, ("Success", "Failure")),
    ("Logic::CustomCode", _code, ("Success", "Failure")),
    ("Query", _query, ("Success", "Failure")),
    ("CustomObject::Query", _query, ("Success", "Failure")),
    ("Create", _write, ("Success", "Failure")),
    ("Update", _write, ("Success", "Failure")),
    ("Delay", _delay, ("Success",)),
    ("Approval", _approval, ("Approve", "Reject")),
    ("Logic::JSONTransform", _plain, ("Success", "Failure")),
    ("Billing::BillRun", _plain, ("Success", "Failure")),
    ("Notifications::SMS", _plain, ("Success", "Failure")),
    ("Attachment", _plain, ("Success", "Failure")),
)
"""Action type, parameter builder and the outgoing linkage types that action offers."""

_OUTGOING = {name: links for name, _, links in ACTIONS}


def build_graph(
    rng: random.Random, version_id: int, count: int, large: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tasks and linkages of one version with ``count`` tasks; ``large`` pads parameters."""
    tasks: list[dict[str, Any]] = []
    linkages: list[dict[str, Any]] = []
    free: dict[int, list[str]] = {}  # task id -> linkage types not used yet
    depth: dict[int, int] = {}
    for index in range(count):
        name, builder, outgoing = rng.choice(ACTIONS)
        obj = rng.choice(OBJECTS)
        task_id = version_id * TASKS_PER_VERSION_LIMIT + index + 1
        parent, linkage_type = _attach(rng, tasks, free)
        level = 0 if parent is None else depth[parent] + 1
        depth[task_id] = level
        params = builder(rng, obj)
        if large:
            params["template"] = _padding(rng)
        tasks.append(_task(rng, task_id, name, obj, parent, params, level, index))
        free[task_id] = list(outgoing)
        linkages.append(
            {
                "source_workflow_id": version_id if parent is None else None,
                "source_task_id": parent,
                "target_task_id": task_id,
                "linkage_type": linkage_type,
            }
        )
    return tasks, linkages


def _attach(
    rng: random.Random, tasks: list[dict[str, Any]], free: dict[int, list[str]]
) -> tuple[int | None, str]:
    """Pick a parent with an unused outgoing linkage (or reuse Success), or the Start edge."""
    if not tasks:
        return None, "Start"
    open_parents = [t["id"] for t in tasks[-8:] if free[t["id"]]]
    if open_parents:
        parent = rng.choice(open_parents)
        return parent, free[parent].pop(0)
    parent = tasks[-1]["id"]
    return parent, _OUTGOING[tasks[-1]["action_type"]][0]


def _task(
    rng: random.Random,
    task_id: int,
    action: str,
    obj: str,
    parent: int | None,
    params: Params,
    level: int,
    index: int,
) -> dict[str, Any]:
    data_task = action in {"Export", "Query", "Create", "Update", "Iterate", "CustomObject::Query"}
    return {
        "id": task_id,
        "name": f"{action.split('::')[-1]} {obj}",
        "action_type": action,
        "object": obj if data_task else None,
        "object_id": None,
        "call_type": "BATCH" if action == "Iterate" else "SOAP",
        "task_id": parent,
        "original_task_id": None,
        "original_workflow_id": None,
        "status": None,
        "error": None,
        "error_details": None,
        "error_class": None,
        "process_id": None,
        "css": {"top": f"{40 + 160 * (index % 6)}px", "left": f"{350 + 350 * level}px"},
        "concurrent_limit": rng.choice([9999999, 9999999, 9999999, 150, 10]),
        "iterate_row_reference": None,
        "object_batched_reference": None,
        "tags": rng.choice([[""], [], [obj.lower()], ["billing", "ops"]]),
        "priority": rng.choice(["Medium", "Medium", "High", "Low"]),
        "assignment": [],
        "parameters": params,
        "zuora_org_id": None,
        "zuora_org_ids": [],
        "subprocess_id": None,
    }


def _padding(rng: random.Random) -> str:
    """About 12 KB of Liquid template per task, so a 40-task export weighs ~0.5 MB."""
    row = "{%% for row in Data.Rows %%}<tr><td>{{ row.Id }}</td><td>%s</td></tr>{%% endfor %%}\n"
    return "".join(row % rng.getrandbits(64) for _ in range(120))
