"""Payments of tenant invoices: the buyer's claim and its confirmation, rejection or expiry, payments
marked or recorded by the provider or the processor.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.files import File
from django.db import transaction
from django.utils import timezone

from breederhq.errors import Conflict, PermissionDenied, ValidationFailed
from breederhq.files import files_removed_on_failure
from breederhq.invoicing import lifecycle
from breederhq.invoicing.status import PAYABLE, SETTLED, ConfirmationEvent
from breederhq.money import check_amount
from breederhq.tenancy import require_tenant_id
from tenant_app.invoicing import TENANT_INVOICES as KIND
from tenant_app.models import INVOICE_TRANSITIONS, Invoice, InvoiceStatus, Payment, PaymentMode, User
from tenant_app.services.common import DB
from tenant_app.services.invoices import _change, _check_version, _confirmation, _lock_invoice

#: A buyer's unconfirmed claim of payment falls back to `sent` after this long.
PENDING_CONFIRMATION_TTL = timedelta(days=7)


def invoice_buyer_mark_paid(
    *,
    invoice_id: int,
    receipt: File | None,
    reference: str = "",
    marketplace_user_id: int | None = None,
    expected_version: int | None = None,
) -> Invoice:
    """The buyer says they paid manually: needs a receipt; the provider then
    confirms or rejects, or it falls back to `sent` after 7 days. A failed write leaves no file."""
    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.payment_mode_snapshot != PaymentMode.MANUAL:
            raise ValidationFailed(
                f"Invoice {invoice.invoice_number} is paid through {invoice.payment_mode_snapshot}, not manually.",
                code="payment_mode_mismatch",
            )
        if receipt is None:
            raise ValidationFailed("A manual payment needs a receipt.", field_errors={"receipt": ["required"]})
        linked = invoice.contact.marketplace_user_id
        if marketplace_user_id is not None and linked is not None and linked != marketplace_user_id:
            raise PermissionDenied("Only the invoice's buyer may mark it paid.")
        INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.PENDING_CONFIRMATION)
        now = timezone.now()
        stored.save(invoice.buyer_payment_receipt, getattr(receipt, "name", None) or "receipt", receipt)
        label = f"marketplace_user:{marketplace_user_id}" if marketplace_user_id else "buyer"
        _change(
            invoice,
            action="buyer_marked_paid",
            new_status=InvoiceStatus.PENDING_CONFIRMATION,
            fields={"buyer_marked_paid_at": now, "buyer_payment_receipt": invoice.buyer_payment_receipt.name},
            actor=None,
            actor_label=label,
            metadata={"reference": reference},
        )
        _confirmation(
            invoice,
            event=ConfirmationEvent.BUYER_MARKED_PAID,
            marked_paid_by_marketplace_user_id=marketplace_user_id,
            marked_paid_at=now,
            payment_method=PaymentMode.MANUAL,
            payment_reference=reference,
        )
    return invoice


def _settle(
    invoice: Invoice,
    *,
    method: str,
    idempotency_key: str,
    external_reference: str,
    actor: User | None,
    actor_label: str,
    action: str,
) -> Payment:
    payment = Payment.objects.create(
        tenant_id=invoice.tenant_id,
        invoice=invoice,
        kind=Payment.Kind.PAYMENT,
        method=method,
        amount_cents=invoice.balance_cents,
        currency=invoice.currency,
        external_reference=external_reference,
        idempotency_key=idempotency_key,
        recorded_by=actor,
    )
    _change(
        invoice,
        action=action,
        new_status=InvoiceStatus.PAID,
        fields={"paid_cents": invoice.total_cents, "paid_at": timezone.now()},
        actor=actor,
        actor_label=actor_label,
        metadata={"payment_id": payment.pk, "method": method, "amount_cents": payment.amount_cents},
    )
    return payment


def _check_method(invoice: Invoice, method: str) -> None:
    if method not in Payment.Method.values:
        raise ValidationFailed(
            "Unknown payment method.", field_errors={"method": [f"not one of {Payment.Method.values}"]}
        )
    # A Stripe payment is only accepted on an invoice created in Stripe mode.
    # Money handed over in person (manual, other) is accepted whatever the mode.
    if method == Payment.Method.STRIPE and invoice.payment_mode_snapshot != PaymentMode.STRIPE:
        raise ValidationFailed(
            f"Invoice {invoice.invoice_number} was created in {invoice.payment_mode_snapshot} mode; "
            f"a Stripe payment does not match it.",
            code="payment_mode_mismatch",
        )


def _close_card_channel(invoice_id: int, method: str) -> None:
    """Money by hand on a Stripe-mode invoice: its open payment intent is cancelled first (no lock
    held here), so the buyer cannot pay it twice (payments_app.intent_cancel.invoice_payment_close_for_manual)."""
    if method == Payment.Method.STRIPE:
        return
    invoice = Invoice.objects.filter(pk=invoice_id).only("payment_mode_snapshot", "status", "tenant_id").first()
    if invoice is None or invoice.payment_mode_snapshot != PaymentMode.STRIPE or invoice.status not in PAYABLE:
        return
    from breederhq.invoicing.payments import invoice_payment_close_for_manual

    invoice_payment_close_for_manual(invoice_kind="tenant", invoice_id=invoice_id, tenant_id=invoice.tenant_id)


def _existing_payment(idempotency_key: str) -> Payment | None:
    return Payment.objects.filter(idempotency_key=idempotency_key).first()


def invoice_mark_paid(
    *,
    invoice_id: int,
    method: str,
    idempotency_key: str,
    external_reference: str = "",
    actor: User | None = None,
    actor_label: str = "",
    expected_version: int | None = None,
) -> Invoice:
    """The processor (Stripe webhook) or the provider confirms the invoice is paid in full.

    Locks the invoice row; if it is already paid (a webhook racing a manual confirmation), this is a
    no-op: one payment, one audit row, whichever path came first. `expected_version` is for people
    acting through the API (compared under the lock, before anything else); webhooks pass none.
    """
    _close_card_channel(invoice_id, method)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        existing = _existing_payment(idempotency_key)
        if existing is not None and existing.invoice_id != invoice.pk:
            raise Conflict(
                "This idempotency key was used for a payment on another invoice.", code="idempotency_key_reused"
            )
        if existing is not None or invoice.status in SETTLED:
            return invoice
        _check_method(invoice, method)
        INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.PAID)
        _settle(
            invoice,
            method=method,
            idempotency_key=idempotency_key,
            external_reference=external_reference,
            actor=actor,
            actor_label=actor_label,
            action="marked_paid",
        )
        _confirmation(
            invoice,
            event=ConfirmationEvent.CONFIRMED,
            marked_paid_at=invoice.buyer_marked_paid_at,
            confirmed_by=actor,
            confirmed_by_actor=actor_label,
            confirmed_at=invoice.paid_at,
            payment_method=method,
            payment_reference=external_reference,
        )
    return invoice


def invoice_confirm_payment(
    *, invoice_id: int, actor: User, reference: str = "", expected_version: int | None = None
) -> Invoice:
    """The provider confirms the buyer's manual payment claim. Idempotent once paid."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status in SETTLED:
            return invoice
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.PAID, what="confirm")
        _settle(
            invoice,
            method=Payment.Method.MANUAL,
            idempotency_key=f"confirm:{invoice.pk}",
            external_reference=reference,
            actor=actor,
            actor_label="",
            action="payment_confirmed",
        )
        _confirmation(
            invoice,
            event=ConfirmationEvent.CONFIRMED,
            marked_paid_at=invoice.buyer_marked_paid_at,
            confirmed_by=actor,
            confirmed_at=invoice.paid_at,
            payment_method=Payment.Method.MANUAL,
            payment_reference=reference,
        )
    return invoice


