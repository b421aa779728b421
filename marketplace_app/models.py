"""The public marketplace (marketplace database): users, providers, listings, transactions,
marketplace invoices, messaging and blocks.

Tenant-side rows (tenants, tenant users, tenant invoices) are never imported here: they are named by
`CrossDatabaseReference` strings, or, for the polymorphic `invoice_id`, by a plain BIGINT for now.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from breederhq.crossdb import (
    CrossDatabaseReference,
    CrossDatabaseReferencesManager,
    CrossDatabaseReferencesMixin,
    SoftDeleteModel,
)
from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import ReferencedRowDeletion
from breederhq.invoicing.models import (
    AbstractInvoice,
    AbstractInvoiceAuditLog,
    AbstractInvoiceLineItem,
    AbstractPaymentConfirmationAudit,
)
from breederhq.invoicing.status import INVOICE_TRANSITIONS, InvoiceStatus
from breederhq.money import CentsField, CurrencyField, amount_bound_check, currency_check
from breederhq.reconciliation import reconciliation_status_check
from breederhq.state_machine import StateMachine
from marketplace_app.invoice_deletion import (
    MarketplaceInvoiceAllObjects,
    MarketplaceInvoiceManager,
    marketplace_invoice_delete,
)
from marketplace_app.search_document import LISTING_SEARCH_DOCUMENT_SQL, ListingSearchDocument


class MarketplaceUser(CrossDatabaseReferencesMixin, SoftDeleteModel):
    """Someone on the public marketplace: a buyer, a breeder or a service provider.

    A breeder's marketplace identity links to its tenant-side user across databases.
    """

    class Kind(models.TextChoices):
        BUYER = "buyer", "Buyer"
        BREEDER = "breeder", "Breeder"
        SERVICE_PROVIDER = "service_provider", "Service provider"

    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.BUYER)
    tenant_user_id = CrossDatabaseReference("tenant_app.User", null=True, blank=True)
    phone = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "marketplace_users"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["buyer", "breeder", "service_provider"]),
                name="marketplace_users_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


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


# --- Providers -------------------------------------------------------------------------------------


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
        if MarketplaceTransaction.objects.using(using or MARKETPLACE_DB).filter(provider_id=self.pk).exists():
            raise ReferencedRowDeletion(
                f"Provider #{self.pk} has marketplace transactions; it can only be soft-deleted "
                f"(provider_delete), never hard-deleted.",
                code="provider_has_transactions",
            )
        return super().hard_delete(using=using)


# --- Listings --------------------------------------------------------------------------------------


class ServiceListing(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ARCHIVED = "archived", "Archived"

    class Category(models.TextChoices):
        PUPPIES = "puppies", "Puppies"
        KITTENS = "kittens", "Kittens"
        STUD = "stud", "Stud service"
        GROOMING = "grooming", "Grooming"
        TRAINING = "training", "Training"
        VETERINARY = "veterinary", "Veterinary"
        TRANSPORT = "transport", "Transport"
        BOARDING = "boarding", "Boarding"
        OTHER = "other", "Other"

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="listings")
    # Unique through the constraint below only: `unique=True` on a SlugField would also add a
    # varchar_pattern_ops "_like" index, a redundant second index on slug.
    slug = models.SlugField(max_length=120, db_index=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    category = models.CharField(max_length=30, choices=Category.choices)
    state = models.CharField(max_length=50, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    price_cents = CentsField()
    currency = CurrencyField()
    category_metadata = models.JSONField(default=dict, blank=True)
    # A stored generated column rather than a trigger: PostgreSQL keeps it right on every write
    # path (ORM, bulk_update, raw SQL), and it needs no code to drift from.
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("description", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    published_at = models.DateTimeField(null=True, blank=True)
    #: The order a buyer sees a search in (marketplace_app/listing_score.py): recency plus a bonus
    #: for a described, illustrated listing. Kept by the services that change its inputs; NULL until
    #: published (and, on a table older than the column, until `listing_search_scores` backfills it).
    search_score = models.BigIntegerField(null=True, blank=True, editable=False)
    #: Bumped by every service write (edits and status changes): the ETag the provider's client reads.
    version = models.IntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "service_listings"
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="service_listings_slug_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["draft", "active", "paused", "archived"]),
                name="service_listings_status_valid",
            ),
            models.CheckConstraint(condition=Q(price_cents__gte=0), name="service_listings_price_not_negative"),
            amount_bound_check("price_cents", name="service_listings_price_within_bound"),
            currency_check(name="service_listings_currency_valid"),
        ]
        indexes = [
            GinIndex(fields=["category_metadata"], name="service_listings_metadata_gin"),
            GinIndex(fields=["search_vector"], name="service_listings_search_gin"),
            # The listing search's text and its category/state/city filters, in one GIN index
            # (marketplace_app/search_document.py). It replaces the one above, which the previous
            # release searches by: drop that one in the release after (expand/contract). Without
            # fastupdate (migration 0009): a listing write updates the index itself instead of a
            # pending list that every search would scan until the next cleanup.
            GinIndex(
                ListingSearchDocument(LISTING_SEARCH_DOCUMENT_SQL),
                name="listings_search_document_gin",
                fastupdate=False,
            ),
            # The active-listing search index. `status` is left out of the key: the
            # predicate already fixes it, so it would only widen every entry.
            models.Index(
                fields=["category", "state", "city"],
                condition=Q(status="active"),
                name="service_listings_active_search",
            ),
            # The search's stored orders (selectors.ListingSearch): read in index order and stopped
            # at the page, whatever the number of matches.
            models.Index(
                F("search_score").desc(nulls_last=True),
                F("id").desc(),
                condition=Q(status="active"),
                name="listings_active_by_score",
            ),
            models.Index(
                F("published_at").desc(nulls_last=True),
                F("id").desc(),
                condition=Q(status="active"),
                name="listings_active_by_published",
            ),
        ]

    def __str__(self) -> str:
        return self.title


LISTING_STATES = StateMachine(
    "ServiceListing",
    {
        "draft": {"active", "archived"},
        "active": {"paused", "archived"},
        "paused": {"active", "archived"},
        "archived": set(),
    },
)


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


# --- Transactions ----------------------------------------------------------------------------------


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


# --- Marketplace invoices (non-breeder service providers only) ------------------------------------


def marketplace_receipt_upload_path(instance: MarketplaceInvoice, filename: str) -> str:
    return f"marketplace/receipts/{instance.provider_id}/{instance.pk or 'new'}/{filename}"


class MarketplaceInvoice(SoftDeleteModel, AbstractInvoice):
    """The invoice of a non-breeder service provider (breeders bill with the tenant Invoice). The
    common columns and the lifecycle are the invoice core's (breederhq/invoicing/).

    Only service providers can own one: `(provider_id, provider_kind)` is a composite foreign key to
    `marketplace_providers (id, kind)` (added in SQL by the migration) and `provider_kind` is fixed
    to 'service_provider' by a CHECK, so PostgreSQL itself refuses a breeder's invoice, and refuses
    turning a provider that has invoices into a breeder.
    """

    class PaymentMode(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual"

    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="marketplace_invoices")
    provider_kind = models.CharField(max_length=20, default="service_provider", editable=False)
    transaction = models.ForeignKey(
        MarketplaceTransaction, on_delete=models.PROTECT, related_name="marketplace_invoices"
    )
    client = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="marketplace_invoices")
    #: The column keeps its first name, `number`.
    invoice_number = models.CharField(max_length=50, db_column="number")
    payment_mode_snapshot = models.CharField(max_length=20, choices=PaymentMode.choices)
    stripe_invoice_id = models.CharField(max_length=50, null=True, blank=True, unique=True)
    # The buyer's receipt: a file uploaded through the API (Django storage), or (older clients) a URL.
    buyer_payment_receipt = models.FileField(
        upload_to=marketplace_receipt_upload_path, max_length=500, blank=True, default=""
    )
    buyer_payment_receipt_url = models.URLField(max_length=500, null=True, blank=True)
    #: Deprecated: the due date as an instant, written alongside `due_date` (its midnight UTC) for one
    #: release, then dropped (docs/architecture/invoices-and-payments.md, "Due dates").
    due_at = models.DateTimeField(null=True, blank=True)
    #: Soft delete only (marketplace_app/invoice_deletion.py); indexed by a partial index (Meta).
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = MarketplaceInvoiceManager()
    all_objects = MarketplaceInvoiceAllObjects()

    def delete(self, using=None, keep_parents=False):
        marketplace_invoice_delete(invoice_id=self.pk, actor_label="system:model_delete")
        self.refresh_from_db(using=using, fields=["deleted_at", "version", "updated_at"])
        return 0, {}

    @property
    def number(self) -> str:
        """The name this column had here before the core named it `invoice_number`."""
        return self.invoice_number

    @number.setter
    def number(self, value: str) -> None:
        self.invoice_number = value

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remembered for the transition metric (services set the new status before saving).
        instance._loaded_status = instance.__dict__.get("status", "")  # never loads a deferred field
        return instance

    class Meta:
        db_table = "marketplace_invoices"
        constraints = [
            amount_bound_check(
                "subtotal_cents",
                "tax_cents",
                "total_cents",
                "refunded_cents",
                name="marketplace_invoices_amounts_within_bound",
            ),
            models.CheckConstraint(
                condition=Q(provider_kind="service_provider"), name="marketplace_invoices_service_provider_only"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        InvoiceStatus.DRAFT,
                        InvoiceStatus.SENT,
                        InvoiceStatus.PENDING_CONFIRMATION,
                        InvoiceStatus.PAID,
                        InvoiceStatus.VOID,
                        InvoiceStatus.PARTIALLY_REFUNDED,
                        InvoiceStatus.REFUNDED,
                    ]
                ),
                name="marketplace_invoices_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(payment_mode_snapshot__in=["stripe", "manual"]),
                name="marketplace_invoices_payment_mode_valid",
            ),
            reconciliation_status_check(name="marketplace_invoices_reconciliation_valid"),
            # The receipt rule: a buyer's manual "I paid" needs a receipt.
            models.CheckConstraint(
                condition=~Q(payment_mode_snapshot="manual")
                | Q(buyer_marked_paid_at__isnull=True)
                | Q(buyer_payment_receipt_url__isnull=False)
                | ~Q(buyer_payment_receipt=""),
                name="marketplace_invoices_manual_payment_receipt_v2",
            ),
            models.CheckConstraint(
                condition=Q(total_cents__gte=0, refunded_cents__gte=0, refunded_cents__lte=F("total_cents")),
                name="marketplace_invoices_amounts_valid",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="marketplace_invoices_version_positive"),
            currency_check(name="marketplace_invoices_currency_valid"),
            models.UniqueConstraint(fields=["provider", "invoice_number"], name="marketplace_invoices_number_unique"),
            # Single invoice strategy: at most one live (non-void) invoice per transaction.
            models.UniqueConstraint(
                fields=["transaction"],
                condition=~Q(status=InvoiceStatus.VOID),
                name="marketplace_invoices_one_live_per_tx",
            ),
            # Issued documents stay visible: only drafts and void invoices are (soft-)deleted.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(status__in=[InvoiceStatus.DRAFT, InvoiceStatus.VOID]),
                name="marketplace_invoices_only_draft_or_void_deleted",
            ),
        ]
        indexes = [
            models.Index(fields=["transaction", "status"], name="mkt_invoices_tx_status"),
            models.Index(fields=["deleted_at"], condition=Q(deleted_at__isnull=False), name="mkt_invoices_deleted"),
            # The 7-day expiry sweep of pending confirmations.
            models.Index(
                fields=["buyer_marked_paid_at"],
                condition=Q(status=InvoiceStatus.PENDING_CONFIRMATION),
                name="mkt_invoices_pending_conf_age",
            ),
        ]


# The one table of invoice transitions (breederhq/invoicing/status.py).
INVOICE_STATES = INVOICE_TRANSITIONS


class MarketplaceInvoiceLineItem(AbstractInvoiceLineItem):
    """One line of a marketplace invoice (columns: breederhq/invoicing/models.py)."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.CASCADE, related_name="line_items")
    description = models.TextField()

    class Meta(AbstractInvoiceLineItem.Meta):
        db_table = "marketplace_invoice_line_items"
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="mkt_invoice_lines_quantity_positive"),
            models.CheckConstraint(
                condition=Q(total_cents=F("quantity") * F("unit_price_cents")),
                name="mkt_invoice_lines_total_matches",
            ),
            amount_bound_check("unit_price_cents", "total_cents", name="mkt_invoice_lines_amounts_within_bound"),
        ]


