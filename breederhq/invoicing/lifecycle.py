"""The lifecycle steps shared by every invoice kind, each parameterised by the kind's adapter.

A state change goes: `lock` (SELECT ... FOR UPDATE in the invoice's database) -> `check_version`
(409 `version_conflict` when stale) -> `change` (the transition table, 409 `illegal_transition`;
version bump; save; one audit row; the kind's emails and effects, all in the caller's transaction).
Payment-confirmation steps add a `confirmation` row. The callers (tenant_app/services/,
marketplace_app/services/invoices.py) open one `transaction.atomic(using=kind.using)` around these.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.utils.module_loading import import_string

from breederhq.email import email_enqueue
from breederhq.errors import Conflict, IllegalTransition, NotFound, ValidationFailed, VersionConflict
from breederhq.invoicing.documents import documents_requested, email_attachments
from breederhq.invoicing.status import INVOICE_TRANSITIONS, InvoiceStatus
from breederhq.money import Money
from breederhq.observability.metrics import INVOICE_TRANSITIONS as INVOICE_TRANSITIONS_METRIC
from breederhq.reconciliation import DISAGREEMENTS, ReconciliationStatus

#: audit action -> (email template, who receives it: the buyer or the seller's people)
INVOICE_EMAILS = {
    "sent": ("invoice_sent", "buyer"),
    "buyer_marked_paid": ("invoice_buyer_marked_paid", "seller"),
    "payment_confirmed": ("invoice_payment_confirmed", "buyer"),
    "payment_rejected": ("invoice_payment_rejected", "buyer"),
    "confirmation_expired": ("invoice_confirmation_expired", "buyer"),
}


#: How a payment's channel reads in the receipts.
PAYMENT_METHOD_WORDS = {"stripe": "card, through Stripe", "manual": "by hand", "other": "by hand"}

#: Whatever the channel, an invoice that becomes paid sends these two: a receipt to the payer and a
#: notice to the seller.
PAYMENT_RECEIPTS = (("invoice_payment_receipt", "buyer"), ("invoice_payment_received", "seller"))


@dataclass(frozen=True)
class InvoiceFacts:
    """What paying or refunding an invoice needs to know, read in the invoice's own database (and
    tenant), whatever its kind (`InvoiceKind.facts`)."""

    kind: str
    invoice_id: int
    tenant_id: int | None
    provider_id: int | None
    number: str
    status: str
    payment_mode: str
    total_cents: int
    refunded_cents: int
    currency: str
    version: int = 0
    #: What was collected (a tenant invoice may be paid in parts; a marketplace one in full).
    paid_cents: int = 0


class InvoiceKind:
    """The adapter one invoice kind supplies: which database and tables, who the actor columns name,
    who receives its emails, what a change does beyond the invoice, and what payments ask of it
    (its facts, marking it paid, void or refunded, flagging a disagreement with Stripe). Subclassed
    once per kind; found by its key through `invoice_kind`."""

    #: "tenant" / "marketplace": the key the payments side names the kind by (`INVOICE_KINDS`).
    key: str
    #: "tenant_invoice" / "marketplace_invoice": the metric label and the prefix of email event keys.
    name: str
    #: The database alias every query of this kind runs in.
    using: str
    model: Any
    audit_model: Any
    confirmation_model: Any
    #: The entity named in errors ("Invoice", "MarketplaceInvoice").
    entity = "Invoice"
    #: How the timeline names a user of this database who acted ("user:7", "marketplace_user:7").
    actor_prefix = "user"

    # --- hooks -----------------------------------------------------------------------------------

    def queryset(self):
        return self.model.objects.using(self.using)

    def owner_columns(self, invoice) -> dict:
        """Columns every audit row of the invoice carries besides the invoice (e.g. `tenant_id`)."""
        return {}

    def actor_columns(self, actor) -> dict:
        """The audit row's column for a user of this database who acted (None: nobody signed in)."""
        return {"changed_by": actor}

    def confirmer_columns(self, actor) -> dict:
        return {"confirmed_by": actor}

    def recipients(self, invoice, audience: str) -> list[str]:
        return []

    def seller_name(self, invoice) -> str:
        return ""

    def after_change(self, invoice, *, old_status: str, action: str, metadata: dict) -> None:
        """Effects of a change beyond the invoice row (outbox messages), same transaction."""

    def claimant_id(self, confirmation_row):
        """The marketplace user who claimed the payment, on a confirmation row (None: not a claim)."""
        return None

    def describe(self, invoice) -> str:
        return f"{self.entity} {invoice.invoice_number}"

    # --- what payments ask of an invoice (payments_app calls these; each kind answers once) -------

    #: Whether the invoice belongs to a tenant (its payment rows are then the tenant's, under
    #: row-level security); False: the platform's (a marketplace invoice).
    tenant_owned = False

    def payment_owner(self, tenant_id: int | None) -> int | None:
        """The owner of the invoice's payment rows: the tenant given for a tenant's invoice, else None."""
        return tenant_id if self.tenant_owned else None

    def facts(self, invoice_id: int, *, tenant_id: int | None) -> InvoiceFacts | None:
        """The invoice's facts, or None when it does not exist (or `tenant_id` is needed and missing)."""
        raise NotImplementedError

    def mark_paid(self, invoice_id: int, *, tenant_id: int | None, method: str, reference: str) -> None:
        """Paid through a provider (`reference`: its payment id), once whatever the repeats."""
        raise NotImplementedError

    def void(self, invoice_id: int, *, tenant_id: int | None, reason: str) -> None:
        """Voided at the provider: void it here too, at its current version."""
        raise NotImplementedError

    def set_reconciliation_status(
        self, invoice_id: int, *, tenant_id: int | None, status: str, note: str, actor_label: str
    ) -> None:
        """How the invoice agrees with the provider (`mismatch` for staff, ...), through the kind's
        own service (the rule: `check_reconciliation_change`)."""
        raise NotImplementedError

    def reconciliation_rows(self, invoice_ids: list[int]) -> dict[int, tuple[str, int, str, str, int | None]]:
        """id -> (status, total_cents, currency, reconciliation_status, tenant id) of these invoices,
        whatever their tenant (one audited read), for the reconciliation job."""
        raise NotImplementedError

    def refund(
        self,
        invoice_id: int,
        *,
        tenant_id: int | None,
        amount_cents: int,
        reason: str,
        ledger_key: str,
        method: str,
        reference: str = "",
        refund_id: str | None = None,
        actor=None,
        refunded_total_cents: int | None = None,
    ):
        """Record money given back, through the kind's own refund service (judged under its lock):
        `ledger_key` or the provider's `refund_id` makes a repeat a replay, `refunded_total_cents`
        (the provider's cumulative total) makes the service add only the difference; `reference`
        is the provider's id the ledger shows. Returns the kind's record of it."""
        raise NotImplementedError

    def refund_recorded(self, invoice_id: int, *, tenant_id: int | None, ledger_key: str) -> bool:
        """Whether a refund under `ledger_key` is already in the invoice's ledger (False: no ledger)."""
        return False

    def refund_record(self, invoice_id: int, *, tenant_id: int | None, ledger_key: str):
        """The kind's record of the refund recorded under `ledger_key` (what `refund` returned)."""
        raise NotImplementedError


