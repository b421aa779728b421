"""Builds the benchmark data set fast: every table is filled by `INSERT ... SELECT` statements that
generate the rows inside PostgreSQL (generate_series, joins on small lookup tables), never row by
row from Python. Tenant rows are written in each tenant's RLS context, as the application role
(row-level security applies to the generator too); the cross-database registry is brought in line
set-wise afterwards (`breederhq.crossdb.record_table_references`), and the providers' counters by
one UPDATE, checked by `provider_stats_drift`.

    python -m bench.generate --scale small   # well under a minute
    python -m bench.generate --scale full    # production-sized (docs/benchmarks.md)
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import timedelta

from breederhq.databases import MARKETPLACE_DB, TENANT_DB

SCALES = {
    # tenants, contacts/tenant, invoices/tenant, providers, listings/provider, transactions, threads,
    # messages in the one deep thread, messages per other thread, months of history
    "small": dict(
        tenants=200,
        contacts=20,
        invoices=40,
        providers=400,
        listings=25,
        transactions=60_000,
        threads=2_000,
        deep_thread=120_000,
        messages=10,
        months=36,
    ),
    "full": dict(
        tenants=50_000,
        contacts=20,
        invoices=40,
        providers=40_000,
        listings=25,
        transactions=5_000_000,
        threads=500_000,
        deep_thread=200_000,
        messages=20,
        months=36,
    ),
}
CATEGORIES = ["grooming", "training", "veterinary", "transport", "boarding"]
CITIES = [("Austin", "TX"), ("Denver", "CO"), ("Portland", "OR"), ("Boston", "MA"), ("Miami", "FL")]
#: Listing text is drawn from its category's own words and a shared vocabulary in which a few
#: words are common and most are rare (Zipf-like weights by rank), as in real listings: a two-word
#: query matches a few percent of them, not most (with one small vocabulary for everything, every
#: listing contained "puppy" three times in four).
CATEGORY_WORDS = {
    "grooming": "grooming groomer bath nails haircut trim brushing deshedding shampoo coat styling spa",
    "training": "training trainer obedience agility leash recall socialization behavior class manners crate tricks",
    "veterinary": "vet veterinary checkup vaccines vaccination clinic dental exam microchip wellness surgery health",
    "transport": "transport delivery travel flight nanny pickup crate ground airport relocation shipping courier",
    "boarding": "boarding kennel daycare overnight sitting stay suite playtime walks housing vacation care",
}
COMMON_WORDS = (
    "dog cat pet home family puppy friendly experienced kitten small large service local certified licensed "
    "gentle safe happy quality professional senior young breed poodle retriever shepherd bulldog terrier "
    "siamese persian ragdoll maine coon beagle husky corgi labrador spaniel schnauzer dachshund boxer collie "
    "weekend daily weekly appointment available insured clean calm patient loving caring trusted affordable "
    "premium mobile indoor outdoor yard fenced heated cooled organic natural hypoallergenic"
).split()
_COMMON_WEIGHTS = [1 / (rank + 1) for rank in range(len(COMMON_WORDS))]
#: Distinct texts of each length the rows draw from (by a hash of their number): generating every
#: text in Python would be most of the run at full scale.
TEXTS = 20_000
#: Rows per INSERT ... SELECT for the big tables (progress, and bounded transactions).
CHUNK = 500_000
#: Tenants per transaction on the tenant side (two statements each, in the tenant's RLS context).
TENANTS_PER_COMMIT = 500
#: The bench owner's tenant ("bench-7", `ensure_logins`) is a larger kennel, so its contact list has
#: pages of 100 (the cross-database list scenario reads pages of 20 and 100).
BENCH_TENANT_SLUG, BENCH_TENANT_CONTACTS = "bench-7", 250


def _text(rng: random.Random, n: int, category: str | None = None) -> str:
    """n words: with a category, four in ten from its own words, the rest from the shared ones."""
    own = CATEGORY_WORDS[category].split() if category else []
    return " ".join(
        rng.choice(own) if own and rng.random() < 0.4 else rng.choices(COMMON_WORDS, _COMMON_WEIGHTS)[0]
        for _ in range(n)
    )


def _pick(expression: str, modulus: int | str) -> str:
    """A deterministic, well spread index in [0, modulus) from an integer SQL expression."""
    return f"(mod(hashint8(({expression})::bigint)::bigint + 2147483648, {modulus}))"


def insert_select(cursor, model, *, values: dict[str, str], source: str, params: dict | None = None) -> int:
    """`INSERT INTO <model's table> (...) SELECT ... FROM <source>`: the columns named in `values`
    take those SQL expressions; every other column takes what the ORM would write for a new
    instance (its default, auto_now, blank string), adapted by the field itself, so the statement
    keeps up with the model. The id and database-default columns are left to PostgreSQL."""
    from django.db import connections

    connection = connections[cursor.db.alias]
    template = model()
    columns, expressions, literals = [], [], {}
    for field in model._meta.concrete_fields:
        if field.column in values:
            columns.append(field.column)
            expressions.append(values[field.column])
        elif field.generated or field is model._meta.auto_field or field.has_db_default():
            continue
        else:
            name = f"_{field.column}"
            columns.append(field.column)
            expressions.append(f"%({name})s")
            literals[name] = field.get_db_prep_save(field.pre_save(template, True), connection)
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
    cursor.execute(
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) SELECT {", ".join(expressions)} FROM {source}',
        {**literals, **(params or {})},
    )
    return cursor.rowcount


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


def _chunks(total: int, size: int = CHUNK):
    for start in range(0, total, size):
        yield start, min(start + size, total)


def generate(scale: str, *, seed: int = 7, log=print) -> dict:
    import django

    django.setup()
    from django.db import connections, transaction
    from django.utils import timezone

    from breederhq.db_timeouts import MAINTENANCE, use_session_limits

    use_session_limits(MAINTENANCE)  # bulk loads of millions of rows: not cut off by the web limits

    from breederhq.crossdb import record_table_references
    from breederhq.tenancy import TENANT_SETTING, system_read_context
    from marketplace_app.models import (
        MarketplaceTransaction,
        MarketplaceUser,
        Message,
        MessageThread,
        Provider,
        ServiceListing,
    )
    from marketplace_app.partitions import add_months, ensure_message_partitions, month_start
    from tenant_app.models import Contact, Invoice, Tenant

    p = SCALES[scale]
    rng = random.Random(seed)
    started = time.monotonic()
    now = timezone.now()
    if Tenant.objects.filter(slug="bench-0").exists():
        log("data already generated; delete the bench databases to regenerate")
        return {"skipped": True}

    def elapsed() -> str:
        return f"{time.monotonic() - started:.0f} s"

    # Kind 0: general text (thread subjects, messages); kind i: listing text of CATEGORIES[i - 1].
    texts = {(0, n): [_text(rng, n) for _ in range(TEXTS)] for n in (3, 12)}
    texts |= {
        (kind, n): [_text(rng, n, category) for _ in range(TEXTS)]
        for kind, category in enumerate(CATEGORIES, start=1)
        for n in (4, 30)
    }

    def load_texts(cursor) -> None:
        """A temporary lookup table bench_texts(kind, words, n, body) on this connection."""
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_texts (kind int, words int, n int, body text, PRIMARY KEY (kind, words, n))"
        )
        with cursor.cursor.copy("COPY bench_texts (kind, words, n, body) FROM STDIN") as copy:
            for (kind, words), bodies in texts.items():
                for n, body in enumerate(bodies):
                    copy.write_row((kind, words, n, body))
        cursor.execute("ANALYZE bench_texts")

    def text(words: int, row: str, kind: str = "0") -> str:
        return (
            f"(SELECT body FROM bench_texts WHERE kind = {kind} AND words = {words}"
            f" AND n = {_pick(f'{row} * 31 + {words}', TEXTS)})"
        )

    # --- Marketplace users first (the tenant side links contacts to them): the first `providers` are
    # the providers' logins, the rest buyers.
    with transaction.atomic(using=MARKETPLACE_DB), connections[MARKETPLACE_DB].cursor() as cursor:
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
        buyer_ids = cursor.fetchone()[0]

    # --- Tenant side: tenants (global table); each tenant's contacts and invoices in its context.
    # Every other contact is linked to a marketplace buyer (`marketplace_user_id`, a cross-database
    # reference; which buyer is arbitrary, not tied to the generated transactions): the contact list
    # shows that person's marketplace name. A buyer is one contact per tenant (a unique constraint).
    if (max(BENCH_TENANT_CONTACTS, p["contacts"]) + 1) // 2 > len(buyer_ids):
        raise SystemExit("too few marketplace buyers for a tenant's linked contacts to be distinct")
    with transaction.atomic(using=TENANT_DB), connections[TENANT_DB].cursor() as cursor:
        insert_select(
            cursor,
            Tenant,
            source="generate_series(0, %(n)s - 1) g",
            params={"n": p["tenants"]},
            values={"name": "'Bench Kennel ' || g", "slug": "'bench-' || g"},
        )
        cursor.execute("SELECT id, slug FROM tenants WHERE slug LIKE 'bench-%%' ORDER BY id")
        tenants = cursor.fetchall()
        tenant_ids = [tenant_id for tenant_id, _ in tenants]
        bench_tenant_id = next(tenant_id for tenant_id, slug in tenants if slug == BENCH_TENANT_SLUG)
    invoice_ids: dict[int, list[int]] = {}
    for first in range(0, len(tenant_ids), TENANTS_PER_COMMIT):
        with transaction.atomic(using=TENANT_DB), connections[TENANT_DB].cursor() as cursor:
            for index, tenant_id in enumerate(tenant_ids[first : first + TENANTS_PER_COMMIT], start=first):
                cursor.execute("SELECT set_config(%s, %s, true)", [TENANT_SETTING, str(tenant_id)])
                contacts = BENCH_TENANT_CONTACTS if tenant_id == bench_tenant_id else p["contacts"]
                # Distinct buyers within the tenant (a buyer is one contact per tenant).
                linked = [buyer_ids[(index * 10 + k) % len(buyer_ids)] for k in range((contacts + 1) // 2)]
                insert_select(
                    cursor,
                    Contact,
                    source="generate_series(0, %(n)s - 1) g",
                    params={"n": contacts, "tenant": tenant_id, "linked": linked},
                    values={
                        "tenant_id": "%(tenant)s",
                        "first_name": "'Pat'",
                        "last_name": "'Buyer' || g",
                        "email": "'b' || g || '@t' || %(tenant)s || '.test'",
                        "marketplace_user_id": "CASE WHEN g %% 2 = 0 THEN (%(linked)s::bigint[])[1 + g / 2] END",
                    },
                )
                insert_select(
                    cursor,
                    Invoice,
                    source="generate_series(0, %(n)s - 1) g, (SELECT array_agg(id ORDER BY id) AS ids, count(*) AS k"
                    " FROM contacts WHERE tenant_id = %(tenant)s) c",
                    params={"n": p["invoices"], "tenant": tenant_id, "now": now},
                    values={
                        "tenant_id": "%(tenant)s",
                        "contact_id": f"c.ids[1 + {_pick('g + %(tenant)s * 64', 'c.k')}]",
                        "invoice_number": "'INV-' || lpad(g::text, 6, '0')",
                        "subtotal_cents": f"5000 + {_pick('g * 7 + %(tenant)s', 495000)}",
                        "total_cents": f"5000 + {_pick('g * 7 + %(tenant)s', 495000)}",
                        "status": "'draft'",
                        "payment_mode_snapshot": "'manual'",
                        "payment_mode_locked_at": "%(now)s",
                        "is_marketplace_invoice": "TRUE",
                    },
                )
                cursor.execute("SELECT array_agg(id ORDER BY id) FROM invoices WHERE tenant_id = %s", [tenant_id])
                invoice_ids[tenant_id] = cursor.fetchone()[0] or []
        log(
            f"tenant side: {min(first + TENANTS_PER_COMMIT, len(tenant_ids))} of {len(tenant_ids)} tenants ({elapsed()})"
        )

    # --- Marketplace side, on one connection with the lookup tables.
    mp = MARKETPLACE_DB
    with connections[mp].cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed / 100])
        load_texts(cursor)
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_tenants (n int PRIMARY KEY, tenant_id bigint, invoice_ids bigint[])"
        )
        with cursor.cursor.copy("COPY bench_tenants (n, tenant_id, invoice_ids) FROM STDIN") as copy:
            for n, tenant_id in enumerate(tenant_ids):
                copy.write_row((n, tenant_id, invoice_ids[tenant_id]))
        del invoice_ids

        with transaction.atomic(using=mp):
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_users AS SELECT (row_number() OVER (ORDER BY id))::int - 1 AS n, id"
                " FROM marketplace_users WHERE email LIKE 'bench-user-%%@bench.test'"
            )
            cursor.execute("ALTER TABLE bench_users ADD PRIMARY KEY (n)")
            cities = "(ARRAY[" + ", ".join(f"'{c}'" for c, _ in CITIES) + "])"
            states = "(ARRAY[" + ", ".join(f"'{s}'" for _, s in CITIES) + "])"
            insert_select(
                cursor,
                Provider,
                source="bench_users u LEFT JOIN bench_tenants t ON t.n = mod(u.n, %(tenants)s) WHERE u.n < %(providers)s",
                params={"providers": p["providers"], "tenants": len(tenant_ids)},
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
        # Listings: `listings` per provider, a fifth of them paused.
        categories = "(ARRAY[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "])"
        kind = f"(1 + {_pick('b.n * 100 + j + 17', len(CATEGORIES))})"  # the listing's category, 1-based
        with transaction.atomic(using=mp):
            listings = insert_select(
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
                    "price_cents": f"1000 + {_pick('b.n * 100 + j + 23', 99000)}",
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
        log(f"marketplace: {p['providers']} providers, {listings} listings ({elapsed()})")

        # Transactions: provider 0 (the bench provider login) sells a quarter of everything - a long
        # history for the deep cursor page; the rest spread evenly. A breeder's are billed by an
        # invoice of its tenant.
        buyers = p["providers"] * 2
        for start, stop in _chunks(p["transactions"]):
            with transaction.atomic(using=mp):
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
                        "amount_cents": f"1000 + {_pick('g + 101', 199000)}",
                        "status": "CASE WHEN cardinality(t.invoice_ids) > 0 THEN 'invoiced' ELSE 'pending_invoice' END",
                        "invoice_type": "CASE WHEN cardinality(t.invoice_ids) > 0 THEN 'tenant' END",
                        "invoice_id": f"t.invoice_ids[1 + {_pick('g', 'greatest(cardinality(t.invoice_ids), 1)')}]",
                        "created_at": "%(now)s - make_interval(mins => g::int)",
                    },
                )
            log(f"transactions: {stop} of {p['transactions']} ({elapsed()})")

        # Threads and messages over `months` monthly partitions; thread 0 is the deep one (its
        # messages evenly spread over the whole span, alternating buyer and provider). A thread is
        # opened with its first message (created_at) and last_message_at is its newest one's, as
        # the services keep them (the message pages rely on it).
        first_month = add_months(month_start(now), -p["months"])
        ensure_message_partitions(months_ahead=p["months"] + 2, now=first_month, alias=mp)
        span_start = now - timedelta(days=30 * p["months"])
        span_seconds = int((now - span_start).total_seconds())
        with transaction.atomic(using=mp):
            insert_select(
                cursor,
                MessageThread,
                source="(SELECT g, least(a, b) AS opened, greatest(a, b) AS last FROM generate_series(0, %(n)s - 1) g,"
                f" LATERAL (SELECT {_pick('g * 2 + 1', '%(seconds)s')} AS a, {_pick('g * 2 + 2', '%(seconds)s')} AS b"
                " OFFSET 0) r) s"
                " JOIN bench_providers b ON b.n = s.g %% %(providers)s"
                " JOIN bench_users u ON u.n = %(providers)s + s.g %% %(buyers)s",
                params={
                    "n": p["threads"],
                    "seconds": span_seconds,
                    "providers": p["providers"],
                    "buyers": buyers,
                    "start": span_start,
                    "now": now,
                },
                values={
                    "provider_id": "b.id",
                    "buyer_id": "u.id",
                    "subject": text(3, "s.g"),
                    "created_at": "CASE WHEN s.g = 0 THEN %(start)s ELSE %(start)s + make_interval(secs => s.opened) END",
                    "last_message_at": "CASE WHEN s.g = 0 THEN %(now)s - interval '1 second'"
                    " ELSE %(start)s + make_interval(secs => s.last) END",
                },
            )
            cursor.execute(
                "CREATE TEMPORARY TABLE bench_threads AS SELECT (row_number() OVER (ORDER BY t.id))::int - 1 AS n,"
                " t.id, t.buyer_id, t.created_at, t.last_message_at, b.user_id AS provider_user_id"
                " FROM message_threads t JOIN bench_providers b ON b.id = t.provider_id"
            )
            cursor.execute("ALTER TABLE bench_threads ADD PRIMARY KEY (n); ANALYZE bench_threads")
            cursor.execute("SELECT id FROM bench_threads WHERE n = 0")
            deep_thread_id = cursor.fetchone()[0]
        # The deep thread: evenly spaced from its opening to its last message.
        with transaction.atomic(using=mp):
            messages = insert_select(
                cursor,
                Message,
                source="bench_threads t, generate_series(0, %(m)s - 1) k WHERE t.n = 0",
                params={"m": p["deep_thread"]},
                values={
                    "thread_id": "t.id",
                    "body": text(12, "k"),
                    "sender_id": "CASE WHEN k %% 2 = 1 THEN t.buyer_id ELSE t.provider_user_id END",
                    "created_at": "t.created_at + (t.last_message_at - t.created_at) * k / (%(m)s - 1)",
                },
            )
        # The others: `messages` each from the buyer, the first and last at the thread's own times.
        per_chunk = max(1, CHUNK // p["messages"])
        for start, stop in _chunks(p["threads"] - 1, per_chunk):
            with transaction.atomic(using=mp):
                messages += insert_select(
                    cursor,
                    Message,
                    source="bench_threads t, generate_series(0, %(m)s - 1) k WHERE t.n > %(start)s AND t.n <= %(stop)s",
                    params={"m": p["messages"], "start": start, "stop": stop},
                    values={
                        "thread_id": "t.id",
                        "sender_id": "t.buyer_id",
                        "body": text(12, "t.n * 64 + k"),
                        "created_at": "CASE WHEN k = 0 THEN t.created_at WHEN k = %(m)s - 1 THEN t.last_message_at"
                        f" ELSE t.created_at + (t.last_message_at - t.created_at)"
                        f" * {_pick('t.n * 64 + k', 1_000_000)} / 1000000.0 END",
                    },
                )
            log(f"messages: {messages} ({elapsed()})")

        # The cross-database registry and the providers' counters, set-wise. Aggregates joined by
        # hash, not correlated per provider: the fresh tables have no statistics yet, and a
        # per-provider subquery was planned as a scan of the whole active-listing index each time.
        registered = record_table_references(Provider) + record_table_references(MarketplaceTransaction)
        with system_read_context(job="bench:generate"):  # contacts are read across tenants
            registered += record_table_references(Contact)
        with transaction.atomic(using=mp):
            cursor.execute(COUNTERS_SQL.format(providers="bench_providers"))
    log(f"registry rows: {registered}; provider counters set ({elapsed()})")
    # No ANALYZE here: the application role may not analyze tables it does not own. bench.environment.prepare runs
    # VACUUM ANALYZE as the admin after generating, then `provider_stats_check` (exit 1 on drift).
    seconds = time.monotonic() - started
    sizes = database_sizes()
    log("database sizes: " + ", ".join(f"{alias} {size / 2**20:,.0f} MiB" for alias, size in sizes.items()))
    return {
        "scale": scale,
        "seconds": round(seconds, 1),
        "deep_thread_id": deep_thread_id,
        "messages": messages,
        "database_bytes": sizes,
    }


def database_sizes() -> dict[str, int]:
    """Bytes on disk of each platform database (tables, indexes, TOAST)."""
    from django.db import connections

    sizes = {}
    for alias in (TENANT_DB, MARKETPLACE_DB):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            sizes["tenant" if alias == TENANT_DB else alias] = cursor.fetchone()[0]
    return sizes


BENCH_PASSWORD = "bench-password-123"


def ensure_logins() -> dict:
    """Idempotent: a tenant owner (of bench-7) and the login behind provider 0 (a participant of the
    deep thread), for the authenticated HTTP scenarios."""
    import django

    django.setup()
    from breederhq.tenancy import tenant_context
    from marketplace_app.models import MessageThread
    from tenant_app.models import Tenant, TenantMembership, User

    def login(email: str) -> User:
        user, created = User.objects.get_or_create(email=email, defaults={"username": email})
        if created:
            user.set_password(BENCH_PASSWORD)
            user.save(update_fields=["password"])
        return user

    owner = login("bench-owner@bench.test")
    tenant = Tenant.objects.get(slug=BENCH_TENANT_SLUG)
    with tenant_context(tenant.pk):
        TenantMembership.objects.get_or_create(tenant=tenant, user=owner, defaults={"role": "owner"})
    deep = MessageThread.objects.using(MARKETPLACE_DB).order_by("pk").select_related("provider__user").first()
    provider_login = login("bench-provider@bench.test")
    marketplace_user = deep.provider.user
    if marketplace_user.tenant_user_id != provider_login.pk:
        marketplace_user.tenant_user_id = provider_login.pk
        marketplace_user.save(using=MARKETPLACE_DB, update_fields=["tenant_user_id"])
    return {
        "owner": owner.email,
        "provider": provider_login.email,
        "deep_thread_id": deep.pk,
        "password": BENCH_PASSWORD,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--logins", action="store_true", help="only make sure the bench logins exist (JSON out)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    if args.logins:
        import json

        print(json.dumps(ensure_logins()))
        return
    print(generate(args.scale))


if __name__ == "__main__":
    main()
