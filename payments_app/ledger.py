"""The money-movement ledger of a connected Stripe account: payments, refunds, disputes, the
platform's application fees, transfers and payouts, one `ConnectMoneyMovement` row per Stripe object.

Written only by the webhook worker (payments_app/webhook_handlers.py, payments_app/ledger_handlers.py,
payments_app/disputes.py), read by the API (`movement_page`): nothing here calls Stripe.

- Idempotent on the Stripe object id (unique): a duplicate or replayed event finds the row; the first
  event about an object creates it and later ones only fill in what was missing.
- Ordered: `last_event_created` keeps an older event arriving late from moving `status` back;
  `occurred_at` (when Stripe created the object) is the ledger's order.
- Row-level security: a row belongs to the owner of its connected account (`owner_tenant`: the tenant,
  or NULL for a service provider's account or one that is not ours). The worker finds an existing row
  through the audited system read and writes it in its owner's context (payments_app/access.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from breederhq.api.keyset import Position
from breederhq.databases import TENANT_DB
from breederhq.tenancy import owner_context
from payments_app.access import owner_of
from payments_app.models import ConnectMoneyMovement, InvoicePayment, StripeConnectAccount, StripeWebhookEvent

Kind = ConnectMoneyMovement.Kind

#: Money into (+1) or out of (-1) the connected account's balance, as its owner reads the ledger:
#: the payment is the buyer's money for the seller; the fee, refunds, a dispute and payouts take from it.
DIRECTION = {
    Kind.PAYMENT: "in",
    Kind.TRANSFER: "in",
    Kind.REFUND: "out",
    Kind.DISPUTE: "out",
    Kind.APPLICATION_FEE: "out",
    Kind.PAYOUT: "out",
}


def account_owner(account_id: str, *, job: str) -> int | None:
    """The tenant owning a connected account (None: a service provider's, or not ours)."""
    if not account_id:
        return None
    found = owner_of(StripeConnectAccount, job=job, stripe_account_id=account_id)
    return found[1] if found is not None else None


def object_time(data: dict, event: StripeWebhookEvent) -> datetime:
    """When Stripe created the object (`created`, a Unix time), else the event's time."""
    created = data.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and 0 < created < 253_402_300_800:
        return datetime.fromtimestamp(created, tz=UTC)
    return event.stripe_created


def record_movement(
    *,
    kind: str,
    object_id: str,
    event: StripeWebhookEvent,
    amount: int,
    currency: str,
    status: str,
    occurred_at: datetime | None = None,
    payment: InvoicePayment | None = None,
    account: str = "",
    charge: str = "",
) -> tuple[ConnectMoneyMovement, bool]:
    """The row of one Stripe object: created by the first event about it, filled in and moved forward
    by later ones (never back). Runs inside the event's transaction. Returns (row, created)."""
    job = f"stripe_webhook:{event.event_type}"
    found = owner_of(ConnectMoneyMovement, job=job, stripe_object_id=object_id)
    if found is None:
        owner = account_owner(account, job=job)
        try:
            with owner_context(owner), transaction.atomic(using=TENANT_DB):  # a savepoint: a lost race is retried
                movement = ConnectMoneyMovement.objects.using(TENANT_DB).create(
                    kind=kind,
                    stripe_object_id=object_id,
                    amount_cents=amount,
                    currency=currency.upper(),
                    status=status,
                    invoice_payment=payment,
                    connect_account_id=account,
                    source_charge_id=charge,
                    owner_tenant_id=owner,
                    occurred_at=occurred_at or event.stripe_created,
                    last_event_created=event.stripe_created,
                )
            return movement, True
        except IntegrityError:
            found = owner_of(ConnectMoneyMovement, job=job, stripe_object_id=object_id)
            if found is None:
                raise
    pk, owner = found
    with owner_context(owner):
        movement = ConnectMoneyMovement.objects.using(TENANT_DB).select_for_update().get(pk=pk)
        changed = []
        for name, value in (
            ("invoice_payment_id", payment.pk if payment else None),
            ("connect_account_id", account),
            ("source_charge_id", charge),
        ):
            if value and not getattr(movement, name):
                setattr(movement, name, value)
                changed.append(name.removesuffix("_id") if name == "invoice_payment_id" else name)
        if movement.last_event_created is None or event.stripe_created >= movement.last_event_created:
            if status and status != movement.status:
                movement.status = status
                changed.append("status")
            movement.last_event_created = event.stripe_created
            changed.append("last_event_created")
        if changed:
            movement.save(using=TENANT_DB, update_fields=[*changed, "updated_at"])
    return movement, False


def movement_account_of_charge(charge_id: str) -> str:
    """The connected account a charge's movements were recorded for ('' when none yet)."""
    if not charge_id:
        return ""
    from breederhq.tenancy import system_read_context

    with system_read_context(job="stripe_webhook:charge_account"):
        return (
            ConnectMoneyMovement.objects.using(TENANT_DB)
            .filter(Q(stripe_object_id=charge_id) | Q(source_charge_id=charge_id))
            .exclude(connect_account_id="")
            .values_list("connect_account_id", flat=True)
            .first()
        ) or ""


# --- Reading (the API) ---------------------------------------------------------------------------

LEDGER_VALUES = (
    "id",
    "kind",
    "stripe_object_id",
    "amount_cents",
    "currency",
    "status",
    "occurred_at",
    "source_charge_id",
    "invoice_payment__invoice_kind",
    "invoice_payment__invoice_id",
)


def movement_page(
    *,
    account_id: str,
    owner_tenant_id: int | None,
    kinds: list[str] | None = None,
    occurred_after: datetime | None = None,
    occurred_before: datetime | None = None,
    position: Position | None,
    limit: int,
) -> list[dict]:
    """One keyset page of a connected account's ledger, newest first by (occurred_at, id), in one
    statement. Call it in the owner's context (`owner_context(owner_tenant_id)`): the filter on the
    owner repeats what row-level security already enforces. Rows carry `created_at` (= occurred_at)
    for the keyset pagination."""
    rows = ConnectMoneyMovement.objects.using(TENANT_DB).filter(connect_account_id=account_id)
    rows = (
        rows.filter(owner_tenant_id=owner_tenant_id)
        if owner_tenant_id is not None
        else rows.filter(owner_tenant_id__isnull=True)
    )
    if kinds:
        rows = rows.filter(kind__in=kinds)
    if occurred_after is not None:
        rows = rows.filter(occurred_at__gte=occurred_after)
    if occurred_before is not None:
        rows = rows.filter(occurred_at__lt=occurred_before)
    if position is not None:
        after = Q(occurred_at__gt=position.created_at) | Q(occurred_at=position.created_at, id__gt=position.id)
        before = Q(occurred_at__lt=position.created_at) | Q(occurred_at=position.created_at, id__lt=position.id)
        rows = rows.filter(after if position.newer else before)
    order = ("occurred_at", "id") if position is not None and position.newer else ("-occurred_at", "-id")
    # The payment row is joined for the invoice it collected; it is under the same owner's policy.
    page = list(rows.order_by(*order).values(*LEDGER_VALUES)[:limit])
    for row in page:
        row["created_at"] = row["occurred_at"]
        row["direction"] = DIRECTION.get(row["kind"], "")
        row["invoice_kind"] = row.pop("invoice_payment__invoice_kind")
        row["invoice_id"] = row.pop("invoice_payment__invoice_id")
    return page


def tenant_account_id(tenant_id: int) -> str | None:
    """The tenant's connected account id, read in its context (None: it has none)."""
    with owner_context(tenant_id):
        return (
            StripeConnectAccount.objects.using(TENANT_DB)
            .filter(owner_tenant_id=tenant_id)
            .values_list("stripe_account_id", flat=True)
            .first()
        )


def provider_account_id(provider_id: int) -> str | None:
    """A service provider's connected account id (a platform row; None: it has none)."""
    with owner_context(None):
        return (
            StripeConnectAccount.objects.using(TENANT_DB)
            .filter(provider_id=provider_id)
            .values_list("stripe_account_id", flat=True)
            .first()
        )
