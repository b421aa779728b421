"""Writes on the tenant side. Keyword-only functions, one `atomic(using="default")` each.

None of them takes a tenant: they act in the tenant of the current context (the request's
membership, the task's tenant_context), and row-level security confines every row they touch to it.
State changes lock the invoice row, re-check, act, bump `version` and write `invoice_audit_log` in the
same transaction; an illegal transition raises IllegalTransition (409), a stale version
VersionConflict (409).

The functions live in modules by entity (tenants, memberships, invitations, contacts, invoices,
payments, refunds; the database alias in `common`); they are re-exported here, so
`from tenant_app import services` keeps working.
"""

from tenant_app.services.common import DB
from tenant_app.services.contacts import CONTACT_FIELDS, contact_create, contact_delete, contact_update
from tenant_app.services.invitations import (
    invitation_accept,
    invitation_create,
    invitation_decline,
    invitation_revoke,
    invitation_token_hash,
)
from tenant_app.services.invoices import (
    LineInput,
    invoice_create,
    invoice_delete,
    invoice_reissue,
    invoice_send,
    invoice_set_reconciliation_status,
    invoice_update_draft,
    invoice_void,
)
from tenant_app.services.memberships import (
    MEMBERSHIP_MANAGERS,
    membership_change_role,
    membership_delete,
    membership_leave,
)
from tenant_app.services.payments import (
    PENDING_CONFIRMATION_TTL,
    invoice_buyer_mark_paid,
    invoice_confirm_payment,
    invoice_expire_payment_claim,
    invoice_expire_pending_confirmations,
    invoice_mark_paid,
    invoice_record_payment,
    invoice_reject_payment,
)
from tenant_app.services.refunds import invoice_refund
from tenant_app.services.tenants import (
    TENANT_PROFILE_FIELDS,
    tenant_create,
    tenant_set_payment_mode,
    tenant_update_profile,
)
