from django.contrib import admin
from django.urls import path

from breederhq.backoffice import exports_views, invoice_documents, receipts, views

app_name = "backoffice"

# admin_view: staff login required (others are redirected to the admin login), CSRF, no caching.
urlpatterns = [
    path("support/", admin.site.admin_view(views.support_tenant_view), name="support"),
    path("view-as/", admin.site.admin_view(views.view_as_view), name="view_as"),
    path("search/", admin.site.admin_view(views.support_search_view), name="search"),
    path("dashboard/", admin.site.admin_view(views.dashboard_view), name="dashboard"),
    path("exports/", admin.site.admin_view(exports_views.finance_export_view), name="finance_export"),
    path("receipts/<str:kind>/<int:invoice_id>/", admin.site.admin_view(receipts.receipt_view), name="receipt"),
    path(
        "invoice-documents/<str:kind>/<int:invoice_id>/<int:document_id>/",
        admin.site.admin_view(invoice_documents.invoice_document_view),
        name="invoice_document",
    ),
]
