"""Housekeeping: re-encrypting secrets after a key change, pruning old sync runs."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from zwm.catalog import crypto
from zwm.catalog.models import Customer, StoredToken, SyncRun


def rotate_secrets() -> int:
    """Re-encrypt every stored secret with the primary key; the number re-encrypted.

    All or nothing: one secret no configured key opens raises
    :class:`crypto.SecretDecryptionError` and nothing is changed, so an operator who dropped
    an old key too early loses nothing by running this.
    """
    count = 0
    with transaction.atomic():
        for customer in Customer.objects.select_for_update().only("pk", "client_secret_encrypted"):
            Customer.objects.filter(pk=customer.pk).update(
                client_secret_encrypted=crypto.rotate(customer.client_secret_encrypted)
            )
            count += 1
        # Tokens are short-lived and can be fetched again: one that cannot be rotated is dropped.
        for token in StoredToken.objects.select_for_update():
            try:
                StoredToken.objects.filter(pk=token.pk).update(
                    token_encrypted=crypto.rotate(token.token_encrypted)
                )
            except crypto.SecretDecryptionError:
                StoredToken.objects.filter(pk=token.pk).delete()
    return count


def prune_sync_runs(*, older_than_hours: float) -> int:
    """Delete finished sync runs older than the cutoff, always keeping each customer's latest."""
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    latest = SyncRun.objects.values("customer").annotate(last=Max("id")).values_list("last", flat=True)
    deleted, _ = (
        SyncRun.objects.filter(finished_at__isnull=False, finished_at__lt=cutoff)
        .exclude(pk__in=list(latest))
        .delete()
    )
    return deleted
