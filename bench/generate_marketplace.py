"""The marketplace side of the bench data (bench/generate.py): marketplace users, providers,
listings and transactions, and the providers' counters. Everything after the users runs on one
connection holding the generator's lookup tables (bench_texts, bench_tenants, bench_users,
bench_providers: temporary tables, numbered rows the INSERT ... SELECT statements join on)."""

from __future__ import annotations

from bench.generate_sql import chunks, insert_select, pick
from bench.generate_text import CATEGORIES, text
from breederhq.databases import MARKETPLACE_DB

CITIES = [("Austin", "TX"), ("Denver", "CO"), ("Portland", "OR"), ("Boston", "MA"), ("Miami", "FL")]
MP = MARKETPLACE_DB

#: The providers' counters as `provider_stats_check` recomputes them (active listings, transactions
#: not cancelled, revenue of those that reached paid), for the providers in {providers} (a table of ids).
COUNTERS_SQL = (
    "UPDATE marketplace_providers p SET total_listings = coalesce(l.n, 0), total_transactions = coalesce(t.n, 0),"
    " total_revenue_cents = coalesce(t.revenue, 0) FROM {providers} b"
    " LEFT JOIN (SELECT provider_id, count(*) AS n FROM service_listings WHERE status = 'active'"
    " GROUP BY provider_id) l ON l.provider_id = b.id"
    " LEFT JOIN (SELECT provider_id, count(*) FILTER (WHERE status <> 'cancelled') AS n,"
    " sum(amount_cents - refunded_cents) FILTER (WHERE status IN ('paid', 'disputed', 'refunded')) AS revenue"
    " FROM marketplace_transactions GROUP BY provider_id) t ON t.provider_id = b.id"
    " WHERE p.id = b.id"
)


def generate_users(p: dict) -> list[int]:
    """Marketplace users (first: the tenant side links contacts to them): the first `providers` are
    the providers' logins, the rest buyers. Returns the buyers' ids."""
    from django.db import connections, transaction

    from marketplace_app.models import MarketplaceUser

    with transaction.atomic(using=MP), connections[MP].cursor() as cursor:
        insert_select(
            cursor,
            MarketplaceUser,
            source="generate_series(0, %(n)s - 1) g",
            params={"n": p["providers"] * 3, "providers": p["providers"]},
            values={
                "email": "'bench-user-' || g || '@bench.test'",
                "display_name": "'Bench User ' || g",
                "kind": "CASE WHEN g < %(providers)s THEN 'service_provider' ELSE 'buyer' END",
            },
        )
        cursor.execute(
            "SELECT array_agg(id ORDER BY id) FROM marketplace_users"
            " WHERE kind = 'buyer' AND email LIKE 'bench-user-%%@bench.test'"
        )
        return cursor.fetchone()[0]


def load_lookups(cursor, tenant_ids: list[int], invoice_ids: dict[int, list[int]]) -> None:
    """bench_tenants (n, tenant_id, invoice_ids) and bench_users (n, id) on this connection."""
    from django.db import transaction

    cursor.execute("CREATE TEMPORARY TABLE bench_tenants (n int PRIMARY KEY, tenant_id bigint, invoice_ids bigint[])")
    with cursor.cursor.copy("COPY bench_tenants (n, tenant_id, invoice_ids) FROM STDIN") as copy:
        for n, tenant_id in enumerate(tenant_ids):
            copy.write_row((n, tenant_id, invoice_ids[tenant_id]))
    with transaction.atomic(using=MP):
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_users AS SELECT (row_number() OVER (ORDER BY id))::int - 1 AS n, id"
            " FROM marketplace_users WHERE email LIKE 'bench-user-%%@bench.test'"
        )
        cursor.execute("ALTER TABLE bench_users ADD PRIMARY KEY (n)")


def generate_providers(cursor, p: dict, tenants: int) -> None:
    """One provider per provider login, every other one a breeder of a bench tenant; the lookup
    table bench_providers (n, id, user_id, tenant_id, city, state)."""
    from django.db import transaction

    from marketplace_app.models import Provider

    with transaction.atomic(using=MP):
        cities = "(ARRAY[" + ", ".join(f"'{c}'" for c, _ in CITIES) + "])"
        states = "(ARRAY[" + ", ".join(f"'{s}'" for _, s in CITIES) + "])"
        insert_select(
            cursor,
            Provider,
            source="bench_users u LEFT JOIN bench_tenants t ON t.n = mod(u.n, %(tenants)s) WHERE u.n < %(providers)s",
            params={"providers": p["providers"], "tenants": tenants},
            values={
                "user_id": "u.id",
                "kind": "CASE WHEN u.n %% 2 = 0 THEN 'breeder' ELSE 'service_provider' END",
                "tenant_id": "CASE WHEN u.n %% 2 = 0 THEN t.tenant_id END",
                "business_name": "'Bench Provider ' || u.n",
                "city": f"{cities}[1 + u.n %% 5]",
                "state": f"{states}[1 + u.n %% 5]",
            },
        )
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_providers AS SELECT u.n, p.id, p.user_id, p.tenant_id, p.city, p.state"
            " FROM marketplace_providers p JOIN bench_users u ON u.id = p.user_id WHERE u.n < %s",
            [p["providers"]],
        )
        cursor.execute("ALTER TABLE bench_providers ADD PRIMARY KEY (n)")
        cursor.execute("ANALYZE bench_users; ANALYZE bench_providers; ANALYZE bench_tenants")


