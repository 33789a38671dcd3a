"""Synchronise one customer's catalog with Zuora (the seed's steps 1-7).

1. Check the stored settings (environment/base URL, client id, decryptable secret).
2. Authenticate (the client does, on the first call; a refused credential stops the sync).
3. List every page of workflow definitions.
4. Export only what is new or changed -- a different ``updatedAt`` or active version, or no
   stored export yet -- and what was last exported more than ``ZWM_SYNC_VERIFY_HOURS`` ago:
   an edit that moves neither ``updatedAt`` nor the version is caught by comparing content
   hashes at least that often. ``full=True`` exports everything -- on a thread pool sized to the
   client's concurrency cap, *while* the listing continues. At most a small window of exports
   is in memory at once, so memory does not grow with the catalog.
5. Save each workflow with its tasks and linkages in one transaction, from the coordinating
   thread only (SQLite allows one writer; worker threads do HTTP and parsing). The previous
   export is kept as a :class:`WorkflowVersion` when the content changed (the last
   ``ZWM_SYNC_VERSION_HISTORY`` distinct ones, :mod:`.history`).
6. Tasks gone from an export are deleted (in step 5).
7. Workflows gone from Zuora are deleted -- **only** after a listing that completed without
   error and with no fatal export error, **and** once Zuora confirms each is gone
   (``GET /workflows/{id}`` answers 404); never when more than ``ZWM_SYNC_MAX_DELETE_PERCENT``
   of the catalog would go (unless ``full``): the original deleted whole catalogs on an
   empty first page, and a listing that stopped early deleted everything after it.

Errors, by what the caller should do:

* one workflow's export is malformed, incomplete, forbidden or gone (404): a warning on the
  run, that workflow skipped with its last good data untouched, the others continue;
* credentials refused / permission denied on the listing / bad stored settings: the run
  fails and the exception propagates -- the job declares those ``dont_retry``;
* transient (5xx, timeouts, 429 after the client's own retries): new exports stop, exports
  in flight are saved, deletion is skipped, the run fails and the error propagates so the
  queue retries. The retry is cheap: everything saved is "unchanged" next time;
* 403 on every export: the run fails naming the missing permission; on some: ``partial``;
* anything else (a bug, a database error, ``RecursionError``/``MemoryError`` in an export
  worker) and the ``ZWM_SYNC_DEADLINE``: handled like a transient error, with its reason --
  the run always ends, never left ``running``.

One sync per customer runs at a time, whoever starts it (:mod:`.sync_lock`).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from zwm import logcontext
from zwm.catalog.models import Customer, SyncRun, Workflow
from zwm.catalog.services.bulk import insert_models
from zwm.catalog.services.columns import cut_to_fit, text_limits
from zwm.catalog.services.customers import build_client, credentials_for
from zwm.catalog.services.extract import insert_graphs, overlong_fields, store_graph
from zwm.catalog.services.history import keep_previous_export
from zwm.catalog.services.sync_lock import SyncAlreadyRunning, sync_lock
from zwm.config import get_config
from zwm.zuora import (
    WorkflowDefinition,
    WorkflowExport,
    ZuoraAuthenticationError,
    ZuoraClient,
    ZuoraError,
    ZuoraInvalidResponseError,
    ZuoraNotFoundError,
    ZuoraPermissionError,
    ZuoraRequestError,
)

log = logging.getLogger(__name__)

Progress = Callable[[int], None]

MAX_WARNINGS = 200
"""Warnings kept on a run (all are counted in ``failed``): a broken tenant must not make a huge row."""
WINDOW_PER_WORKER = 2
"""Exports submitted but not yet saved, per worker thread: bounds memory, keeps workers busy."""
_CHUNK = 500
STALE_RUN_AFTER = timedelta(hours=2)
"""Longer than any sync may run (``ZWM_SYNC_DEADLINE`` is at most an hour)."""

# Errors that concern one workflow only: warn and skip it.
_PER_WORKFLOW_ERRORS = (
    ZuoraInvalidResponseError,
    ZuoraNotFoundError,
    ZuoraPermissionError,
    ZuoraRequestError,
)

_DEFINITION_FIELDS = (
    "name",
    "description",
    "status",
    "type",
    "version",
    "active_version_id",
    "ondemand_trigger",
    "callout_trigger",
    "scheduled_trigger",
    "interval",
    "timezone",
    "priority",
    "zuora_created_at",
    "zuora_updated_at",
    "inactive_versions",
)


def definition_values(definition: WorkflowDefinition) -> dict[str, Any]:
    """The workflow columns a listing item sets (everything but the export)."""
    return {
        "name": definition.name,
        "description": definition.description,
        "status": definition.status or "",
        "type": definition.type or "",
        "version": definition.version or "",
        "active_version_id": definition.active_version_id or "",
        "ondemand_trigger": definition.ondemand_trigger,
        "callout_trigger": definition.callout_trigger,
        "scheduled_trigger": definition.scheduled_trigger,
        "interval": definition.interval or "",
        "timezone": definition.timezone or "",
        "priority": definition.priority or "",
        "zuora_created_at": definition.created_at,
        "zuora_updated_at": definition.updated_at,
        "inactive_versions": [dict(version.raw) for version in definition.inactive_versions],
    }


_WORKFLOW_LIMITS = text_limits(Workflow, _DEFINITION_FIELDS)
_ID_LIMIT = text_limits(Workflow, ["zuora_id"])["zuora_id"]

_GUARDED: dict[str, tuple[str, ...]] = {
    "its name": ("name",),
    "its updatedAt": ("zuora_updated_at",),
    "its active_version": ("version", "active_version_id", "type"),
}
"""What a listing item may lack (or send as the wrong type), and the columns it would blank."""


def _lacks(definition: WorkflowDefinition) -> list[str]:
    """The parts of ``_GUARDED`` a listing item did not send usably."""
    present = {
        "its name": bool(definition.name),
        "its updatedAt": definition.updated_at is not None,
        "its active_version": definition.active_version_id is not None,
    }
    return [part for part, ok in present.items() if not ok]


@dataclass
class _Stored:
    """What the sync needs to know of a stored workflow (no export text: that can be large)."""

    pk: int
    values: dict[str, Any]
    content_hash: str
    has_export: bool
    exported_at: datetime | None


class SyncDeadlineExceeded(Exception):
    """The sync ran longer than ``ZWM_SYNC_DEADLINE``; retrying is fine (saved work is kept)."""


class ExportsForbidden(ZuoraPermissionError):
    """Zuora answered 403 to every export the sync asked for: a missing permission, not a fault."""


class _StillThere(Exception):
    """``GET /workflows/{id}`` found a workflow the listing did not show."""


def _needs_export(
    stored: _Stored | None, definition: WorkflowDefinition, values: dict[str, Any], full: bool
) -> bool:
    """Whether to download the export: new, forced, never exported, or a changed ``updatedAt``
    or active version (``values``: the columns the listing sets, stored ones kept for what
    it lacked; without an ``updatedAt`` nothing proves the workflow unchanged)."""
    if stored is None or full or not stored.has_export or definition.updated_at is None:
        return True
    return bool(
        stored.values["zuora_updated_at"] != values["zuora_updated_at"]
        or stored.values["active_version_id"] != values["active_version_id"]
    )


class CustomerSync:
    """One run of the algorithm above; use :func:`sync_customer`."""

    def __init__(
        self,
        customer: Customer,
        run: SyncRun,
        client: ZuoraClient,
        *,
        full: bool,
        workers: int,
        progress: Progress | None,
        deadline: float | None = None,
    ) -> None:
        self.customer = customer
        self.run = run
        self.client = client
        self.full = full
        self.progress = progress
        self.workers = max(1, workers)
        self.stored: dict[str, _Stored] = {}
        self.seen: set[str] = set()
        self.touched: list[int] = []
        self.definition_updates: list[Workflow] = []
        self.fatal: Exception | None = None
        """What stops the sync: a Zuora error no retry inside the client healed, the deadline,
        or a bug or database error in an export worker (re-raised on the coordinating thread)."""
        self.deadline = deadline
        """``time.monotonic()`` value after which no new work starts (None: no deadline)."""
        self.forbidden = 0
        """Exports Zuora refused with 403 (the OAuth user lacks a permission)."""
        hours = get_config().sync_verify_hours
        self.verify_before = timezone.now() - timedelta(hours=hours) if hours else None
        """Exports downloaded before this are re-downloaded and compared (None: never)."""
        self.noted: set[str] = set()
        """Workflows whose listing item lacked a field or had one too long (warned about once)."""
        self.overlong: dict[str, list[str]] = {}
        """Per workflow, what of its export is stored cut (found by the export's worker)."""
        self.partial: str | None = None
        """Why the run is only partial (some exports worked, some were refused)."""
        self.submitted = 0
        self.done = 0
        self.listing_complete = False
        self.reported = -1
        self.ready: list[tuple[WorkflowDefinition, WorkflowExport]] = []
        """Exports downloaded, not yet written (fewer than ``workers``: memory stays bounded)."""
        self.finished: queue.SimpleQueue[Future[WorkflowExport]] = queue.SimpleQueue()
        """Futures in the order they finish (their done-callback puts them here)."""

    # -- steps -----------------------------------------------------------------------

    def execute(self) -> None:
        self._report(1)
        self._load_stored()
        inflight: dict[Future[WorkflowExport], WorkflowDefinition] = {}
        window = self.workers * WINDOW_PER_WORKER
        listing_error: ZuoraError | None = None
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="zwm-export") as pool:
            try:
                for definition in self._listing():
                    if self._stopping():
                        break
                    if self._needs_export(definition):
                        # in this thread's context, so its log lines name the customer and run
                        future = pool.submit(contextvars.copy_context().run, self._export, definition.id)
                        inflight[future] = definition
                        future.add_done_callback(self.finished.put)
                        self.submitted += 1
                    self._collect(inflight, block=len(inflight) >= window)
                else:
                    self.listing_complete = not self._stopping()
            except ZuoraError as exc:
                listing_error = exc
            finally:
                # Whatever went wrong -- a Zuora error, the deadline, a bug, a database error,
                # an interrupt -- drop what has not started and wait for what has: every
                # future ends (cancelled or done), so this loop ends, and the run is closed.
                if not self.listing_complete:
                    for future in inflight:
                        future.cancel()
                while inflight:
                    self._collect(inflight, block=True)
                self._write_ready()
        self._flush_unchanged()
        error = self.fatal or listing_error
        if error is not None:
            raise error
        self._check_permissions()
        self._delete_missing()
        self._report(100)

    def _stopping(self) -> bool:
        """True once the sync must stop starting work: a fatal error, or past the deadline."""
        if self.fatal is None and self.deadline is not None and time.monotonic() > self.deadline:
            self.fatal = SyncDeadlineExceeded(
                f"the sync ran past its deadline (ZWM_SYNC_DEADLINE, {get_config().sync_deadline:g} s) "
                "and was stopped; what it exported is kept, the rest is exported next time"
            )
        return self.fatal is not None

    def _check_permissions(self) -> None:
        """403 on exports: failed when no export worked, partial when some did -- never "succeeded"."""
        if not self.forbidden:
            return
        reason = (
            "the OAuth client's Zuora user lacks the permission to export workflows "
            "(Workflow View Access per Zuora's API reference; some tenants need Workflow Manage Access)"
        )
        if self.run.exported == 0:
            raise ExportsForbidden(f"Zuora refused all {self.forbidden} export(s) with HTTP 403: {reason}")
        self.partial = f"Zuora refused {self.forbidden} export(s) with HTTP 403: {reason}"

    def _listing(self) -> Iterator[WorkflowDefinition]:
        """The listing, each definition once (pages can shift while we read them)."""
        for definition in self.client.iter_workflows(on_invalid=self._skip_item):
            if len(definition.id) > _ID_LIMIT:
                self._skip_item(
                    f"workflow id {definition.id[:_ID_LIMIT]}... is longer than {_ID_LIMIT} characters"
                )
                continue
            if definition.id in self.seen:
                continue
            self.seen.add(definition.id)
            self.run.listed += 1
            yield definition

    def _load_stored(self) -> None:
        has_export = ExpressionWrapper(Q(export_json__isnull=False), output_field=BooleanField())
        rows = (
            Workflow.objects.filter(customer=self.customer)
            .annotate(has_export=has_export)
            .values("pk", "zuora_id", "content_hash", "has_export", "exported_at", *_DEFINITION_FIELDS)
        )
        for row in rows:
            self.stored[row["zuora_id"]] = _Stored(
                pk=row["pk"],
                values={name: row[name] for name in _DEFINITION_FIELDS},
                content_hash=row["content_hash"],
                has_export=bool(row["has_export"]),
                exported_at=row["exported_at"],
            )

    def _values(self, definition: WorkflowDefinition) -> dict[str, Any]:
        """The columns the listing item sets -- except what it lacked, which keeps its stored
        value (a listing item without a name must not blank a good stored name), and with
        over-long text cut to fit. Each is a warning naming the workflow, once per run."""
        values = definition_values(definition)
        notes = (
            [f"{', '.join(cut)} cut to fit its column"]
            if (cut := cut_to_fit(values, _WORKFLOW_LIMITS))
            else []
        )
        lacks = _lacks(definition)
        stored = self.stored.get(definition.id)
        if lacks:
            for part in lacks:
                if stored is not None:
                    values.update({column: stored.values[column] for column in _GUARDED[part]})
            kept = "the stored values are kept" if stored is not None else "stored without them"
            notes.append(f"Zuora's listing lacks {' and '.join(lacks)}; {kept}")
        if notes and definition.id not in self.noted:
            self.noted.add(definition.id)
            label = f"workflow {definition.id}" + (f" ({definition.name})" if definition.name else "")
            self._add_warning(f"{label}: {'; '.join(notes)}")
        return values

    def _needs_export(self, definition: WorkflowDefinition) -> bool:
        stored = self.stored.get(definition.id)
        values = self._values(definition)
        if _needs_export(stored, definition, values, self.full):
            return True
        assert stored is not None
        if self.verify_before is not None and (
            stored.exported_at is None or stored.exported_at < self.verify_before
        ):
            self.run.verified += 1  # the listing says unchanged; the content hash will tell
            return True
        if values != stored.values:
            workflow = Workflow(pk=stored.pk, last_synced_at=timezone.now(), **values)
            self.definition_updates.append(workflow)
            self.run.updated += 1
        else:
            self.touched.append(stored.pk)
            self.run.unchanged += 1
        return False

    def _export(self, workflow_id: str) -> WorkflowExport:
        """Worker thread: download and parse one export, and hash it here, off the coordinator."""
        export = self.client.export_workflow(workflow_id)
        _ = export.content_hash
        overlong = overlong_fields(export)
        if overlong:
            self.overlong[workflow_id] = overlong
        return export

    def _collect(self, inflight: dict[Future[WorkflowExport], WorkflowDefinition], *, block: bool) -> None:
        """Take finished exports (waiting for at least one when ``block``); write them once a
        batch of them is ready."""
        if not inflight:
            return
        finished: list[Future[WorkflowExport]] = []
        try:
            finished.append(self.finished.get(block=block))
            while True:
                finished.append(self.finished.get_nowait())
        except queue.Empty:
            if not finished:
                return
        for future in finished:
            definition = inflight.pop(future)
            self.done += 1
            if future.cancelled():
                continue
            exc = future.exception()
            if exc is None:
                self.ready.append((definition, future.result()))
            elif isinstance(exc, _PER_WORKFLOW_ERRORS):
                self.forbidden += isinstance(exc, ZuoraPermissionError)
                self._warn(definition, exc)
            elif isinstance(exc, Exception):  # Zuora down, or a bug / database error in a worker
                self.fatal = self.fatal or exc
            else:  # KeyboardInterrupt, SystemExit in a worker: stop as the main thread would
                raise exc
        if len(self.ready) >= self.workers:
            self._write_ready()
        self._report_exports()

    def _write_ready(self) -> None:
        """Write the exports taken so far in one transaction, each workflow still all or nothing
        (new ones together, in bulk; changed ones each in a savepoint).

        Why batches: every statement releases the GIL and must win it back from the threads
        parsing exports (the "convoy" effect: up to the 5 ms switch interval each time), and
        every commit costs more than a workflow's rows -- so few, large statements and one
        commit per batch, not several of each per workflow.
        """
        ready, self.ready = self.ready, []
        if not ready:
            return
        for definition, _ in ready:
            overlong = self.overlong.pop(definition.id, None)
            if overlong:
                self._add_warning(
                    f"workflow {definition.id}: too long for its column, stored cut: {'; '.join(overlong)}"
                )
        with transaction.atomic():
            self._create_many([(d, e) for d, e in ready if d.id not in self.stored])
            for definition, export in ready:
                if definition.id in self.stored:
                    self._save(definition, export)

    # -- writing (coordinating thread only) ---------------------------------------------

    def _save(self, definition: WorkflowDefinition, export: WorkflowExport) -> None:
        """Store one export and its graph atomically (a savepoint inside the batch's transaction)."""
        now = timezone.now()
        stored = self.stored.get(definition.id)
        self.run.exported += 1
        try:
            with transaction.atomic():
                if stored is None:
                    self._create(definition, export, now)
                else:
                    self._update(stored, definition, export, now)
        except IntegrityError as exc:  # e.g. a concurrent sync created the same workflow
            self._warn(definition, exc)

    def _new_workflow(
        self, definition: WorkflowDefinition, export: WorkflowExport, now: datetime
    ) -> Workflow:
        workflow = Workflow(customer=self.customer, zuora_id=definition.id, **self._values(definition))
        self._set_export(workflow, export, now)
        return workflow

    def _create(self, definition: WorkflowDefinition, export: WorkflowExport, now: datetime) -> None:
        workflow = self._new_workflow(definition, export, now)
        workflow.save()
        insert_graphs([(workflow.pk, export)])
        self.run.created += 1

    def _create_many(self, fresh: list[tuple[WorkflowDefinition, WorkflowExport]]) -> None:
        """Insert new workflows and their graphs in a few statements, all or nothing; on a
        clash (a concurrent sync stored one of them) fall back to one savepoint each."""
        if not fresh:
            return
        now = timezone.now()
        try:
            with transaction.atomic():
                workflows = [self._new_workflow(d, e, now) for d, e in fresh]
                insert_models(workflows)
                insert_graphs([(w.pk, export) for w, (_, export) in zip(workflows, fresh, strict=True)])
        except IntegrityError:
            for definition, export in fresh:
                self._save(definition, export)
            return
        self.run.created += len(fresh)
        self.run.exported += len(fresh)

    def _update(
        self, stored: _Stored, definition: WorkflowDefinition, export: WorkflowExport, now: datetime
    ) -> None:
        workflow = Workflow.objects.select_for_update().defer("export_json").filter(pk=stored.pk).first()
        if workflow is None:  # deleted meanwhile (admin, customer edit): store it afresh
            self._create(definition, export, now)
            return
        values = self._values(definition)
        changed = values != stored.values
        if workflow.content_hash != export.content_hash:
            if stored.has_export:
                keep_previous_export(workflow, export.content_hash, self.run, now)
            self._set_export(workflow, export, now)
            store_graph(workflow, export)
            changed = True
        for name, value in values.items():
            setattr(workflow, name, value)
        workflow.last_synced_at = workflow.exported_at = now
        workflow.save()
        if changed:
            self.run.updated += 1
        else:
            self.run.unchanged += 1

    @staticmethod
    def _set_export(workflow: Workflow, export: WorkflowExport, now: datetime) -> None:
        workflow.export_json = export.canonical_json
        workflow.content_hash = export.content_hash
        workflow.exported_version_id = export.version_id or ""
        workflow.last_synced_at = workflow.exported_at = now

    def _flush_unchanged(self) -> None:
        now = timezone.now()
        for start in range(0, len(self.touched), _CHUNK):
            Workflow.objects.filter(pk__in=self.touched[start : start + _CHUNK]).update(last_synced_at=now)
        if self.definition_updates:
            Workflow.objects.bulk_update(
                self.definition_updates, [*_DEFINITION_FIELDS, "last_synced_at"], batch_size=100
            )

    def _delete_missing(self) -> None:
        """Delete what Zuora confirms is gone -- never on the listing's word alone.

        A workflow missing from a complete listing is only a *candidate*: pages shift when a
        workflow is deleted between two page requests, a server may send short pages, an
        item may be unreadable. Each candidate is asked for (``GET /workflows/{id}``) and
        deleted only when Zuora answers 404. And when the candidates are more than
        ``ZWM_SYNC_MAX_DELETE_PERCENT`` of the catalog, nothing is deleted without ``full``:
        a listing that lost most of a catalog is more likely wrong than true.
        """
        if not self.listing_complete:
            return
        candidates = [zuora_id for zuora_id in self.stored if zuora_id not in self.seen]
        if not candidates:
            return
        limit = get_config().sync_max_delete_percent
        share = 100 * len(candidates) / len(self.stored)
        if share > limit and not self.full:
            self.run.withheld = len(candidates)
            self._add_warning(
                f"Zuora's listing lacks {len(candidates)} of the {len(self.stored)} stored workflows "
                f"({share:.0f} %, more than the {limit:g} % allowed by ZWM_SYNC_MAX_DELETE_PERCENT); "
                "nothing was deleted. If they really are gone from Zuora, run a full sync (--full)."
            )
            return
        gone = self._confirm_gone(candidates)
        pks = [self.stored[zuora_id].pk for zuora_id in gone]
        for start in range(0, len(pks), _CHUNK):
            Workflow.objects.filter(pk__in=pks[start : start + _CHUNK]).delete()
        self.run.deleted = len(pks)

    def _confirm_gone(self, candidates: list[str]) -> list[str]:
        """The candidates Zuora answers 404 for; the others are kept with a warning."""

        def ask(zuora_id: str) -> BaseException | None:
            try:
                self.client.get_workflow(zuora_id)
            except ZuoraNotFoundError:
                return None
            except ZuoraError as exc:
                return exc
            return _StillThere()

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="zwm-confirm") as pool:
            answers = list(pool.map(ask, candidates))
        gone = []
        for zuora_id, answer in zip(candidates, answers, strict=True):
            if answer is None:
                gone.append(zuora_id)
                continue
            name = self.stored[zuora_id].values["name"]
            label = f"workflow {zuora_id}" + (f" ({name})" if name else "")
            if isinstance(answer, _StillThere):
                self._add_warning(f"{label} was missing from Zuora's listing but Zuora still has it; kept")
            else:
                self._add_warning(f"{label} was missing from Zuora's listing; kept, as {answer}")
        return gone

    # -- reporting ------------------------------------------------------------------------

    def _warn(self, definition: WorkflowDefinition, exc: BaseException) -> None:
        self.run.failed += 1
        label = f"workflow {definition.id}" + (f" ({definition.name})" if definition.name else "")
        if isinstance(exc, ZuoraNotFoundError):
            text = f"{label} was listed but is gone from Zuora (404); kept until a listing no longer shows it"
        elif isinstance(exc, ZuoraInvalidResponseError):
            text = f"{label} skipped, its export is invalid: {exc}; the last good data is kept"
        else:
            text = f"{label} skipped: {exc}; the last good data is kept"
        log.warning("sync of customer %s: %s", self.customer.pk, text)
        self._add_warning(text)

    def _skip_item(self, reason: str) -> None:
        """A listing item that cannot be read: skipped, named in a warning; the sync goes on."""
        self.run.failed += 1
        text = f"skipped an unreadable item of Zuora's listing: {reason}"
        log.warning("sync of customer %s: %s", self.customer.pk, text)
        self._add_warning(text)

    def _add_warning(self, text: str) -> None:
        if len(self.run.warnings) < MAX_WARNINGS:
            self.run.warnings.append(text)
        elif len(self.run.warnings) == MAX_WARNINGS:
            self.run.warnings.append("... further warnings omitted (see the failed count)")

    def _report_exports(self) -> None:
        if self.listing_complete and self.submitted:
            self._report(5 + (90 * self.done) // self.submitted)

    def _report(self, pct: int) -> None:
        pct = max(0, min(100, pct))
        if self.progress is not None and pct > self.reported:
            self.reported = pct
            self.progress(pct)


def sync_customer(
    customer: Customer | int,
    *,
    trigger: str = SyncRun.Trigger.CLI,
    full: bool = False,
    progress: Progress | None = None,
    client: ZuoraClient | None = None,
    workers: int | None = None,
    wait: float | None = None,
) -> SyncRun:
    """Synchronise one customer; returns its finished :class:`SyncRun`.

    One sync per customer at a time, whoever calls (:mod:`.sync_lock`): while another runs,
    this one waits up to ``wait`` seconds (default ``ZWM_SYNC_LOCK_WAIT``), then returns a run
    with status ``skipped`` whose
    ``error`` names the running one. A sync stops itself at ``ZWM_SYNC_DEADLINE``.

    Raises on failure *after* recording it on the run and on the customer: a refused
    credential (``ZuoraAuthenticationError``), denied listing or exports
    (``ZuoraPermissionError``), bad stored settings (``InvalidCustomerConfiguration``), a
    retryable ``ZuoraError``, :class:`SyncDeadlineExceeded`, or any other exception.
    ``client`` overrides the one built from the customer's settings (benchmarks, tests);
    ``workers`` (default ``ZWM_ZUORA_CONCURRENCY``, the client's own cap) sizes the export pool.
    """
    config = get_config()
    workers = workers or config.zuora_concurrency
    if not isinstance(customer, Customer):
        customer = Customer.objects.get(pk=customer)
    _close_stale_runs(customer)
    try:
        wait = config.sync_lock_wait if wait is None else wait
        with sync_lock(customer, lifetime=config.sync_deadline, wait=wait) as lock:
            run = SyncRun.objects.create(
                customer=customer, trigger=trigger, full=full, started_at=timezone.now()
            )
            lock.attach(run)
            with logcontext.bind(customer=customer.name, sync_run=run.pk):
                _run(customer, run, client, full=full, workers=workers, progress=progress)
    except SyncAlreadyRunning as exc:
        log.info("sync of customer %s %s", customer.pk, exc)
        now = timezone.now()
        return SyncRun.objects.create(
            customer=customer,
            trigger=trigger,
            full=full,
            started_at=now,
            finished_at=now,
            status=SyncRun.Status.SKIPPED,
            error=str(exc),
        )
    return run


def _run(
    customer: Customer,
    run: SyncRun,
    client: ZuoraClient | None,
    *,
    full: bool,
    workers: int,
    progress: Progress | None,
) -> None:
    deadline = time.monotonic() + get_config().sync_deadline
    options: dict[str, Any] = {"full": full, "workers": workers, "progress": progress, "deadline": deadline}
    sync: CustomerSync | None = None
    try:
        if client is None:
            with build_client(credentials_for(customer)) as owned:
                sync = CustomerSync(customer, run, owned, **options)
                sync.execute()
        else:
            sync = CustomerSync(customer, run, client, **options)
            sync.execute()
    except BaseException as exc:
        _finish(customer, run, error=exc)
        raise
    _finish(customer, run, error=None, partial=sync.partial)


def _close_stale_runs(customer: Customer) -> None:
    """Close runs still "running" long after any sync could last: their process died before
    the lock existed or before it could say so, so no run stays running forever."""
    now = timezone.now()
    SyncRun.objects.filter(
        customer=customer, status=SyncRun.Status.RUNNING, started_at__lt=now - STALE_RUN_AFTER
    ).update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        error="interrupted: its process stopped before it finished",
    )