#: invoice kind key -> its adapter, named by path so the core imports no domain app.
INVOICE_KINDS = {
    "tenant": "tenant_app.invoicing.TENANT_INVOICES",
    "marketplace": "marketplace_app.invoicing.MARKETPLACE_INVOICES",
}


@cache
def invoice_kind(key: str) -> InvoiceKind:
    """The adapter of the invoice kind `key` ("tenant", "marketplace"); KeyError for any other."""
    return import_string(INVOICE_KINDS[key])


def lock(kind: InvoiceKind, invoice_id: int, *, queryset=None):
    """The invoice row, locked FOR UPDATE in its database (call inside the kind's transaction)."""
    qs = queryset if queryset is not None else kind.queryset()
    invoice = qs.select_for_update().filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"{kind.entity} {invoice_id} not found.")
    invoice._loaded_status = invoice.status
    return invoice


def check_version(kind: InvoiceKind, invoice, expected_version: int | None) -> None:
    """Optimistic locking: a client that read another version gets 409 `version_conflict`."""
    if expected_version is not None and expected_version != invoice.version:
        raise VersionConflict(entity=kind.describe(invoice), expected=expected_version, current=invoice.version)


def check_transition(invoice, target: str) -> None:
    """409 `illegal_transition` unless the table allows current -> target."""
    INVOICE_TRANSITIONS.check(invoice.status, target)


def check_send(kind: InvoiceKind, invoice) -> None:
    """Only a draft is sent. (`pending_confirmation -> sent` is in the table, but it is a rejection or
    an expiry of the buyer's claim, never a second sending.) 409 `illegal_transition` otherwise."""
    if invoice.status != InvoiceStatus.DRAFT:
        raise IllegalTransition(
            entity=kind.entity,
            current=invoice.status,
            target=InvoiceStatus.SENT,
            allowed=sorted(INVOICE_TRANSITIONS.allowed_from(invoice.status) - {InvoiceStatus.SENT}),
        )


def require_claim(kind: InvoiceKind, invoice, *, target: str, what: str) -> None:
    """Confirming, rejecting or expiring needs a buyer's payment claim: a state the table does not let
    reach `target` is 409 `illegal_transition`, any other state without a claim 409 `nothing_to_confirm`."""
    if invoice.status != InvoiceStatus.PENDING_CONFIRMATION:
        INVOICE_TRANSITIONS.check(invoice.status, target)
        raise Conflict(f"{kind.describe(invoice)} has no payment claim to {what}.", code="nothing_to_confirm")


