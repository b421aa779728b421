"""What the soak (bench/soak.py) needs, made once (idempotent): the bench owner of bench-7 with a
confirmed address and a marketplace identity (so it can buy), an access token for it, minted as
the sign-in endpoint mints it, contacts of its tenant to invoice, listings on sale by other
providers to buy, provider ids and search words to read.

    python -m bench.probes.soak_setup   (JSON out)
"""

import json

import django

from breederhq.databases import MARKETPLACE_DB


def main() -> None:
    from bench.generate_logins import ensure_logins
    from bench.generate_tenant import BENCH_TENANT_SLUG

    logins = ensure_logins()  # django.setup() inside
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from breederhq.api.auth import token_pair_for
    from breederhq.tenancy import tenant_context
    from marketplace_app import services
    from marketplace_app.models import Provider, ServiceListing
    from tenant_app.models import Contact, Tenant, User

    owner = User.objects.get(email=logins["owner"])
    if owner.email_verified_at is None:
        owner.email_verified_at = timezone.now()
        owner.save(update_fields=["email_verified_at"])
    buyer = services.marketplace_identity_for(tenant_user_id=owner.pk, email=owner.email, display_name="Bench Owner")
    tenant_id = Tenant.objects.get(slug=BENCH_TENANT_SLUG).pk  # the owner's tenant (ensure_logins)
    with tenant_context(tenant_id), connection.cursor() as cursor:
        # The generator numbers its invoices itself (INV-000001 ...) without the tenant's sequence:
        # move the sequence past them, or every invoice the API creates would take a used number.
        cursor.execute(
            "INSERT INTO tenant_document_sequences (tenant_id, kind, last_value) "
            "SELECT %s, 'invoice', coalesce(max(substring(invoice_number from '[0-9]+$')::bigint), 0) "
            "FROM invoices WHERE tenant_id = %s ON CONFLICT (tenant_id, kind) DO UPDATE "
            "SET last_value = greatest(tenant_document_sequences.last_value, EXCLUDED.last_value)",
            [tenant_id, tenant_id],
        )
        contacts = list(Contact.objects.filter(tenant_id=tenant_id).order_by("id").values_list("id", flat=True)[:40])
    listings = list(
        ServiceListing.objects.using(MARKETPLACE_DB)
        .filter(status="active")
        .exclude(provider__user_id=buyer.pk)
        .order_by("id")
        .values_list("id", flat=True)[:200]
    )
    providers = list(
        Provider.objects.using(MARKETPLACE_DB)
        .filter(deleted_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:200]
    )
    print(
        json.dumps(
            {
                "token": str(token_pair_for(owner).access_token),
                "tenant_id": tenant_id,
                "contacts": contacts,
                "listings": listings,
                "providers": providers,
                "words": ["dog", "puppy", "grooming", "training", "boarding", "poodle", "cat", "walking"],
            }
        )
    )


if __name__ == "__main__":
    main()
