"""Marketplace endpoints: public listing and provider search, and a marketplace user's own
transactions, invoices, threads, messages and (for providers) profile and blocks. Thin views over
marketplace_app services/selectors.

The views live in modules by entity (listings, transactions, messaging, blocks, invoices,
providers; shared bases in `common`), re-exported here; marketplace_app/api/urls.py routes to those
modules.
"""

from marketplace_app.api.listing_search import ListingSearchParams, ListingSearchView  # noqa: F401 (schema)
from marketplace_app.api.views.blocks import BlockDetailView, BlockListView
from marketplace_app.api.views.common import PublicAPIView
from marketplace_app.api.views.invoices import (
    BUYER_INVOICE_ACTIONS,
    INVOICE_AS_PARAM,
    MarketplaceInvoiceDetailView,
    MarketplaceInvoiceListView,
    MarketplaceInvoiceReceiptView,
    MarketplaceInvoiceTimelineView,
)
from marketplace_app.api.views.listings import ListingDetailView, OwnListingDetailView, OwnListingListView
from marketplace_app.api.views.messaging import PROVIDER_GONE, MessageListView, ThreadListView
from marketplace_app.api.views.providers import ProviderDetailView, ProviderFilter, ProviderListView, ProviderMeView
from marketplace_app.api.views.transactions import (
    AS_PARAM,
    IDEMPOTENCY_KEY_REQUIRED,
    BuyerReceiptOut,
    TransactionDetailView,
    TransactionListView,
    TransactionReceiptView,
)
