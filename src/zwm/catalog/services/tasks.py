"""Re-extraction of tasks and linkages from stored exports (``zwm sync-tasks``), no API call.

Useful after an upgrade that extracts more fields, or to repair rows edited by hand. A
stored export that no longer parses is reported, never half-applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction

from zwm.catalog.models import Workflow
from zwm.catalog.services.extract import parse_stored_export, store_graph
from zwm.zuora import ZuoraInvalidResponseError


class NoStoredExport(LookupError):
    """The workflow has no export yet (never synced, or its export never downloaded)."""


@dataclass(frozen=True)
class ExtractResult:
    workflow_id: int
    tasks: int | None
    error: str = ""


def reextract_tasks(workflow: Workflow) -> int:
    """Rebuild ``workflow``'s tasks and linkages from its stored export; the task count.

    Raises :class:`NoStoredExport`, or ``ZuoraInvalidResponseError`` if the stored export is broken.
    """
    export = parse_stored_export(workflow)
    if export is None:
        raise NoStoredExport(f"workflow {workflow.pk} ({workflow.name}) has no stored export")
    with transaction.atomic():
        return store_graph(workflow, export)


def reextract_many(workflows: Iterable[Workflow]) -> Iterator[ExtractResult]:
    """:func:`reextract_tasks` over many workflows; one broken export does not stop the rest."""
    for workflow in workflows:
        try:
            yield ExtractResult(workflow.pk, reextract_tasks(workflow))
        except (NoStoredExport, ZuoraInvalidResponseError, ValueError) as exc:
            yield ExtractResult(workflow.pk, None, str(exc))
