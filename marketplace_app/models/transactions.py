"""Marketplace transactions (purchases) and their state machine."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from breederhq.crossdb import (
    CrossDatabaseReference,
    CrossDatabaseReferencesManager,
    CrossDatabaseReferencesMixin,
)
from breederhq.money import CentsField, CurrencyField, amount_bound_check, currency_check
from breederhq.state_machine import StateMachine
from marketplace_app.models.listings import ServiceListing
from marketplace_app.models.providers import Provider
from marketplace_app.models.users import MarketplaceUser


class MarketplaceTransaction(CrossDatabaseReferencesMixin, models.Model):
    """A purchase on the marketplace. Billed by exactly one invoice, never two:
    a tenant invoice for breeders, a MarketplaceInvoice for non-breeder service providers."""

    class Status(models.TextChoices):
        PENDING_INVOICE = "pending_invoice", "Pending invoice"
        INVOICED = "invoiced", "Invoiced"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"
        DISPUTED = "disputed", "Disputed"

    class InvoiceType(models.TextChoices):
        TENANT = "tenant", "Tenant invoice (breeder)"
        MARKETPLACE = "marketplace", "Marketplace invoice (service provider)"

    id = models.BigAutoField(primary_key=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="transactions")
    client = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="purchases")
    listing = models.ForeignKey(
        ServiceListing, on_delete=models.PROTECT, null=True, blank=True, related_name="transactions"
    )
    description = models.CharField(max_length=500, blank=True, default="")
    amount_cents = CentsField()
    refunded_cents = CentsField()
    currency = CurrencyField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_INVOICE)
    invoice_type = models.CharField(max_length=20, choices=InvoiceType.choices, null=True, blank=True)
    # Polymorphic: the id of a tenant_app.Invoice (tenant DB, recorded in cross_db_references) or of
    # a MarketplaceInvoice (this DB), by invoice_type. Indexed with invoice_type (Meta.indexes): the
    # outbox looks transactions up by their tenant invoice.
    invoice_id = CrossDatabaseReference(
        targets={"tenant": "tenant_app.Invoice", "marketplace": "marketplace_app.MarketplaceInvoice"},
        discriminator="invoice_type",
        null=True,
        blank=True,
        db_index=False,
        db_comment="id of tenant_app.Invoice or marketplace_invoices, by invoice_type",
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CrossDatabaseReferencesManager()  # bulk_create records references too

    def __str__(self) -> str:
        from breederhq.money import Money

        amount = Money(int(self.amount_cents or 0), self.currency).format() if self.currency else self.amount_cents
        return f"Transaction #{self.pk} · {amount} · {self.get_status_display()}"

    class Meta:
        db_table = "marketplace_transactions"
        constraints = [
            amount_bound_check("amount_cents", "refunded_cents", name="marketplace_transactions_amounts_within_bound"),
            models.CheckConstraint(
                condition=Q(invoice_type__isnull=True) | Q(invoice_type__in=["tenant", "marketplace"]),
                name="marketplace_transactions_invoice_type_valid",
            ),
            # Type and id come together or not at all.
            models.CheckConstraint(
                condition=Q(invoice_type__isnull=True, invoice_id__isnull=True)
                | Q(invoice_type__isnull=False, invoice_id__isnull=False),
                name="marketplace_transactions_invoice_pair",
            ),
            models.CheckConstraint(
                condition=~Q(status="invoiced") | Q(invoice_id__isnull=False),
                name="marketplace_transactions_invoiced_has_invoice",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending_invoice", "invoiced", "paid", "cancelled", "refunded", "disputed"]),
                name="marketplace_transactions_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(amount_cents__gte=0, refunded_cents__gte=0, refunded_cents__lte=F("amount_cents")),
                name="marketplace_transactions_amounts_valid",
            ),
            currency_check(name="marketplace_transactions_currency_valid"),
        ]
        indexes = [
            models.Index(F("provider"), F("status"), F("created_at").desc(), name="mkt_tx_provider_status_created"),
            models.Index(F("client"), F("status"), F("created_at").desc(), name="mkt_tx_client_status_created"),
            # The unfiltered lists (the API's default) page by (created_at, id) DESC: read in index
            # order, so a page deep in the history costs what the first one does (no Sort node).
            models.Index(F("provider"), F("created_at").desc(), F("id").desc(), name="mkt_tx_provider_created"),
            models.Index(F("client"), F("created_at").desc(), F("id").desc(), name="mkt_tx_client_created"),
            models.Index(
                fields=["invoice_type", "invoice_id"], name="mkt_tx_invoice_idx", condition=Q(invoice_id__isnull=False)
            ),
        ]


TRANSACTION_STATES = StateMachine(
    "MarketplaceTransaction",
    {
        "pending_invoice": {"invoiced", "paid", "cancelled"},
        "invoiced": {"paid", "cancelled"},
        "paid": {"refunded", "disputed"},
        # A dispute is resolved either way: won (back to paid) or lost (refunded).
        "disputed": {"paid", "refunded"},
        "cancelled": set(),
        "refunded": set(),
    },
)
