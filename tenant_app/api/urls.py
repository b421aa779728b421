from django.urls import path

from tenant_app.api import documents, marketplace_billing_views, views

urlpatterns = [
    path("tenants/", views.TenantCreateView.as_view(), name="tenant-create"),
    path("tenants/me/", views.TenantMeView.as_view(), name="tenant-me"),
    path("tenants/me/memberships/", views.MembershipListView.as_view(), name="membership-list"),
    path("tenants/me/memberships/<int:membership_id>/", views.MembershipDetailView.as_view(),
         name="membership-detail"),
    path("tenants/me/membership/", views.MembershipLeaveView.as_view(), name="membership-leave"),
    path("tenants/me/invitations/", views.InvitationListView.as_view(), name="invitation-list"),
    path("tenants/me/invitations/<int:invitation_id>/", views.InvitationDetailView.as_view(),
         name="invitation-detail"),
    path("invitations/", views.AccountInvitationListView.as_view(), name="account-invitation-list"),
    path("invitations/accept/", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("invitations/decline/", views.InvitationDeclineView.as_view(), name="invitation-decline"),
    path("contacts/", views.ContactListView.as_view(), name="contact-list"),
    path("contacts/<int:contact_id>/", views.ContactDetailView.as_view(), name="contact-detail"),
    path("invoices/", views.InvoiceListView.as_view(), name="invoice-list"),
    path("invoices/from-marketplace-transaction/", marketplace_billing_views.SaleInvoiceCreateView.as_view(),
         name="invoice-from-marketplace-transaction"),
    path("invoices/<int:invoice_id>/", views.InvoiceDetailView.as_view(), name="invoice-detail"),
    path("invoices/<int:invoice_id>/refunds/", views.InvoiceRefundListView.as_view(), name="invoice-refunds"),
    path("invoices/<int:invoice_id>/timeline/", views.InvoiceTimelineView.as_view(), name="invoice-timeline"),
    path("invoices/<int:invoice_id>/receipt/", views.InvoiceReceiptView.as_view(), name="invoice-receipt"),
    path("invoices/<int:invoice_id>/document/", documents.InvoiceDocumentView.as_view(), name="invoice-document"),
    path("invoices/<int:invoice_id>/documents/", documents.InvoiceDocumentListView.as_view(),
         name="invoice-documents"),
    path("invoices/<int:invoice_id>/documents/<int:document_id>/", documents.InvoiceDocumentFileView.as_view(),
         name="invoice-documents-file"),
    path("payments/", views.PaymentListView.as_view(), name="payment-list"),
]
