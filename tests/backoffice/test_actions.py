"""Each back-office action asks for a reason, calls its service, and writes its audit row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app import services as mp
from marketplace_app.models import Provider, ServiceListing, UserBlock
from tenant_app import services
from tenant_app.models import Invoice, PaymentConfirmationAudit
from tests.backoffice.conftest import work_on
from tests.factories.marketplace import MarketplaceUserFactory, ProviderFactory, make_listing
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])

INVOICES = reverse("admin:tenant_app_invoice_changelist")


def run(client, url, action, pks, reason="ticket #9: checked with the bank"):
    form = {"action": action, "_selected_action": pks}
    first = client.post(url, form)
    assert first.status_code == 200 and b"are you sure" in first.content
    return client.post(url, {**form, "confirmed": "yes", "reason": reason})


def audits():
    return list(
        StaffActionAudit.objects.order_by("id").values_list(
            "actor_username", "action", "target_model", "target_database", "target_id", "reason", "result"
        )
    )


@pytest.fixture
def claimed():
    """An invoice whose buyer says they paid by bank transfer."""
    tenant = TenantFactory()
    with tenant_context(tenant.pk):
        invoice = make_invoice(contact=ContactFactory(tenant=tenant), amounts=(40_000,))
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), reference="transfer 1")
    return tenant, invoice


def _invoice(tenant, pk):
    with tenant_context(tenant.pk):
        invoice = Invoice.objects.get(pk=pk)
        events = list(
            PaymentConfirmationAudit.objects.filter(invoice_id=pk).order_by("id").values_list("event", flat=True)
        )
    return invoice, events


def test_nothing_happens_before_the_confirmation(finance_client, claimed):
    tenant, invoice = claimed
    work_on(finance_client, tenant)
    finance_client.post(INVOICES, {"action": "confirm_manual_payment", "_selected_action": [invoice.pk]})
    assert _invoice(tenant, invoice.pk)[0].status == "pending_confirmation"
    assert audits() == []


def test_confirm_manual_payment(finance_client, claimed):
    tenant, invoice = claimed
    work_on(finance_client, tenant)
    assert run(finance_client, INVOICES, "confirm_manual_payment", [invoice.pk]).status_code == 302
    invoice, events = _invoice(tenant, invoice.pk)
    assert (invoice.status, invoice.paid_cents) == ("paid", 40_000)
    assert events == ["buyer_marked_paid", "confirmed"]
    assert audits() == [
        (
            "fin.finance@breederhq.test",
            "confirm_manual_payment",
            "tenant_app.Invoice",
            TENANT_DB,
            str(invoice.pk),
            "ticket #9: checked with the bank",
            "paid",
        )
    ]


def test_reject_manual_payment(finance_client, claimed):
    tenant, invoice = claimed
    work_on(finance_client, tenant)
    run(finance_client, INVOICES, "reject_manual_payment", [invoice.pk], reason="no transfer arrived")
    invoice, events = _invoice(tenant, invoice.pk)
    assert (invoice.status, invoice.paid_cents, invoice.buyer_marked_paid_at) == ("sent", 0, None)
    assert events == ["buyer_marked_paid", "rejected"]
    assert audits()[0][1:] == (
        "reject_manual_payment",
        "tenant_app.Invoice",
        TENANT_DB,
        str(invoice.pk),
        "no transfer arrived",
        "sent",
    )


def test_expire_manual_payment(finance_client, claimed):
    tenant, invoice = claimed
    work_on(finance_client, tenant)
    run(finance_client, INVOICES, "expire_manual_payment", [invoice.pk])
    invoice, events = _invoice(tenant, invoice.pk)
    assert invoice.status == "sent"
    assert events == ["buyer_marked_paid", "expired"]
    assert audits()[0][6] == "sent"


def test_a_refused_action_is_audited_with_its_refusal(finance_client, claimed):
    tenant, invoice = claimed
    work_on(finance_client, tenant)
    run(finance_client, INVOICES, "confirm_manual_payment", [invoice.pk])
    run(finance_client, INVOICES, "expire_manual_payment", [invoice.pk])  # already paid: nothing to expire
    invoice, events = _invoice(tenant, invoice.pk)
    assert invoice.status == "paid"
    assert events == ["buyer_marked_paid", "confirmed"]
    assert audits()[1][1] == "expire_manual_payment"
    assert audits()[1][6].startswith("refused: ")


def test_resolve_reconciliation_mismatch(finance_client, claimed):
    tenant, invoice = claimed
    with tenant_context(tenant.pk):
        services.invoice_set_reconciliation_status(invoice_id=invoice.pk, status="mismatch", actor_label="stripe")
    work_on(finance_client, tenant)
    run(finance_client, INVOICES, "resolve_reconciliation", [invoice.pk], reason="Stripe payout matched by hand")
    invoice, _ = _invoice(tenant, invoice.pk)
    assert invoice.reconciliation_status == "resolved"
    assert audits()[0][6] == "resolved"


def test_soft_delete_and_restore_a_provider(support_client):
    provider = ProviderFactory()
    url = reverse("admin:marketplace_app_provider_changelist")
    run(support_client, url, "soft_delete_provider", [provider.pk], reason="fraud report #7")
    assert Provider.all_objects.using(MARKETPLACE_DB).get(pk=provider.pk).deleted_at is not None
    assert not Provider.objects.using(MARKETPLACE_DB).filter(pk=provider.pk).exists()
    run(support_client, url, "restore_provider", [provider.pk], reason="report was mistaken")
    assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).deleted_at is None
    assert [(a[1], a[3], a[6]) for a in audits()] == [
        ("soft_delete_provider", MARKETPLACE_DB, "deleted"),
        ("restore_provider", MARKETPLACE_DB, "restored"),
    ]


def test_take_down_and_restore_a_listing(support_client):
    provider = ProviderFactory()
    listing = make_listing(provider)
    url = reverse("admin:marketplace_app_servicelisting_changelist")
    run(support_client, url, "take_down_listing", [listing.pk])
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing.pk).status == "paused"
    assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).total_listings == 0
    run(support_client, url, "restore_listing", [listing.pk])
    assert ServiceListing.objects.using(MARKETPLACE_DB).get(pk=listing.pk).status == "active"
    assert Provider.objects.using(MARKETPLACE_DB).get(pk=provider.pk).total_listings == 1
    assert [a[6] for a in audits()] == ["paused", "active"]


def test_unblock_a_user(support_client):
    provider = ProviderFactory()
    user = MarketplaceUserFactory()
    block = mp.user_block_create(provider_id=provider.pk, user_id=user.pk, reason="spam")
    run(support_client, reverse("admin:marketplace_app_userblock_changelist"), "unblock_user", [block.pk])
    assert not UserBlock.objects.using(MARKETPLACE_DB).exists()
    assert audits() == [
        (
            "sue.support@breederhq.test",
            "unblock_user",
            "marketplace_app.UserBlock",
            MARKETPLACE_DB,
            str(block.pk),
            "ticket #9: checked with the bank",
            "1 block(s) removed",
        )
    ]


def test_marketplace_invoice_payment_claim_confirm(finance_client):
    from demo.data import load_marketplace_demo_data
    from marketplace_app.models import MarketplaceInvoice

    load_marketplace_demo_data()
    invoice = MarketplaceInvoice.objects.using(MARKETPLACE_DB).get()
    url = reverse("admin:marketplace_app_marketplaceinvoice_changelist")
    run(finance_client, url, "confirm_marketplace_payment", [invoice.pk])
    assert audits()[0][1:4] == ("confirm_marketplace_payment", "marketplace_app.MarketplaceInvoice", MARKETPLACE_DB)
    assert audits()[0][6] == "already paid"


def test_a_refusal_says_why_and_the_confirmation_shows_amount_payer_and_method(finance_client, claimed):
    from django.contrib.messages import get_messages

    tenant, invoice = claimed
    work_on(finance_client, tenant)
    confirmation = finance_client.post(INVOICES, {"action": "expire_manual_payment", "_selected_action": [invoice.pk]})
    page = confirmation.content.decode()
    with tenant_context(tenant.pk):
        contact = str(Invoice.objects.select_related("contact").get(pk=invoice.pk).contact)
    assert 'Amount <span class="confirm-amount">400.00 USD</span>' in page
    assert f'Payer <span class="confirm-payer">{contact}</span>' in page
    assert 'Method <span class="confirm-method">' in page

    run(finance_client, INVOICES, "confirm_manual_payment", [invoice.pk])
    response = run(finance_client, INVOICES, "expire_manual_payment", [invoice.pk])  # already paid
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    reason = audits()[1][6].removeprefix("refused: ")
    assert any("0 done, 1 refused" in text for text in texts)
    assert any(text.endswith(f"refused, {reason}") for text in texts), texts