def generate_listings(cursor, p: dict, now) -> int:
    """`listings` per provider, a fifth of them paused; returns how many."""
    from django.db import transaction

    from marketplace_app.models import ServiceListing

    categories = "(ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "])"
    kind = f"(1 + {pick('b.n * 100 + j + 17', len(CATEGORIES))})"  # the listing's category, 1-based
    with transaction.atomic(using=MP):
        return insert_select(
            cursor,
            ServiceListing,
            source="bench_providers b CROSS JOIN generate_series(0, %(per)s - 1) j",
            params={"per": p["listings"], "now": now},
            values={
                "provider_id": "b.id",
                "slug": "'bench-' || b.id || '-' || j",
                "title": text(4, "b.n * 100 + j", kind),
                "description": text(30, "b.n * 100 + j", kind),
                "status": "CASE WHEN j %% 5 = 0 THEN 'paused' ELSE 'active' END",
                "category": f"{categories}[{kind}]",
                "state": "b.state",
                "city": "b.city",
                "price_cents": f"1000 + {pick('b.n * 100 + j + 23', 99000)}",
                "category_metadata": "jsonb_build_object('mobile', j %% 2 = 1, 'sizes',"
                ' CASE WHEN j %% 2 = 1 THEN \'["small", "large"]\'::jsonb'
                " ELSE '[\"small\"]'::jsonb END)",
                # Published over the last month, scored as listing_score.SCORE_SQL scores a
                # listing without images (the search's stored order).
                "published_at": "%(now)s::timestamptz - ((b.n * 100 + j) %% 43200) * interval '1 minute'",
                "search_score": "floor(extract(epoch FROM %(now)s::timestamptz))::bigint"
                " - ((b.n * 100 + j) %% 43200) * 60",
            },
        )


def generate_transactions(cursor, p: dict, now, log, elapsed) -> None:
    """Provider 0 (the bench provider login) sells a quarter of everything - a long history for
    the deep cursor page; the rest spread evenly, one a minute back from now. A breeder's are billed
    by an invoice of its tenant."""
    from django.db import transaction

    from marketplace_app.models import MarketplaceTransaction

    buyers = p["providers"] * 2
    for start, stop in chunks(p["transactions"]):
        with transaction.atomic(using=MP):
            insert_select(
                cursor,
                MarketplaceTransaction,
                source="generate_series(%(start)s, %(stop)s - 1) g"
                " JOIN bench_providers b ON b.n = CASE WHEN g %% 4 = 0 THEN 0 ELSE g %% %(providers)s END"
                " JOIN bench_users u ON u.n = %(providers)s + g %% %(buyers)s"
                " LEFT JOIN bench_tenants t ON t.tenant_id = b.tenant_id",
                params={"start": start, "stop": stop, "providers": p["providers"], "buyers": buyers, "now": now},
                values={
                    "provider_id": "b.id",
                    "client_id": "u.id",
                    "amount_cents": f"1000 + {pick('g + 101', 199000)}",
                    "status": "CASE WHEN cardinality(t.invoice_ids) > 0 THEN 'invoiced' ELSE 'pending_invoice' END",
                    "invoice_type": "CASE WHEN cardinality(t.invoice_ids) > 0 THEN 'tenant' END",
                    "invoice_id": f"t.invoice_ids[1 + {pick('g', 'greatest(cardinality(t.invoice_ids), 1)')}]",
                    "created_at": "%(now)s - make_interval(mins => g::int)",
                },
            )
        log(f"transactions: {stop} of {p['transactions']} ({elapsed()})")


def record_references_and_counters(cursor) -> int:
    """The cross-database registry and the providers' counters, set-wise; returns the registry rows.
    Aggregates joined by hash, not correlated per provider: the fresh tables have no statistics yet,
    and a per-provider subquery was planned as a scan of the whole active-listing index each time."""
    from django.db import transaction

    from breederhq.crossdb import record_table_references
    from breederhq.tenancy import system_read_context
    from marketplace_app.models import MarketplaceTransaction, Provider
    from tenant_app.models import Contact

    registered = record_table_references(Provider) + record_table_references(MarketplaceTransaction)
    with system_read_context(job="bench:generate"):  # contacts are read across tenants
        registered += record_table_references(Contact)
    with transaction.atomic(using=MP):
        cursor.execute(COUNTERS_SQL.format(providers="bench_providers"))
    return registered
