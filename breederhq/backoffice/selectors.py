"""The staff dashboard's numbers: a fixed number of aggregate queries, whatever the data volume
(tests/backoffice/test_dashboard.py counts them per database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone

from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.money import Money
from breederhq.tenancy import system_read_context

#: Same threshold as `crossdb_check`: a pending outbox message older than this is stuck in practice.
OUTBOX_STUCK_AFTER = timedelta(minutes=30)
SUCCEEDED_TRANSACTIONS = ("paid", "refunded", "disputed")


@dataclass
class Bar:
    label: str
    value: int
    percent: float = 0.0


def bars(counts: dict[str, int]) -> list[Bar]:
    total = sum(counts.values())
    return [Bar(label, value, round(100 * value / total, 1) if total else 0.0) for label, value in counts.items()]


@dataclass
class Dashboard:
    transactions_total: int = 0
    transactions_succeeded: int = 0
    transactions_cancelled: int = 0
    transaction_volume: list[str] = field(default_factory=list)
    invoice_states: list[Bar] = field(default_factory=list)
    payment_split: list[Bar] = field(default_factory=list)
    webhook_states: list[Bar] = field(default_factory=list)
    webhook_total: int = 0
    webhook_failed: int = 0
    emails: dict[str, dict[str, int]] = field(default_factory=dict)
    #: The email provider's circuit breaker, as /healthz shows it (breederhq/email_breaker.py).
    email_provider: dict = field(default_factory=dict)
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        finished = self.transactions_succeeded + self.transactions_cancelled
        return round(100 * self.transactions_succeeded / finished, 1) if finished else None

    @property
    def webhook_failure_rate(self) -> float | None:
        return round(100 * self.webhook_failed / self.webhook_total, 1) if self.webhook_total else None


#: The email states the dashboard counts; each count links to the admin list filtered to it.
EMAIL_STATES_SHOWN = ("queued", "sending", "delivery_unknown", "failed")


def _email_counts(model, using: str) -> dict[str, int]:
    return model.objects.using(using).aggregate(
        **{state: Count("id", filter=Q(status=state)) for state in EMAIL_STATES_SHOWN}
    )


def email_list_url(alias: str, status: str) -> str:
    """The outbound email admin page of database `alias`, filtered to `status`."""
    from breederhq.models import MarketplaceDbOutboundEmail, TenantDbOutboundEmail

    opts = {TENANT_DB: TenantDbOutboundEmail, MARKETPLACE_DB: MarketplaceDbOutboundEmail}[alias]._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + f"?status__exact={status}"


def _outbox_counts(using: str, now) -> dict[str, int]:
    from breederhq.models import OutboxMessage

    return OutboxMessage.objects.using(using).aggregate(
        stuck=Count("id", filter=Q(status="stuck")),
        pending_too_long=Count("id", filter=Q(status="pending", created_at__lt=now - OUTBOX_STUCK_AFTER)),
    )


def outbox_stuck_url(alias: str) -> str:
    """The outbox admin page of database `alias`, filtered to what the dashboard counts as stuck."""
    from breederhq.models import OUTBOX_PROXIES

    opts = OUTBOX_PROXIES[alias]._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist") + "?stuck=yes"


def dashboard_get(*, staff_user_id: int | None = None) -> Dashboard:
    """Marketplace DB: 4 queries. Tenant DB: 4 aggregates, plus the audited system read (its audit
    row, naming `staff_user_id`, and the transaction-local setting) that lets the invoice aggregate
    see every tenant."""
    from breederhq.models import OutboundEmail
    from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
    from payments_app.models import StripeWebhookEvent
    from tenant_app.models import Invoice

    now = timezone.now()
    board = Dashboard()
    succeeded = Q(status__in=SUCCEEDED_TRANSACTIONS)
    for row in (
        MarketplaceTransaction.objects.using(MARKETPLACE_DB)
        .values("currency")
        .annotate(
            total=Count("id"),
            succeeded=Count("id", filter=succeeded),
            cancelled=Count("id", filter=Q(status="cancelled")),
            volume=Sum("amount_cents", filter=succeeded, default=0),
        )
        .order_by("currency")
    ):
        board.transactions_total += row["total"]
        board.transactions_succeeded += row["succeeded"]
        board.transactions_cancelled += row["cancelled"]
        board.transaction_volume.append(Money(int(row["volume"]), row["currency"]).format())

    states: dict[str, int] = {}
    split: dict[str, int] = {}

    def add(rows):
        for row in rows:
            states[row["status"]] = states.get(row["status"], 0) + row["n"]
            if row["status"] in ("paid", "partially_refunded", "refunded"):
                mode = row["payment_mode_snapshot"]
                split[mode] = split.get(mode, 0) + row["n"]

    add(
        MarketplaceInvoice.objects.using(MARKETPLACE_DB)
        .values("status", "payment_mode_snapshot")
        .annotate(n=Count("id"))
        .order_by()
    )
    with system_read_context(job="admin_dashboard", user_id=staff_user_id):
        add(
            Invoice.all_objects.using(TENANT_DB)
            .values("status", "payment_mode_snapshot")
            .annotate(n=Count("id"))
            .order_by()
        )
    board.invoice_states = bars(dict(sorted(states.items())))
    board.payment_split = bars(dict(sorted(split.items())))

    webhook = dict(StripeWebhookEvent.objects.using(TENANT_DB).values_list("status").annotate(n=Count("id")).order_by())
    board.webhook_states = bars(dict(sorted(webhook.items())))
    board.webhook_total = sum(webhook.values())
    board.webhook_failed = webhook.get("failed", 0) + webhook.get("dead", 0)

    for alias, label in ((TENANT_DB, "tenant DB"), (MARKETPLACE_DB, "marketplace DB")):
        counts = _email_counts(OutboundEmail, alias)
        board.emails[label] = {**counts, "urls": {state: email_list_url(alias, state) for state in counts}}
        board.outbox[label] = {**_outbox_counts(alias, now), "stuck_url": outbox_stuck_url(alias)}
    from breederhq.health import check_email_provider

    board.email_provider = check_email_provider(redis_up=True)
    return board
