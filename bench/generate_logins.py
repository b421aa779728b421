"""The bench's logins (`python -m bench.generate --logins`, bench/probes/logins.py): made once,
idempotent, after the data is generated."""

from __future__ import annotations

from bench.generate_tenant import BENCH_TENANT_SLUG
from breederhq.databases import MARKETPLACE_DB

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
