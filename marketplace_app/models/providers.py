"""Providers (who sells on the marketplace) and their contacts with marketplace users."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from breederhq.crossdb import (
    CrossDatabaseReference,
    CrossDatabaseReferencesMixin,
    SoftDeleteModel,
)
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import ReferencedRowDeletion
from breederhq.money import CentsField, CurrencyField, currency_check
from marketplace_app.models.users import MarketplaceUser

#: A provider's primary category: empty, or one of the listing categories (ServiceListing.Category).
PROVIDER_CATEGORY_VALUES = [
    "",
    "puppies",
    "kittens",
    "stud",
    "grooming",
    "training",
    "veterinary",
    "transport",
    "boarding",
    "other",
]


class Provider(CrossDatabaseReferencesMixin, SoftDeleteModel):
    """A seller on the marketplace: a breeder (backed by a tenant) or a non-breeder service provider.

    `total_listings`, `total_transactions` and `total_revenue_cents` are denormalised for the public
    profile. Services move them with F() expressions in the same transaction as the change that
    causes them; `manage.py provider_stats_check` recomputes them and reports drift. Definitions
    (the recomputation in `selectors.provider_stats_recompute` is the reference):

    * total_listings: listings currently `active`;
    * total_transactions: transactions that are not `cancelled`;
    * total_revenue_cents: amount minus refunded amount of transactions that reached `paid`
      (states paid, disputed, refunded), in the provider's currency.
    """

    class Kind(models.TextChoices):
        BREEDER = "breeder", "Breeder"
        SERVICE_PROVIDER = "service_provider", "Service provider"

    class PaymentMode(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual (bank transfer, cash)"
        DISABLED = "disabled", "Marketplace payments disabled"

    user = models.OneToOneField(MarketplaceUser, on_delete=models.PROTECT, related_name="provider")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    tenant_id = CrossDatabaseReference("tenant_app.Tenant", null=True, blank=True)
    business_name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=50, blank=True, default="")
    country = models.CharField(max_length=2, default="US")
    #: What the provider mainly offers, in the listing categories' terms (public provider search
    #: filters by it); empty until the provider says. Checked by marketplace_providers_category_valid.
    primary_category = models.CharField(max_length=30, blank=True, default="")
    currency = CurrencyField()
    # Non-breeder providers bill with MarketplaceInvoice; their payment mode lives here and is
    # snapshotted onto each invoice (breeders' mode lives on the tenant).
    payment_mode = models.CharField(max_length=20, choices=PaymentMode.choices, default=PaymentMode.MANUAL)
    total_listings = models.IntegerField(default=0)
    total_transactions = models.IntegerField(default=0)
    total_revenue_cents = CentsField()
    # Optimistic locking of the profile (API: `version` / If-Match, 409 when stale). Every service
    # write to the row bumps it, counters included: the ETag names the representation clients read.
    version = models.IntegerField(default=1)
    # Public provider search, like listings': a stored generated column, so no write path can let it drift.
    search_vector = models.GeneratedField(
        expression=SearchVector("business_name", weight="A", config="english")
        + SearchVector("description", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketplace_providers"
        indexes = [
            GinIndex(fields=["search_vector"], name="mkt_providers_search_gin"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="breeder", tenant_id__isnull=False)
                | Q(kind="service_provider", tenant_id__isnull=True),
                name="marketplace_providers_breeder_has_tenant",
            ),
            models.CheckConstraint(
                condition=Q(payment_mode__in=["stripe", "manual", "disabled"]),
                name="marketplace_providers_payment_mode_valid",
            ),
            models.CheckConstraint(
                condition=Q(total_listings__gte=0, total_transactions__gte=0),
                name="marketplace_providers_counters_not_negative",
            ),
            currency_check(name="marketplace_providers_currency_valid"),
            models.CheckConstraint(condition=Q(version__gte=1), name="marketplace_providers_version_positive"),
            models.CheckConstraint(
                condition=Q(primary_category__in=PROVIDER_CATEGORY_VALUES), name="marketplace_providers_category_valid"
            ),
            # Target of the composite foreign key that lets only service providers own marketplace
            # invoices (see MarketplaceInvoice.provider_kind).
            models.UniqueConstraint(fields=["id", "kind"], name="marketplace_providers_id_kind_unique"),
        ]

    def __str__(self) -> str:
        return self.business_name

    def hard_delete(self, using=None):
        # Transactions are financial history: a provider that has any is only ever soft-deleted.
        # (Imported here: the transactions module builds on this one.)
        from marketplace_app.models.transactions import MarketplaceTransaction

        if MarketplaceTransaction.objects.using(using or MARKETPLACE_DB).filter(provider_id=self.pk).exists():
            raise ReferencedRowDeletion(
                f"Provider #{self.pk} has marketplace transactions; it can only be soft-deleted "
                f"(provider_delete), never hard-deleted.",
                code="provider_has_transactions",
            )
        return super().hard_delete(using=using)


class MarketplaceContact(models.Model):
    """A provider's relationship with a marketplace user (first and latest contact).

    Name, email and phone are read from MarketplaceUser, not copied here: a cached copy would
    need an update strategy to stay current.
    """

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="contacts")
    user = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="provider_contacts")
    first_contact_at = models.DateTimeField(default=timezone.now)
    last_contact_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True, default="")

    class Meta:
        db_table = "marketplace_contacts"
        constraints = [
            models.UniqueConstraint(fields=["provider", "user"], name="marketplace_contacts_one_per_pair"),
        ]

    def __str__(self) -> str:
        return f"Contact of provider #{self.provider_id} with user #{self.user_id}"