class MarketplaceInvoiceAuditLog(AbstractInvoiceAuditLog):
    """The audit trail of marketplace invoices, in the marketplace database, written in the same
    transaction as each change (columns: breederhq/invoicing/models.py). Append-only: the
    application role has no UPDATE or DELETE on it (breederhq/db_roles.py)."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.PROTECT, related_name="audit_log")
    changed_by = models.ForeignKey(MarketplaceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta(AbstractInvoiceAuditLog.Meta):
        db_table = "marketplace_invoice_audit_log"
        indexes = [models.Index(fields=["invoice", "id"], name="mkt_invoice_audit_invoice_idx")]


class MarketplacePaymentConfirmationAudit(AbstractPaymentConfirmationAudit):
    """Each step of a marketplace invoice's payment confirmation, in the marketplace database.
    Append-only."""

    invoice = models.ForeignKey(MarketplaceInvoice, on_delete=models.PROTECT, related_name="confirmation_audit")
    marked_paid_by = models.ForeignKey(
        MarketplaceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_by = models.ForeignKey(MarketplaceUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta(AbstractPaymentConfirmationAudit.Meta):
        db_table = "marketplace_payment_confirmation_audit"
        indexes = [models.Index(fields=["invoice", "id"], name="mkt_payment_confirm_inv_idx")]


# --- Messaging -------------------------------------------------------------------------------------


class MessageThread(models.Model):
    """A conversation between one buyer and one provider. Its two participants are `buyer` and the
    provider's user; nobody else may read it."""

    id = models.BigAutoField(primary_key=True)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="threads")
    buyer = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="threads")
    listing = models.ForeignKey(ServiceListing, on_delete=models.SET_NULL, null=True, blank=True)
    transaction = models.ForeignKey(MarketplaceTransaction, on_delete=models.SET_NULL, null=True, blank=True)
    subject = models.CharField(max_length=200, blank=True, default="")
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "message_threads"
        indexes = [
            models.Index(F("buyer"), F("last_message_at").desc(), name="msg_threads_buyer_recent"),
            models.Index(F("provider"), F("last_message_at").desc(), name="msg_threads_provider_recent"),
        ]

    def __str__(self) -> str:
        return f"Thread #{self.pk}: " + (
            self.subject[:80] or f"user #{self.buyer_id} with provider #{self.provider_id}"
        )


