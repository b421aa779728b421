"""Tenant endpoints: thin views over tenant_app.services (writes) and selectors (reads).

The tenant is never a parameter: it is the caller's membership, set as the request's RLS context
by `TenantAPIView`, so a row of another tenant is simply not there (404).

The views live in modules by entity (tenants, memberships, invitations, contacts, invoices,
refunds, payments), re-exported here; tenant_app/api/urls.py routes to those modules.
"""

from tenant_app.api.views.contacts import ContactDetailView, ContactFilter, ContactListView
from tenant_app.api.views.invitations import (
    TOKEN_ERRORS,
    AccountInvitationListView,
    InvitationAcceptView,
    InvitationDeclineView,
    InvitationDetailView,
    InvitationFilter,
    InvitationListView,
)
from tenant_app.api.views.invoices import (
    MANAGER_ACTIONS,
    InvoiceDetailView,
    InvoiceFilter,
    InvoiceListView,
    InvoiceReceiptView,
    InvoiceTimelineView,
)
from tenant_app.api.views.memberships import (
    INVITE_ERRORS,
    MEMBERSHIP_IF_MATCH,
    MembershipDetailView,
    MembershipLeaveView,
    MembershipListView,
    MembershipWrites,
)
from tenant_app.api.views.payments import PaymentFilter, PaymentListView
from tenant_app.api.views.refunds import IDEMPOTENCY_KEY_REQUIRED, InvoiceRefundListView
from tenant_app.api.views.tenants import TENANT_IF_MATCH, TenantCreateView, TenantMeView
