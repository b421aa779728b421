"""The small demo data set `make run` loads: enough for every page to show something real.

Idempotent: every row is looked up by a natural key before it is created.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_PASSWORD = "demo-password-123"


def _user(*, email: str, **fields):
    User = get_user_model()
    user, created = User.objects.get_or_create(email=email, defaults={"username": email, **fields})
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def load_demo_data() -> list[tuple[str, str]]:
    """Create the demo rows if missing; return (login, description) pairs to print."""
    with transaction.atomic(using="default"):
        _user(email="admin@breederhq.test", is_staff=True, is_superuser=True, first_name="Ada")
    return [("admin@breederhq.test", "superuser: the back office at /admin/")]
