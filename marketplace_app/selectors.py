"""Reads on the marketplace database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connections
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, Sum, Value
from django.db.models.functions import Coalesce

from breederhq.databases import MARKETPLACE_DB
from breederhq.errors import NotFound, ValidationFailed
from breederhq.read_replica import marketplace_read_alias
from breederhq.statement_timeout import statement_time_limit

# The listing search lives in its own module; these names are part of the selectors' interface.
from marketplace_app.listing_search import (  # noqa: F401
    LISTING_PAGE_COLUMNS,
    SEARCH_ORDERS,
    ListingSearch,
    listing_search,
    search_timed_out,
)
from marketplace_app.models import (
    MarketplaceInvoice,
    MarketplaceTransaction,
    Message,
    MessageThread,
    Provider,
    ServiceListing,
    UserBlock,
)
from marketplace_app.partitions import add_months, month_start
from marketplace_app.provider_suspension import not_suspended

if TYPE_CHECKING:
    from breederhq.api.keyset import Position

DB = MARKETPLACE_DB


def listing_get_public(*, slug: str) -> ServiceListing:
    listing = (
        ServiceListing.objects.using(marketplace_read_alias())  # the replica in a public view
        .filter(
            not_suspended("provider_id"),
            slug=slug,
            status=ServiceListing.Status.ACTIVE,
            provider__deleted_at__isnull=True,
        )
        .select_related("provider")
        .prefetch_related("images")
        .first()
    )
    if listing is None:
        raise NotFound(f"Listing '{slug}' does not exist")
    return listing


PROVIDER_ORDERS = ("relevance", "newest", "name", "popular")


def provider_list_public():
    """Providers the public may see: not soft-deleted, not suspended by staff, and their marketplace
    person not erased. In a public view, on the replica when one serves it (breederhq/read_replica.py)."""
    return Provider.objects.using(marketplace_read_alias()).filter(not_suspended(), user__deleted_at__isnull=True)


def provider_offering(providers, *, category: str):
    """Providers with at least one active listing in `category` (a semi-join: no duplicate rows)."""
    return providers.filter(
        Exists(
            ServiceListing.objects.using(providers.db).filter(
                provider_id=OuterRef("pk"), status=ServiceListing.Status.ACTIVE, category=category
            )
        )
    )


def provider_search(providers, *, query: str | None = None, order: str = "relevance"):
    """Full text over business name (weighted first) and description, websearch syntax, on the
    stored `search_vector` (GIN index); ordered by relevance when there is a query, otherwise
    newest first, or by name, or by sales (`popular`)."""
    if order not in PROVIDER_ORDERS:
        raise ValidationFailed("Unknown order.", field_errors={"order": [f"One of {', '.join(PROVIDER_ORDERS)}."]})
    if query and query.strip():
        search = SearchQuery(query.strip(), config="english", search_type="websearch")
        providers = providers.filter(search_vector=search)
        if order == "relevance":
            return providers.annotate(rank=SearchRank(F("search_vector"), search)).order_by(
                "-rank", "-created_at", "-id"
            )
    if order == "name":
        return providers.order_by("business_name", "id")
    if order == "popular":
        return providers.order_by("-total_transactions", "-id")
    return providers.order_by("-created_at", "-id")


def provider_search_time_limit():
    """A block whose reads (the provider search's count and page) PostgreSQL stops after
    PROVIDER_SEARCH_STATEMENT_TIMEOUT_MS: then `TimedOut` (503 `search_timeout`), as the listing
    search's. A many-term websearch query over every provider's text is otherwise unbounded."""
    timeout_ms = settings.PROVIDER_SEARCH_STATEMENT_TIMEOUT_MS
    return statement_time_limit(marketplace_read_alias(), timeout_ms, on_timeout=lambda: search_timed_out(timeout_ms))


def provider_get_public(*, provider_id: int) -> Provider:
    """A live provider with its active listings (newest first) as `active_listings`."""
    active = (
        ServiceListing.objects.using(marketplace_read_alias())
        .filter(status=ServiceListing.Status.ACTIVE)
        .order_by("-published_at", "-id")
    )
    provider = (
        provider_list_public()
        .filter(pk=provider_id)
        .prefetch_related(Prefetch("listings", queryset=active, to_attr="active_listings"))
        .first()
    )
    if provider is None:
        raise NotFound(f"Provider #{provider_id} does not exist")
    return provider


def marketplace_invoice_list_for_provider(*, provider_id: int, status: str | None = None):
    invoices = MarketplaceInvoice.objects.using(DB).filter(provider_id=provider_id)
    return invoices.filter(status=status) if status else invoices


def marketplace_invoice_list_for_client(*, client_id: int, status: str | None = None):
    invoices = MarketplaceInvoice.objects.using(DB).filter(client_id=client_id)
    return invoices.filter(status=status) if status else invoices


def marketplace_invoice_get_for_user(*, invoice_id: int, user_id: int) -> MarketplaceInvoice:
    """The invoice if `user_id` is its buyer or its provider's user; otherwise it does not exist."""
    invoice = (
        MarketplaceInvoice.objects.using(DB)
        .filter(pk=invoice_id)
        .filter(Q(client_id=user_id) | Q(provider__user_id=user_id))
        .select_related("provider")
        .prefetch_related("line_items")
        .first()
    )
    if invoice is None:
        raise NotFound(f"MarketplaceInvoice #{invoice_id} does not exist")
    return invoice


def is_blocked(*, provider_id: int, user_id: int) -> bool:
    return UserBlock.objects.using(DB).filter(provider_id=provider_id, blocked_user_id=user_id).exists()


# --- Provider statistics ---------------------------------------------------------------------------


def _actual_stats_queryset():
    """Every provider (deleted ones too) annotated with its counters as recomputed from the rows.

    Subquery-free but per-aggregate filtered joins would multiply rows, so each count is a separate
    correlated aggregate."""
    from django.db.models import OuterRef, Subquery

    def aggregate(queryset, expression):
        return Coalesce(
            Subquery(
                queryset.filter(provider_id=OuterRef("pk"))
                .order_by()
                .values("provider_id")
                .annotate(value=expression)
                .values("value")
            ),
            Value(0),
        )

    listings = ServiceListing.objects.using(DB).filter(status=ServiceListing.Status.ACTIVE)
    transactions = MarketplaceTransaction.objects.using(DB)
    return Provider.all_objects.using(DB).annotate(
        actual_listings=aggregate(listings, Count("id")),
        actual_transactions=aggregate(transactions.exclude(status="cancelled"), Count("id")),
        actual_revenue=aggregate(
            transactions.filter(status__in=["paid", "disputed", "refunded"]),
            Sum(F("amount_cents") - F("refunded_cents")),
        ),
    )


def provider_stats_recompute(*, provider_id: int) -> dict[str, int]:
    row = (
        _actual_stats_queryset()
        .filter(pk=provider_id)
        .values("actual_listings", "actual_transactions", "actual_revenue")
        .first()
    )
    if row is None:
        raise NotFound(f"Provider #{provider_id} does not exist")
    return {
        "total_listings": row["actual_listings"],
        "total_transactions": row["actual_transactions"],
        "total_revenue_cents": row["actual_revenue"],
    }


def provider_stats_drift() -> list[dict]:
    """Providers whose stored counters differ from the recomputation, one query for all."""
    rows = (
        _actual_stats_queryset()
        .filter(
            ~Q(total_listings=F("actual_listings"))
            | ~Q(total_transactions=F("actual_transactions"))
            | ~Q(total_revenue_cents=F("actual_revenue"))
        )
        .order_by("pk")
        .values(
            "pk",
            "business_name",
            "total_listings",
            "actual_listings",
            "total_transactions",
            "actual_transactions",
            "total_revenue_cents",
            "actual_revenue",
        )
    )
    return [
        {
            "provider_id": row["pk"],
            "business_name": row["business_name"],
            "fields": {
                name: (row[stored], row[actual])
                for name, stored, actual in (
                    ("total_listings", "total_listings", "actual_listings"),
                    ("total_transactions", "total_transactions", "actual_transactions"),
                    ("total_revenue_cents", "total_revenue_cents", "actual_revenue"),
                )
                if row[stored] != row[actual]
            },
        }
        for row in rows
    ]


# --- Transactions ----------------------------------------------------------------------------------


def transaction_list_for_provider(*, provider_id: int, status: str | None = None):
    """Served by mkt_tx_provider_created (provider, created_at DESC, id DESC), or with a status by
    mkt_tx_provider_status_created."""
    transactions = MarketplaceTransaction.objects.using(DB).filter(provider_id=provider_id)
    if status:
        transactions = transactions.filter(status=status)
    return transactions.order_by("-created_at", "-id")


def listing_provider_id(*, listing_id: int) -> int | None:
    """The provider selling a listing (whatever its status: the purchase service decides whether it
    is on sale), or None when there is no such listing."""
    return ServiceListing.objects.using(DB).filter(pk=listing_id).values_list("provider_id", flat=True).first()


def transaction_list_for_client(*, client_id: int, status: str | None = None):
    transactions = MarketplaceTransaction.objects.using(DB).filter(client_id=client_id)
    if status:
        transactions = transactions.filter(status=status)
    return transactions.order_by("-created_at", "-id")


#: The columns of a transaction page row, as `.values()` would name them (the API renders these).
TRANSACTION_PAGE_COLUMNS = (
    ("t.id", "id"),
    ("t.status", "status"),
    ("t.client_id", "client_id"),
    ("t.listing_id", "listing_id"),
    ("t.description", "description"),
    ("t.amount_cents", "amount_cents"),
    ("t.refunded_cents", "refunded_cents"),
    ("t.currency", "currency"),
    ("t.invoice_type", "invoice_type"),
    ("t.invoice_id", "invoice_id"),
    ("t.paid_at", "paid_at"),
    ("t.created_at", "created_at"),
    ("t.provider_id", "provider_id"),
    ("p.business_name", "provider__business_name"),
    ("p.kind", "provider__kind"),
    ("p.city", "provider__city"),
    ("p.state", "provider__state"),
)
_TRANSACTION_PAGE_SELECT = (
    "SELECT "
    + ", ".join(column for column, _ in TRANSACTION_PAGE_COLUMNS)
    + " FROM marketplace_transactions t JOIN marketplace_providers p ON p.id = t.provider_id"
)
_TRANSACTION_PAGE_KEYS = tuple(key for _, key in TRANSACTION_PAGE_COLUMNS)


def transaction_page(
    *,
    provider_id: int | None = None,
    client_id: int | None = None,
    status: str | None = None,
    position: Position | None = None,
    limit: int = 25,
) -> list[dict]:
    """One keyset page of a provider's sales or a client's purchases (exactly one of the two ids),
    newest first; rows are dicts of `TRANSACTION_PAGE_COLUMNS`' keys.

    `position` (None: the newest page): the rows after it (older), or with `position.newer` the
    rows before it, oldest first (the caller reverses them). One statement, written out rather than
    built by the ORM: this is the hottest authenticated list, and compiling its query cost more CPU
    than the rest of the request (measured with bench/). Served by mkt_tx_provider_created /
    mkt_tx_client_created (owner, created_at DESC, id DESC) with no Sort node, whatever the depth;
    with a status by the *_status_created indexes."""
    if (provider_id is None) == (client_id is None):
        raise ValueError("transaction_page needs exactly one of provider_id and client_id")
    owner_column, owner_id = ("t.provider_id", provider_id) if provider_id is not None else ("t.client_id", client_id)
    sql, params = [f"{_TRANSACTION_PAGE_SELECT} WHERE {owner_column} = %s"], [owner_id]
    if status:
        sql.append("AND t.status = %s")
        params.append(status)
    direction = "DESC"
    if position is not None:
        sql.append("AND (t.created_at, t.id) " + (">" if position.newer else "<") + " (%s, %s)")
        params += [position.created_at, position.id]
        direction = "ASC" if position.newer else "DESC"
    sql.append(f"ORDER BY t.created_at {direction}, t.id {direction} LIMIT %s")
    params.append(limit)
    with connections[DB].cursor() as cursor:
        cursor.execute(" ".join(sql), params)
        return [dict(zip(_TRANSACTION_PAGE_KEYS, row, strict=True)) for row in cursor.fetchall()]


# --- Messaging -------------------------------------------------------------------------------------


def _participant_filter(user_id: int) -> Q:
    return Q(buyer_id=user_id) | Q(provider__user_id=user_id)


def thread_list_for_user(*, user_id: int):
    """Only the threads the user takes part in, most recent first."""
    return (
        MessageThread.objects.using(DB)
        .filter(_participant_filter(user_id))
        .select_related("provider", "buyer")
        .order_by(F("last_message_at").desc(nulls_last=True), "-id")
    )


def thread_get_for_user(*, thread_id: int, user_id: int) -> MessageThread:
    """NotFound, not 403, for a non-participant: the thread's existence is private too."""
    thread = (
        MessageThread.objects.using(DB)
        .filter(_participant_filter(user_id), pk=thread_id)
        .select_related("provider", "buyer")
        .first()
    )
    if thread is None:
        raise NotFound(f"MessageThread #{thread_id} does not exist")
    return thread


def thread_check_participant(*, thread_id: int, user_id: int) -> None:
    """`thread_get_for_user`'s check without loading the thread: NotFound for a non-participant."""
    if not MessageThread.objects.using(DB).filter(_participant_filter(user_id), pk=thread_id).exists():
        raise NotFound(f"MessageThread #{thread_id} does not exist")


@dataclass(frozen=True)
class ThreadSpan:
    """When a thread's messages can be: none is older than the thread (it is opened with its first
    message), and `last_message_at` is the newest one's time (moved under the thread's lock)."""

    created_at: datetime
    last_message_at: datetime | None


def thread_span_for_user(*, thread_id: int, user_id: int) -> ThreadSpan:
    """The participant check (NotFound for anyone else), answering with the thread's span: one
    statement (written out: it runs before every message page, see `message_page`)."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            "SELECT t.created_at, t.last_message_at FROM message_threads t"
            " JOIN marketplace_providers p ON p.id = t.provider_id"
            " WHERE t.id = %s AND (t.buyer_id = %s OR p.user_id = %s)",
            [thread_id, user_id, user_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"MessageThread #{thread_id} does not exist")
    return ThreadSpan(*row)


# A message page is read newest first in windows of `created_at` bounded on both sides and aligned
# with the monthly partitions, so that PostgreSQL opens exactly the partitions a window covers
# (partition pruning) instead of an index scan on every one. The first window is the month of the
# cursor (or of the thread's last message); a page still short reads the next window below it: the
# two months before, then the nine before those, then everything down to the thread's creation. A
# busy thread's page is one query on one partition (two when it crosses a month's start); a quiet
# thread's at most four.
MESSAGE_PAGE_WINDOWS_MONTHS = (0, 2, 11)


def _month_start_utc(moment: datetime, months_back: int) -> datetime:
    first = add_months(month_start(moment.astimezone(UTC)), -months_back)
    return datetime(first.year, first.month, 1, tzinfo=UTC)


#: Message fields a page can return as dict rows (`message_page(values=...)`): name -> column.
_MESSAGE_COLUMNS = {f.attname: f.column for f in Message._meta.concrete_fields}


def message_page(
    *,
    thread_id: int,
    span: ThreadSpan,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
    values: tuple[str, ...] | None = None,
) -> list:
    """Up to `limit` messages newest first, keyset-paginated by (created_at, id): those strictly
    before the cursor `before`. Unchecked (callers check participation, `thread_span_for_user`).
    Rows are `Message`s, or dicts of `values` (field names, e.g. "thread_id").

    Each window is one statement written out rather than built by the ORM: the message page is one
    of the hottest reads, and compiling its query cost more CPU than PostgreSQL spends on it."""
    names = tuple(values) if values is not None else tuple(_MESSAGE_COLUMNS)
    unknown = [name for name in names if name not in _MESSAGE_COLUMNS]
    if unknown:
        raise ValueError(f"message_page returns message fields only, not {unknown}")
    select = "SELECT " + ", ".join(_MESSAGE_COLUMNS[name] for name in names) + ' FROM "messages"'
    anchor = before[0] if before else (span.last_message_at or span.created_at)
    rows: list = []
    below: datetime | None = None  # the previous window's lower bound (exclusive upper bound here)
    with connections[DB].cursor() as cursor:
        for months_back in (*MESSAGE_PAGE_WINDOWS_MONTHS, None):
            lower = (
                span.created_at if months_back is None else max(span.created_at, _month_start_utc(anchor, months_back))
            )
            sql, params = [f"{select} WHERE thread_id = %s AND created_at >= %s"], [thread_id, lower]
            if below is not None:
                sql.append("AND created_at < %s")
                params.append(below)
            elif before is not None:
                # The plain `created_at <=` beside the keyset test is what prunes the newer partitions.
                created_at, message_id = before
                sql.append("AND created_at <= %s AND (created_at < %s OR (created_at = %s AND id < %s))")
                params += [created_at, created_at, created_at, message_id]
            # No upper bound on the newest page: a message sent since `last_message_at` was read is still in it.
            sql.append("ORDER BY created_at DESC, id DESC LIMIT %s")
            params.append(limit - len(rows))
            cursor.execute(" ".join(sql), params)
            rows += cursor.fetchall()
            if len(rows) >= limit or lower <= span.created_at:
                break
            below = lower
    if values is None:
        return [Message.from_db(DB, names, row) for row in rows]
    return [dict(zip(names, row, strict=True)) for row in rows]


def message_list(
    *, thread_id: int, user_id: int, before: tuple[datetime, int] | None = None, limit: int = 50
) -> list[Message]:
    """Newest first, keyset-paginated by (created_at, id); see `message_page`."""
    span = thread_span_for_user(thread_id=thread_id, user_id=user_id)
    return message_page(thread_id=thread_id, span=span, before=before, limit=max(1, min(limit, 200)))


def message_page_queryset_unbounded(*, thread_id: int):
    """The thread's messages newest first with no `created_at` bound: every partition is scanned.
    Only for comparison (the benchmark's OFFSET page); the product reads pages with `message_page`."""
    return Message.objects.using(DB).filter(thread_id=thread_id).order_by("-created_at", "-id")


def unread_count(*, thread_id: int, user_id: int) -> int:
    return (
        Message.objects.using(DB).filter(thread_id=thread_id, read_at__isnull=True).exclude(sender_id=user_id).count()
    )
