"""What every demo module uses: the demo password, the demo users (one per email), reading inside a tenant."""

from __future__ import annotations

from django.contrib.auth import get_user_model

DEMO_PASSWORD = "demo-password-123"


def demo_user(*, email: str, **fields):
    from django.utils import timezone

    User = get_user_model()
    # Demo people have proved their addresses: they buy, sell and invite.
    user, created = User.objects.get_or_create(
        email=email, defaults={"username": email, "email_verified_at": timezone.now(), **fields}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def in_tenant(tenant, read):
    from breederhq.tenancy import tenant_context

    with tenant_context(tenant.pk):
        return read()
