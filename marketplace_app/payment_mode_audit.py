"""The audit trail of a service provider's payment mode (marketplace database): one row per change,
written in the transaction that makes it (payments_app/provider_payment_settings.py). Append-only: the
application role may not update or delete it (breederhq/db_roles.py).

Kept out of marketplace_app/models/__init__.py, which only imports it so the app registers the model.
"""

from __future__ import annotations

from django.db import models


class ProviderPaymentModeAudit(models.Model):
    """Who changed a provider's payment mode, when, from what to what, and the provider's version after."""

    append_only = True

    provider = models.ForeignKey("marketplace_app.Provider", on_delete=models.PROTECT, related_name="+")
    old_mode = models.CharField(max_length=20)
    new_mode = models.CharField(max_length=20)
    version = models.PositiveIntegerField(help_text="The provider's version after the change.")
    changed_by = models.ForeignKey(
        "marketplace_app.MarketplaceUser", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "marketplace_app"
        db_table = "marketplace_provider_payment_mode_audit"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["provider", "-created_at"], name="mkt_provider_mode_audit_idx")]

    def __str__(self) -> str:
        return f"provider {self.provider_id}: {self.old_mode} -> {self.new_mode} (v{self.version})"