def invoice_reject_payment(
    *, invoice_id: int, actor: User, reason: str, expected_version: int | None = None
) -> Invoice:
    """The provider did not receive the money the buyer claims: back to `sent`."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.SENT, what="reject")
        marked_at = invoice.buyer_marked_paid_at
        _change(
            invoice,
            action="payment_rejected",
            new_status=InvoiceStatus.SENT,
            fields={"buyer_marked_paid_at": None},
            actor=actor,
            metadata={"reason": reason},
        )
        _confirmation(
            invoice,
            event=ConfirmationEvent.REJECTED,
            marked_paid_at=marked_at,
            confirmed_by=actor,
            confirmed_at=timezone.now(),
            payment_method=PaymentMode.MANUAL,
            metadata={"reason": reason},
        )
    return invoice


def invoice_record_payment(
    *,
    invoice_id: int,
    amount_cents: int,
    method: str,
    idempotency_key: str,
    external_reference: str = "",
    actor: User | None = None,
) -> Payment:
    """Record money received (possibly part of the balance). Idempotent by key: the same key returns
    the first payment. The invoice's balance is recalculated in the same transaction and reaching
    the total makes it `paid`."""
    check_amount("amount_cents", amount_cents, allow_zero=False)
    if not idempotency_key:
        raise ValidationFailed("An idempotency key is required.", field_errors={"idempotency_key": ["required"]})
    if _existing_payment(idempotency_key) is None:
        _close_card_channel(invoice_id, method)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        existing = _existing_payment(idempotency_key)
        if existing is not None:
            if (existing.invoice_id, existing.amount_cents, existing.method, existing.kind) != (
                invoice.pk,
                amount_cents,
                method,
                Payment.Kind.PAYMENT,
            ):
                raise Conflict("This idempotency key was used for a different payment.", code="idempotency_key_reused")
            return existing
        _check_method(invoice, method)
        if invoice.status not in PAYABLE:
            INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.PAID)
        check_amount("amount_cents", amount_cents, currency=invoice.currency)
        if amount_cents > invoice.balance_cents:
            raise ValidationFailed(
                f"{amount_cents} exceeds the balance of {invoice.balance_cents}.",
                field_errors={"amount_cents": [f"at most {invoice.balance_cents}"]},
            )
        payment = Payment.objects.create(
            tenant_id=invoice.tenant_id,
            invoice=invoice,
            kind=Payment.Kind.PAYMENT,
            method=method,
            amount_cents=amount_cents,
            currency=invoice.currency,
            external_reference=external_reference,
            idempotency_key=idempotency_key,
            recorded_by=actor,
        )
        paid = Payment.objects.filter(invoice=invoice, kind=Payment.Kind.PAYMENT).values_list("amount_cents", flat=True)
        paid_cents = sum(paid)
        fields = {"paid_cents": paid_cents}
        new_status = None
        if paid_cents == invoice.total_cents:
            new_status, fields["paid_at"] = InvoiceStatus.PAID, timezone.now()
        _change(
            invoice,
            action="payment_recorded",
            new_status=new_status,
            fields=fields,
            actor=actor,
            metadata={"payment_id": payment.pk, "method": method, "amount_cents": amount_cents},
        )
    return payment


def invoice_expire_payment_claim(*, invoice_id: int, actor: User | None = None, actor_label: str = "") -> Invoice:
    """Expire one buyer claim now (support staff, before the 7-day sweep): back to `sent`, with the
    same confirmation audit row the sweep writes."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        lifecycle.require_claim(KIND, invoice, target=InvoiceStatus.SENT, what="expire")
        marked_at = invoice.buyer_marked_paid_at
        _change(
            invoice,
            action="confirmation_expired",
            new_status=InvoiceStatus.SENT,
            fields={"buyer_marked_paid_at": None},
            actor=actor,
            actor_label=actor_label,
        )
        _confirmation(
            invoice,
            event=ConfirmationEvent.EXPIRED,
            marked_paid_at=marked_at,
            confirmed_by=actor,
            confirmed_by_actor=actor_label,
            confirmed_at=timezone.now(),
            payment_method=PaymentMode.MANUAL,
        )
    return invoice


