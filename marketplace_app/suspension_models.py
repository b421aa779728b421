"""Model of staff's suspension of a provider (marketplace database). Imported by
marketplace_app/models/__init__.py, so it is the app's model like the others; written only by
marketplace_app/provider_suspension.py.

A table of its own rather than columns on `marketplace_providers`: suspensions are few, the
provider table is big and hot, and the public reads exclude the suspended ones with an anti-join
on the partial index below."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ProviderSuspension(models.Model):
    """Staff's hold on a provider (one row per provider that was ever suspended).

    While `suspended`, the provider and its listings are off the public marketplace and it cannot
    publish listings or take new purchases or message threads; `reason` is what staff told the
    owner (on reinstatement, the reinstatement's reason). `suspended_count` numbers the
    suspensions, so each one's email is sent once (its event key)."""

    provider = models.OneToOneField(
        "marketplace_app.Provider", on_delete=models.CASCADE, primary_key=True, related_name="suspension"
    )
    suspended = models.BooleanField(default=False)
    reason = models.TextField(blank=True, default="")
    suspended_count = models.IntegerField(default=0)
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspended_by = models.CharField(max_length=150, blank=True, default="")
    reinstated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "provider_suspensions"
        indexes = [models.Index(fields=["provider"], name="provider_suspensions_active", condition=Q(suspended=True))]

    def __str__(self) -> str:
        return f"Provider #{self.provider_id}: {'suspended' if self.suspended else 'in good standing'}"
