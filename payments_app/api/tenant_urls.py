"""payments_app's routes under the tenant API's prefix, mounted by config/urls.py next to tenant_app's own
(same paths and names; moved from tenant_app/api/urls.py so the domain apps never import payments_app,
docs/architecture/layers.md). Described in docs/api/money-and-disputes.md."""

from django.urls import path

from payments_app.api import dispute_views, ledger_views
from payments_app.api import tenant_payment_settings as payment_settings

urlpatterns = [
    path(
        "tenants/me/money-movements/", ledger_views.TenantMoneyMovementListView.as_view(), name="tenant-money-movements"
    ),
    path(
        "invoices/<int:invoice_id>/dispute/", dispute_views.TenantInvoiceDisputeView.as_view(), name="invoice-dispute"
    ),
    path(
        "invoices/<int:invoice_id>/dispute/evidence-files/",
        dispute_views.TenantDisputeEvidenceFileView.as_view(),
        name="invoice-dispute-evidence-files",
    ),
    path(
        "invoices/<int:invoice_id>/dispute/evidence/",
        dispute_views.TenantDisputeEvidenceView.as_view(),
        name="invoice-dispute-evidence",
    ),
    path(
        "tenants/me/payment-settings/",
        payment_settings.TenantPaymentSettingsView.as_view(),
        name="tenant-payment-settings",
    ),
    path(
        "tenants/me/stripe-account/", payment_settings.TenantStripeAccountView.as_view(), name="tenant-stripe-account"
    ),
    path(
        "tenants/me/stripe-account/onboarding/",
        payment_settings.TenantStripeOnboardingView.as_view(),
        name="tenant-stripe-onboarding",
    ),
    path(
        "tenants/me/stripe-account/onboarding/refresh/",
        payment_settings.TenantStripeOnboardingRefreshView.as_view(),
        name="tenant-stripe-onboarding-refresh",
    ),
    path(
        "tenants/me/stripe-account/sync/",
        payment_settings.TenantStripeAccountSyncView.as_view(),
        name="tenant-stripe-account-sync",
    ),
]
