"""What is exported: the request, the datasets (invoices, payments, refunds, money movements), their
columns and the queries and rows of each source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from breederhq.backoffice.exports.cells import formatted
from breederhq.backoffice.ranges import DateRange
from breederhq.databases import MARKETPLACE_DB, TENANT_DB


@dataclass(frozen=True)
class ExportRequest:
    dataset: str
    range: DateRange
    tenant_id: int | None = None
    provider_id: int | None = None
    reason: str = ""

    @property
    def tenant_side(self) -> bool:
        """Rows of tenants are wanted: no filter, or a tenant named."""
        return self.tenant_id is not None or self.provider_id is None

    @property
    def marketplace_side(self) -> bool:
        return self.provider_id is not None or self.tenant_id is None

    def describe(self) -> str:
        parts = [self.range.describe()]
        if self.tenant_id is not None:
            parts.append(f"tenant #{self.tenant_id}")
        if self.provider_id is not None:
            parts.append(f"provider #{self.provider_id}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Source:
    """One query of a dataset: its database, the queryset (None when the filters exclude it) and
    how one object becomes a row (a dict keyed by the dataset's columns)."""

    database: str
    queryset: Callable[[ExportRequest], object]
    row: Callable[[object], dict]


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    columns: tuple[str, ...]
    sources: tuple[Source, ...] = field(default=())


def _between(queryset, column: str, req: ExportRequest):
    return queryset.filter(**{f"{column}__gte": req.range.start, f"{column}__lt": req.range.end})


# Invoices ---------------------------------------------------------------------------------------------

INVOICE_COLUMNS = (
    "kind",
    "invoice_id",
    "invoice_number",
    "tenant_id",
    "tenant",
    "provider_id",
    "provider",
    "customer",
    "status",
    "payment_mode",
    "currency",
    "subtotal_cents",
    "tax_cents",
    "total_cents",
    "total",
    "paid_cents",
    "refunded_cents",
    "refunded",
    "created_at",
    "sent_at",
    "paid_at",
    "voided_at",
    "due_date",
)


def _tenant_invoices(req: ExportRequest):
    from tenant_app.models import Invoice

    if not req.tenant_side:
        return None
    queryset = Invoice.all_objects.using(TENANT_DB).select_related("tenant", "contact")
    if req.tenant_id is not None:
        queryset = queryset.filter(tenant_id=req.tenant_id)
    return _between(queryset, "created_at", req).order_by("created_at", "id")


def _tenant_invoice_row(invoice) -> dict:
    return {
        "kind": "tenant",
        "invoice_id": invoice.pk,
        "invoice_number": invoice.invoice_number,
        "tenant_id": invoice.tenant_id,
        "tenant": invoice.tenant.name,
        "customer": invoice.contact.display_name,
        "status": invoice.status,
        "payment_mode": invoice.payment_mode_snapshot,
        "currency": invoice.currency,
        "subtotal_cents": invoice.subtotal_cents,
        "tax_cents": invoice.tax_cents,
        "total_cents": invoice.total_cents,
        "total": formatted(invoice.total_cents, invoice.currency),
        "paid_cents": invoice.paid_cents,
        "refunded_cents": invoice.refunded_cents,
        "refunded": formatted(invoice.refunded_cents, invoice.currency),
        "created_at": invoice.created_at,
        "sent_at": invoice.sent_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "due_date": invoice.due_date,
    }


def _marketplace_invoices(req: ExportRequest, *, column: str = "created_at"):
    from marketplace_app.models import MarketplaceInvoice

    if not req.marketplace_side:
        return None
    queryset = MarketplaceInvoice.objects.using(MARKETPLACE_DB).select_related("provider", "client")
    if req.provider_id is not None:
        queryset = queryset.filter(provider_id=req.provider_id)
    return _between(queryset, column, req).order_by(column, "id")


def _marketplace_invoice_row(invoice) -> dict:
    return {
        "kind": "marketplace",
        "invoice_id": invoice.pk,
        "invoice_number": invoice.invoice_number,
        "provider_id": invoice.provider_id,
        "provider": invoice.provider.business_name,
        "customer": invoice.client.display_name,
        "status": invoice.status,
        "payment_mode": invoice.payment_mode_snapshot,
        "currency": invoice.currency,
        "subtotal_cents": invoice.subtotal_cents,
        "tax_cents": invoice.tax_cents,
        "total_cents": invoice.total_cents,
        "total": formatted(invoice.total_cents, invoice.currency),
        "refunded_cents": invoice.refunded_cents,
        "refunded": formatted(invoice.refunded_cents, invoice.currency),
        "created_at": invoice.created_at,
        "sent_at": invoice.sent_at,
        "paid_at": invoice.paid_at,
        "voided_at": invoice.voided_at,
        "due_date": invoice.due_date,
    }


# Payments and refunds ------------------------------------------------------------------------------------

PAYMENT_COLUMNS = (
    "kind",
    "payment_id",
    "invoice_id",
    "invoice_number",
    "tenant_id",
    "tenant",
    "provider_id",
    "provider",
    "method",
    "currency",
    "amount_cents",
    "amount",
    "reference",
    "paid_at",
)


def _tenant_ledger(req: ExportRequest, kind: str):
    from tenant_app.models import Payment

    if not req.tenant_side:
        return None
    queryset = Payment.objects.using(TENANT_DB).filter(kind=kind).select_related("tenant", "invoice", "credit_note")
    if req.tenant_id is not None:
        queryset = queryset.filter(tenant_id=req.tenant_id)
    return _between(queryset, "created_at", req).order_by("created_at", "id")


def _tenant_payment_row(payment) -> dict:
    return {
        "kind": "tenant",
        "payment_id": payment.pk,
        "invoice_id": payment.invoice_id,
        "invoice_number": payment.invoice.invoice_number,
        "tenant_id": payment.tenant_id,
        "tenant": payment.tenant.name,
        "method": payment.method,
        "currency": payment.currency,
        "amount_cents": payment.amount_cents,
        "amount": formatted(payment.amount_cents, payment.currency),
        "reference": payment.external_reference,
        "paid_at": payment.created_at,
    }


def _marketplace_payment_row(invoice) -> dict:
    """A marketplace invoice is paid in one go (Stripe or a confirmed manual payment): its payment
    is the invoice's total at `paid_at`."""
    return {
        "kind": "marketplace",
        "payment_id": "",
        "invoice_id": invoice.pk,
        "invoice_number": invoice.invoice_number,
        "provider_id": invoice.provider_id,
        "provider": invoice.provider.business_name,
        "method": invoice.payment_mode_snapshot,
        "currency": invoice.currency,
        "amount_cents": invoice.total_cents,
        "amount": formatted(invoice.total_cents, invoice.currency),
        "reference": invoice.stripe_invoice_id or "",
        "paid_at": invoice.paid_at,
    }


REFUND_COLUMNS = (
    "kind",
    "refund_id",
    "invoice_id",
    "invoice_number",
    "tenant_id",
    "tenant",
    "provider_id",
    "method",
    "status",
    "currency",
    "amount_cents",
    "amount",
    "credit_note",
    "stripe_refund_id",
    "reason",
    "created_at",
)


def _tenant_refund_row(refund) -> dict:
    return {
        "kind": "tenant",
        "refund_id": refund.pk,
        "invoice_id": refund.invoice_id,
        "invoice_number": refund.invoice.invoice_number,
        "tenant_id": refund.tenant_id,
        "tenant": refund.tenant.name,
        "method": refund.method,
        "status": "recorded",
        "currency": refund.currency,
        "amount_cents": refund.amount_cents,
        "amount": formatted(refund.amount_cents, refund.currency),
        "credit_note": refund.credit_note.credit_note_number if refund.credit_note_id else "",
        "reason": refund.credit_note.reason if refund.credit_note_id else "",
        "created_at": refund.created_at,
    }


def _marketplace_refund_requests(req: ExportRequest):
    """Refunds of marketplace invoices sent through Stripe (tenant invoices' appear in their ledger
    as refund rows, above). Kept in the tenant database, rows without an owner tenant."""
    from marketplace_app.models import MarketplaceInvoice
    from payments_app.models import RefundRequest

    if not req.marketplace_side:
        return None
    queryset = RefundRequest.objects.using(TENANT_DB).filter(payment__invoice_kind="marketplace")
    if req.provider_id is not None:  # the provider's invoices live in the other database
        ids = list(
            MarketplaceInvoice.objects.using(MARKETPLACE_DB)
            .filter(provider_id=req.provider_id)
            .values_list("id", flat=True)
        )
        queryset = queryset.filter(payment__invoice_id__in=ids)
    return _between(queryset.select_related("payment"), "created_at", req).order_by("created_at", "id")


def _marketplace_refund_row(refund) -> dict:
    return {
        "kind": "marketplace",
        "refund_id": refund.pk,
        "invoice_id": refund.payment.invoice_id,
        "method": "stripe",
        "status": refund.status,
        "currency": refund.currency,
        "amount_cents": refund.amount_cents,
        "amount": formatted(refund.amount_cents, refund.currency),
        "stripe_refund_id": refund.stripe_refund_id or "",
        "reason": refund.reason,
        "created_at": refund.created_at,
    }


# Money movements (Stripe Connect: application fees, transfers, payouts) ----------------------------------

MOVEMENT_COLUMNS = (
    "movement_id",
    "kind",
    "stripe_object_id",
    "connect_account_id",
    "invoice_kind",
    "invoice_id",
    "tenant_id",
    "status",
    "currency",
    "amount_cents",
    "amount",
    "source_charge_id",
    "created_at",
    "updated_at",
)


def _movements(req: ExportRequest):
    from django.db.models import Q

    from payments_app.models import ConnectMoneyMovement, StripeConnectAccount

    queryset = ConnectMoneyMovement.objects.using(TENANT_DB).select_related("invoice_payment")
    if req.tenant_id is not None or req.provider_id is not None:
        owners = Q(pk__in=[])
        if req.tenant_id is not None:
            owners |= Q(owner_tenant_id=req.tenant_id)
        if req.provider_id is not None:
            owners |= Q(provider_id=req.provider_id)
        queryset = queryset.filter(
            connect_account_id__in=StripeConnectAccount.objects.using(TENANT_DB)
            .filter(owners)
            .values("stripe_account_id")
        )
    return _between(queryset, "created_at", req).order_by("created_at", "id")


def _movement_row(movement) -> dict:
    payment = movement.invoice_payment
    return {
        "movement_id": movement.pk,
        "kind": movement.kind,
        "stripe_object_id": movement.stripe_object_id,
        "connect_account_id": movement.connect_account_id,
        "invoice_kind": payment.invoice_kind if payment else "",
        "invoice_id": payment.invoice_id if payment else None,
        "tenant_id": payment.owner_tenant_id if payment else None,
        "status": movement.status,
        "currency": movement.currency,
        "amount_cents": movement.amount_cents,
        "amount": formatted(movement.amount_cents, movement.currency),
        "source_charge_id": movement.source_charge_id,
        "created_at": movement.created_at,
        "updated_at": movement.updated_at,
    }


DATASETS: dict[str, Dataset] = {
    dataset.key: dataset
    for dataset in (
        Dataset(
            "invoices",
            "Invoices (tenant and marketplace), by creation date",
            INVOICE_COLUMNS,
            (
                Source(TENANT_DB, _tenant_invoices, _tenant_invoice_row),
                Source(MARKETPLACE_DB, _marketplace_invoices, _marketplace_invoice_row),
            ),
        ),
        Dataset(
            "payments",
            "Payments received, by payment date",
            PAYMENT_COLUMNS,
            (
                Source(TENANT_DB, lambda req: _tenant_ledger(req, "payment"), _tenant_payment_row),
                Source(
                    MARKETPLACE_DB, lambda req: _marketplace_invoices(req, column="paid_at"), _marketplace_payment_row
                ),
            ),
        ),
        Dataset(
            "refunds",
            "Refunds, by date",
            REFUND_COLUMNS,
            (
                Source(TENANT_DB, lambda req: _tenant_ledger(req, "refund"), _tenant_refund_row),
                Source(TENANT_DB, _marketplace_refund_requests, _marketplace_refund_row),
            ),
        ),
        Dataset(
            "money_movements",
            "Stripe money movements (fees, transfers, payouts), by date",
            MOVEMENT_COLUMNS,
            (Source(TENANT_DB, _movements, _movement_row),),
        ),
    )
}
FORMATS = ("csv", "xlsx")
