"""Audited "view as": support sees the API exactly as one tenant user, read-only, time-limited,
every request recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.view_as import SESSION_KEY
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import AuthorizationAudit, CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from tenant_app.models import Contact
from tests.factories.tenant import ContactFactory, TenantFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

CONTACTS = "/api/v1/contacts/"


@pytest.fixture
def owner_with_contacts():
    tenant, other = TenantFactory(), TenantFactory()
    with tenant_context(tenant.pk):
        ContactFactory(tenant=tenant, last_name="Visible")
    with tenant_context(other.pk):
        ContactFactory(tenant=other, last_name="Elsewhere")
    return tenant, tenant.owner_user


def start(client, user, reason="ticket #77: owner says contacts are missing"):
    return client.post(reverse("backoffice:view_as"), {"user": user.pk, "reason": reason})


def test_support_sees_the_api_as_the_user_and_every_request_is_audited(support_client, owner_with_contacts):
    tenant, owner = owner_with_contacts
    assert support_client.get(CONTACTS).status_code == 403  # staff have no tenant of their own
    assert start(support_client, owner).status_code == 302

    response = support_client.get(CONTACTS)
    assert response.status_code == 200
    assert [c["display_name"] for c in response.json()["results"]] == ["Jamie Visible"]
    assert response["X-Viewing-As"] == owner.email
    support_client.get(CONTACTS)

    rows = list(
        CrossTenantQueryAudit.objects.using(TENANT_DB)
        .filter(query_type__startswith="view_as:")
        .values_list("user_id", "target_tenant_id", "query_type", "reason")
    )
    assert (
        rows
        == [
            (
                support_client.user.pk,
                tenant.pk,
                f"view_as:{owner.pk}:GET {CONTACTS}",
                "ticket #77: owner says contacts are missing",
            )
        ]
        * 2
    )
    start_row = AuthorizationAudit.objects.using(TENANT_DB).get(resource_type="view_as", action="start")
    assert (start_row.user_id, start_row.resource_id, start_row.allowed) == (
        support_client.user.pk,
        f"user:{owner.pk}",
        True,
    )


def test_view_as_is_read_only(support_client, owner_with_contacts):
    tenant, owner = owner_with_contacts
    start(support_client, owner)
    response = support_client.post(CONTACTS, {"first_name": "Nope"})
    assert response.status_code == 403 and response.json()["code"] == "view_as_read_only"
    with tenant_context(tenant.pk):
        assert Contact.objects.count() == 1
    assert AuthorizationAudit.objects.using(TENANT_DB).filter(resource_type="view_as", allowed=False).count() == 1


def test_the_admin_keeps_the_staff_identity_and_shows_a_banner(support_client, owner_with_contacts):
    _, owner = owner_with_contacts
    start(support_client, owner)
    body = support_client.get(reverse("admin:index")).content.decode()
    assert 'id="view-as-banner"' in body and owner.email in body
    support_client.post(reverse("backoffice:view_as"), {"end": "1"})
    assert SESSION_KEY not in support_client.session
    assert support_client.get(CONTACTS).status_code == 403


def test_it_expires(support_client, owner_with_contacts):
    _, owner = owner_with_contacts
    start(support_client, owner)
    session = support_client.session
    session[SESSION_KEY]["expires_at"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    session.save()
    response = support_client.get(CONTACTS)
    assert response.status_code == 403 and "X-Viewing-As" not in response


def test_refused_for_finance_staff_accounts_and_without_a_reason(
    finance_client, support_client, superuser_client, owner_with_contacts
):
    _, owner = owner_with_contacts
    assert start(finance_client, owner).status_code == 403
    assert start(support_client, superuser_client.user).status_code == 200  # not offered: form error
    assert start(support_client, owner, reason="").status_code == 200
    assert SESSION_KEY not in support_client.session
    assert not CrossTenantQueryAudit.objects.using(TENANT_DB).filter(query_type__startswith="view_as:").exists()
