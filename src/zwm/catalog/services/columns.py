"""Text that does not fit its column is cut to fit, and said so -- it never aborts a batch.

Zuora does not document its field lengths; a workflow name or a task's object can be longer
than the column that stores it. SQLite would store it anyway, PostgreSQL and MariaDB refuse
the statement -- and with it every other workflow written in the same transaction. So the
sync cuts such text to the column's length and records a warning naming the workflow and
the field, and the rest of the catalog is written as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from django.db import models


def text_limits(model: type[models.Model], columns: Iterable[str]) -> dict[str, int]:
    """The ``max_length`` of each of ``columns`` that is a ``CharField`` of ``model``."""
    limits = {}
    for name in columns:
        field = model._meta.get_field(name)
        if isinstance(field, models.CharField) and field.max_length:
            limits[name] = field.max_length
    return limits


def cut_to_fit(values: MutableMapping[str, Any], limits: Mapping[str, int]) -> list[str]:
    """Cut the text of ``values`` to ``limits`` in place; the names of the fields cut."""
    cut = []
    for name, limit in limits.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            values[name] = value[:limit]
            cut.append(name)
    return cut
