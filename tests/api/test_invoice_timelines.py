"""Marketplace invoices have the audit trail tenant invoices have: an invoice audit row and the
payment-confirmation rows for every lifecycle step, in the marketplace database, in the same
transaction as the change, append-only, and readable through one timeline shape for both kinds."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connections, transaction

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.tenancy import tenant_context
from marketplace_app.models import MarketplaceInvoiceAuditLog, MarketplacePaymentConfirmationAudit
from tenant_app.models import InvoiceAuditLog, PaymentConfirmationAudit
from tests.api.conftest import bearer, body, member, send_json
from tests.api.test_marketplace_endpoints import person, provider_with_login
from tests.factories.marketplace import make_transaction
from tests.factories.tenant import ContactFactory

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])
M = "/api/v1/marketplace/"
LINES = [{"description": "Full groom", "unit_price_cents": 6000, "quantity": 1}]


def _full_marketplace_lifecycle():
    provider_login, provider = provider_with_login()
    buyer_login, buyer = person()
    tx = make_transaction(provider, buyer, amount_cents=6000)
    seller, client = bearer(provider_login), bearer(buyer_login)
    created = send_json(seller, "post", f"{M}invoices/", {"transaction_id": tx.pk, "line_items": LINES})
    assert created.status_code == 201, created.content
    url = f"{M}invoices/{body(created)['id']}/"
    steps = [
        (seller, {"action": "send", "version": 1}),
        (client, {"action": "mark_paid", "version": 2, "receipt_url": "https://files.test/r.pdf"}),
        (seller, {"action": "confirm_payment", "version": 3}),
        (seller, {"action": "refund", "amount_cents": 1500, "version": 4}),
    ]
    for who, payload in steps:
        answer = send_json(who, "patch", url, payload)
        assert answer.status_code == 200, answer.content
    return body(created)["id"], url, seller, client, provider, buyer


def test_a_full_marketplace_lifecycle_writes_invoice_and_confirmation_audit_rows():
    invoice_id, url, seller, client, provider, buyer = _full_marketplace_lifecycle()
    changes = list(
        MarketplaceInvoiceAuditLog.objects.using(MARKETPLACE_DB)
        .filter(invoice_id=invoice_id)
        .order_by("id")
        .values_list("action", "old_status", "new_status", "changed_by_id")
    )
    assert changes == [
        ("created", "", "draft", provider.user_id),
        ("sent", "draft", "sent", provider.user_id),
        ("buyer_marked_paid", "sent", "pending_confirmation", buyer.pk),
        ("payment_confirmed", "pending_confirmation", "paid", provider.user_id),
        ("refunded", "paid", "partially_refunded", provider.user_id),
    ]
    confirmations = list(
        MarketplacePaymentConfirmationAudit.objects.using(MARKETPLACE_DB)
        .filter(invoice_id=invoice_id)
        .order_by("id")
        .values_list("event", "marked_paid_by_id", "confirmed_by_id")
    )
    assert confirmations == [("buyer_marked_paid", buyer.pk, None), ("confirmed", None, provider.user_id)]
    # Nothing of a marketplace invoice lands in the tenant database's audit tables.
    assert not InvoiceAuditLog.objects.exists() and not PaymentConfirmationAudit.objects.exists()

    # Both sides read it through the API, one shape; anyone else gets the invoice's 404.
    for reader in (seller, client):
        answer = reader.get(f"{url}timeline/")
        assert answer.status_code == 200, answer.content
        entries = body(answer)["results"]
        assert [(e["source"], e["action"]) for e in entries] == [
            ("change", "created"),
            ("change", "sent"),
            ("change", "buyer_marked_paid"),
            ("payment_confirmation", "buyer_marked_paid"),
            ("change", "payment_confirmed"),
            ("payment_confirmation", "confirmed"),
            ("change", "refunded"),
        ]
        assert entries[2]["actor"] == f"marketplace_user:{buyer.pk}"
        assert set(entries[0]) == {
            "at",
            "source",
            "action",
            "old_status",
            "new_status",
            "payment_mode",
            "actor",
            "metadata",
        }
    outsider_login, _ = person()
    assert bearer(outsider_login).get(f"{url}timeline/").status_code == 404


def test_marketplace_audit_rows_are_append_only_for_the_application_role():
    invoice_id, *_ = _full_marketplace_lifecycle()
    for table in ("marketplace_invoice_audit_log", "marketplace_payment_confirmation_audit"):
        for statement in (
            f"UPDATE {table} SET metadata = '{{}}' WHERE invoice_id = %s",
            f"DELETE FROM {table} WHERE invoice_id = %s",
        ):
            with pytest.raises(DatabaseError), transaction.atomic(using=MARKETPLACE_DB):
                with connections[MARKETPLACE_DB].cursor() as cursor:
                    cursor.execute(statement, [invoice_id])


def test_a_refused_step_leaves_no_audit_row():
    invoice_id, url, seller, client, *_ = _full_marketplace_lifecycle()
    before = MarketplaceInvoiceAuditLog.objects.using(MARKETPLACE_DB).filter(invoice_id=invoice_id).count()
    stale = send_json(seller, "patch", url, {"action": "refund", "amount_cents": 100, "version": 1})
    assert (stale.status_code, body(stale)["code"]) == (409, "version_conflict")
    illegal = send_json(seller, "patch", url, {"action": "send", "version": 5})
    assert (illegal.status_code, body(illegal)["code"]) == (409, "illegal_transition")
    assert MarketplaceInvoiceAuditLog.objects.using(MARKETPLACE_DB).filter(invoice_id=invoice_id).count() == before


def test_the_tenant_timeline_has_the_same_shape_and_the_invoice_s_readers(two_tenants):
    tenant, other = two_tenants
    with tenant_context(tenant.pk):
        contact = ContactFactory(tenant=tenant)
    owner = bearer(tenant.owner_user, tenant_id=tenant.pk)
    created = send_json(
        owner,
        "post",
        "/api/v1/invoices/",
        {
            "contact_id": contact.pk,
            "lines": [{"description": "Puppy deposit", "unit_price_cents": 50_000, "quantity": 1}],
        },
    )
    assert created.status_code == 201, created.content
    url = f"/api/v1/invoices/{body(created)['id']}/"
    assert send_json(owner, "patch", url, {"action": "send", "version": 1}).status_code == 200
    viewer = bearer(member(tenant, "viewer"), tenant_id=tenant.pk)
    answer = viewer.get(f"{url}timeline/")
    assert answer.status_code == 200, answer.content
    entries = body(answer)["results"]
    assert [(e["source"], e["action"], e["old_status"], e["new_status"], e["actor"]) for e in entries] == [
        ("change", "created", None, "draft", f"user:{tenant.owner_user.pk}"),
        ("change", "sent", "draft", "sent", f"user:{tenant.owner_user.pk}"),
    ]
    assert set(entries[0]) == {
        "at",
        "source",
        "action",
        "old_status",
        "new_status",
        "payment_mode",
        "actor",
        "metadata",
    }
    assert bearer(other.owner_user, tenant_id=other.pk).get(f"{url}timeline/").status_code == 404
