"""Tenant admin pages: only through the audited "work on tenant" path, one tenant at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.support import SESSION_KEY
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from tenant_app import services
from tenant_app.models import Invoice
from tests.backoffice.conftest import work_on
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

INVOICES = reverse("admin:tenant_app_invoice_changelist")


@pytest.fixture
def two_tenants():
    tenants = []
    for amount in (12_345, 99_900):
        tenant = TenantFactory()
        with tenant_context(tenant.pk):
            invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(amount,))
        tenants.append((tenant, invoice))
    return tenants


def test_without_a_chosen_tenant_staff_are_sent_to_choose_one(superuser_client, two_tenants):
    response = superuser_client.get(INVOICES)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("backoffice:support") + "?next=")
    assert not CrossTenantQueryAudit.objects.using(TENANT_DB).exists()


def test_a_reason_is_required_to_work_on_a_tenant(superuser_client, two_tenants):
    tenant, _ = two_tenants[0]
    response = superuser_client.post(reverse("backoffice:support"), {"tenant": tenant.pk, "reason": ""})
    assert response.status_code == 200
    assert SESSION_KEY not in superuser_client.session
    assert not CrossTenantQueryAudit.objects.using(TENANT_DB).exists()


def test_working_on_a_tenant_shows_only_its_rows_and_audits_every_page(superuser_client, two_tenants):
    (tenant_a, invoice_a), (tenant_b, invoice_b) = two_tenants
    work_on(superuser_client, tenant_a, reason="ticket #42")

    response = superuser_client.get(INVOICES)
    assert response.status_code == 200
    body = response.content.decode()
    assert invoice_a.invoice_number in body
    assert "123.45 USD" in body  # money shown as currency
    assert "999.00 USD" not in body  # tenant B's invoice is invisible
    assert 'id="support-banner"' in body and tenant_a.name in body and "ticket #42" in body

    audits = list(
        CrossTenantQueryAudit.objects.using(TENANT_DB)
        .order_by("id")
        .values_list("user_id", "target_tenant_id", "query_type", "allowed", "reason")
    )
    user_id = superuser_client.user.pk
    assert audits == [
        (user_id, tenant_a.pk, "admin:support_session_start", True, "ticket #42"),
        (user_id, tenant_a.pk, "admin:tenant_app.invoice:changelist", True, "ticket #42"),
    ]


def test_switching_tenant_switches_rows(superuser_client, two_tenants):
    (tenant_a, _), (tenant_b, invoice_b) = two_tenants
    work_on(superuser_client, tenant_a)
    work_on(superuser_client, tenant_b)
    body = superuser_client.get(INVOICES).content.decode()
    assert "999.00 USD" in body and "123.45 USD" not in body


def test_an_expired_support_session_is_dropped(superuser_client, two_tenants):
    tenant, _ = two_tenants[0]
    work_on(superuser_client, tenant)
    session = superuser_client.session
    session[SESSION_KEY]["expires_at"] = (timezone.now() - timedelta(seconds=1)).isoformat()
    session.save()
    response = superuser_client.get(INVOICES)
    assert response.status_code == 302
    assert SESSION_KEY not in superuser_client.session


def test_stop_ends_the_support_session(superuser_client, two_tenants):
    work_on(superuser_client, two_tenants[0][0])
    superuser_client.post(reverse("backoffice:support"), {"end": "1"})
    assert superuser_client.get(INVOICES).status_code == 302
    assert 'id="support-banner"' not in superuser_client.get(reverse("admin:index")).content.decode()


def test_search_filter_and_date_hierarchy(superuser_client, two_tenants):
    tenant, invoice = two_tenants[0]
    with tenant_context(tenant.pk):
        other = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(500,))
        services.invoice_send(invoice_id=other.pk)
    work_on(superuser_client, tenant)
    body = superuser_client.get(INVOICES, {"q": invoice.invoice_number}).content.decode()
    assert "123.45 USD" in body and "5.00 USD" not in body
    body = superuser_client.get(INVOICES, {"status__exact": "sent"}).content.decode()
    assert "5.00 USD" in body and "123.45 USD" not in body
    today = timezone.now()
    response = superuser_client.get(INVOICES, {"created_at__year": today.year, "created_at__month": today.month})
    assert response.status_code == 200 and "123.45 USD" in response.content.decode()


def test_invoice_page_shows_inlines_and_edits_nothing(superuser_client, two_tenants):
    tenant, invoice = two_tenants[0]
    with tenant_context(tenant.pk):
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="pay-1")
        services.invoice_refund(
            invoice_id=invoice.pk, amount_cents=2_345, reason="one puppy class cancelled", idempotency_key="refund-1"
        )
    work_on(superuser_client, tenant)
    url = reverse("admin:tenant_app_invoice_change", args=[invoice.pk])
    response = superuser_client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    for text in (
        "Line 0",
        "123.45 USD",
        "23.45 USD",
        "CN-000001",
        "one puppy class cancelled",
        "refunded",
        "partially_refunded",
    ):
        assert text in body, text
    assert 'name="total_cents"' not in body and 'name="paid_cents"' not in body  # no input for money

    response = superuser_client.post(url, {"status": "void", "paid_cents": 0})
    assert response.status_code == 403
    with tenant_context(tenant.pk):
        invoice = Invoice.objects.get(pk=invoice.pk)
    assert (invoice.status, invoice.paid_cents, invoice.refunded_cents) == ("partially_refunded", 12_345, 2_345)


def test_an_invoice_of_another_tenant_is_not_found(superuser_client, two_tenants):
    (tenant_a, _), (_, invoice_b) = two_tenants
    work_on(superuser_client, tenant_a)
    response = superuser_client.get(reverse("admin:tenant_app_invoice_change", args=[invoice_b.pk]))
    assert response.status_code == 302  # Django admin: "doesn't exist", back to the index
    assert response["Location"] == reverse("admin:index")


def test_login_and_index_pages_render_with_the_back_office_links(client, support_client):
    assert client.get(reverse("admin:login")).status_code == 200
    body = support_client.get(reverse("admin:index")).content.decode()
    assert reverse("backoffice:dashboard") in body and reverse("backoffice:support") in body
    assert 'id="support-banner"' not in body


def test_a_staff_member_without_support_rights_cannot_pick_a_tenant(bare_staff_client, two_tenants):
    response = bare_staff_client.post(
        reverse("backoffice:support"), {"tenant": two_tenants[0][0].pk, "reason": "just looking around"}
    )
    assert response.status_code == 403
    assert SESSION_KEY not in bare_staff_client.session
    assert not CrossTenantQueryAudit.objects.using(TENANT_DB).exists()


def test_next_must_stay_on_this_site(superuser_client, two_tenants):
    response = superuser_client.post(
        reverse("backoffice:support"),
        {"tenant": two_tenants[0][0].pk, "reason": "ticket #5", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("admin:index")


def test_the_tenant_list_offers_work_on_links_and_the_picker_preselects(support_client, two_tenants):
    tenant, _ = two_tenants[1]
    body = support_client.get(reverse("admin:tenant_app_tenant_changelist")).content.decode()
    assert f"{reverse('backoffice:support')}?tenant={tenant.pk}" in body
    response = support_client.get(reverse("backoffice:support"), {"tenant": tenant.pk})
    assert response.status_code == 200
    assert f'<option value="{tenant.pk}" selected>{tenant.name}</option>' in response.content.decode()
