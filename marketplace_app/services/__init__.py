"""Writes on the marketplace database. Each function is one `atomic(using="marketplace")`.

Provider statistics move with F() expressions in the same transaction as the change that moves
them, computed as "contribution after minus contribution before" of the row that changed, so every
path (create, transition, refund) keeps them equal to `selectors.provider_stats_recompute`.

The functions live in modules by entity (providers, users, listings, transactions, invoices,
messaging, blocks; shared helpers in `common`); they are re-exported here, so
`from marketplace_app import services` keeps working.
"""

from marketplace_app.services.blocks import user_block_create, user_block_delete
from marketplace_app.services.common import DB
from marketplace_app.services.invoices import (
    PENDING_CONFIRMATION_TIMEOUT,
    LineItem,
    marketplace_invoice_buyer_mark_paid,
    marketplace_invoice_create,
    marketplace_invoice_expire_pending_confirmations,
    marketplace_invoice_mark_paid,
    marketplace_invoice_refund,
    marketplace_invoice_reject_payment_claim,
    marketplace_invoice_send,
    marketplace_invoice_set_reconciliation_status,
    marketplace_invoice_void,
)
from marketplace_app.services.listings import (
    LISTING_FIELDS,
    listing_create,
    listing_image_add,
    listing_transition,
    listing_update,
)
from marketplace_app.services.messaging import message_send, message_thread_mark_read, message_thread_open
from marketplace_app.services.providers import (
    OPEN_TRANSACTION_STATES,
    PROVIDER_PROFILE_FIELDS,
    provider_create,
    provider_delete,
    provider_restore,
    provider_stats_fix,
    provider_update_profile,
    provider_withdraw,
)
from marketplace_app.services.transactions import (
    transaction_attach_invoice,
    transaction_cancel,
    transaction_create,
    transaction_dispute,
    transaction_mark_paid,
    transaction_refund,
    transaction_refund_to,
    transaction_resolve_dispute,
)
from marketplace_app.services.users import marketplace_identity_for, marketplace_user_erase
