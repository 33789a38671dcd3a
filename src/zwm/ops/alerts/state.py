"""De-duplication and rate limiting: which problems deserve a message now.

Compared with the previous check:

* a new problem (or one back after it cleared) sends a *firing* message -- unless a
  message about it went out less than one window ago (a flapping problem sends one
  message per window, not one per flap);
* a problem still there sends a reminder once per window, and is otherwise only counted;
* a problem gone sends one *resolved* message, if its episode was announced.

Rows are locked while deciding, so two checks running at once cannot both announce.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from zwm.ops.alerts.message import Message
from zwm.ops.alerts.message import State as MessageState
from zwm.ops.alerts.problems import Problem
from zwm.ops.models import Alert

FIRING, RESOLVED = Alert.State.FIRING, Alert.State.RESOLVED


def decide(problems: Sequence[Problem], *, window: float, now: datetime | None = None) -> list[Message]:
    """Record what the check found; return the messages to send."""
    now = now or timezone.now()
    quiet_until = now - timedelta(seconds=window)
    messages: list[Message] = []
    found = {problem.key: problem for problem in problems}
    with transaction.atomic():
        rows = {row.key: row for row in Alert.objects.select_for_update().filter(key__in=list(found))}
        for key, problem in found.items():
            row = rows.get(key)
            if row is None:
                row = Alert(key=key, kind=problem.kind, state=FIRING, opened_at=now, occurrences=0)
            elif row.state == RESOLVED:
                row.state, row.opened_at, row.resolved_at, row.notified, row.occurrences = (
                    FIRING,
                    now,
                    None,
                    False,
                    0,
                )
            row.title, row.detail = problem.title[:255], problem.detail
            row.occurrences += 1
            if row.notified_at is None or row.notified_at <= quiet_until:
                row.notified_at, row.notified = now, True
                messages.append(_message(row, "firing", now))
            row.save()
        for row in Alert.objects.select_for_update().filter(state=FIRING).exclude(key__in=list(found)):
            row.state, row.resolved_at = RESOLVED, now
            if row.notified:
                row.notified_at = now
                messages.append(_message(row, "resolved", now))
            row.save()
    return messages


def _message(row: Alert, state: MessageState, now: datetime) -> Message:
    detail = row.detail
    if state == "firing" and row.occurrences > 1:
        detail = (
            f"Still failing (seen by {row.occurrences} checks since {row.opened_at:%H:%M} UTC).\n{detail}"
        )
    if state == "resolved":
        detail = f"Cleared at {now:%Y-%m-%d %H:%M} UTC, open since {row.opened_at:%Y-%m-%d %H:%M} UTC."
    return Message(
        key=row.key, kind=row.kind, state=state, title=row.title, detail=detail, at=now.isoformat()
    )
