"""The deterministic workflow catalog of one simulated tenant.

Definitions and their versions share one id sequence, as in Zuora (definition 48 with active
version 49). Only the small summary of each workflow is generated up front, so a tenant of
thousands of workflows starts in milliseconds; tasks and linkages are generated the first time
a version is exported, from an RNG seeded by (tenant seed, version id), then cached: a version
never changes after it is created, a change makes a new version.

Not thread-safe on its own: the tenant serialises access with its lock.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from zwm.zuora.simulator.tasks import build_graph

EPOCH = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)
LARGE_EVERY = 40
"""Every 40th workflow (from the 7th) has a large export (~0.5 MB) for gzip and size tests."""

_CADENCE = ("Daily", "Weekly", "Monthly", "Nightly", "Hourly", "On-demand", "Real-time", "Quarterly")
_SUBJECT = ("Invoice", "Payment", "Subscription", "Account", "Usage", "Credit Memo", "Order", "Refund")
_PURPOSE = (
    "Overdue Alerts",
    "Reconciliation",
    "Sync to Salesforce",
    "Dunning",
    "Export to S3",
    "Cleanup",
    "Approval",
    "Renewal Reminder",
    "Tax Recalculation",
    "Write-off",
    "Owner Notification",
    "Data Quality Check",
)
_CATEGORIES = ("Collections", "Billing", "Finance", "Revenue", "Operations", None)
_TIMEZONES = ("Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Sydney", "UTC")


@functools.lru_cache(maxsize=65536)
def iso(moment: datetime) -> str:
    """Zuora's definition timestamp format: ISO 8601, milliseconds, ``Z``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Version:
    """One version of a workflow; immutable once created except for its status."""

    id: int
    version: str
    description: str
    created_at: datetime
    task_count: int
    status: str = "Inactive"


@dataclass
class Workflow:
    """Summary of one workflow definition; ``versions[-1]`` is the active one."""

    id: int
    name: str
    description: str
    status: str
    ondemand: bool
    callout: bool
    scheduled: bool
    interval: str | None
    timezone: str | None
    priority: str
    category: str | None
    created_at: datetime
    updated_at: datetime
    large: bool
    with_definition: bool
    versions: list[Version] = field(default_factory=list)

    @property
    def active(self) -> Version:
        return self.versions[-1]


