"""The public marketplace (marketplace database): users, providers, listings, transactions,
marketplace invoices, messaging and blocks.

Tenant-side rows (tenants, tenant users, tenant invoices) are never imported here: they are named by
`CrossDatabaseReference` strings, or, for the polymorphic `invoice_id`, by a plain BIGINT for now.

The models live in modules by entity (users, providers, listings, transactions, invoices, messaging)
and in the app's older sibling modules (document_models, invoice_refunds, listing_models,
payment_mode_audit, suspension_models); every model and public name is re-exported here, so
`from marketplace_app.models import Provider` and the migrations'
`marketplace_app.models.marketplace_receipt_upload_path` keep working. Importing this package
registers every model of the app.
"""

# isort: off
# Users first, then what builds on them (each module imports its own dependencies).
from marketplace_app.models.users import MarketplaceUser
from marketplace_app.models.providers import PROVIDER_CATEGORY_VALUES, MarketplaceContact, Provider
from marketplace_app.models.listings import LISTING_STATES, ServiceListing
from marketplace_app.models.transactions import TRANSACTION_STATES, MarketplaceTransaction
from marketplace_app.models.invoices import (
    INVOICE_STATES,
    MarketplaceInvoice,
    MarketplaceInvoiceAuditLog,
    MarketplaceInvoiceLineItem,
    MarketplacePaymentConfirmationAudit,
    marketplace_receipt_upload_path,
)
from marketplace_app.models.messaging import Message, MessageArchive, MessageThread, UserBlock

# The stored PDFs of invoices and credit notes (kept in their own module).
from marketplace_app.document_models import MarketplaceInvoiceDocument

# Stripe refunds recorded on marketplace invoices, by refund id (their own module).
from marketplace_app.invoice_refunds import MarketplaceInvoiceRefund

# Listing images and moderation live in their own module (the models are this app's all the same).
from marketplace_app.listing_models import ListingModeration, ServiceListingImage

# The payment mode audit lives in its own module; imported here so the app registers it.
from marketplace_app.payment_mode_audit import ProviderPaymentModeAudit

# Staff's suspension of a provider (its own module).
from marketplace_app.suspension_models import ProviderSuspension

# isort: on