class Message(models.Model):
    """One message. `messages` is RANGE-partitioned by `created_at` (monthly partitions
    `messages_pYYYY_MM` plus `messages_default`), created by SQL in the migration, so the primary key
    must include the partition key: (id, created_at). `id` comes from the `messages_id_seq` sequence.

    `read_at` is set when the message's recipient (the participant who did not send it) reads it.
    Always insert with `Message.objects.create(...)`.
    """

    pk = models.CompositePrimaryKey("id", "created_at")
    id = models.BigIntegerField(db_default=models.Func(models.Value("messages_id_seq"), function="nextval"))
    created_at = models.DateTimeField(default=timezone.now)
    thread = models.ForeignKey(MessageThread, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "messages"
        indexes = [
            # The thread's newest-first index plus the keyset's tie-breaker `id`: a cursor page is then read in
            # index order across partitions (Merge Append, no Sort node; bench/run.py checks).
            models.Index(
                F("thread"), F("created_at").desc(), F("id").desc(), include=["read_at"], name="messages_thread_created"
            ),
        ]

    def __str__(self) -> str:
        return f"Message #{self.id} in thread #{self.thread_id}"


class MessageArchive(models.Model):
    """Messages older than two years, moved out of `messages` by `manage.py archive_messages`.
    Same ids as they had in `messages`."""

    id = models.BigIntegerField(primary_key=True)
    created_at = models.DateTimeField()
    thread = models.ForeignKey(MessageThread, on_delete=models.CASCADE, related_name="archived_messages")
    sender = models.ForeignKey(MarketplaceUser, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "message_archive"
        indexes = [models.Index(F("thread"), F("created_at").desc(), name="message_archive_thread_created")]

    def __str__(self) -> str:
        return f"Archived message #{self.id} in thread #{self.thread_id}"


class UserBlock(models.Model):
    """A provider blocks a user: the user can no longer open threads with, message or buy from it."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="blocks")
    blocked_user = models.ForeignKey(MarketplaceUser, on_delete=models.CASCADE, related_name="blocked_by")
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "marketplace_user_blocks"
        constraints = [
            models.UniqueConstraint(fields=["provider", "blocked_user"], name="marketplace_user_blocks_one_per_pair"),
        ]

    def __str__(self) -> str:
        return f"Provider #{self.provider_id} blocks user #{self.blocked_user_id}"


# The stored PDFs of invoices and credit notes (kept in their own module).
from marketplace_app.document_models import MarketplaceInvoiceDocument  # noqa: E402,F401

# Stripe refunds recorded on marketplace invoices, by refund id (their own module).
from marketplace_app.invoice_refunds import MarketplaceInvoiceRefund  # noqa: E402, F401

# Listing images and moderation live in their own module (the models are this app's all the same).
from marketplace_app.listing_models import ListingModeration, ServiceListingImage  # noqa: E402,F401

# The payment mode audit lives in its own module; imported here so the app registers it.
from marketplace_app.payment_mode_audit import ProviderPaymentModeAudit  # noqa: E402, F401

# Staff's suspension of a provider (its own module).
from marketplace_app.suspension_models import ProviderSuspension  # noqa: E402, F401