class Catalog:
    """All workflows of one tenant, in id order, plus the cache of generated exports."""

    def __init__(self, seed: str, count: int) -> None:
        self.seed = seed
        rng = random.Random(f"{seed}:ids")
        self._next_id = rng.randint(100, 9000)
        self._workflows: dict[int, Workflow] = {}
        self._graphs: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self._names: set[str] = set()
        self._created = 0
        for _ in range(count):
            self.add()

    def _allocate(self) -> int:
        self._next_id += 1
        return self._next_id

    def add(self) -> Workflow:
        """Create the next workflow of the sequence (deterministic for a given seed)."""
        index = self._created
        self._created += 1
        rng = random.Random(f"{self.seed}:wf:{index}")
        created = EPOCH + timedelta(days=rng.uniform(0, 1200), seconds=rng.randint(0, 86399))
        scheduled = rng.random() < 0.35
        wf = Workflow(
            id=self._allocate(),
            name=self._unique_name(rng),
            description=rng.choice(
                ["", "Owned by billing ops", "See runbook in Confluence", "Legacy, do not edit"]
            ),
            status="Active" if rng.random() < 0.85 else "Inactive",
            ondemand=rng.random() < 0.7,
            callout=rng.random() < 0.4,
            scheduled=scheduled,
            interval=f"0 {rng.randint(0, 59)} {rng.randint(0, 23):02d} /1 * *" if scheduled else None,
            timezone=rng.choice(_TIMEZONES) if scheduled else None,
            priority=rng.choice(["Medium", "Medium", "High", "Low"]),
            category=rng.choice(_CATEGORIES),
            created_at=created,
            updated_at=created,
            large=index % LARGE_EVERY == 6,
            with_definition=rng.random() < 0.4,
        )
        for _ in range(rng.randint(1, 3)):
            wf.updated_at += timedelta(days=rng.uniform(0, 60), milliseconds=rng.randint(1, 999))
            self._add_version(wf, rng, wf.updated_at)
        self._workflows[wf.id] = wf
        return wf

    def _unique_name(self, rng: random.Random) -> str:
        base = f"{rng.choice(_CADENCE)} {rng.choice(_SUBJECT)} {rng.choice(_PURPOSE)}"
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base} ({n})"
        self._names.add(name)
        return name

    def _add_version(self, wf: Workflow, rng: random.Random, when: datetime) -> None:
        number = len(wf.versions) + 1
        if wf.versions:
            wf.active.status = "Inactive"
        wf.versions.append(
            Version(
                id=self._allocate(),
                version=f"0.0.{number}",
                description=""
                if number == 1
                else f"v0.0.{number}: {rng.choice(['fix', 'add branch', 'retune'])}",
                created_at=when,
                task_count=40 if wf.large else rng.randint(3, 40),
                status="Active",
            )
        )

    # -- reading ------------------------------------------------------------------------

    def ids(self) -> list[int]:
        return list(self._workflows)

    def workflows(self) -> list[Workflow]:
        return list(self._workflows.values())

    def get(self, workflow_id: int) -> Workflow | None:
        return self._workflows.get(workflow_id)

    def graph(self, version: Version, large: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Tasks and linkages of a version; callers must not mutate the cached lists."""
        cached = self._graphs.get(version.id)
        if cached is None:
            rng = random.Random(f"{self.seed}:version:{version.id}")
            cached = build_graph(rng, version.id, version.task_count, large)
            self._graphs[version.id] = cached
        return cached

    # -- changes between calls ---------------------------------------------------------------

    def delete(self, workflow_id: int) -> bool:
        wf = self._workflows.pop(workflow_id, None)
        if wf is None:
            return False
        self._names.discard(wf.name)
        return True

    def change(self, workflow_id: int, now: datetime) -> Workflow | None:
        """Activate a new version with new tasks and bump ``updatedAt``, like an edit in the UI."""
        wf = self._workflows.get(workflow_id)
        if wf is None:
            return None
        wf.updated_at = max(now, wf.updated_at + timedelta(milliseconds=1))
        rng = random.Random(f"{self.seed}:change:{workflow_id}:{len(wf.versions)}")
        self._add_version(wf, rng, wf.updated_at)
        return wf


# -- JSON shapes ----------------------------------------------------------------------------


def _triggers(wf: Workflow) -> dict[str, Any]:
    return {"ondemandTrigger": wf.ondemand, "calloutTrigger": wf.callout, "scheduledTrigger": wf.scheduled}


def version_json(wf: Workflow, v: Version) -> dict[str, Any]:
    """A version as listed in ``latest_inactive_verisons`` and ``/versions``."""
    return {
        "id": v.id,
        "name": wf.name,
        "description": v.description,
        "version": v.version,
        "type": "Workflow::Setup",
        **_triggers(wf),
        "interval": wf.interval or "",
        "timezone": wf.timezone,
        "createdAt": iso(v.created_at),
        "updatedAt": iso(v.created_at),
        "priority": wf.priority,
        "status": v.status,
    }


def definition_json(wf: Workflow, listing: bool) -> dict[str, Any]:
    """A definition as in ``GET /workflows`` (listing) or ``GET /workflows/{id}``."""
    active = wf.active
    out: dict[str, Any] = {
        "id": wf.id,
        "name": wf.name,
        "description": wf.description,
        "status": wf.status,
        **_triggers(wf),
        "interval": wf.interval,
        "timezone": wf.timezone,
        "createdAt": iso(wf.created_at),
        "updatedAt": iso(wf.updated_at),
        "active_version": {
            "id": active.id,
            "description": active.description,
            "version": active.version,
            "type": "Workflow::Setup",
            "status": "Active",
        },
    }
    if listing:
        inactive = [version_json(wf, v) for v in reversed(wf.versions[:-1])]
        out["latest_inactive_verisons"] = inactive[:10]
    else:
        out["priority"] = wf.priority
    return out


def export_json(catalog: Catalog, wf: Workflow, v: Version) -> dict[str, Any]:
    """The export envelope of one version: ``workflow`` (snake_case), ``tasks``, ``linkages``."""
    tasks, linkages = catalog.graph(v, wf.large)
    out: dict[str, Any] = {}
    if wf.with_definition:
        out["workflow_definition"] = {
            "name": wf.name,
            "description": wf.description,
            "category": wf.category,
            "ui_page_roles": [],
        }
    out["workflow"] = {
        "id": v.id,
        "name": wf.name,
        "description": v.description,
        "parameters": {
            "fields": [],
            "entity_name": None,
            "entity_id": None,
            "skipping_check": "db",
            "file_encryption": "false",
            "secure_error_msgs": "false",
            "show_run_prompt": None,
            "callout_response": "workflow instance",
        },
        "data": {},
        "original_workflow_id": None,
        "type": "Workflow::Setup",
        "ondemand_trigger": wf.ondemand,
        "callout_trigger": wf.callout,
        "scheduled_trigger": wf.scheduled,
        "interval": wf.interval,
        "timezone": wf.timezone,
        "status": None,
        "finished_at": None,
        "css": {"top": "40px", "left": "30px"},
        "notifications": {
            "emails": [],
            "failure": True,
            "success": False,
            "pending": False,
            "skipped_scheduled_run": False,
            "error_ignore": "",
        },
        "started_at": None,
        "call_type": "BATCH",
        "priority": wf.priority,
        "sync_trigger": False,
        "delete_ttl": 45,
        "task_summary": {},
        "version": v.version,
    }
    out["tasks"] = tasks
    out["linkages"] = linkages
    return out
