"""Typed, immutable views of Zuora's workflow JSON, tolerant where Zuora is loose.

Zuora's workflow endpoints are inconsistent in documented ways (zuora-api.md sections 3-4
and 9): ids are integers or strings, trigger flags are camelCase in listings and snake_case
in exports, the inactive versions live under the misspelled ``latest_inactive_verisons``,
timestamps are ISO 8601 or ``YYYY-MM-DD HH:MM:SS UTC``, nullable fields may be missing, and
``action_type``/``linkage_type``/``status`` take values beyond the published enums. Every
parser below accepts all of that and keeps the original object in ``raw``, so nothing Zuora
sends is lost even when a field is not modelled.

What is *required* (anything else missing becomes None, ``""``, False or empty):

- a workflow definition (list item, GET, version): an ``id``. Without it the definition
  cannot be named, exported or matched to a stored row.
- an export: ``workflow`` an object, ``tasks`` and ``linkages`` lists (the documented
  envelope; an empty workflow still sends ``[]``); each task an ``id``; each linkage a
  ``target_task_id`` and a ``linkage_type``. A graph with a nameless node or an untyped
  edge cannot be stored faithfully.

A violation raises :class:`ZuoraInvalidResponseError` naming the field and where it was
expected, so the sync service can report that one workflow and carry on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from zwm.zuora.errors import ZuoraInvalidResponseError

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M:%S.%f UTC", "%Y-%m-%d %H:%M:%S")


def parse_id(value: Any, what: str) -> str:
    """A Zuora id as ``str`` (Zuora sends ints or strings), or ZuoraInvalidResponseError."""
    if isinstance(value, bool) or value is None:
        raise ZuoraInvalidResponseError(f"{what} is missing or not an id (got {value!r})")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ZuoraInvalidResponseError(f"{what} is missing or not an id (got {value!r})")


def _optional_id(value: Any, what: str) -> str | None:
    return None if value is None or value == "" else parse_id(value, what)


def parse_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 or ``YYYY-MM-DD HH:MM:SS UTC``; None if absent or unreadable.

    Unreadable is not an error: a timestamp is informative, and ``raw`` keeps the text.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _TIMESTAMP_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)  # noqa: DTZ007 -- made aware just below
                break
            except ValueError:
                continue
        else:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(value: Any) -> str | None:
    """A string field: None for null/missing/blank; numbers stringified (Zuora is loose)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value if value.strip() else None
    return None


def _flag(value: Any) -> bool:
    """A trigger flag: JSON booleans, or the ``"true"``/``"false"`` strings Zuora uses in parameters."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes"}
    return bool(value) if isinstance(value, bool | int) else False


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _first(obj: Mapping[str, Any], *keys: str) -> Any:
    """The first present, non-null value among ``keys`` (camelCase and snake_case spellings)."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ZuoraInvalidResponseError(f"{what} is not a JSON object (got {type(value).__name__})")
    return value


def _list(value: Any, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise ZuoraInvalidResponseError(f"{what} is missing or not a list (got {type(value).__name__})")
    return value


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value if item is not None)


@dataclass(frozen=True)
class WorkflowDefinition:
    """A workflow definition (from ``GET /workflows``, ``GET /workflows/{id}``) or a version.

    ``id`` is the definition id used by ``/export`` and ``/versions``; ``version``, ``type``
    and ``active_version_id`` come from ``active_version`` when present (list and GET
    responses carry no top-level version). ``priority`` is top-level on GET and versions,
    absent from list items.
    """

    id: str
    name: str
    description: str
    status: str | None
    type: str | None
    version: str | None
    active_version_id: str | None
    ondemand_trigger: bool
    callout_trigger: bool
    scheduled_trigger: bool
    interval: str | None
    timezone: str | None
    priority: str | None
    created_at: datetime | None
    updated_at: datetime | None
    inactive_versions: tuple[WorkflowDefinition, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any, where: str = "workflow definition") -> WorkflowDefinition:
        """Parse one definition; raises ZuoraInvalidResponseError when it is not an object or has no id."""
        data = _object(obj, where)
        workflow_id = parse_id(data.get("id"), f"{where}: 'id'")
        where = f"{where} {workflow_id}"
        active = _mapping(data.get("active_version"))
        inactive = data.get("latest_inactive_verisons", data.get("latest_inactive_versions"))
        return cls(
            id=workflow_id,
            name=_text(data.get("name")) or "",
            description=_text(data.get("description")) or "",
            status=_text(data.get("status")),
            type=_text(_first(active, "type")) or _text(data.get("type")),
            version=_text(_first(active, "version")) or _text(data.get("version")),
            active_version_id=_optional_id(active.get("id"), f"{where}: 'active_version.id'"),
            ondemand_trigger=_flag(_first(data, "ondemandTrigger", "ondemand_trigger")),
            callout_trigger=_flag(_first(data, "calloutTrigger", "callout_trigger")),
            scheduled_trigger=_flag(_first(data, "scheduledTrigger", "scheduled_trigger")),
            interval=_text(data.get("interval")),
            timezone=_text(data.get("timezone")),
            priority=_text(data.get("priority")) or _text(active.get("priority")),
            created_at=parse_timestamp(_first(data, "createdAt", "created_at")),
            updated_at=parse_timestamp(_first(data, "updatedAt", "updated_at")),
            inactive_versions=tuple(
                cls.from_json(item, f"{where}: inactive version")
                for item in (inactive if isinstance(inactive, list) else ())
            ),
            raw=data,
        )


