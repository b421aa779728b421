"""The tenant side of the bench data (bench/generate.py): tenants (a global table), then each
tenant's contacts and invoices in that tenant's RLS context, as the application role."""

from __future__ import annotations

from bench.generate_sql import insert_select, pick
from breederhq.databases import TENANT_DB

#: Tenants per transaction on the tenant side (two statements each, in the tenant's RLS context).
TENANTS_PER_COMMIT = 500
#: The bench owner's tenant ("bench-7", `ensure_logins`) is a larger kennel, so its contact list has
#: pages of 100 (the cross-database list scenario reads pages of 20 and 100).
BENCH_TENANT_SLUG, BENCH_TENANT_CONTACTS = "bench-7", 250


def generate_tenants(p: dict, *, buyer_ids: list[int], now, log, elapsed) -> tuple[list[int], dict[int, list[int]]]:
    """Tenants with their contacts and invoices; returns the tenant ids and each one's invoice ids.

    Every other contact is linked to a marketplace buyer (`marketplace_user_id`, a cross-database
    reference; which buyer is arbitrary, not tied to the generated transactions): the contact list
    shows that person's marketplace name. A buyer is one contact per tenant (a unique constraint)."""
    from django.db import connections, transaction

    from breederhq.tenancy import TENANT_SETTING
    from tenant_app.models import Contact, Invoice, Tenant

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
                        "contact_id": f"c.ids[1 + {pick('g + %(tenant)s * 64', 'c.k')}]",
                        "invoice_number": "'INV-' || lpad(g::text, 6, '0')",
                        "subtotal_cents": f"5000 + {pick('g * 7 + %(tenant)s', 495000)}",
                        "total_cents": f"5000 + {pick('g * 7 + %(tenant)s', 495000)}",
                        "status": "'draft'",
                        "payment_mode_snapshot": "'manual'",
                        "payment_mode_locked_at": "%(now)s",
                        "is_marketplace_invoice": "TRUE",
                    },
                )
                cursor.execute("SELECT array_agg(id ORDER BY id) FROM invoices WHERE tenant_id = %s", [tenant_id])
                invoice_ids[tenant_id] = cursor.fetchone()[0] or []
        done = min(first + TENANTS_PER_COMMIT, len(tenant_ids))
        log(f"tenant side: {done} of {len(tenant_ids)} tenants ({elapsed()})")
    return tenant_ids, invoice_ids
