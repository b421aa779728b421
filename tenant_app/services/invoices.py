"""Tenant invoice writes: the invoice helpers (numbering, lifecycle steps bound to this kind, lines),
create, edit a draft, send, void, reissue, delete, reconciliation status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from breederhq.currencies import check_stripe_charge
from breederhq.currencies import currency as currency_facts
from breederhq.errors import Conflict, NotFound, ValidationFailed
from breederhq.invoicing import lifecycle
from breederhq.invoicing.due_dates import check_due_date
from breederhq.invoicing.numbering import first_free_number, format_number
from breederhq.money import check_amount, check_lines
from breederhq.tenancy import require_tenant_id
from tenant_app.invoicing import TENANT_INVOICES as KIND
from tenant_app.models import (
    INVOICE_TRANSITIONS,
    Contact,
    DocumentSequence,
    Invoice,
    InvoiceLineItem,
    InvoiceStatus,
    PaymentMode,
    Tenant,
    User,
)
from tenant_app.services.common import DB


@dataclass(frozen=True)
class LineInput:
    description: str
    unit_price_cents: int
    quantity: int = 1


def _next_number(*, tenant_id: int, kind: str) -> int:
    """The next number in the tenant's sequence for `kind`; rolls back with the transaction."""
    with connections[DB].cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenant_document_sequences (tenant_id, kind, last_value) VALUES (%s, %s, 1) "
            "ON CONFLICT (tenant_id, kind) DO UPDATE "
            "SET last_value = tenant_document_sequences.last_value + 1 RETURNING last_value",
            [tenant_id, kind],
        )
        return cursor.fetchone()[0]


def _allocate_number(*, tenant_id: int, kind: str, taken: QuerySet, field: str, prefix: str) -> str:
    """The next number of the tenant's sequence for `kind` that no document in `taken` carries yet
    (imported documents may be ahead of the sequence); the sequence moves past what it skipped."""
    number = _next_number(tenant_id=tenant_id, kind=kind)
    free = first_free_number(taken, field, prefix=prefix, start=number)
    if free != number:
        DocumentSequence.objects.using(DB).filter(tenant_id=tenant_id, kind=kind).update(last_value=free)
    return format_number(prefix, free)


# The lifecycle steps are the invoice core's (breederhq/invoicing/lifecycle.py), bound to this kind.


def _lock_invoice(invoice_id: int) -> Invoice:
    return lifecycle.lock(KIND, invoice_id)


def _check_version(invoice: Invoice, expected_version: int | None) -> None:
    lifecycle.check_version(KIND, invoice, expected_version)


def _change(
    invoice: Invoice,
    *,
    action: str,
    fields: dict,
    new_status: str | None = None,
    actor: User | None,
    actor_label: str = "",
    metadata: dict | None = None,
) -> Invoice:
    """Apply one change to a locked invoice: transition check, version bump, save, audit row, emails,
    effects (breederhq/invoicing/lifecycle.py `change`)."""
    return lifecycle.change(
        KIND,
        invoice,
        action=action,
        fields=fields,
        new_status=new_status,
        actor=actor,
        actor_label=actor_label,
        metadata=metadata,
    )


def _confirmation(invoice: Invoice, *, event: str, confirmed_by: User | None = None, **columns) -> None:
    lifecycle.confirmation(KIND, invoice, event=event, confirmed_by=confirmed_by, **columns)


def _validate_lines(lines: list[LineInput]) -> None:
    if not lines:
        raise ValidationFailed("An invoice needs at least one line.", field_errors={"lines": ["empty"]})
    errors = []
    for index, line in enumerate(lines):
        if (
            not isinstance(line.unit_price_cents, int)
            or isinstance(line.unit_price_cents, bool)
            or line.unit_price_cents < 0
        ):
            errors.append(f"line {index}: unit_price_cents must be a non-negative integer")
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool) or line.quantity < 1:
            errors.append(f"line {index}: quantity must be a positive integer")
        if not line.description.strip():
            errors.append(f"line {index}: description is required")
    if errors:
        raise ValidationFailed("Invalid invoice lines.", field_errors={"lines": errors})
    check_lines(lines)  # the money bounds: no line, subtotal or total can pass BIGINT


def _write_lines(invoice: Invoice, lines: list[LineInput]) -> int:
    InvoiceLineItem.objects.bulk_create(
        [
            InvoiceLineItem(
                tenant_id=invoice.tenant_id,
                invoice=invoice,
                description=line.description,
                quantity=line.quantity,
                unit_price_cents=line.unit_price_cents,
                total_cents=line.quantity * line.unit_price_cents,
                sort_order=index,
            )
            for index, line in enumerate(lines)
        ]
    )
    return sum(line.quantity * line.unit_price_cents for line in lines)