def _finish(
    customer: Customer, run: SyncRun, *, error: BaseException | None, partial: str | None = None
) -> None:
    now = timezone.now()
    run.finished_at = now
    if error is not None:
        run.status, run.error = SyncRun.Status.FAILED, _describe(error)
    elif partial is not None:
        run.status, run.error = SyncRun.Status.PARTIAL, partial
    else:
        run.status, run.error = SyncRun.Status.SUCCEEDED, ""
    run.save()
    customer.last_sync_status = run.status
    customer.last_sync_error = run.error or (
        f"{run.failed} workflow(s) skipped, see the sync run" if run.failed else ""
    )
    if error is None:
        customer.last_synced_at = now
    Customer.objects.filter(pk=customer.pk).update(
        last_sync_status=customer.last_sync_status,
        last_sync_error=customer.last_sync_error,
        last_synced_at=customer.last_synced_at,
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, SyncDeadlineExceeded | ExportsForbidden):
        return str(error)
    if isinstance(error, ZuoraAuthenticationError):
        return f"Zuora refused the credentials: {error}. Check the client id, secret and environment."
    if isinstance(error, ZuoraPermissionError):
        return (
            f"Zuora denied access: {error}. The OAuth client's Zuora user lacks Workflow View Access, "
            "which listing workflows needs."
        )
    if isinstance(error, ZuoraError) and error.retryable:
        return f"Zuora is unavailable: {error}. The sync will be retried."
    return f"{type(error).__name__}: {error}" if not isinstance(error, ZuoraError) else str(error)
