from django.db import models

from breederhq.crossdb import CrossDatabaseReference, CrossDatabaseReferencesMixin, SoftDeleteModel


class Member(SoftDeleteModel):
    """Stands in for marketplace_app.MarketplaceUser: tenant contacts point at it."""

    email = models.CharField(max_length=200)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "crossdb_test_members"


class MarketplaceInvoice(SoftDeleteModel):
    """Stands in for marketplace_app.MarketplaceInvoice: the same-database invoice kind."""

    status = models.CharField(max_length=10, default="sent")

    class Meta:
        db_table = "crossdb_test_marketplace_invoices"


class Transaction(CrossDatabaseReferencesMixin, SoftDeleteModel):
    """Stands in for marketplace_app.MarketplaceTransaction: points at a tenant invoice (other
    database, registered) or a marketplace invoice (same database, not registered)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    class InvoiceType(models.TextChoices):
        TENANT = "tenant", "Tenant invoice"
        MARKETPLACE = "marketplace", "Marketplace invoice"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    invoice_type = models.CharField(max_length=20, choices=InvoiceType.choices, null=True, blank=True)
    invoice_id = CrossDatabaseReference(
        targets={"tenant": "crossdb_tenant.Invoice", "marketplace": "crossdb_marketplace.MarketplaceInvoice"},
        discriminator="invoice_type",
        null=True,
        blank=True,
    )

    class Meta:
        db_table = "crossdb_test_transactions"


class Effect(models.Model):
    """One row each time an outbox handler changes something here."""

    kind = models.CharField(max_length=50)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "crossdb_test_marketplace_effects"
