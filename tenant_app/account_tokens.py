"""Purge of account tokens (email verification, password reset) that can no longer be used.

A token is dead once used, voided (a newer one replaced it) or expired (tenant_app/accounts.py). Its
row is kept ACCOUNT_TOKEN_RETENTION_DAYS after that (a support question about a link is answered
from it: sent when, used when), then deleted by the `purge_account_tokens` job. Deleted in batches
of ACCOUNT_TOKEN_PURGE_BATCH rows, each its own short transaction, so the purge never holds many
row locks or one long transaction; an open token is never touched (not used, not voided, not
expired).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from breederhq.databases import TENANT_DB
from tenant_app.models import AccountToken

DB = TENANT_DB


def dead_before(cutoff) -> Q:
    return Q(expires_at__lt=cutoff) | Q(used_at__lt=cutoff) | Q(voided_at__lt=cutoff)


def account_tokens_purge(*, batch_size: int | None = None, max_batches: int = 1000) -> int:
    """Delete dead tokens past their retention, a batch at a time; the number deleted."""
    batch_size = batch_size or settings.ACCOUNT_TOKEN_PURGE_BATCH
    cutoff = timezone.now() - timedelta(days=settings.ACCOUNT_TOKEN_RETENTION_DAYS)
    deleted = 0
    for _ in range(max_batches):
        with transaction.atomic(using=DB):
            ids = list(
                AccountToken.objects.using(DB)
                .filter(dead_before(cutoff))
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            count, _ = AccountToken.objects.using(DB).filter(pk__in=ids).filter(dead_before(cutoff)).delete()
            deleted += count
        if len(ids) < batch_size:
            break
    return deleted