@dataclass(frozen=True)
class ExportTask:
    """One task of an exported workflow version (or of ``GET /workflows/tasks``).

    ``parent_task_id`` is the export's ``task_id``: the primary upstream task, useful for
    layout only -- the linkages are the real graph. ``concurrent_limit`` is None when
    absent (Zuora's default is 9999999).
    """

    id: str
    name: str
    action_type: str | None
    object: str | None
    object_id: str | None
    call_type: str | None
    parent_task_id: str | None
    priority: str | None
    concurrent_limit: int | None
    parameters: Mapping[str, Any]
    css: Mapping[str, Any]
    tags: tuple[str, ...]
    assignment: tuple[Any, ...]
    zuora_org_id: str | None
    zuora_org_ids: tuple[str, ...]
    subprocess_id: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any, where: str = "task") -> ExportTask:
        """Parse one task; raises ZuoraInvalidResponseError when it is not an object or has no id."""
        data = _object(obj, where)
        task_id = parse_id(data.get("id"), f"{where}: 'id'")
        where = f"{where} {task_id}"
        assignment = data.get("assignment")
        return cls(
            id=task_id,
            name=_text(data.get("name")) or "",
            action_type=_text(data.get("action_type")),
            object=_text(data.get("object")),
            object_id=_text(data.get("object_id")),
            call_type=_text(data.get("call_type")),
            parent_task_id=_optional_id(data.get("task_id"), f"{where}: 'task_id'"),
            priority=_text(data.get("priority")),
            concurrent_limit=_int(data.get("concurrent_limit")),
            parameters=_mapping(data.get("parameters")),
            css=_mapping(data.get("css")),
            tags=_strings(data.get("tags")),
            assignment=tuple(assignment) if isinstance(assignment, list) else (),
            zuora_org_id=_text(data.get("zuora_org_id")),
            zuora_org_ids=_strings(data.get("zuora_org_ids")),
            subprocess_id=_text(data.get("subprocess_id")),
            raw=data,
        )


@dataclass(frozen=True)
class Linkage:
    """One edge of the task graph. ``source_workflow_id`` is set only on the entry edge
    (then ``source_task_id`` is None); ``linkage_type`` is an open string (``Start``,
    ``Success``, ``For Each``, ``Case_2``, an event name...)."""

    source_workflow_id: str | None
    source_task_id: str | None
    target_task_id: str
    target_workflow_id: str | None
    linkage_type: str

    @classmethod
    def from_json(cls, obj: Any, where: str = "linkage") -> Linkage:
        """Parse one linkage; raises ZuoraInvalidResponseError without a target task or a type."""
        data = _object(obj, where)
        linkage_type = data.get("linkage_type")
        if not isinstance(linkage_type, str) or not linkage_type:
            raise ZuoraInvalidResponseError(f"{where}: 'linkage_type' is missing or not a string")
        return cls(
            source_workflow_id=_optional_id(data.get("source_workflow_id"), f"{where}: 'source_workflow_id'"),
            source_task_id=_optional_id(data.get("source_task_id"), f"{where}: 'source_task_id'"),
            target_task_id=parse_id(data.get("target_task_id"), f"{where}: 'target_task_id'"),
            target_workflow_id=_optional_id(data.get("target_workflow_id"), f"{where}: 'target_workflow_id'"),
            linkage_type=linkage_type,
        )


@dataclass(frozen=True)
class WorkflowExport:
    """The export of one workflow version: ``{workflow, tasks, linkages[, workflow_definition]}``.

    ``workflow`` is the version's settings (snake_case; its ``id`` is the *version's* id).
    ``raw`` is the whole document as received; :attr:`canonical_json` and
    :attr:`content_hash` are derived from it for storage and change detection.
    """

    workflow: Mapping[str, Any]
    tasks: tuple[ExportTask, ...]
    linkages: tuple[Linkage, ...]
    workflow_definition: Mapping[str, Any] | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any, where: str = "export") -> WorkflowExport:
        """Parse an export document; raises ZuoraInvalidResponseError naming the first broken part."""
        data = _object(obj, where)
        definition = data.get("workflow_definition")
        return cls(
            workflow=_object(data.get("workflow"), f"{where}: 'workflow'"),
            tasks=tuple(
                ExportTask.from_json(task, f"{where}: task #{index}")
                for index, task in enumerate(_list(data.get("tasks"), f"{where}: 'tasks'"))
            ),
            linkages=tuple(
                Linkage.from_json(linkage, f"{where}: linkage #{index}")
                for index, linkage in enumerate(_list(data.get("linkages"), f"{where}: 'linkages'"))
            ),
            workflow_definition=definition if isinstance(definition, Mapping) else None,
            raw=data,
        )

    @property
    def version_id(self) -> str | None:
        """The exported version's workflow id (``workflow.id``), when present."""
        return _optional_id(self.workflow.get("id"), "export: 'workflow.id'")

    @property
    def version(self) -> str | None:
        """The exported version number (``workflow.version``, e.g. ``0.0.3``)."""
        return _text(self.workflow.get("version"))

    # Computed once each, on first use, and kept in the instance (a frozen dataclass still has
    # a ``__dict__``). Not ``functools.cached_property``: on Python 3.11 its lock is shared by
    # every instance, so the sync's threads hashing different exports would queue on it.

    @property
    def canonical_json(self) -> str:
        """The export as canonical JSON (sorted keys, no insignificant whitespace): what to store."""
        text: str | None = self.__dict__.get("_canonical_json")
        if text is None:
            text = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            self.__dict__["_canonical_json"] = text
        return text

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of :attr:`canonical_json`: equal exactly when the content is equal,
        whatever key order or whitespace the server used."""
        digest: str | None = self.__dict__.get("_content_hash")
        if digest is None:
            digest = hashlib.sha256(self.canonical_json.encode("utf-8")).hexdigest()
            self.__dict__["_content_hash"] = digest
        return digest
