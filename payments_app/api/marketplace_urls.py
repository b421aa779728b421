"""payments_app's routes under the marketplace API's prefix, mounted by config/urls.py next to marketplace_app's own
(same paths and names; moved from marketplace_app/api/urls.py so the domain apps never import payments_app,
docs/architecture/layers.md). Described in docs/api/money-and-disputes.md."""

from django.urls import path

from payments_app.api import card_payment_views, dispute_views, ledger_views
from payments_app.api import provider_payment_settings as payment_settings

urlpatterns = [
    path(
        "transactions/<int:transaction_id>/card-payment/",
        card_payment_views.TransactionCardPaymentView.as_view(),
        name="marketplace-transaction-card-payment",
    ),
    path(
        "invoices/<int:invoice_id>/card-payment/",
        card_payment_views.MarketplaceInvoiceCardPaymentView.as_view(),
        name="marketplace-invoice-card-payment",
    ),
    path(
        "providers/me/money-movements/",
        ledger_views.ProviderMoneyMovementListView.as_view(),
        name="provider-money-movements",
    ),
    path(
        "invoices/<int:invoice_id>/dispute/",
        dispute_views.MarketplaceInvoiceDisputeView.as_view(),
        name="marketplace-invoice-dispute",
    ),
    path(
        "invoices/<int:invoice_id>/dispute/evidence-files/",
        dispute_views.MarketplaceDisputeEvidenceFileView.as_view(),
        name="marketplace-invoice-dispute-evidence-files",
    ),
    path(
        "invoices/<int:invoice_id>/dispute/evidence/",
        dispute_views.MarketplaceDisputeEvidenceView.as_view(),
        name="marketplace-invoice-dispute-evidence",
    ),
    path(
        "providers/me/payment-settings/",
        payment_settings.ProviderPaymentSettingsView.as_view(),
        name="provider-payment-settings",
    ),
    path(
        "providers/me/stripe-account/",
        payment_settings.ProviderStripeAccountView.as_view(),
        name="provider-stripe-account",
    ),
    path(
        "providers/me/stripe-account/onboarding/",
        payment_settings.ProviderStripeOnboardingView.as_view(),
        name="provider-stripe-onboarding",
    ),
    path(
        "providers/me/stripe-account/onboarding/refresh/",
        payment_settings.ProviderStripeOnboardingRefreshView.as_view(),
        name="provider-stripe-onboarding-refresh",
    ),
    path(
        "providers/me/stripe-account/sync/",
        payment_settings.ProviderStripeAccountSyncView.as_view(),
        name="provider-stripe-account-sync",
    ),
]
