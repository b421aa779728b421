from django.urls import path

from tenant_app.api import documents, marketplace_billing_views
from tenant_app.api.views import contacts, invitations, invoices, memberships, payments, refunds, tenants

urlpatterns = [
    path("tenants/", tenants.TenantCreateView.as_view(), name="tenant-create"),
    path("tenants/me/", tenants.TenantMeView.as_view(), name="tenant-me"),
    path("tenants/me/memberships/", memberships.MembershipListView.as_view(), name="membership-list"),
    path(
        "tenants/me/memberships/<int:membership_id>/",
        memberships.MembershipDetailView.as_view(),
        name="membership-detail",
    ),
    path("tenants/me/membership/", memberships.MembershipLeaveView.as_view(), name="membership-leave"),
    path("tenants/me/invitations/", invitations.InvitationListView.as_view(), name="invitation-list"),
    path(
        "tenants/me/invitations/<int:invitation_id>/",
        invitations.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path("invitations/", invitations.AccountInvitationListView.as_view(), name="account-invitation-list"),
    path("invitations/accept/", invitations.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("invitations/decline/", invitations.InvitationDeclineView.as_view(), name="invitation-decline"),
    path("contacts/", contacts.ContactListView.as_view(), name="contact-list"),
    path("contacts/<int:contact_id>/", contacts.ContactDetailView.as_view(), name="contact-detail"),
    path("invoices/", invoices.InvoiceListView.as_view(), name="invoice-list"),
    path(
        "invoices/from-marketplace-transaction/",
        marketplace_billing_views.SaleInvoiceCreateView.as_view(),
        name="invoice-from-marketplace-transaction",
    ),
    path("invoices/<int:invoice_id>/", invoices.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<int:invoice_id>/refunds/", refunds.InvoiceRefundListView.as_view(), name="invoice-refunds"),
    path("invoices/<int:invoice_id>/timeline/", invoices.InvoiceTimelineView.as_view(), name="invoice-timeline"),
    path("invoices/<int:invoice_id>/receipt/", invoices.InvoiceReceiptView.as_view(), name="invoice-receipt"),
    path("invoices/<int:invoice_id>/document/", documents.InvoiceDocumentView.as_view(), name="invoice-document"),
    path("invoices/<int:invoice_id>/documents/", documents.InvoiceDocumentListView.as_view(), name="invoice-documents"),
    path(
        "invoices/<int:invoice_id>/documents/<int:document_id>/",
        documents.InvoiceDocumentFileView.as_view(),
        name="invoice-documents-file",
    ),
    path("payments/", payments.PaymentListView.as_view(), name="payment-list"),
]
