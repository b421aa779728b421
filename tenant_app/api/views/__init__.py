"""Tenant endpoints: thin views over tenant_app.services (writes) and selectors (reads).

The tenant is never a parameter: it is the caller's membership, set as the request's RLS context
by `TenantAPIView`, so a row of another tenant is simply not there (404).

The views live in modules by entity (tenants, memberships, invitations, contacts, invoices,
refunds, payments), re-exported here; tenant_app/api/urls.py routes to those modules.
"""

from tenant_app.api.views.tenants import TENANT_IF_MATCH, TenantMeView, TenantCreateView
from tenant_app.api.views.memberships import (
    MEMBERSHIP_IF_MATCH,
    INVITE_ERRORS,
    MembershipWrites,
    MembershipListView,
    MembershipDetailView,
    MembershipLeaveView,
)
from tenant_app.api.views.invitations import (
    InvitationFilter,
    InvitationListView,
    InvitationDetailView,
    TOKEN_ERRORS,
    AccountInvitationListView,
    InvitationAcceptView,
    InvitationDeclineView,
)
from tenant_app.api.views.contacts import ContactFilter, ContactListView, ContactDetailView
from tenant_app.api.views.invoices import (
    InvoiceFilter,
    InvoiceListView,
    MANAGER_ACTIONS,
    InvoiceDetailView,
    InvoiceTimelineView,
    InvoiceReceiptView,
)
from tenant_app.api.views.refunds import IDEMPOTENCY_KEY_REQUIRED, InvoiceRefundListView
from tenant_app.api.views.payments import PaymentFilter, PaymentListView
