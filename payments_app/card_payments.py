"""Paying an invoice by card: what the buyer's browser needs for Stripe's Payment Element.

The buyer gets the client secret of the invoice's one PaymentIntent (a destination charge to the
seller's connected account, created by `services.invoice_payment_open` under the invoice's own
idempotency key) and our publishable key (docs/decisions/0005-card-payments-with-the-payment-element.md).
Paying happens between the browser and Stripe; the invoice becomes paid only through the
`payment_intent.succeeded` webhook, never through anything the client says.

- Payable only: a Stripe-mode invoice that is `sent`; a manual one is 409 `invoice_manual_mode`,
  another state 409 `invoice_not_payable`, a seller account that cannot take charges 409
  `seller_account_cannot_take_charges`.
- The same intent on every call. Callers for one invoice are serialised by a session advisory lock
  (no row lock is held while Stripe answers), so concurrent calls make exactly one intent.
- The amount is what is still due. An intent whose amount is no longer that (part of a tenant
  invoice was paid by hand) is updated while Stripe allows it; one that was cancelled (a payment
  by hand cancels it: `services.invoice_payment_close_for_manual`) is replaced by a new intent for
  the balance, under a key derived from the intent it replaces and the amount.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from breederhq.databases import TENANT_DB
from breederhq.errors import Conflict, Unavailable
from breederhq.invoicing.status import PAYABLE
from breederhq.tenancy import owner_context
from payments_app.models import CancelStatus, InvoiceKind, InvoicePayment, OpenState
from payments_app.providers import application_fee_cents, connect_account_for
from payments_app.stripe_gateway import StripeUnavailable, call_stripe, idempotency_key, stripe_client

#: The top 16 bits of the advisory lock key that serialises card-payment calls per invoice ("CP");
#: bit 47 tells the kinds apart.
_CLAIM_NAMESPACE = 0x4350 << 48
#: PaymentIntent statuses in which Stripe still lets the amount change.
_UPDATABLE = frozenset({"requires_payment_method", "requires_confirmation", "requires_action"})


class InvoiceNotPayable(Conflict):
    code = "invoice_not_payable"


class InvoiceManualMode(Conflict):
    code = "invoice_manual_mode"


class SellerCannotCharge(Conflict):
    code = "seller_account_cannot_take_charges"


class CardPaymentBusy(Conflict):
    code = "card_payment_busy"


@dataclass(frozen=True)
class CardPayment:
    invoice_kind: str
    invoice_id: int
    invoice_number: str
    payment_intent_id: str
    client_secret: str
    publishable_key: str
    amount_cents: int
    currency: str
    status: str


@contextmanager
def _invoice_claim(invoice_kind: str, invoice_id: int, *, wait_seconds: float):
    """A session-level advisory lock per invoice on the tenant database, held across the Stripe
    calls of one caller (no transaction, no row lock). Others wait for it, then find the intent."""
    if invoice_id >= 1 << 47:
        raise InvoiceNotPayable(f"No payable invoice #{invoice_id}.")
    key = _CLAIM_NAMESPACE | ((1 << 47) if invoice_kind == InvoiceKind.MARKETPLACE else 0) | invoice_id
    connection = connections[TENANT_DB]
    deadline = time.monotonic() + wait_seconds
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if cursor.fetchone()[0]:
                break
        if time.monotonic() >= deadline:
            raise CardPaymentBusy(
                "Another request is preparing this invoice's card payment; retry in a moment.",
                extra={"retry_after_seconds": 1},
            )
        time.sleep(0.05)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        except Exception:  # the connection broke: the lock went with it; make sure it is not reused
            connection.close()


def _payable(invoice_kind: str, invoice_id: int, tenant_id: int | None):
    from payments_app.collection import invoice_facts

    facts = invoice_facts(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    if facts is None:
        raise InvoiceNotPayable(f"No payable invoice #{invoice_id}.")
    if facts.payment_mode != "stripe":
        raise InvoiceManualMode(
            f"Invoice {facts.number} is paid {facts.payment_mode}ly (bank transfer, cash), "
            f"not by card: pay it as the seller says and upload the receipt.",
            extra={"payment_mode": facts.payment_mode},
        )
    due = facts.total_cents - facts.paid_cents
    if facts.status not in PAYABLE or facts.status == "pending_confirmation" or due <= 0:
        raise InvoiceNotPayable(
            f"Invoice {facts.number} is {facts.status}: there is nothing to pay by card.",
            extra={"invoice_status": facts.status},
        )
    return facts, due


def card_payment_prepare(*, invoice_kind: str, invoice_id: int, tenant_id: int | None = None) -> CardPayment:
    """The invoice's PaymentIntent for the amount still due, created or brought up to date.

    The caller has checked that the requester is the invoice's buyer. Raises the 409s above,
    `payment_intent_processing` / `paid_by_card` when the buyer's payment is under way or done, and
    503 `stripe_unavailable` when Stripe cannot be reached (nothing changed here then).
    """
    facts, _ = _payable(invoice_kind, invoice_id, tenant_id)
    account = connect_account_for(tenant_id=facts.tenant_id, provider_id=facts.provider_id)
    if account is None or not account.can_take_payments:
        raise SellerCannotCharge(
            "The seller's Stripe account cannot take card payments now; ask the seller, or pay another way."
        )
    try:
        with _invoice_claim(invoice_kind, invoice_id, wait_seconds=settings.STRIPE_TIMEOUT_SECONDS * 3 + 1):
            return _prepare_claimed(invoice_kind, invoice_id, facts.tenant_id, account.stripe_account_id)
    except StripeUnavailable as exc:
        raise Unavailable(
            f"Stripe cannot be reached to prepare the card payment; nothing was charged. Retry later. ({exc})",
            code="stripe_unavailable",
        ) from exc


def _row(invoice_kind: str, invoice_id: int, owner: int | None) -> InvoicePayment | None:
    with owner_context(owner):
        return InvoicePayment.objects.using(TENANT_DB).filter(invoice_kind=invoice_kind, invoice_id=invoice_id).first()


def _retrieve(intent_id: str) -> dict:
    return call_stripe("payment_intent.retrieve", stripe_client().v1.payment_intents.retrieve, intent_id).to_dict()


def _prepare_claimed(invoice_kind: str, invoice_id: int, tenant_id: int | None, account_id: str) -> CardPayment:
    from payments_app.collection import invoice_payment_open
    from payments_app.intent_cancel import PaymentIntentBusy, invoice_payment_cancel_requested

    facts, due = _payable(invoice_kind, invoice_id, tenant_id)  # again, now that no one else is at it
    owner = facts.tenant_id
    payment = _row(invoice_kind, invoice_id, owner)
    if payment is None or (payment.open_state == OpenState.UNOPENED and not payment.stripe_payment_intent_id):
        payment = invoice_payment_open(invoice_kind=invoice_kind, invoice_id=invoice_id, tenant_id=tenant_id)
    if payment.provider != InvoicePayment.Provider.STRIPE:
        raise InvoiceManualMode(f"Invoice {facts.number} fell back to manual payment.")
    intent = _retrieve(payment.stripe_payment_intent_id) if payment.stripe_payment_intent_id else None
    if intent is None or intent["status"] == "canceled":
        intent = _replace(payment, facts, due=due, account_id=account_id, previous=intent)
    elif intent["status"] == "succeeded":
        raise Conflict(
            "You have paid this invoice by card; it is marked paid as soon as Stripe confirms it.",
            code="paid_by_card",
            extra={"payment_intent": intent["id"]},
        )
    elif intent["status"] == "processing":
        raise PaymentIntentBusy(
            "Your card or bank payment of this invoice is being processed.", extra={"payment_intent": intent["id"]}
        )
    elif intent["amount"] != due:
        intent = _update_amount(payment, intent, due=due)
    after = _payable_or_none(invoice_kind, invoice_id, tenant_id)
    if after is None:  # voided, or paid by hand, while Stripe was answering: take the intent back
        with transaction.atomic(using=TENANT_DB):
            invoice_payment_cancel_requested(invoice_kind=invoice_kind, invoice_id=invoice_id, intent_just_stored=True)
        raise InvoiceNotPayable(f"Invoice {facts.number} stopped being payable meanwhile.")
    return CardPayment(
        invoice_kind,
        invoice_id,
        facts.number,
        intent["id"],
        intent["client_secret"],
        settings.STRIPE_PUBLISHABLE_KEY,
        intent["amount"],
        intent["currency"].upper(),
        intent["status"],
    )


def _payable_or_none(invoice_kind: str, invoice_id: int, tenant_id: int | None):
    try:
        return _payable(invoice_kind, invoice_id, tenant_id)
    except Conflict:
        return None


def _replace(payment: InvoicePayment, facts, *, due: int, account_id: str, previous: dict | None) -> dict:
    """A new intent for the balance, in place of a cancelled one (or of none, on a row closed before
    its intent existed). The key names what it replaces and the amount: a retry after a crash gets
    this same intent back from Stripe."""
    previous_id = previous["id"] if previous else "none"
    fee = application_fee_cents(due, facts.currency)
    created = call_stripe(
        "payment_intent.create",
        stripe_client().v1.payment_intents.create,
        params={
            "amount": due,
            "currency": facts.currency.lower(),
            "description": f"Invoice {facts.number}",
            "metadata": payment.metadata(),
            "application_fee_amount": fee,
            "transfer_data": {"destination": account_id},
        },
        options={
            "idempotency_key": idempotency_key(
                "invoice.payment_intent.replace", payment.invoice_kind, payment.invoice_id, previous_id, account_id, due
            )
        },
    ).to_dict()
    with transaction.atomic(using=TENANT_DB), owner_context(payment.owner_tenant_id):
        row = InvoicePayment.objects.using(TENANT_DB).select_for_update().get(pk=payment.pk)
        row.stripe_payment_intent_id, row.stripe_status = created["id"], created["status"]
        row.open_state, row.open_note = OpenState.OPENED, f"replaces {previous_id}"[:300]
        row.amount_cents, row.application_fee_cents, row.connect_account_id = due, fee, account_id
        row.cancel_status, row.cancel_error, row.cancel_requested_at = CancelStatus.NONE, "", None
        row.save(
            using=TENANT_DB,
            update_fields=[
                "stripe_payment_intent_id",
                "stripe_status",
                "open_state",
                "open_note",
                "amount_cents",
                "application_fee_cents",
                "connect_account_id",
                "cancel_status",
                "cancel_error",
                "cancel_requested_at",
                "updated_at",
            ],
        )
    return created


def _update_amount(payment: InvoicePayment, intent: dict, *, due: int) -> dict:
    """The open intent asks for another amount than is due: change it (and the fee) in Stripe, then
    on the row. Stripe refusing means the buyer's payment started meanwhile: say so."""
    from payments_app.intent_cancel import PaymentIntentBusy

    fee = application_fee_cents(due, payment.currency)
    try:
        updated = call_stripe(
            "payment_intent.update",
            stripe_client().v1.payment_intents.update,
            intent["id"],
            params={"amount": due, "application_fee_amount": fee},
            options={"idempotency_key": idempotency_key("invoice.payment_intent.update", intent["id"], due)},
        ).to_dict()
    except stripe.InvalidRequestError as exc:
        raise PaymentIntentBusy(
            "Your card payment of this invoice has already started; wait for it to finish.",
            extra={"payment_intent": intent["id"]},
        ) from exc
    with transaction.atomic(using=TENANT_DB), owner_context(payment.owner_tenant_id):
        InvoicePayment.objects.using(TENANT_DB).filter(pk=payment.pk, stripe_payment_intent_id=intent["id"]).update(
            amount_cents=due, application_fee_cents=fee, stripe_status=updated["status"], updated_at=timezone.now()
        )
    return updated
