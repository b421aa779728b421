"""Marketplace endpoints: public listing and provider search, and a marketplace user's own
transactions, invoices, threads, messages and (for providers) profile and blocks. Thin views over
marketplace_app services/selectors.

The views live in modules by entity (listings, transactions, messaging, blocks, invoices,
providers; shared bases in `common`), re-exported here; marketplace_app/api/urls.py routes to those
modules.
"""

from marketplace_app.api.views.common import PublicAPIView
from marketplace_app.api.views.listings import ListingDetailView, OwnListingListView, OwnListingDetailView
from marketplace_app.api.views.transactions import (
    AS_PARAM,
    IDEMPOTENCY_KEY_REQUIRED,
    TransactionListView,
    BuyerReceiptOut,
    TransactionReceiptView,
    TransactionDetailView,
)
from marketplace_app.api.views.messaging import PROVIDER_GONE, ThreadListView, MessageListView
from marketplace_app.api.views.blocks import BlockListView, BlockDetailView
from marketplace_app.api.views.invoices import (
    INVOICE_AS_PARAM,
    BUYER_INVOICE_ACTIONS,
    MarketplaceInvoiceListView,
    MarketplaceInvoiceDetailView,
    MarketplaceInvoiceTimelineView,
    MarketplaceInvoiceReceiptView,
)
from marketplace_app.api.views.providers import ProviderFilter, ProviderListView, ProviderDetailView, ProviderMeView
from marketplace_app.api.listing_search import ListingSearchParams, ListingSearchView  # noqa: F401 (schema)
