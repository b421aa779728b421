"""The hot lists (search, transactions, messages) rendered from `values()` rows, not model instances."""

from __future__ import annotations

from breederhq.api.rendering import datetime_renderer

# --- Hot lists rendered from `values()` rows ---------------------------------------------------------
# The search, transaction and message lists read only the columns they show (`*_VALUES`) and render
# the rows with these functions (breederhq/api/rendering.py) instead of building model instances and
# walking DRF fields per row.
# The output is exactly what ListingOut / TransactionOut / MessageOut give for the same rows
# (tests/marketplace_app/test_row_rendering.py); those classes still define the schema.

PROVIDER_REF_VALUES = ("provider_id", "provider__business_name", "provider__kind", "provider__city", "provider__state")
LISTING_VALUES = (
    "id",
    "slug",
    "title",
    "category",
    "price_cents",
    "currency",
    "city",
    "state",
    "published_at",
    *PROVIDER_REF_VALUES,
)
TRANSACTION_VALUES = (
    "id",
    "status",
    "client_id",
    "listing_id",
    "description",
    "amount_cents",
    "refunded_cents",
    "currency",
    "invoice_type",
    "invoice_id",
    "paid_at",
    "created_at",
    *PROVIDER_REF_VALUES,
)
MESSAGE_VALUES = ("id", "thread_id", "sender_id", "body", "read_at", "created_at")


def _provider_ref(row: dict) -> dict:
    return {
        "id": row["provider_id"],
        "business_name": row["provider__business_name"],
        "kind": row["provider__kind"],
        "city": row["provider__city"],
        "state": row["provider__state"],
    }


def listing_rows_out(rows) -> list[dict]:
    _datetime = datetime_renderer()
    return [
        {
            "id": r["id"],
            "slug": r["slug"],
            "title": r["title"],
            "category": r["category"],
            "price_cents": r["price_cents"],
            "currency": r["currency"],
            "city": r["city"],
            "state": r["state"],
            "provider": _provider_ref(r),
            "published_at": _datetime(r["published_at"]),
        }
        for r in rows
    ]


def transaction_rows_out(rows) -> list[dict]:
    _datetime = datetime_renderer()
    return [
        {
            "id": r["id"],
            "status": r["status"],
            "provider": _provider_ref(r),
            "client_id": r["client_id"],
            "listing_id": r["listing_id"],
            "description": r["description"],
            "amount_cents": r["amount_cents"],
            "refunded_cents": r["refunded_cents"],
            "currency": r["currency"],
            "invoice_type": r["invoice_type"],
            "invoice_id": r["invoice_id"],
            "paid_at": _datetime(r["paid_at"]),
            "created_at": _datetime(r["created_at"]),
        }
        for r in rows
    ]


def message_rows_out(rows) -> list[dict]:
    _datetime = datetime_renderer()
    return [
        {
            "id": r["id"],
            "thread_id": r["thread_id"],
            "sender_id": r["sender_id"],
            "body": r["body"],
            "read_at": _datetime(r["read_at"]),
            "created_at": _datetime(r["created_at"]),
        }
        for r in rows
    ]
