"""The state of each problem alerts have been sent about (de-duplication, rate limits)."""

from __future__ import annotations

from django.db import models


class Alert(models.Model):
    """One problem -- "SyncCustomerWorkflows keeps failing", "queue default is backed up" --
    keyed so that the same problem found again is the same row.

    ``notified_at`` is when a message about it last went out: within the alert window no
    second one does. ``notified`` says whether the current episode was announced at all
    (one that opened and cleared inside the window of the previous message was not), so a
    recovery message is only sent for an episode people were told about.
    """

    class State(models.TextChoices):
        FIRING = "firing"
        RESOLVED = "resolved"

    key = models.CharField(max_length=191, unique=True)
    kind = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=State.choices)
    title = models.CharField(max_length=255)
    detail = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    notified = models.BooleanField(default=False)
    occurrences = models.IntegerField(default=1, help_text="Checks that found it, this episode.")

    class Meta:
        db_table = "ops_alerts"
        indexes = [models.Index(fields=["state"], name="ops_alerts_state_idx")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
