"""Support finds an invoice by number, a person by email or a payment by Stripe id in any tenant,
without choosing the tenant first; the search is audited (system read, with the staff member and the
reason) and each tenant hit leads into that tenant's audited context."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.models import CrossTenantQueryAudit
from breederhq.tenancy import tenant_context
from payments_app.models import InvoicePayment
from tenant_app.models import Invoice
from tests.factories.marketplace import MarketplaceUserFactory
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
SEARCH = reverse("backoffice:search")


def _search(client, q, reason="ticket #77: buyer asks"):
    response = client.get(SEARCH, {"q": q, "reason": reason})
    assert response.status_code == 200
    return response.context["hits"], response


def test_support_finds_an_invoice_of_any_tenant_and_lands_in_its_context(support_client):
    a, b = TenantFactory(name="Alpha Kennel"), TenantFactory(name="Beta Cattery")
    with tenant_context(a.pk):
        make_invoice(contact=ContactFactory(tenant=a))
    with tenant_context(b.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=b, email="maya@example.test"), amounts=(12_345,))
        number = Invoice.objects.get(pk=invoice.pk).invoice_number
    hits, response = _search(support_client, number.lower())
    # Both tenants number from INV-000001: the same number in each tenant is two hits, each named.
    assert {(h.kind, h.tenant_name) for h in hits} == {
        ("tenant invoice", "Alpha Kennel"),
        ("tenant invoice", "Beta Cattery"),
    }
    beta = next(h for h in hits if h.tenant_id == b.pk)
    assert "123.45 USD" in beta.detail
    link = urlsplit(beta.url)
    assert link.path == reverse("backoffice:support")
    params = parse_qs(link.query)
    assert params["tenant"] == [str(b.pk)]
    assert params["next"] == [reverse("admin:tenant_app_invoice_change", args=[invoice.pk])]
    assert params["reason"] == ["ticket #77: buyer asks"]  # the search's reason, filled in for one click
    form = support_client.get(beta.url).context["form"]
    assert (form["tenant"].value(), form["reason"].value()) == (str(b.pk), "ticket #77: buyer asks")
    audit = CrossTenantQueryAudit.objects.using(TENANT_DB).filter(query_type="system:support_search").get()
    assert (
        audit.user_id == response.wsgi_request.user.pk
        and "ticket #77" in audit.reason
        and number.lower() in audit.reason
    )

    # Following the link: working on Beta (with a reason), then the invoice page answers.
    landed = support_client.post(
        beta.url, {"tenant": b.pk, "reason": "ticket #77: buyer asks", "next": params["next"][0]}
    )
    assert landed.status_code == 302 and landed["Location"] == params["next"][0]
    assert support_client.get(landed["Location"]).status_code == 200


def test_email_and_stripe_id_find_people_and_payments_in_both_databases(finance_client):
    tenant = TenantFactory(name="Gamma Kennel")
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant, email="Olive@Example.test"))
        InvoicePayment.objects.create(
            invoice_kind="tenant",
            invoice_id=invoice.pk,
            owner_tenant=tenant,
            provider="stripe",
            amount_cents=10_000,
            currency="USD",
            stripe_payment_intent_id="pi_search_1",
            stripe_status="succeeded",
            open_state="opened",
        )
    MarketplaceUserFactory(email="olive@example.test", display_name="Olive")
    hits, _ = _search(finance_client, "olive@example.test")
    assert {(h.kind, h.tenant_name) for h in hits} == {("contact", "Gamma Kennel"), ("marketplace user", "")}
    hits, _ = _search(finance_client, "pi_search_1")
    assert [(h.kind, h.tenant_name) for h in hits] == [("payment", "Gamma Kennel")]


def test_search_needs_a_reason_and_a_back_office_group(support_client, bare_staff_client):
    response = support_client.get(SEARCH, {"q": "INV-000001"})
    assert response.status_code == 200 and response.context["hits"] is None
    assert not CrossTenantQueryAudit.objects.using(TENANT_DB).filter(query_type="system:support_search").exists()
    assert bare_staff_client.get(SEARCH, {"q": "INV-000001", "reason": "ticket #1 x"}).status_code == 403