def invoice_create(
    *,
    contact_id: int,
    lines: list[LineInput],
    currency: str | None = None,
    tax_cents: int = 0,
    notes: str = "",
    due_date: date | None = None,
    is_marketplace_invoice: bool = False,
    actor: User | None = None,
    replaces: Invoice | None = None,
) -> Invoice:
    """A draft invoice. The tenant row is locked FOR UPDATE while its payment mode is copied into
    `payment_mode_snapshot`, so a concurrent mode switch either happens before (and is what the
    invoice gets) or waits until this invoice exists. Everything later reads the snapshot."""
    _validate_lines(lines)
    check_due_date(due_date)
    if currency is not None:
        currency_facts(currency)  # 400 unsupported_currency
    check_amount("tax_cents", tax_cents)
    check_lines(lines, tax_cents=tax_cents, currency=currency)
    with transaction.atomic(using=DB):
        tenant_id = require_tenant_id(using=DB)
        tenant = Tenant.objects.select_for_update().get(pk=tenant_id)
        if currency is None:  # none named: the tenant's own, whose step the amounts must keep
            currency = tenant.default_currency
            check_lines(lines, tax_cents=tax_cents, currency=currency)
        mode = tenant.marketplace_payment_mode
        fallback = None
        if mode == PaymentMode.STRIPE:
            from breederhq.invoicing.payments import stripe_mode_fallback

            fallback = stripe_mode_fallback(tenant_id=tenant_id)
            if fallback is not None and not fallback.allowed:
                raise ValidationFailed(
                    f"Stripe cannot take this payment now ({fallback.reason}).", code="stripe_unavailable"
                )
            if fallback is not None:
                mode = PaymentMode.MANUAL
        if is_marketplace_invoice and mode == PaymentMode.DISABLED:
            raise ValidationFailed(
                "Marketplace payments are disabled for this tenant.",
                field_errors={"is_marketplace_invoice": ["payment mode is 'disabled'"]},
            )
        contact = Contact.objects.filter(tenant_id=tenant_id, pk=contact_id).first()
        if contact is None:
            raise NotFound(f"Contact {contact_id} not found.")
        number = _allocate_number(
            tenant_id=tenant_id,
            kind="invoice",
            taken=Invoice.all_objects.filter(tenant_id=tenant_id),
            field="invoice_number",
            prefix=tenant.invoice_number_prefix,
        )
        invoice = Invoice.objects.create(
            tenant_id=tenant_id,
            contact=contact,
            invoice_number=number,
            currency=currency,
            payment_mode_snapshot=mode,
            payment_mode_locked_at=timezone.now(),
            notes=notes,
            due_date=due_date,
            is_marketplace_invoice=is_marketplace_invoice,
            created_by=actor,
            replaces=replaces,
        )
        subtotal = _write_lines(invoice, lines)
        invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents = subtotal, tax_cents, subtotal + tax_cents
        invoice.save(update_fields=["subtotal_cents", "tax_cents", "total_cents"])
        metadata = {"replaces": replaces.invoice_number} if replaces else {}
        if fallback is not None:
            metadata["payment_mode_fallback"] = fallback.reason
        lifecycle.audit(KIND, invoice, action="created", old_status="", actor=actor, metadata=metadata)
        if fallback is not None:
            from breederhq.invoicing.payments import invoice_payment_record_fallback

            invoice_payment_record_fallback(
                invoice_kind="tenant",
                invoice_id=invoice.pk,
                tenant_id=tenant_id,
                reason=fallback.reason,
                amount_cents=invoice.total_cents,
                currency=invoice.currency,
                connect_account_id=fallback.account_id,
            )
    return invoice


def invoice_update_draft(
    *,
    invoice_id: int,
    expected_version: int,
    actor: User | None = None,
    lines: list[LineInput] | None = None,
    tax_cents: int | None = None,
    notes: str | None = None,
    due_date: date | None = None,
) -> Invoice:
    """Edit a draft. A sent invoice is a ledger document: never edited (void and reissue it)."""
    if lines is not None:
        _validate_lines(lines)
    check_due_date(due_date)
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status != InvoiceStatus.DRAFT:
            raise Conflict(
                f"Invoice {invoice.invoice_number} is {invoice.status}: only drafts are edited; void and reissue it.",
                code="invoice_issued",
            )
        fields: dict = {}
        if tax_cents is not None:
            check_amount("tax_cents", tax_cents)
        check_lines(
            lines if lines is not None else list(invoice.line_items.all()),
            tax_cents=invoice.tax_cents if tax_cents is None else tax_cents,
            currency=invoice.currency,
        )
        if lines is not None:
            invoice.line_items.all().delete()
            fields["subtotal_cents"] = _write_lines(invoice, lines)
        if tax_cents is not None:
            fields["tax_cents"] = tax_cents
        if lines is not None or tax_cents is not None:
            fields["total_cents"] = fields.get("subtotal_cents", invoice.subtotal_cents) + fields.get(
                "tax_cents", invoice.tax_cents
            )
        if notes is not None:
            fields["notes"] = notes
        if due_date is not None:
            fields["due_date"] = due_date
        return _change(invoice, action="draft_updated", fields=fields, actor=actor)


