"""Many signed-in users for the authenticated load scenarios, so the identity cache answers as it
would with real traffic (one entry per user, not one for every request): up to COUNT provider
logins (each linked to a provider's marketplace user) and up to COUNT tenant owners (one per bench
tenant), made once (idempotent), each with an access token minted here, up front, as the sign-in
endpoint mints it. Writes one file per request kind, a line per user: "<token>\\t<path>", for
bench/lua/users.lua, which picks a line at random for each request.

    python -m bench.probes.users COUNT DIRECTORY   (JSON out: {kind: [file, lines]})
"""

import json
import sys
from pathlib import Path

import django

from breederhq.databases import MARKETPLACE_DB


def main() -> None:
    django.setup()
    from django.db.models import Min

    from breederhq.api.auth import token_pair_for
    from breederhq.tenancy import tenant_context
    from marketplace_app.models import MessageThread, Provider
    from tenant_app.models import Tenant, TenantMembership, User

    count, directory = int(sys.argv[1]), Path(sys.argv[2])

    def login(email: str) -> User:
        user, created = User.objects.get_or_create(email=email, defaults={"username": email})
        if created:
            user.set_unusable_password()  # signed in by a minted token only
            user.save(update_fields=["password"])
        return user

    threads = dict(
        MessageThread.objects.using(MARKETPLACE_DB)
        .values("provider_id")
        .annotate(first=Min("id"))
        .values_list("provider_id", "first")
    )
    providers = list(
        Provider.objects.using(MARKETPLACE_DB)
        .filter(deleted_at__isnull=True, id__in=threads)
        .select_related("user")
        .order_by("id")[1 : count + 1]
    )  # provider 0 is the fixed login's
    lines: dict[str, list[str]] = {"transactions": [], "messages": [], "contacts": []}
    for index, provider in enumerate(providers):
        user = login(f"bench-provider-{index}@bench.test")
        if provider.user.tenant_user_id != user.pk:
            provider.user.tenant_user_id = user.pk
            provider.user.save(using=MARKETPLACE_DB, update_fields=["tenant_user_id"])
        token = str(token_pair_for(user).access_token)
        lines["transactions"].append(f"{token}\t/api/v1/marketplace/transactions/?as=provider")
        lines["messages"].append(f"{token}\t/api/v1/marketplace/threads/{threads[provider.pk]}/messages/")
    for index, tenant in enumerate(Tenant.objects.filter(slug__startswith="bench-").order_by("id")[:count]):
        user = login(f"bench-owner-{index}@bench.test")
        with tenant_context(tenant.pk):
            TenantMembership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": "owner"})
        lines["contacts"].append(f"{str(token_pair_for(user).access_token)}\t/api/v1/contacts/")
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, rows in lines.items():
        path = directory / f"{kind}.tsv"
        path.write_text("\n".join(rows) + "\n")
        out[kind] = [str(path), len(rows)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
