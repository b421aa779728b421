"""Invoice services: lifecycle, audit rows in the same transaction, refusals that change nothing."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, VersionConflict
from breederhq.tenancy import UnscopedTenantLookup, tenant_context
from tenant_app import services
from tenant_app.models import (
    CreditNote,
    Invoice,
    InvoiceAuditLog,
    InvoiceLineItem,
    Payment,
    PaymentConfirmationAudit,
)
from tests.factories.tenant import ContactFactory, TenantFactory, make_invoice, receipt_file

pytestmark = pytest.mark.django_db(databases=[TENANT_DB, MARKETPLACE_DB])


@pytest.fixture
def tenant():
    tenant = TenantFactory(marketplace_payment_mode="manual")
    with tenant_context(tenant.pk):
        yield tenant


@pytest.fixture
def owner(tenant):
    return tenant.owner_user


@pytest.fixture
def contact(tenant):
    return ContactFactory(tenant=tenant)


def audit_trail(invoice):
    return list(InvoiceAuditLog.objects.filter(invoice=invoice).values_list("action", "old_status", "new_status"))


def test_services_refuse_to_run_without_a_tenant_context():
    with pytest.raises(UnscopedTenantLookup):
        services.contact_create(kind="person", last_name="Nobody")
    assert InvoiceAuditLog.objects.count() == 0


def test_create_snapshots_the_payment_mode_and_numbers_per_tenant(tenant, contact, owner):
    first = make_invoice(contact=contact, amounts=(30_000, 2_500), tax_cents=1_000, actor=owner)
    second = make_invoice(contact=contact)
    first.refresh_from_db()
    assert (first.invoice_number, second.invoice_number) == ("INV-000001", "INV-000002")
    assert (first.subtotal_cents, first.tax_cents, first.total_cents, first.paid_cents) == (32_500, 1_000, 33_500, 0)
    assert (first.status, first.version, first.payment_mode_snapshot) == ("draft", 1, "manual")
    assert first.payment_mode_locked_at is not None
    assert list(
        first.line_items.values_list("description", "quantity", "unit_price_cents", "total_cents", "tenant_id")
    ) == [("Line 0", 1, 30_000, 30_000, tenant.pk), ("Line 1", 1, 2_500, 2_500, tenant.pk)]
    assert audit_trail(first) == [("created", "", "draft")]
    assert InvoiceAuditLog.objects.get(invoice=first).changed_by == owner
    other = TenantFactory()
    with tenant_context(other.pk):
        assert make_invoice(contact=ContactFactory(tenant=other)).invoice_number == "INV-000001"


def test_later_mode_switch_does_not_change_the_snapshot(tenant, contact):
    invoice = make_invoice(contact=contact)
    services.tenant_set_payment_mode(mode="stripe")
    invoice.refresh_from_db()
    assert invoice.payment_mode_snapshot == "manual"
    assert make_invoice(contact=contact).payment_mode_snapshot == "stripe"


def test_marketplace_invoice_refused_when_marketplace_payments_are_disabled(tenant, contact):
    services.tenant_set_payment_mode(mode="disabled")
    with pytest.raises(ValidationFailed):
        make_invoice(contact=contact, is_marketplace_invoice=True)
    assert Invoice.objects.count() == 0


def test_invoice_for_another_tenants_contact_is_not_found(tenant):
    other = TenantFactory()
    with tenant_context(other.pk):
        foreign = ContactFactory(tenant=other)
    with pytest.raises(NotFound):
        make_invoice(contact=foreign)
    assert Invoice.objects.count() == 0


def test_manual_payment_flow_with_confirmation(tenant, contact, owner):
    invoice = make_invoice(contact=contact, amounts=(50_000,))
    services.invoice_send(invoice_id=invoice.pk, expected_version=1, actor=owner)
    with pytest.raises(ValidationFailed):
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=None)
    services.invoice_buyer_mark_paid(
        invoice_id=invoice.pk, receipt=receipt_file(), reference="IBAN ref 9", marketplace_user_id=None
    )
    invoice.refresh_from_db()
    assert invoice.status == "pending_confirmation"
    assert invoice.buyer_payment_receipt.name.startswith(f"tenants/{tenant.pk}/receipts/{invoice.pk}/")
    services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner, reference="IBAN ref 9")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_cents, invoice.version) == ("paid", 50_000, 4)
    assert audit_trail(invoice) == [
        ("created", "", "draft"),
        ("sent", "draft", "sent"),
        ("buyer_marked_paid", "sent", "pending_confirmation"),
        ("payment_confirmed", "pending_confirmation", "paid"),
    ]
    assert list(Payment.objects.values_list("kind", "method", "amount_cents")) == [("payment", "manual", 50_000)]
    assert list(PaymentConfirmationAudit.objects.values_list("event", "payment_reference", "confirmed_by")) == [
        ("buyer_marked_paid", "IBAN ref 9", None),
        ("confirmed", "IBAN ref 9", owner.pk),
    ]
    # A second confirmation is a no-op.
    services.invoice_confirm_payment(invoice_id=invoice.pk, actor=owner)
    assert Payment.objects.count() == 1 and InvoiceAuditLog.objects.filter(invoice=invoice).count() == 4


def test_buyer_claim_needs_manual_mode_and_the_linked_buyer(tenant, owner):
    contact = ContactFactory(tenant=tenant, marketplace_user_id=77)
    invoice = make_invoice(contact=contact)
    services.invoice_send(invoice_id=invoice.pk)
    from breederhq.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file(), marketplace_user_id=78)
    services.tenant_set_payment_mode(mode="stripe")
    stripe_invoice = make_invoice(contact=contact)
    services.invoice_send(invoice_id=stripe_invoice.pk)
    with pytest.raises(ValidationFailed, match="paid through stripe"):
        services.invoice_buyer_mark_paid(invoice_id=stripe_invoice.pk, receipt=receipt_file(), marketplace_user_id=77)
    assert list(Invoice.objects.order_by("id").values_list("status", flat=True)) == ["sent", "sent"]
    assert PaymentConfirmationAudit.objects.count() == 0


def test_the_receipt_check_constraint_holds_in_the_database(tenant, contact):
    invoice = make_invoice(contact=contact)
    with pytest.raises(DatabaseError, match="invoices_manual_mark_paid_needs_receipt"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(buyer_marked_paid_at=timezone.now())


def test_rejection_and_expiry_send_the_claim_back(tenant, contact, owner):
    rejected, stale, fresh = (make_invoice(contact=contact) for _ in range(3))
    for invoice in (rejected, stale, fresh):
        services.invoice_send(invoice_id=invoice.pk)
        services.invoice_buyer_mark_paid(invoice_id=invoice.pk, receipt=receipt_file())
    services.invoice_reject_payment(invoice_id=rejected.pk, actor=owner, reason="nothing arrived")
    Invoice.objects.filter(pk=stale.pk).update(buyer_marked_paid_at=timezone.now() - timedelta(days=7, minutes=1))
    Invoice.objects.filter(pk=fresh.pk).update(buyer_marked_paid_at=timezone.now() - timedelta(days=6, hours=23))
    assert services.invoice_expire_pending_confirmations() == [stale.pk]
    statuses = dict(Invoice.objects.values_list("pk", "status"))
    assert statuses == {rejected.pk: "sent", stale.pk: "sent", fresh.pk: "pending_confirmation"}
    assert audit_trail(stale)[-1] == ("confirmation_expired", "pending_confirmation", "sent")
    assert InvoiceAuditLog.objects.get(invoice=stale, action="confirmation_expired").actor == "system:expire_pending"
    assert list(
        PaymentConfirmationAudit.objects.filter(event__in=["rejected", "expired"]).values_list("invoice_id", "event")
    ) == [(rejected.pk, "rejected"), (stale.pk, "expired")]
    assert services.invoice_expire_pending_confirmations() == []


def test_partial_payments_recalculate_the_balance_and_are_idempotent(tenant, contact, owner):
    invoice = make_invoice(contact=contact, amounts=(10_000,))
    with pytest.raises(IllegalTransition):
        services.invoice_record_payment(invoice_id=invoice.pk, amount_cents=1, method="manual", idempotency_key="k0")
    services.invoice_send(invoice_id=invoice.pk)
    first = services.invoice_record_payment(
        invoice_id=invoice.pk, amount_cents=4_000, method="manual", idempotency_key="k1", actor=owner
    )
    again = services.invoice_record_payment(
        invoice_id=invoice.pk, amount_cents=4_000, method="manual", idempotency_key="k1", actor=owner
    )
    assert again.pk == first.pk
    with pytest.raises(Conflict, match="different payment"):
        services.invoice_record_payment(
            invoice_id=invoice.pk, amount_cents=5_000, method="manual", idempotency_key="k1"
        )
    with pytest.raises(ValidationFailed, match="exceeds the balance"):
        services.invoice_record_payment(
            invoice_id=invoice.pk, amount_cents=6_001, method="manual", idempotency_key="k2"
        )
    with pytest.raises(ValidationFailed, match="does not match"):
        services.invoice_record_payment(invoice_id=invoice.pk, amount_cents=100, method="stripe", idempotency_key="k3")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_cents) == ("sent", 4_000)
    services.invoice_record_payment(invoice_id=invoice.pk, amount_cents=6_000, method="other", idempotency_key="k4")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_cents, invoice.paid_at is not None) == ("paid", 10_000, True)
    assert audit_trail(invoice)[-2:] == [("payment_recorded", "sent", "sent"), ("payment_recorded", "sent", "paid")]
    assert Payment.objects.count() == 2


def test_refunds_issue_numbered_credit_notes(tenant, contact, owner):
    invoice = make_invoice(contact=contact, amounts=(10_000,))
    services.invoice_send(invoice_id=invoice.pk)
    with pytest.raises(IllegalTransition):
        services.invoice_refund(invoice_id=invoice.pk, amount_cents=1, reason="x", idempotency_key="r0")
    services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="cash", actor=owner)
    other = make_invoice(contact=contact)
    services.invoice_send(invoice_id=other.pk)
    with pytest.raises(Conflict, match="another invoice"):
        services.invoice_mark_paid(invoice_id=other.pk, method="manual", idempotency_key="cash")
    assert Invoice.objects.get(pk=other.pk).status == "sent"
    cn1 = services.invoice_refund(invoice_id=invoice.pk, amount_cents=3_000, reason="late", idempotency_key="r1")
    assert (
        services.invoice_refund(invoice_id=invoice.pk, amount_cents=3_000, reason="late", idempotency_key="r1") == cn1
    )
    with pytest.raises(Conflict, match="exceeds the refundable 7000"):
        services.invoice_refund(invoice_id=invoice.pk, amount_cents=7_001, reason="x", idempotency_key="r2")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_cents) == ("partially_refunded", 3_000)
    cn2 = services.invoice_refund(invoice_id=invoice.pk, amount_cents=2_000, reason="more", idempotency_key="r3")
    cn3 = services.invoice_refund(invoice_id=invoice.pk, amount_cents=5_000, reason="rest", idempotency_key="r4")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_cents, invoice.refunded_cents) == ("refunded", 10_000, 10_000)
    assert [cn.credit_note_number for cn in (cn1, cn2, cn3)] == ["CN-000001", "CN-000002", "CN-000003"]
    assert list(Payment.objects.filter(kind="refund").order_by("id").values_list("amount_cents", "credit_note_id")) == [
        (3_000, cn1.pk),
        (2_000, cn2.pk),
        (5_000, cn3.pk),
    ]
    assert [row[2] for row in audit_trail(invoice)[-3:]] == ["partially_refunded", "partially_refunded", "refunded"]
    with pytest.raises(IllegalTransition):
        services.invoice_refund(invoice_id=invoice.pk, amount_cents=1, reason="x", idempotency_key="r5")
    assert CreditNote.objects.count() == 3


def test_a_sent_invoice_is_never_edited_or_hard_deleted(tenant, contact, owner):
    invoice = make_invoice(contact=contact, amounts=(10_000,))
    services.invoice_update_draft(
        invoice_id=invoice.pk, expected_version=1, lines=[services.LineInput("Puppy deposit", 20_000, 2)], tax_cents=500
    )
    invoice.refresh_from_db()
    assert (invoice.subtotal_cents, invoice.total_cents, invoice.version) == (40_000, 40_500, 2)
    services.invoice_send(invoice_id=invoice.pk, expected_version=2)
    with pytest.raises(Conflict, match="only drafts are edited"):
        services.invoice_update_draft(invoice_id=invoice.pk, expected_version=3, notes="changed")
    # Even bypassing the services, the database refuses.
    with pytest.raises(DatabaseError, match="never edited"), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(total_cents=1, subtotal_cents=1, tax_cents=0)
    with pytest.raises(DatabaseError, match="lines of an issued invoice"), transaction.atomic():
        InvoiceLineItem.objects.filter(invoice=invoice).update(description="other")
    with pytest.raises(DatabaseError, match="never deleted"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM invoices WHERE id = %s", [invoice.pk])
    with pytest.raises(Conflict, match="void it before deleting"):
        services.invoice_delete(invoice_id=invoice.pk)
    with pytest.raises(DatabaseError, match="invoices_only_draft_or_void_deleted"), transaction.atomic():
        invoice.delete()
    invoice.refresh_from_db()
    assert (invoice.total_cents, invoice.status, invoice.deleted_at) == (40_500, "sent", None)


def test_correction_is_void_and_reissue(tenant, contact, owner):
    invoice = make_invoice(contact=contact, amounts=(10_000,))
    services.invoice_send(invoice_id=invoice.pk)
    new = services.invoice_reissue(
        invoice_id=invoice.pk, actor=owner, lines=[services.LineInput("Corrected", 9_000)], reason="wrong price"
    )
    invoice.refresh_from_db()
    assert (invoice.status, new.status, new.replaces_id, new.total_cents) == ("void", "draft", invoice.pk, 9_000)
    assert (invoice.invoice_number, new.invoice_number) == ("INV-000001", "INV-000002")
    assert audit_trail(invoice)[-1] == ("voided", "sent", "void")
    services.invoice_delete(invoice_id=invoice.pk, actor=owner)
    assert not Invoice.objects.filter(pk=invoice.pk).exists()
    assert Invoice.all_objects.get(pk=invoice.pk).deleted_at is not None


def test_void_is_refused_once_money_was_received(tenant, contact):
    invoice = make_invoice(contact=contact, amounts=(10_000,))
    services.invoice_send(invoice_id=invoice.pk)
    services.invoice_record_payment(invoice_id=invoice.pk, amount_cents=100, method="manual", idempotency_key="p")
    with pytest.raises(Conflict, match="record a refund"):
        services.invoice_void(invoice_id=invoice.pk)
    assert Invoice.objects.get(pk=invoice.pk).status == "sent"


def test_stale_version_is_a_conflict_and_changes_nothing(tenant, contact):
    invoice = make_invoice(contact=contact)
    services.invoice_update_draft(invoice_id=invoice.pk, expected_version=1, notes="first")
    with pytest.raises(VersionConflict) as excinfo:
        services.invoice_update_draft(invoice_id=invoice.pk, expected_version=1, notes="second")
    assert excinfo.value.status == 409 and excinfo.value.extra == {"current_version": 2}
    invoice.refresh_from_db()
    assert (invoice.notes, invoice.version) == ("first", 2)
    assert InvoiceAuditLog.objects.filter(invoice=invoice).count() == 2


def test_illegal_transitions_are_409_and_write_no_audit(tenant, contact):
    invoice = make_invoice(contact=contact)
    services.invoice_void(invoice_id=invoice.pk)
    for call in (
        lambda: services.invoice_send(invoice_id=invoice.pk),
        lambda: services.invoice_mark_paid(invoice_id=invoice.pk, method="manual", idempotency_key="x"),
        lambda: services.invoice_void(invoice_id=invoice.pk),
    ):
        with pytest.raises(IllegalTransition) as excinfo:
            call()
        assert excinfo.value.status == 409
    assert audit_trail(invoice) == [("created", "", "draft"), ("voided", "draft", "void")]


def test_reconciliation_status_changes_are_audited(tenant, contact):
    invoice = make_invoice(contact=contact)
    services.invoice_set_reconciliation_status(invoice_id=invoice.pk, status="mismatch", actor_label="stripe")
    services.invoice_set_reconciliation_status(invoice_id=invoice.pk, status="mismatch")
    invoice.refresh_from_db()
    assert (invoice.reconciliation_status, invoice.version) == ("mismatch", 2)
    assert audit_trail(invoice)[-1] == ("reconciliation", "draft", "draft")
