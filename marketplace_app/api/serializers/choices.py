"""The choice lists the schema names as enums (ENUM_NAME_OVERRIDES in config/settings/base.py)."""

from __future__ import annotations

from marketplace_app.models import (
    MarketplaceTransaction,
    Provider,
    ServiceListing,
)

TRANSACTION_STATUSES = MarketplaceTransaction.Status.choices
TRANSACTION_ACTIONS = ("cancel",)
PROVIDER_KINDS = Provider.Kind.choices
#: Listing categories, also a provider's primary category: one enum in the schema (CategoryEnum).
LISTING_CATEGORIES = ServiceListing.Category.choices
