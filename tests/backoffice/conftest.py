"""Back-office fixtures: one client per kind of staff member, and the "work on tenant" step."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from breederhq.backoffice.groups import backoffice_groups_sync
from tenant_app.models import Tenant, User
from tests.staff import staff_login

PASSWORD = "pw-for-tests-123"


def _client_for(user: User) -> Client:
    """Signed in, second factor passed (tests/staff.py)."""
    return staff_login(Client(), user)


def _staff(email: str, *groups: str, superuser: bool = False) -> User:
    """A staff member (password PASSWORD) in the back-office groups named (they must exist: `groups`)."""
    if superuser:
        user = User.objects.create_superuser(username=email, email=email, password=PASSWORD)
    else:
        user = User.objects.create_user(username=email, email=email, password=PASSWORD, is_staff=True)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    return user


@pytest.fixture
def groups():
    return backoffice_groups_sync()


@pytest.fixture
def superuser_client():
    return _client_for(_staff("root@breederhq.test", superuser=True))


@pytest.fixture
def support_client(groups):
    return _client_for(_staff("sue.support@breederhq.test", "support"))


@pytest.fixture
def finance_client(groups):
    return _client_for(_staff("fin.finance@breederhq.test", "finance"))


@pytest.fixture
def bare_staff_client():
    """Staff flag, no group, no permission."""
    return _client_for(_staff("nobody@breederhq.test"))


def work_on(client: Client, tenant: Tenant, reason: str = "ticket #123: customer asked") -> None:
    response = client.post(
        reverse("backoffice:support"), {"tenant": tenant.pk, "reason": reason, "next": reverse("admin:index")}
    )
    assert response.status_code == 302, response.content[:500]
