"""The Zuora workflow endpoints: routing, pagination, filters and catalog-level faults.

Transport-level faults (drops, hangs, 5xx, 429) are decided before these handlers run, in
:mod:`zwm.zuora.simulator.server`; here live the faults that depend on what is asked for:
an empty listing, a listing page that always fails, exports that are broken, incomplete or
gone.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from zwm.zuora.simulator.catalog import Workflow, definition_json, export_json, version_json
from zwm.zuora.simulator.faults import OVERLONG, Faults
from zwm.zuora.simulator.responses import (
    Response,
    forbidden,
    invalid,
    json_response,
    not_found,
    unknown_workflow,
)
from zwm.zuora.simulator.tenant import TenantState

LIST_MAX, LIST_DEFAULT = 50, 20
TASKS_MAX, TASKS_DEFAULT = 100, 20
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_WORKFLOW_PATH = re.compile(r"^/workflows/(\d+)(/export|/versions)?$")
_TRIGGER_FILTERS = {
    "ondemand_trigger": "ondemand",
    "callout_trigger": "callout",
    "scheduled_trigger": "scheduled",
}
_REQUIRED_DEFINITION_FIELDS = ("id", "name", "updatedAt", "active_version")


@dataclass(frozen=True)
class ApiRequest:
    """What the handlers need from an HTTP request: path, query and our own public base URL."""

    path: str
    query: Mapping[str, list[str]]
    base_url: str

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Handler = Callable[[TenantState, ApiRequest], Response]


def route(path: str) -> tuple[str, Handler] | None:
    """The stats key and handler for a GET path, or None when Zuora has no such endpoint."""
    if path == "/workflows":
        return "list", list_workflows
    if path == "/workflows/tasks":
        return "tasks", list_tasks
    match = _WORKFLOW_PATH.match(path)
    if match is None:
        return None
    suffix = match.group(2)
    if suffix == "/export":
        return "export", export_workflow
    if suffix == "/versions":
        return "versions", list_versions
    return "get", get_workflow


def _paging(req: ApiRequest, default: int, maximum: int) -> tuple[int, int] | Response:
    """``(page, page_length)`` or a 400: over the maximum is an error, never silently clamped."""
    try:
        page = int(req.arg("page") or 1)
        length = int(req.arg("page_length") or default)
    except ValueError:
        return invalid(400, "page and page_length must be integers.")
    if page < 1 or length < 1:
        return invalid(400, "page and page_length must be positive integers.")
    if length > maximum:
        return invalid(400, f"page_length must be less than or equal to {maximum}.")
    return page, length


def _pagination(req: ApiRequest, faults: Faults, page: int, length: int, more: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"page": page, "page_length": length}
    if more:
        params = {k: v[0] for k, v in req.query.items() if k not in {"page", "page_length"}}
        params.update(page=str(page + 1), page_length=str(length))
        base = (faults.next_page_base or req.base_url).rstrip("/")
        out["next_page"] = f"{base}{req.path}?{urlencode(params)}"
    elif faults.last_page_style == "null":
        out["next_page"] = None
    elif faults.last_page_style == "empty":
        out["next_page"] = ""
    return out


def _drop_field(tenant: TenantState, item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """With probability ``missing_fields_rate``, a copy of ``item`` without one required field."""
    if not tenant.chance(tenant.faults.missing_fields_rate):
        return item
    with tenant.lock:
        victim = tenant.rng.choice(fields)
    return {k: v for k, v in item.items() if k != victim}


def _filter(req: ApiRequest) -> Callable[[Workflow], bool] | None:
    """The listing filter asked for, or None when there is none (the common, fast path)."""
    wanted: dict[str, object] = {}
    for param, attr in (("name", "name"), ("interval", "interval")):
        value = req.arg(param)
        if value is not None:
            wanted[attr] = value
    for param, attr in _TRIGGER_FILTERS.items():
        value = req.arg(param)
        if value is not None:
            wanted[attr] = value.lower() == "true"
    if not wanted:
        return None
    return lambda wf: all(getattr(wf, attr) == value for attr, value in wanted.items())


def list_workflows(tenant: TenantState, req: ApiRequest) -> Response:
    paging = _paging(req, LIST_DEFAULT, LIST_MAX)
    if isinstance(paging, Response):
        return paging
    page, length = paging
    faults = tenant.faults
    if faults.list_page_error == page:
        return json_response(500, {"errors": ["Internal Server Error"]})
    served = min(length, faults.short_page_length or length)
    with tenant.lock:
        keep = _filter(req)
        matching = [] if faults.empty_listing else tenant.catalog.workflows()
        if keep is not None:
            matching = [wf for wf in matching if keep(wf)]
        start = (page - 1) * served
        chunk = [definition_json(wf, listing=True) for wf in matching[start : start + served]]
        if page == 1:
            for workflow_id in faults.delete_during_listing_ids:
                tenant.catalog.delete(workflow_id)
    data = [_listing_faults(tenant, item) for item in chunk]
    more = start + served < len(matching) or (faults.trailing_empty_page and len(chunk) == length)
    return json_response(200, {"data": data, "pagination": _pagination(req, faults, page, length, more)})


def _listing_faults(tenant: TenantState, item: dict[str, Any]) -> dict[str, Any]:
    faults = tenant.faults
    if item["id"] in faults.missing_field_listing_ids:
        return {k: v for k, v in item.items() if k != faults.missing_listing_field}
    if item["id"] in faults.wrong_type_listing_ids:
        return {**item, "name": {"text": item["name"]}, "updatedAt": 1700000000, "active_version": "0.0.1"}
    if item["id"] in faults.overlong_text_ids:
        return {**item, "name": _overlong(item["name"])}
    return _drop_field(tenant, item, _REQUIRED_DEFINITION_FIELDS)


def _overlong(text: str) -> str:
    return (text + " ") + "x" * (OVERLONG - len(text) - 1)


def _workflow(tenant: TenantState, req: ApiRequest) -> Workflow | Response:
    """The workflow named by the path, or the 404 Zuora gives for an unknown (or vanished) id."""
    match = _WORKFLOW_PATH.match(req.path)
    assert match is not None  # route() matched it
    workflow_id = int(match.group(1))
    wf = tenant.catalog.get(workflow_id)
    if wf is None or workflow_id in tenant.faults.vanish_during_export_ids:
        return unknown_workflow(workflow_id)
    return wf


def get_workflow(tenant: TenantState, req: ApiRequest) -> Response:
    with tenant.lock:
        wf = _workflow(tenant, req)
        if isinstance(wf, Response):
            return wf
        item = definition_json(wf, listing=False)
    return json_response(200, _drop_field(tenant, item, _REQUIRED_DEFINITION_FIELDS))


def list_versions(tenant: TenantState, req: ApiRequest) -> Response:
    with tenant.lock:
        wf = _workflow(tenant, req)
        if isinstance(wf, Response):
            return wf
        data = [version_json(wf, v) for v in wf.versions]
    return json_response(200, {"data": data})


def export_workflow(tenant: TenantState, req: ApiRequest) -> Response:
    wanted = req.arg("version")
    if wanted is not None and wanted != "latest" and not _VERSION.match(wanted):
        return invalid(400, f"The input of version '{wanted}' is invalid.")
    with tenant.lock:
        wf = _workflow(tenant, req)
        if isinstance(wf, Response):
            return wf
        if wanted is None or wanted == "latest":
            version = wf.active
        else:
            found = [v for v in wf.versions if v.version == wanted]
            if not found:
                return invalid(404, f"Workflow version '{wanted}' is not found.")
            version = found[0]
        envelope = export_json(tenant.catalog, wf, version)
    return _export_faults(tenant, wf.id, envelope)


def _export_faults(tenant: TenantState, workflow_id: int, envelope: dict[str, Any]) -> Response:
    faults = tenant.faults
    if faults.forbidden_exports or workflow_id in faults.forbidden_export_ids:
        return forbidden()
    if workflow_id in faults.overlong_text_ids and envelope["tasks"]:
        first = {**envelope["tasks"][0]}
        first.update(name=_overlong(str(first["name"])), object=_overlong(str(first.get("object") or "")))
        envelope = {**envelope, "tasks": [first, *envelope["tasks"][1:]]}
    if workflow_id in faults.edited_in_place_ids and envelope["tasks"]:
        first = {**envelope["tasks"][0], "name": f"{envelope['tasks'][0]['name']} (edited in place)"}
        envelope = {**envelope, "tasks": [first, *envelope["tasks"][1:]]}
    if workflow_id in faults.malformed_export_ids:
        body = json.dumps(envelope).encode()
        return Response(200, body[: len(body) // 2])
    if workflow_id in faults.missing_field_export_ids:
        envelope = _without(envelope, faults.missing_export_field)
    elif tenant.chance(faults.missing_fields_rate):
        envelope = _without(envelope, "workflow.id")
        envelope["tasks"] = [{k: v for k, v in t.items() if k != "id"} for t in envelope["tasks"]]
    return json_response(200, envelope)


def _without(envelope: dict[str, Any], field: str) -> dict[str, Any]:
    """A copy of the export without ``tasks``, ``linkages``, ``workflow`` or ``workflow.id``."""
    out = dict(envelope)
    if field == "workflow.id":
        out["workflow"] = {k: v for k, v in envelope["workflow"].items() if k != "id"}
    else:
        out.pop(field, None)
    return out


def list_tasks(tenant: TenantState, req: ApiRequest) -> Response:
    """Setup tasks of every active version, in workflow order (``instance=true`` finds none)."""
    paging = _paging(req, TASKS_DEFAULT, TASKS_MAX)
    if isinstance(paging, Response):
        return paging
    page, length = paging
    filters = {k: req.arg(k) for k in ("id", "name", "action_type", "object", "call_type")}
    filters = {k: v for k, v in filters.items() if v is not None}
    tags = set(req.query.get("tags[]", []))
    version_filter = req.arg("workflow_id")
    offset, more = (page - 1) * length, False
    items: list[dict[str, Any]] = []
    if (req.arg("instance") or "false").lower() != "true":
        with tenant.lock:
            for wf in tenant.catalog.workflows():
                version = wf.active
                if version_filter is not None and str(version.id) != version_filter:
                    continue
                if not filters and not tags and offset >= version.task_count:
                    offset -= version.task_count  # skip without generating the tasks
                    continue
                for task in tenant.catalog.graph(version, wf.large)[0]:
                    if any(str(task.get(k)) != v for k, v in filters.items()):
                        continue
                    if tags and not tags & set(task["tags"]):
                        continue
                    if offset:
                        offset -= 1
                    elif len(items) < length:
                        items.append(_task_item(task, version.id))
                    else:
                        more = True
                        break
                if more:
                    break
    pagination = _pagination(req, tenant.faults, page, length, more)
    return json_response(200, {"data": items, "pagination": pagination})


def _task_item(task: dict[str, Any], version_id: int) -> dict[str, Any]:
    item = copy.copy(task)
    item.update(instance=False, workflow_id=version_id, data={}, start_time=None, end_time=None)
    return item


def not_an_endpoint(path: str) -> Response:
    return not_found(f"No route matches {path}")
