"""Request and response shapes of the marketplace API (plain serializers: lists stay light).

The shapes live in modules by entity (providers, listings, messaging, transactions, invoices; the
schema's enums in `choices`, the hot lists rendered from rows in `rows`); every public name is
re-exported here, so `from marketplace_app.api import serializers as s` keeps working.
"""

from marketplace_app.api.serializers.choices import (
    LISTING_CATEGORIES,
    PROVIDER_KINDS,
    TRANSACTION_ACTIONS,
    TRANSACTION_STATUSES,
)
from marketplace_app.api.serializers.invoices import (
    DUE_AT_IN_HELP,
    DUE_AT_OUT_HELP,
    MARKETPLACE_INVOICE_ACTIONS,
    MarketplaceInvoiceDetailOut,
    MarketplaceInvoiceIn,
    MarketplaceInvoiceOut,
    MarketplaceInvoicePatch,
    MarketplaceLineIn,
    MarketplaceLineOut,
    MarketplaceReceiptIn,
)
from marketplace_app.api.serializers.listings import (
    LISTING_ACTIONS,
    ListingCreateIn,
    ListingDetailOut,
    ListingOut,
    ListingPatch,
    ListingWithImagesOut,
    OwnListingOut,
)
from marketplace_app.api.serializers.messaging import (
    BlockIn,
    BlockOut,
    MessageIn,
    MessageOut,
    MessagePageOut,
    ThreadIn,
    ThreadOut,
    UserRef,
)
from marketplace_app.api.serializers.providers import (
    ProviderCreateIn,
    ProviderDetailOut,
    ProviderListingOut,
    ProviderOut,
    ProviderOwnOut,
    ProviderPatch,
    ProviderRef,
    SuspensionOut,
)
from marketplace_app.api.serializers.rows import (
    LISTING_VALUES,
    MESSAGE_VALUES,
    PROVIDER_REF_VALUES,
    TRANSACTION_VALUES,
    listing_rows_out,
    message_rows_out,
    transaction_rows_out,
)
from marketplace_app.api.serializers.transactions import (
    TransactionDetailOut,
    TransactionIn,
    TransactionOut,
    TransactionPatch,
)
