"""Helpers for the API tests: real sign-in through the token endpoint, bearer clients."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from breederhq.tenancy import tenant_context
from tenant_app.models import TenantMembership
from tests.factories.tenant import TenantFactory, UserFactory

PASSWORD = "pw-for-tests-123"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def sign_in(user, *, password: str = PASSWORD) -> dict:
    response = Client().post(
        "/api/v1/auth/token/", json.dumps({"email": user.email, "password": password}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def bearer(user=None, *, access: str | None = None, tenant_id: int | None = None) -> Client:
    access = access or sign_in(user)["access"]
    headers = {"Authorization": f"Bearer {access}"}
    if tenant_id is not None:
        headers["X-Tenant-ID"] = str(tenant_id)
    return Client(headers=headers)


def member(tenant, role: str):
    user = UserFactory()
    with tenant_context(tenant.pk):
        TenantMembership.objects.create(tenant=tenant, user=user, role=role)
    return user


def body(response) -> dict:
    return json.loads(response.content)


def send_json(client: Client, method: str, url: str, data, **headers):
    payload = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return getattr(client, method)(url, payload, content_type="application/json", headers=headers or None)


@pytest.fixture
def two_tenants():
    return TenantFactory(name="A"), TenantFactory(name="B")