def check_reconciliation_change(kind: InvoiceKind, invoice, status: str) -> None:
    """The reconciliation rule, for every caller (webhooks, the reconciliation job, the admin):
    `resolved` closes a disagreement, so it is only set on an invoice that disagrees with Stripe
    (409 `nothing_to_resolve` otherwise). Unknown states are 400."""
    if status not in ReconciliationStatus.values:
        raise ValidationFailed(
            "Unknown reconciliation status.", field_errors={"status": [f"not one of {ReconciliationStatus.values}"]}
        )
    if status == ReconciliationStatus.RESOLVED and invoice.reconciliation_status not in DISAGREEMENTS:
        raise Conflict(
            f"{kind.describe(invoice)} is {invoice.reconciliation_status}: there is no disagreement "
            f"with Stripe to resolve.",
            code="nothing_to_resolve",
        )


def audit(
    kind: InvoiceKind,
    invoice,
    *,
    action: str,
    old_status: str,
    actor=None,
    actor_label: str = "",
    metadata: dict | None = None,
):
    """One invoice audit row, in the invoice's database (and the caller's transaction)."""
    return kind.audit_model.objects.using(kind.using).create(
        **kind.owner_columns(invoice),
        **kind.actor_columns(actor),
        invoice=invoice,
        action=action,
        old_status=old_status,
        new_status=invoice.status,
        payment_mode=invoice.payment_mode_snapshot,
        actor=actor_label,
        metadata=metadata or {},
    )


def confirmation(kind: InvoiceKind, invoice, *, event: str, confirmed_by=None, **columns):
    """One payment-confirmation audit row (claim, confirmation, rejection, expiry)."""
    return kind.confirmation_model.objects.using(kind.using).create(
        **kind.owner_columns(invoice),
        **kind.confirmer_columns(confirmed_by),
        invoice=invoice,
        event=event,
        **columns,
    )


def change(
    kind: InvoiceKind,
    invoice,
    *,
    action: str,
    fields: dict | None = None,
    new_status: str | None = None,
    actor=None,
    actor_label: str = "",
    metadata: dict | None = None,
):
    """Apply one change to a locked invoice: transition check, version bump, save, audit row,
    emails, the kind's effects and the transition metric."""
    fields = dict(fields or {})
    old_status = invoice.status
    if new_status is not None:
        INVOICE_TRANSITIONS.check(old_status, new_status)
        fields["status"] = new_status
    for name, value in fields.items():
        setattr(invoice, name, value)
    invoice.version += 1
    invoice.save(using=kind.using, update_fields=[*fields, "version", "updated_at"])
    entry = audit(
        kind, invoice, action=action, old_status=old_status, actor=actor, actor_label=actor_label, metadata=metadata
    )
    send_emails(kind, invoice, action=action, metadata=metadata)
    documents_requested(kind, invoice, action=action, audit_entry=entry, metadata=metadata or {})
    if invoice.status == InvoiceStatus.PAID and old_status != InvoiceStatus.PAID:
        send_payment_receipts(kind, invoice, method=(metadata or {}).get("method", ""))
    kind.after_change(invoice, old_status=old_status, action=action, metadata=metadata or {})
    INVOICE_TRANSITIONS_METRIC.labels(kind.name, old_status, invoice.status, invoice.payment_mode_snapshot).inc()
    invoice._loaded_status = invoice.status
    return invoice


def send_emails(kind: InvoiceKind, invoice, *, action: str, metadata: dict | None = None) -> None:
    """The email an action sends, if any, enqueued in the invoice's database (same transaction).
    The invoice email carries the invoice's PDF (breederhq/invoicing/documents.py)."""
    if action not in INVOICE_EMAILS:
        return
    template, audience = INVOICE_EMAILS[action]
    to = kind.recipients(invoice, audience)
    if not to:
        return  # nobody to write to (no address, erased): nothing to send, nothing to retry
    email_enqueue(
        using=kind.using,
        event_key=f"{kind.name}:{invoice.pk}:v{invoice.version}:{action}",
        template=template,
        to=to,
        context={
            "tenant": kind.seller_name(invoice),
            "invoice_number": invoice.invoice_number,
            "total": Money(invoice.total_cents, invoice.currency).format(),
            "reason": (metadata or {}).get("reason", ""),
            "due_date": invoice.due_date.isoformat() if invoice.due_date else "",
        },
        attachments=email_attachments(kind, invoice, action=action),
    )


def send_payment_receipts(kind: InvoiceKind, invoice, *, method: str) -> None:
    """The payer's receipt and the seller's notice for an invoice that has just become paid, by card
    or by hand alike, enqueued in the invoice's database (same transaction)."""
    context = {
        "tenant": kind.seller_name(invoice),
        "invoice_number": invoice.invoice_number,
        "total": Money(invoice.total_cents, invoice.currency).format(),
        "method": PAYMENT_METHOD_WORDS.get(method, method),
    }
    for template, audience in PAYMENT_RECEIPTS:
        to = kind.recipients(invoice, audience)
        if to:
            email_enqueue(
                using=kind.using,
                event_key=f"{kind.name}:{invoice.pk}:v{invoice.version}:{template}",
                template=template,
                to=to,
                context=context,
            )