def invoice_expire_pending_confirmations(*, now: datetime | None = None) -> list[int]:
    """Buyer claims older than 7 days that nobody confirmed fall back to `sent` (current tenant).

    Rows being confirmed right now are skipped (SKIP LOCKED) and seen again by the next run; the
    WHERE clause is re-checked on the locked row, so a claim confirmed meanwhile is left alone.
    """
    now = now or timezone.now()
    expired = []
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        candidates = (
            Invoice.objects.select_for_update(skip_locked=True)
            .filter(
                tenant_id=tenant_id,
                status=InvoiceStatus.PENDING_CONFIRMATION,
                buyer_marked_paid_at__lte=now - PENDING_CONFIRMATION_TTL,
            )
            .order_by("id")
        )
        for invoice in candidates:
            marked_at = invoice.buyer_marked_paid_at
            _change(
                invoice,
                action="confirmation_expired",
                new_status=InvoiceStatus.SENT,
                fields={"buyer_marked_paid_at": None},
                actor=None,
                actor_label="system:expire_pending",
            )
            _confirmation(
                invoice,
                event=ConfirmationEvent.EXPIRED,
                marked_paid_at=marked_at,
                confirmed_by_actor="system:expire_pending",
                confirmed_at=now,
                payment_method=PaymentMode.MANUAL,
            )
            expired.append(invoice.pk)
    return expired