def invoice_send(*, invoice_id: int, expected_version: int | None = None, actor: User | None = None) -> Invoice:
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        lifecycle.check_send(KIND, invoice)
        if invoice.total_cents <= 0:
            raise ValidationFailed("An invoice with a zero total is not sent.", field_errors={"total_cents": ["zero"]})
        if invoice.payment_mode_snapshot == PaymentMode.STRIPE:
            check_stripe_charge(invoice.currency, invoice.total_cents)  # Stripe's minimum and maximum
        invoice = _change(
            invoice, action="sent", new_status=InvoiceStatus.SENT, fields={"sent_at": timezone.now()}, actor=actor
        )
        if invoice.payment_mode_snapshot == PaymentMode.STRIPE:
            from breederhq.invoicing.payments import invoice_payment_open_on_commit

            invoice_payment_open_on_commit(
                invoice_kind="tenant", invoice_id=invoice.pk, tenant_id=invoice.tenant_id, using=DB
            )
        return invoice


def invoice_void(
    *, invoice_id: int, actor: User | None = None, reason: str = "", expected_version: int | None = None
) -> Invoice:
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        return _void_locked(invoice, actor=actor, reason=reason)


def _void_locked(invoice: Invoice, *, actor: User | None, reason: str) -> Invoice:
    INVOICE_TRANSITIONS.check(invoice.status, InvoiceStatus.VOID)
    if invoice.paid_cents:
        raise Conflict(
            f"Invoice {invoice.invoice_number} has {invoice.paid_cents} paid: record a refund instead of voiding.",
            code="invoice_has_payments",
        )
    voided = _change(
        invoice,
        action="voided",
        new_status=InvoiceStatus.VOID,
        fields={"voided_at": timezone.now()},
        actor=actor,
        metadata={"reason": reason},
    )
    if invoice.payment_mode_snapshot == PaymentMode.STRIPE:
        from breederhq.invoicing.payments import invoice_payment_cancel_on_void

        # Its open payment intent is cancelled by a worker once this void commits.
        invoice_payment_cancel_on_void(invoice_kind="tenant", invoice_id=invoice.pk, using=DB)
    return voided


def invoice_reissue(
    *,
    invoice_id: int,
    actor: User | None = None,
    lines: list[LineInput] | None = None,
    tax_cents: int | None = None,
    reason: str = "",
) -> Invoice:
    """Correct an issued invoice: void it and create a new draft that names it in `replaces`."""
    with transaction.atomic(using=DB):
        original = _lock_invoice(invoice_id)
        if original.status != InvoiceStatus.VOID:
            _void_locked(original, actor=actor, reason=reason or "reissued")
        if lines is None:
            lines = [
                LineInput(description=li.description, unit_price_cents=li.unit_price_cents, quantity=li.quantity)
                for li in original.line_items.all()
            ]
        return invoice_create(
            contact_id=original.contact_id,
            lines=lines,
            currency=original.currency,
            tax_cents=original.tax_cents if tax_cents is None else tax_cents,
            notes=original.notes,
            due_date=original.due_date,
            is_marketplace_invoice=original.is_marketplace_invoice,
            actor=actor,
            replaces=original,
        )


def invoice_delete(*, invoice_id: int, actor: User | None = None, expected_version: int | None = None) -> None:
    """Soft delete (the row stays: the marketplace may point at it). Only drafts and void invoices."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        _check_version(invoice, expected_version)
        if invoice.status not in (InvoiceStatus.DRAFT, InvoiceStatus.VOID):
            raise Conflict(
                f"Invoice {invoice.invoice_number} is {invoice.status}: void it before deleting it.",
                code="invoice_issued",
            )
        _change(invoice, action="deleted", fields={"deleted_at": timezone.now()}, actor=actor)


def invoice_set_reconciliation_status(
    *, invoice_id: int, status: str, note: str = "", actor: User | None = None, actor_label: str = ""
) -> Invoice:
    """What Stripe says disagrees (or agrees again) with this invoice, or staff closing a disagreement
    (`resolved`, only on an invoice that disagrees: breederhq/invoicing/lifecycle.py)."""
    with transaction.atomic(using=DB):
        invoice = _lock_invoice(invoice_id)
        if invoice.reconciliation_status == status:
            return invoice
        lifecycle.check_reconciliation_change(KIND, invoice, status)
        return _change(
            invoice,
            action="reconciliation",
            fields={"reconciliation_status": status},
            actor=actor,
            actor_label=actor_label,
            metadata={"from": invoice.reconciliation_status, "note": note},
        )
