"""The tenant database: breeder businesses, their staff, contacts, invoices and payments.

Every table here except `users` and `tenants` is tenant-owned: it carries `tenant_id` and a FORCED
row-level security policy (breederhq.tenancy), so the application role only ever sees the rows of
the tenant in the current context. Unique constraints on those tables include `tenant_id`, or a
violation would reveal that another tenant has the value.

The models live in modules by entity (accounts, tenants, memberships, contacts, invoices, payments;
the stored PDFs in tenant_app/document_models.py); every model and public name is re-exported here,
so `from tenant_app.models import Invoice` and the migrations' `tenant_app.models.receipt_upload_path`
keep working. Importing this package registers every model of the app.
"""

# isort: off
# Accounts and tenants first, then what builds on them (each module imports its own dependencies).
from tenant_app.models.accounts import AccountAuditLog, AccountToken, AccountTokenPurpose, RefreshTokenFamily, User
from tenant_app.models.tenants import PaymentMode, Tenant, TenantOwned, TenantProfileAuditLog
from tenant_app.models.memberships import (
    InvitationQuerySet,
    InvitationStatus,
    MembershipAuditLog,
    TenantInvitation,
    TenantMembership,
)
from tenant_app.models.contacts import Contact, ContactManager, ContactQuerySet
from tenant_app.models.invoices import (
    INVOICE_TRANSITIONS,
    DocumentSequence,
    Invoice,
    InvoiceAuditLog,
    InvoiceLineItem,
    InvoiceStatus,
    PaymentConfirmationAudit,
    ReconciliationStatus,
    receipt_upload_path,
)
from tenant_app.models.payments import CreditNote, Payment

# The stored PDFs of invoices and credit notes (kept in their own module).
from tenant_app.document_models import InvoiceDocument

# isort: on
