"""Builds the benchmark data set fast: bulk inserts (`bulk_create` in large batches), never the ORM
row by row. Tenant rows are written inside each tenant's context (row-level security applies to the
application role here too).

    python -m bench.generate --scale small   # about a minute
    python -m bench.generate --scale full    # the review's projections (hours on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import timedelta

SCALES = {
    # tenants, contacts/tenant, invoices/tenant, providers, listings/provider, transactions, threads,
    # messages in the one deep thread, messages per other thread, months of history
    "small": dict(tenants=200, contacts=20, invoices=40, providers=400, listings=25, transactions=60_000,
                  threads=2_000, deep_thread=120_000, messages=10, months=36),
    "full": dict(tenants=50_000, contacts=20, invoices=40, providers=40_000, listings=25,
                 transactions=5_000_000, threads=500_000, deep_thread=200_000, messages=20, months=36),
}
BATCH = 5_000
CATEGORIES = ["grooming", "training", "veterinary", "transport", "boarding"]
CITIES = [("Austin", "TX"), ("Denver", "CO"), ("Portland", "OR"), ("Boston", "MA"), ("Miami", "FL")]
WORDS = ("gentle puppy grooming bath nails kitten training obedience agility vet checkup vaccines "
         "transport crate boarding daycare walk senior dog cat poodle retriever siamese maine coon").split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def generate(scale: str, *, seed: int = 7, log=print) -> dict:
    import django

    django.setup()
    from django.utils import timezone

    from breederhq.tenancy import tenant_context
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

    # Tenants (global table) and, in each tenant's context, contacts and invoices.
    Tenant.objects.bulk_create(
        [Tenant(name=f"Bench Kennel {i}", slug=f"bench-{i}") for i in range(p["tenants"])], batch_size=BATCH
    )
    tenant_ids = list(Tenant.objects.filter(slug__startswith="bench-").values_list("pk", flat=True))
    invoice_ids_by_tenant: dict[int, list[int]] = {}
    for tenant_id in tenant_ids:
        with tenant_context(tenant_id):
            contacts = Contact.objects.bulk_create(
                [Contact(tenant_id=tenant_id, first_name="Pat", last_name=f"Buyer{i}", email=f"b{i}@t{tenant_id}.test")
                 for i in range(p["contacts"])]
            )
            invoices = []
            for i in range(p["invoices"]):
                total = rng.randrange(5_000, 500_000)
                invoices.append(Invoice(
                    tenant_id=tenant_id, contact=rng.choice(contacts), invoice_number=f"INV-{i:06d}",
                    subtotal_cents=total, total_cents=total, status="draft", payment_mode_snapshot="manual",
                    payment_mode_locked_at=now, is_marketplace_invoice=True,
                ))
            invoice_ids_by_tenant[tenant_id] = [inv.pk for inv in Invoice.objects.bulk_create(invoices)]
    log(f"tenant side: {len(tenant_ids)} tenants ({time.monotonic() - started:.0f} s)")

    # Marketplace users and providers (breeders point at a bench tenant), listings.
    mp = "marketplace"
    users = MarketplaceUser.objects.using(mp).bulk_create(
        [MarketplaceUser(email=f"bench-user-{i}@bench.test", display_name=f"Bench User {i}",
                         kind="service_provider" if i < p["providers"] else "buyer")
         for i in range(p["providers"] * 3)], batch_size=BATCH,
    )
    provider_users, buyers = users[: p["providers"]], users[p["providers"]:]
    providers = Provider.objects.using(mp).bulk_create(
        [Provider(user=u, kind="breeder" if i % 2 == 0 else "service_provider",
                  tenant_id=tenant_ids[i % len(tenant_ids)] if i % 2 == 0 else None,
                  business_name=f"Bench Provider {i}", city=CITIES[i % 5][0], state=CITIES[i % 5][1])
         for i, u in enumerate(provider_users)], batch_size=BATCH,
    )
    listings = []
    for provider in providers:
        for j in range(p["listings"]):
            listings.append(ServiceListing(
                provider=provider, slug=f"bench-{provider.pk}-{j}", title=_text(rng, 4), description=_text(rng, 30),
                status="active" if j % 5 else "paused", category=rng.choice(CATEGORIES),
                state=provider.state, city=provider.city, price_cents=rng.randrange(1_000, 100_000),
                category_metadata={"mobile": bool(j % 2), "sizes": ["small", "large"][: 1 + j % 2]},
                published_at=now,
            ))
    ServiceListing.objects.using(mp).bulk_create(listings, batch_size=BATCH)
    log(f"marketplace: {len(providers)} providers, {len(listings)} listings ({time.monotonic() - started:.0f} s)")

    # Transactions: breeders' ones billed by a tenant invoice (registry rows via bulk_create).
    transactions = []
    for i in range(p["transactions"]):
        # Provider 0 (the bench provider login) sells a quarter of everything: a long history for
        # the deep cursor page; the rest spread evenly.
        provider = providers[0] if i % 4 == 0 else providers[i % len(providers)]
        tx = MarketplaceTransaction(
            provider=provider, client=buyers[i % len(buyers)], amount_cents=rng.randrange(1_000, 200_000),
            status="pending_invoice", created_at=now - timedelta(minutes=i),
        )
        if provider.tenant_id and invoice_ids_by_tenant[provider.tenant_id]:
            tx.invoice_type, tx.invoice_id, tx.status = "tenant", rng.choice(invoice_ids_by_tenant[provider.tenant_id]), "invoiced"
        transactions.append(tx)
        if len(transactions) == BATCH:
            MarketplaceTransaction.objects.using(mp).bulk_create(transactions)
            transactions = []
    MarketplaceTransaction.objects.using(mp).bulk_create(transactions)
    log(f"transactions: {p['transactions']} ({time.monotonic() - started:.0f} s)")

    # Messages over `months` monthly partitions; one deep thread for the cursor-vs-OFFSET scenario.
    first = add_months(month_start(now), -p["months"])
    ensure_message_partitions(months_ahead=p["months"] + 2, now=first, alias=mp)
    span = (now - timedelta(days=30 * p["months"]), now)
    seconds = int((span[1] - span[0]).total_seconds())
    # Each thread's message times first: a thread is opened with its first message (created_at)
    # and `last_message_at` is its newest one's, as the services keep them (the message pages rely on it).
    times = [[span[0] + timedelta(seconds=seconds * i // p["deep_thread"]) for i in range(p["deep_thread"])]]
    times += [sorted(span[0] + timedelta(seconds=rng.randrange(seconds)) for _ in range(p["messages"]))
              for _ in range(p["threads"] - 1)]
    threads = MessageThread.objects.using(mp).bulk_create(
        [MessageThread(provider=providers[i % len(providers)], buyer=buyers[i % len(buyers)], subject=_text(rng, 3),
                       created_at=moments[0], last_message_at=moments[-1]) for i, moments in enumerate(times)],
        batch_size=BATCH,
    )
    batch = []

    def flush():
        Message.objects.using(mp).bulk_create(batch)
        batch.clear()

    deep = threads[0]
    for thread, moments in zip(threads, times):
        for i, moment in enumerate(moments):
            if thread is deep:
                sender_id = deep.buyer_id if i % 2 else providers[0].user_id
            else:
                sender_id = thread.buyer_id
            batch.append(Message(thread=thread, sender_id=sender_id, body=_text(rng, 12), created_at=moment))
            if len(batch) == BATCH:
                flush()
    flush()
    # No ANALYZE here: the application role may not analyze tables it does not own. bench.run runs
    # VACUUM ANALYZE as the admin after generating.
    # The counters were not moved by the bulk inserts: recompute them (the command exits 1 on drift).
    from django.core.management import call_command

    try:
        call_command("provider_stats_check", fix=True, verbosity=0)
    except SystemExit:
        pass  # drift was expected, and is fixed now
    elapsed = time.monotonic() - started
    log(f"messages: {p['deep_thread'] + (len(threads) - 1) * p['messages']} ({elapsed:.0f} s in all)")
    sizes = database_sizes()
    log("database sizes: " + ", ".join(f"{alias} {size / 2**20:,.0f} MiB" for alias, size in sizes.items()))
    return {"scale": scale, "seconds": round(elapsed, 1), "deep_thread_id": deep.pk,
            "database_bytes": sizes}


def database_sizes() -> dict[str, int]:
    """Bytes on disk of each platform database (tables, indexes, TOAST)."""
    from django.db import connections

    sizes = {}
    for alias in ("default", "marketplace"):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            sizes["tenant" if alias == "default" else alias] = cursor.fetchone()[0]
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
    tenant = Tenant.objects.get(slug="bench-7")
    with tenant_context(tenant.pk):
        TenantMembership.objects.get_or_create(tenant=tenant, user=owner, defaults={"role": "owner"})
    deep = MessageThread.objects.using("marketplace").order_by("pk").select_related("provider__user").first()
    provider_login = login("bench-provider@bench.test")
    marketplace_user = deep.provider.user
    if marketplace_user.tenant_user_id != provider_login.pk:
        marketplace_user.tenant_user_id = provider_login.pk
        marketplace_user.save(using="marketplace", update_fields=["tenant_user_id"])
    return {"owner": owner.email, "provider": provider_login.email, "deep_thread_id": deep.pk,
            "password": BENCH_PASSWORD}


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
