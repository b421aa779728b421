"""Builds the benchmark data set fast: every table is filled by `INSERT ... SELECT` statements that
generate the rows inside PostgreSQL (generate_series, joins on small lookup tables), never row by
row from Python. Tenant rows are written in each tenant's RLS context, as the application role
(row-level security applies to the generator too); the cross-database registry is brought in line
set-wise afterwards (`breederhq.crossdb.record_table_references`), and the providers' counters by
one UPDATE, checked by `provider_stats_drift`.

    python -m bench.generate --scale small   # well under a minute
    python -m bench.generate --scale full    # production-sized (docs/benchmarks.md)

By entity: bench/generate_tenant.py (tenants, contacts, invoices), bench/generate_marketplace.py
(marketplace users, providers, listings, transactions, counters), bench/generate_messages.py
(threads, messages), with bench/generate_text.py (the vocabulary) and bench/generate_sql.py (the
INSERT ... SELECT builder); bench/generate_logins.py makes the bench's logins.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from bench import generate_marketplace as marketplace
from bench.generate_logins import ensure_logins
from bench.generate_messages import generate_messages, generate_threads
from bench.generate_tenant import generate_tenants
from bench.generate_text import load_texts, make_texts
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


def generate(scale: str, *, seed: int = 7, log=print) -> dict:
    import django

    django.setup()
    from django.db import connections
    from django.utils import timezone

    from breederhq.db_timeouts import MAINTENANCE, use_session_limits

    use_session_limits(MAINTENANCE)  # bulk loads of millions of rows: not cut off by the web limits

    from tenant_app.models import Tenant

    p = SCALES[scale]
    rng = random.Random(seed)
    started = time.monotonic()
    now = timezone.now()
    if Tenant.objects.filter(slug="bench-0").exists():
        log("data already generated; delete the bench databases to regenerate")
        return {"skipped": True}

    def elapsed() -> str:
        return f"{time.monotonic() - started:.0f} s"

    texts = make_texts(rng)
    buyer_ids = marketplace.generate_users(p)
    tenant_ids, invoice_ids = generate_tenants(p, buyer_ids=buyer_ids, now=now, log=log, elapsed=elapsed)
    # The marketplace side, on one connection with the lookup tables.
    with connections[marketplace.MP].cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed / 100])
        load_texts(cursor, texts)
        marketplace.load_lookups(cursor, tenant_ids, invoice_ids)
        del invoice_ids
        marketplace.generate_providers(cursor, p, len(tenant_ids))
        listings = marketplace.generate_listings(cursor, p, now)
        log(f"marketplace: {p['providers']} providers, {listings} listings ({elapsed()})")
        marketplace.generate_transactions(cursor, p, now, log, elapsed)
        deep_thread_id = generate_threads(cursor, p, now)
        messages = generate_messages(cursor, p, log, elapsed)
        registered = marketplace.record_references_and_counters(cursor)
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
