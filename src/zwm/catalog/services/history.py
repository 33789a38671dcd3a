"""Version history: the last N distinct exports a workflow had before its current one.

Why bounded and deduplicated: the sync keeps every replaced export so users can see what
changed -- but a workflow edited daily would grow without end, and one that flips between
two states (an edit and its undo, or a re-export that differs only until Zuora settles)
would store the same export again and again. So an export is kept once, by content hash,
the current export is never also history, and only the newest ``ZWM_SYNC_VERSION_HISTORY``
are kept, pruned whenever one is written.
"""

from __future__ import annotations

from datetime import datetime

from zwm.catalog.models import SyncRun, Workflow, WorkflowVersion
from zwm.config import get_config


def keep_previous_export(workflow: Workflow, new_hash: str, run: SyncRun | None, now: datetime) -> None:
    """Record ``workflow``'s export (still in its row and fields) as replaced by ``new_hash``.

    Call inside the transaction that writes the new export.
    """
    limit = get_config().sync_version_history
    history = WorkflowVersion.objects.filter(workflow=workflow)
    history.filter(content_hash__in=[workflow.content_hash, new_hash]).delete()
    if limit == 0:
        return
    WorkflowVersion.objects.create(
        workflow=workflow,
        version=workflow.version,
        exported_version_id=workflow.exported_version_id,
        export_json=Workflow.objects.filter(pk=workflow.pk).values_list("export_json", flat=True).get() or "",
        content_hash=workflow.content_hash,
        zuora_updated_at=workflow.zuora_updated_at,
        replaced_at=now,
        sync_run=run,
    )
    surplus = list(history.order_by("-replaced_at", "-id").values_list("pk", flat=True)[limit:])
    if surplus:
        WorkflowVersion.objects.filter(pk__in=surplus).delete()
