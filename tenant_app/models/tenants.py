"""Tenants (breeder businesses), their payment mode, the base of every tenant-owned table and the
profile audit log."""

from __future__ import annotations

from django.db import models

from breederhq.crossdb import SoftDeleteModel
from breederhq.money import CurrencyField, currency_check


class PaymentMode(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    MANUAL = "manual", "Manual (bank transfer, cash)"
    DISABLED = "disabled", "Marketplace payments disabled"


class Tenant(SoftDeleteModel):
    """A breeder business: owns its staff memberships, contacts, invoices and payments.

    Not itself under RLS: it holds no private data (name, slug, payment mode), the marketplace
    resolves tenants by id, and invoice creation must lock this row before any context exists for
    the invoice.
    """

    PaymentMode = PaymentMode

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    marketplace_payment_mode = models.CharField(max_length=20, choices=PaymentMode.choices, default=PaymentMode.MANUAL)
    # The business's profile, edited by its owners (tenant_app.services.tenant_update_profile).
    contact_email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=40, blank=True, default="")
    address_line1 = models.CharField(max_length=200, blank=True, default="")
    address_line2 = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    region = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166-1 alpha-2, e.g. US.")
    #: The currency new invoices get when the request names none.
    default_currency = CurrencyField()
    #: Put before the sequence number of new invoices: "INV-" gives INV-000042.
    invoice_number_prefix = models.CharField(max_length=12, default="INV-")
    #: Bumped by every profile change (optimistic locking, like invoices).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tenants"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(marketplace_payment_mode__in=["stripe", "manual", "disabled"]),
                name="tenants_payment_mode_valid",
            ),
            currency_check("default_currency", name="tenants_default_currency_valid"),
            models.CheckConstraint(
                condition=models.Q(invoice_number_prefix__regex=r"^[A-Za-z0-9][A-Za-z0-9_/-]{0,11}$"),
                name="tenants_invoice_number_prefix_valid",
            ),
            models.CheckConstraint(condition=models.Q(country__regex=r"^([A-Z]{2})?$"), name="tenants_country_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class TenantOwned(models.Model):
    """Base for every tenant-owned table: the `tenant_id` column the RLS policy compares."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


class TenantProfileAuditLog(TenantOwned):
    """One row per creation or profile change of a tenant, written in the same transaction: who, when,
    and each changed field's old and new value. Append-only."""

    append_only = True

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Profile updated"

    action = models.CharField(max_length=10, choices=Action.choices)
    #: {"field": [old, new], ...}; for a creation, every field's first value ([null, value]).
    changes = models.JSONField(default=dict)
    version = models.PositiveIntegerField(help_text="The tenant's version after the change.")
    changed_by = models.ForeignKey("User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tenant_profile_audit_log"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"tenant {self.tenant_id} {self.action} v{self.version}"
