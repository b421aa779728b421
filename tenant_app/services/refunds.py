"""Refunds of tenant invoices: a credit note and a refund row, or the refund through the channel that
took the money.
"""

from __future__ import annotations

from django.db import transaction

from breederhq.errors import Conflict, ValidationFailed
from breederhq.invoicing.status import REFUNDABLE
from breederhq.money import check_amount
from breederhq.tenancy import require_tenant_id
from tenant_app.models import INVOICE_TRANSITIONS, CreditNote, Invoice, InvoiceStatus, Payment, PaymentMode, User
from tenant_app.services.common import DB
from tenant_app.services.invoices import _allocate_number, _change, _check_version, _lock_invoice
from tenant_app.services.payments import _existing_payment


def _refundable_cents(invoice: Invoice, amount_cents: int) -> int:
    if invoice.status not in REFUNDABLE:
        INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.REFUNDED)
    refundable = invoice.paid_cents - invoice.refunded_cents
    if amount_cents > refundable:
        raise Conflict(
            f"{amount_cents} exceeds the refundable {refundable} of invoice {invoice.invoice_number}.",
            code="refund_exceeds_refundable",
            extra={"refundable_cents": refundable},
        )
    return refundable


def _replayed_refund(invoice: Invoice, *, idempotency_key: str, amount_cents: int) -> CreditNote | None:
    existing = _existing_payment(idempotency_key)
    if existing is None:
        return None
    if (existing.invoice_id, existing.amount_cents, existing.kind) != (invoice.pk, amount_cents, Payment.Kind.REFUND):
        raise Conflict("This idempotency key was used for a different payment.", code="idempotency_key_reused")
    return existing.credit_note


def invoice_refund(
    *,
    invoice_id: int,
    amount_cents: int,
    reason: str,
    idempotency_key: str,
    actor: User | None = None,
    method: str | None = None,
    external_reference: str = "",
    expected_version: int | None = None,
    through_provider: bool = False,
    refunded_total_cents: int | None = None,
) -> CreditNote | None:
    """Give money back: issues a credit note (own number) and a refund row; partial or full.

    The same `idempotency_key` returns the first credit note. `expected_version` (people acting through
    the API) is compared under the invoice's row lock. More than what was paid and not yet refunded is
    a 409 `refund_exceeds_refundable`.

    `through_provider` (a person asks for the refund): the money goes back through the channel that
    took it, keyed by `idempotency_key` (the client's), via `payments_app.refunds`, which records it
    here afterwards. Without it (the Stripe webhook, or the refund path recording what Stripe
    accepted) the refund already happened and is only recorded here; `refunded_total_cents` (the
    processor's cumulative total, Stripe's `amount_refunded`) then makes it record only what the
    ledger lacks, computed under the lock, so a refund recorded meanwhile is never counted twice;
    None when nothing is missing.
    """
    check_amount("amount_cents", amount_cents, allow_zero=False)
    if not idempotency_key:
        raise ValidationFailed("An idempotency key is required.", field_errors={"idempotency_key": ["required"]})
    if through_provider:
        # A person asks: the money goes back through the channel that took it, keyed by their key
        # (payments_app/refunds/), and is recorded here once it has.
        from breederhq.invoicing.payments import invoice_refund_through_channel

        return invoice_refund_through_channel(
            invoice_kind="tenant",
            invoice_id=invoice_id,
            tenant_id=require_tenant_id(using=DB),
            amount_cents=amount_cents,
            key=idempotency_key,
            reason=reason,
            expected_version=expected_version,
            actor=actor,
        ).record
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if refunded_total_cents is not None:
            amount_cents = refunded_total_cents - invoice.refunded_cents
            if amount_cents <= 0:
                return None
        replayed = _replayed_refund(invoice, idempotency_key=idempotency_key, amount_cents=amount_cents)
        if replayed is not None:
            return replayed
        _refundable_cents(invoice, amount_cents)
        if method is None:
            method = (
                Payment.Method.STRIPE if invoice.payment_mode_snapshot == PaymentMode.STRIPE else Payment.Method.MANUAL
            )
        number = _allocate_number(
            tenant_id=invoice.tenant_id,
            kind="credit_note",
            taken=CreditNote.objects.filter(tenant_id=invoice.tenant_id),
            field="credit_note_number",
            prefix="CN-",
        )
        credit_note = CreditNote.objects.create(
            tenant_id=invoice.tenant_id,
            invoice=invoice,
            credit_note_number=number,
            currency=invoice.currency,
            amount_cents=amount_cents,
            reason=reason,
            created_by=actor,
        )
        Payment.objects.create(
            tenant_id=invoice.tenant_id,
            invoice=invoice,
            kind=Payment.Kind.REFUND,
            method=method,
            amount_cents=amount_cents,
            currency=invoice.currency,
            external_reference=external_reference,
            idempotency_key=idempotency_key,
            credit_note=credit_note,
            recorded_by=actor,
        )
        refunded = invoice.refunded_cents + amount_cents
        new_status = InvoiceStatus.REFUNDED if refunded == invoice.paid_cents else InvoiceStatus.PARTIALLY_REFUNDED
        _change(
            invoice,
            action="refunded",
            new_status=new_status,
            fields={"refunded_cents": refunded},
            actor=actor,
            metadata={
                "credit_note": credit_note.credit_note_number,
                "amount_cents": amount_cents,
                "reason": reason,
                **(
                    {"stripe_refund_id": external_reference}
                    if method == Payment.Method.STRIPE and external_reference.startswith("re_")
                    else {}
                ),
            },
        )
    return credit_note
