"""Service listings and their state machine (images and moderation: marketplace_app/listing_models.py)."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q

from breederhq.money import CentsField, CurrencyField, amount_bound_check, currency_check
from breederhq.state_machine import StateMachine
from marketplace_app.models.providers import Provider
from marketplace_app.search_document import LISTING_SEARCH_DOCUMENT_SQL, TEXT_SEARCH_CONFIG, ListingSearchDocument


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
        expression=SearchVector("title", weight="A", config=TEXT_SEARCH_CONFIG)
        + SearchVector("description", weight="B", config=TEXT_SEARCH_CONFIG),
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
