from django.urls import path

from marketplace_app.api import documents, identity_views, image_views, listing_search
from marketplace_app.api.views import blocks, invoices, listings, messaging, providers, transactions

urlpatterns = [
    path("me/", identity_views.MarketplaceMeView.as_view(), name="marketplace-me"),
    path("listings/", listing_search.ListingSearchView.as_view(), name="listing-search"),
    path("listings/<slug:slug>/", listings.ListingDetailView.as_view(), name="listing-detail"),
    path("transactions/", transactions.TransactionListView.as_view(), name="marketplace-transaction-list"),
    path(
        "transactions/<int:transaction_id>/",
        transactions.TransactionDetailView.as_view(),
        name="marketplace-transaction-detail",
    ),
    path(
        "transactions/<int:transaction_id>/receipt/",
        transactions.TransactionReceiptView.as_view(),
        name="marketplace-transaction-receipt",
    ),
    path(
        "transactions/<int:transaction_id>/document/",
        documents.TransactionDocumentView.as_view(),
        name="marketplace-transaction-document",
    ),
    path("invoices/", invoices.MarketplaceInvoiceListView.as_view(), name="marketplace-invoice-list"),
    path(
        "invoices/<int:invoice_id>/", invoices.MarketplaceInvoiceDetailView.as_view(), name="marketplace-invoice-detail"
    ),
    path(
        "invoices/<int:invoice_id>/timeline/",
        invoices.MarketplaceInvoiceTimelineView.as_view(),
        name="marketplace-invoice-timeline",
    ),
    path(
        "invoices/<int:invoice_id>/receipt/",
        invoices.MarketplaceInvoiceReceiptView.as_view(),
        name="marketplace-invoice-receipt",
    ),
    path(
        "invoices/<int:invoice_id>/document/",
        documents.MarketplaceInvoiceDocumentView.as_view(),
        name="marketplace-invoice-document",
    ),
    path(
        "invoices/<int:invoice_id>/documents/",
        documents.MarketplaceInvoiceDocumentListView.as_view(),
        name="marketplace-invoice-documents",
    ),
    path(
        "invoices/<int:invoice_id>/documents/<int:document_id>/",
        documents.MarketplaceInvoiceDocumentFileView.as_view(),
        name="marketplace-invoice-documents-file",
    ),
    path("providers/", providers.ProviderListView.as_view(), name="provider-list"),
    path("providers/me/", providers.ProviderMeView.as_view(), name="provider-me"),
    path("providers/me/listings/", listings.OwnListingListView.as_view(), name="own-listing-list"),
    path("providers/me/listings/<int:listing_id>/", listings.OwnListingDetailView.as_view(), name="own-listing-detail"),
    path(
        "providers/me/listings/<int:listing_id>/images/",
        image_views.OwnListingImagesView.as_view(),
        name="own-listing-images",
    ),
    path(
        "providers/me/listings/<int:listing_id>/images/order/",
        image_views.OwnListingImageOrderView.as_view(),
        name="own-listing-image-order",
    ),
    path(
        "providers/me/listings/<int:listing_id>/images/<int:image_id>/",
        image_views.OwnListingImageDetailView.as_view(),
        name="own-listing-image-detail",
    ),
    path(
        "providers/me/listings/<int:listing_id>/images/<int:image_id>/<str:variant>/",
        image_views.OwnListingImageFileView.as_view(),
        name="own-listing-image-file",
    ),
    path(
        "listing-images/<int:image_id>/<str:variant>/",
        image_views.ListingImageFileView.as_view(),
        name="listing-image-file",
    ),
    path("providers/<int:provider_id>/", providers.ProviderDetailView.as_view(), name="provider-detail"),
    path("threads/", messaging.ThreadListView.as_view(), name="thread-list"),
    path("threads/<int:thread_id>/messages/", messaging.MessageListView.as_view(), name="message-list"),
    path("blocks/", blocks.BlockListView.as_view(), name="block-list"),
    path("blocks/<int:user_id>/", blocks.BlockDetailView.as_view(), name="block-detail"),
]
