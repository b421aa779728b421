from django.urls import path

from marketplace_app.api import views
from payments_app.api import dispute_views, ledger_views

urlpatterns = [
    path("listings/", views.ListingSearchView.as_view(), name="listing-search"),
    path("listings/<slug:slug>/", views.ListingDetailView.as_view(), name="listing-detail"),
    path("transactions/", views.TransactionListView.as_view(), name="marketplace-transaction-list"),
    path("transactions/<int:transaction_id>/", views.TransactionDetailView.as_view(),
         name="marketplace-transaction-detail"),
    path("transactions/<int:transaction_id>/receipt/", views.TransactionReceiptView.as_view(),
         name="marketplace-transaction-receipt"),
    path("invoices/", views.MarketplaceInvoiceListView.as_view(), name="marketplace-invoice-list"),
    path("invoices/<int:invoice_id>/", views.MarketplaceInvoiceDetailView.as_view(),
         name="marketplace-invoice-detail"),
    path("invoices/<int:invoice_id>/timeline/", views.MarketplaceInvoiceTimelineView.as_view(),
         name="marketplace-invoice-timeline"),
    path("invoices/<int:invoice_id>/receipt/", views.MarketplaceInvoiceReceiptView.as_view(),
         name="marketplace-invoice-receipt"),
    path("providers/", views.ProviderListView.as_view(), name="provider-list"),
    path("providers/me/", views.ProviderMeView.as_view(), name="provider-me"),
    path("providers/me/money-movements/", ledger_views.ProviderMoneyMovementListView.as_view(),
         name="provider-money-movements"),
    path("invoices/<int:invoice_id>/dispute/", dispute_views.MarketplaceInvoiceDisputeView.as_view(),
         name="marketplace-invoice-dispute"),
    path("invoices/<int:invoice_id>/dispute/evidence-files/",
         dispute_views.MarketplaceDisputeEvidenceFileView.as_view(), name="marketplace-invoice-dispute-evidence-files"),
    path("invoices/<int:invoice_id>/dispute/evidence/", dispute_views.MarketplaceDisputeEvidenceView.as_view(),
         name="marketplace-invoice-dispute-evidence"),
    path("providers/me/listings/", views.OwnListingListView.as_view(), name="own-listing-list"),
    path("providers/me/listings/<int:listing_id>/", views.OwnListingDetailView.as_view(), name="own-listing-detail"),
    path("providers/<int:provider_id>/", views.ProviderDetailView.as_view(), name="provider-detail"),
    path("threads/", views.ThreadListView.as_view(), name="thread-list"),
    path("threads/<int:thread_id>/messages/", views.MessageListView.as_view(), name="message-list"),
    path("blocks/", views.BlockListView.as_view(), name="block-list"),
    path("blocks/<int:user_id>/", views.BlockDetailView.as_view(), name="block-detail"),
]
