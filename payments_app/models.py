from django.db import models

from breederhq.crossdb import CrossDatabaseReference, CrossDatabaseReferencesManager, CrossDatabaseReferencesMixin
from breederhq.reconciliation import ReconciliationStatus, reconciliation_status_check


class StripeConnectAccount(CrossDatabaseReferencesMixin, models.Model):
    """A Stripe Connect account of a breeder (tenant) or a non-breeder service provider.

    Its capability flags are kept current from `account.updated` events; `last_event_created` makes
    an older event that arrives late change nothing.

    Under row-level security keyed by `owner_tenant` (a tenant's account is its row; a service
    provider's account has no owner and is reachable only in `platform_context`). Webhook workers
    look accounts up by Stripe id before any tenant is known: through the audited system read, then
    write in the owner's context (payments_app/access.py, docs/security/data-layer.md).
    """

    class OwnerType(models.TextChoices):
        TENANT = "tenant", "Breeder (tenant)"
        PROVIDER = "provider", "Service provider"

    class Status(models.TextChoices):
        PENDING = "pending", "Onboarding"
        ENABLED = "enabled", "Enabled"
        RESTRICTED = "restricted", "Restricted"
        DISABLED = "disabled", "Disabled"

    stripe_account_id = models.CharField(max_length=50, unique=True)
    #: When the account cannot take payments, or Stripe is unreachable, new invoices are created in
    #: manual mode instead (visible on InvoicePayment) if this is on; otherwise creation is refused.
    allow_manual_fallback = models.BooleanField(default=True)
    owner_type = models.CharField(max_length=20, choices=OwnerType.choices)
    owner_tenant = models.OneToOneField(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="stripe_account"
    )
    provider_id = CrossDatabaseReference("marketplace_app.Provider", null=True, blank=True, unique=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    disabled_reason = models.CharField(max_length=100, blank=True)
    #: The account type we created it as ("express": payments_app/onboarding.py says why); empty
    #: for an account linked before onboarding went through the API.
    account_type = models.CharField(max_length=20, blank=True, default="")
    #: What Stripe still needs from the account holder (`requirements.currently_due`/`past_due`,
    #: lists of field names such as "external_account") and by when: kept from `account.updated`.
    requirements_currently_due = models.JSONField(default=list, blank=True)
    requirements_past_due = models.JSONField(default=list, blank=True)
    requirements_current_deadline = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    last_event_created = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CrossDatabaseReferencesManager()  # bulk_create records references too

    class Meta:
        db_table = "stripe_connect_accounts"
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(owner_type="tenant", owner_tenant__isnull=False, provider_id__isnull=True)
                    | models.Q(owner_type="provider", owner_tenant__isnull=True, provider_id__isnull=False)
                ),
                name="stripe_connect_accounts_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_account_id} ({self.status})"

    @property
    def can_take_payments(self) -> bool:
        return self.status == self.Status.ENABLED


class StripeWebhookEvent(models.Model):
    """The inbox: every verified Stripe event, stored before it is processed.

    The unique `stripe_event_id` makes a duplicate delivery a no-op at the database, not a
    check-then-act race. Processing happens in a worker; a failure is retried with backoff and, after
    `MAX_ATTEMPTS`, dead-lettered for support staff.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed, will retry"
        DEAD = "dead", "Dead-lettered"
        IGNORED = "ignored", "Ignored (no handler)"

    # Unique and indexed through Meta, not `unique=True` / `db_index=True`, which would add a
    # varchar_pattern_ops "_like" index per column to every insert (migration 0006).
    stripe_event_id = models.CharField(max_length=100)
    event_type = models.CharField(max_length=100)
    stripe_account_id = models.CharField(max_length=50, blank=True)
    livemode = models.BooleanField(default=False)
    stripe_created = models.DateTimeField()
    #: The id of the object the event is about (in_..., pi_..., ch_..., acct_...).
    object_id = models.CharField(max_length=100, blank=True)
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    #: What processing concluded, for support staff (e.g. "ignored: would move invoice backwards").
    outcome = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "stripe_webhook_events"
        constraints = [
            # ON CONFLICT (stripe_event_id) in the webhook's insert arbitrates on this one.
            models.UniqueConstraint(fields=["stripe_event_id"], name="stripe_webhook_events_stripe_event_id_key"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="stripe_events_due_idx",
                condition=models.Q(status__in=["received", "failed"]),
            ),
            models.Index(fields=["event_type"], name="stripe_events_type_idx"),
            models.Index(fields=["object_id"], name="stripe_events_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_event_id} {self.event_type} [{self.status}]"


class InvoiceKind(models.TextChoices):
    TENANT = "tenant", "Tenant invoice (breeder)"
    MARKETPLACE = "marketplace", "Marketplace invoice (service provider)"


#: The one set of reconciliation states, shared with tenant and marketplace invoices.
ReconciliationState = ReconciliationStatus


class OpenState(models.TextChoices):
    """Whether a Stripe-mode invoice has its payment intent yet (empty for manual rows)."""

    NONE = "", "Manual: no intent"
    UNOPENED = "unopened", "Sent, intent not created yet (the sweep retries)"
    OPENED = "opened", "Intent created"
    ABANDONED = "abandoned", "Closed without an intent (invoice void or settled first)"


class StripeStatus(models.TextChoices):
    """What Stripe last said of a payment (`InvoicePayment.stripe_status`, free text: Stripe may add
    statuses): the payment intent's status, or `void` once Stripe voided its invoice."""

    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    CANCELED = "canceled", "Canceled"
    VOID = "void", "Invoice voided in Stripe"


class CancelStatus(models.TextChoices):
    NONE = "", "Not requested"
    PENDING = "pending", "Cancel pending (retried)"
    CANCELED = "canceled", "Intent cancelled in Stripe"
    REFUSED = "refused", "Stripe refused (e.g. already paid): see reconciliation"


class InvoicePayment(CrossDatabaseReferencesMixin, models.Model):
    """How one invoice (tenant or marketplace) is collected, and what Stripe says about it.

    One row per invoice (unique), created before any Stripe call, so the payment intent is created
    at most once: its idempotency key is derived from the invoice and the id is stored here. A row
    with `provider="manual"` and a `fallback_reason` is an invoice that fell back to manual payment
    when it was created (breaker open or Connect account disabled): the visible flag support sees.

    Under row-level security keyed by `owner_tenant` like StripeConnectAccount: a tenant invoice's
    row is its tenant's; a marketplace invoice's row has no owner and is reachable only in
    `platform_context`. Webhook workers find a row by Stripe id through the audited system read,
    then write it in its owner's context (payments_app/access.py).
    """

    class Provider(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Manual"

    class FallbackReason(models.TextChoices):
        NONE = "", "No fallback"
        BREAKER_OPEN = "breaker_open", "Stripe unavailable (circuit open)"
        ACCOUNT_DISABLED = "account_disabled", "Connect account cannot take payments"

    invoice_kind = models.CharField(max_length=20, choices=InvoiceKind.choices)
    invoice_id = CrossDatabaseReference(
        targets={"tenant": "tenant_app.Invoice", "marketplace": "marketplace_app.MarketplaceInvoice"},
        discriminator="invoice_kind",
        db_index=False,
    )
    owner_tenant = models.ForeignKey(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    provider = models.CharField(max_length=20, choices=Provider.choices)
    fallback_reason = models.CharField(max_length=30, choices=FallbackReason.choices, blank=True, default="")
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    application_fee_cents = models.BigIntegerField(default=0)
    connect_account_id = models.CharField(max_length=50, blank=True)
    stripe_payment_intent_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    #: Written "unopened" in the send's own transaction (tenant invoices; marketplace ones through
    #: the outbox), "opened" when the intent id is stored, "abandoned" when the invoice was voided
    #: or settled before any intent existed (the sweep stops retrying it).
    open_state = models.CharField(max_length=20, choices=OpenState.choices, blank=True, default="")
    #: Why the last open did not happen (account unusable, invoice void, ...), for staff.
    open_note = models.CharField(max_length=300, blank=True)
    stripe_status = models.CharField(max_length=40, blank=True)
    refunded_cents = models.BigIntegerField(default=0)
    dispute_id = models.CharField(max_length=100, blank=True)
    dispute_status = models.CharField(max_length=40, blank=True)
    reconciliation_status = models.CharField(
        max_length=20, choices=ReconciliationState.choices, default=ReconciliationState.SYNCED
    )
    reconciliation_note = models.CharField(max_length=300, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    #: Cancelling the payment intent of a voided invoice: requested in (or right after) the void's
    #: transaction, done by a worker after it commits, retried by the 5-minute sweep while "pending".
    cancel_status = models.CharField(max_length=20, choices=CancelStatus.choices, blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "invoice_payments"
        constraints = [
            models.UniqueConstraint(fields=["invoice_kind", "invoice_id"], name="invoice_payments_one_per_invoice"),
            models.CheckConstraint(
                condition=models.Q(invoice_kind__in=["tenant", "marketplace"]), name="invoice_payments_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(invoice_kind="marketplace", owner_tenant__isnull=True)
                | models.Q(invoice_kind="tenant", owner_tenant__isnull=False),
                name="invoice_payments_tenant_for_tenant_invoices",
            ),
            models.CheckConstraint(
                condition=models.Q(provider="stripe") | models.Q(stripe_payment_intent_id__isnull=True),
                name="invoice_payments_manual_has_no_intent",
            ),
            models.CheckConstraint(
                condition=models.Q(amount_cents__gte=0, refunded_cents__gte=0), name="invoice_payments_amounts_valid"
            ),
            reconciliation_status_check(name="invoice_payments_reconciliation_valid"),
            models.CheckConstraint(
                condition=models.Q(provider="manual", open_state="")
                | models.Q(provider="stripe", open_state__in=["unopened", "opened", "abandoned"]),
                name="invoice_payments_open_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(stripe_payment_intent_id__isnull=True) | models.Q(open_state="opened"),
                name="invoice_payments_intent_means_opened",
            ),
        ]
        indexes = [
            models.Index(
                fields=["reconciliation_status"],
                name="invoice_payments_recon_idx",
                condition=~models.Q(reconciliation_status="synced"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_kind} invoice #{self.invoice_id} via {self.provider}"

    def metadata(self) -> dict[str, str]:
        """What we put on the Stripe object, so a webhook finds the invoice (and its tenant)."""
        return stripe_metadata(self.invoice_kind, self.invoice_id, self.owner_tenant_id)


def stripe_metadata(invoice_kind: str, invoice_id: int, tenant_id: int | None) -> dict[str, str]:
    data = {"breederhq_invoice_kind": invoice_kind, "breederhq_invoice_id": str(invoice_id)}
    if tenant_id is not None:
        data["breederhq_tenant_id"] = str(tenant_id)
    return data


class ReconciliationRun(models.Model):
    """One comparison of our invoices with Stripe (nightly beat or `manage.py reconcile_stripe`)."""

    trigger = models.CharField(max_length=20)  # "beat" | "command"
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    remote_objects = models.PositiveIntegerField(default=0)
    local_payments = models.PositiveIntegerField(default=0)
    synced = models.PositiveIntegerField(default=0)
    mismatch = models.PositiveIntegerField(default=0)
    missing_remote = models.PositiveIntegerField(default=0)
    missing_local = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "stripe_reconciliation_runs"

    def __str__(self) -> str:
        return f"reconciliation #{self.pk} ({self.started_at:%Y-%m-%d %H:%M})"


class ReconciliationItem(models.Model):
    """One disagreement found by a run, in words support staff can act on."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    status = models.CharField(max_length=20, choices=ReconciliationState.choices)
    invoice_kind = models.CharField(max_length=20, blank=True)
    invoice_id = models.BigIntegerField(null=True, blank=True)
    tenant_id_hint = models.BigIntegerField(null=True, blank=True)
    stripe_object_id = models.CharField(max_length=100, blank=True)
    local_amount_cents = models.BigIntegerField(null=True, blank=True)
    remote_amount_cents = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=300)

    class Meta:
        db_table = "stripe_reconciliation_items"
        constraints = [reconciliation_status_check("status", name="stripe_reconciliation_items_status_valid")]

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


class ConnectMoneyMovement(models.Model):
    """Where the money of a paid Stripe invoice went (destination charges): the
    platform's application fee, the transfer to the connected account, and that account's payouts
    to its bank. One row per Stripe object (unique id), so a duplicate or replayed event has one
    effect; events arriving in any order fill in the same row (a transfer seen before its charge is
    linked to the invoice when the charge arrives).

    Payouts belong to the connected account, not to one invoice: `invoice_payment` is empty for them.

    Also the ledger a connected account's owner reads through the API (payments_app/ledger.py): the
    buyer's payment (the charge), refunds and disputes join the fee, transfer and payout rows.
    Under row-level security keyed by `owner_tenant` (the owner of the connected account the row
    is about: a tenant, or NULL for a service provider's account or one that is not ours) like
    `invoice_payments`; `occurred_at` is when Stripe created the object, the order of the ledger.
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", "Payment by the buyer (charge)"
        REFUND = "refund", "Refund to the buyer"
        DISPUTE = "dispute", "Disputed by the buyer (chargeback)"
        APPLICATION_FEE = "application_fee", "Platform application fee"
        TRANSFER = "transfer", "Transfer to the connected account"
        PAYOUT = "payout", "Payout of the connected account"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    stripe_object_id = models.CharField(max_length=100, unique=True)
    invoice_payment = models.ForeignKey(
        InvoicePayment, null=True, blank=True, on_delete=models.PROTECT, related_name="money_movements"
    )
    connect_account_id = models.CharField(max_length=50, blank=True, db_index=True)
    owner_tenant = models.ForeignKey(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    #: When Stripe created the object (its `created`), else the first event's time: the ledger's order.
    occurred_at = models.DateTimeField()
    #: The charge the fee or transfer came from (ch_...); empty for payouts.
    source_charge_id = models.CharField(max_length=100, blank=True, db_index=True)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=30, blank=True)
    #: The `created` of the last event applied: an older one arriving late changes nothing.
    last_event_created = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "stripe_connect_money_movements"
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_cents__gte=0), name="connect_movements_amount_valid"),
            models.CheckConstraint(
                condition=~models.Q(kind="payout") | models.Q(invoice_payment__isnull=True),
                name="connect_movements_payout_has_no_invoice",
            ),
        ]
        indexes = [
            # The API's ledger of one connected account, newest first (payments_app/ledger.py).
            models.Index(fields=["connect_account_id", "-occurred_at", "-id"], name="connect_movements_ledger_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.stripe_object_id} {self.amount_cents} {self.currency}"


class RefundRequest(models.Model):
    """Money sent back through Stripe for one invoice payment: one row per client Idempotency-Key
    (or per duplicate collection), written and committed before Stripe is called.

    The row is the reservation: while it is `pending` its amount counts as refunded when another
    request is judged, and a `charge.refunded` notification waits for it (retried) instead of
    recording the same money a second time. Stripe's idempotency key is derived from this row, so a
    retry (the client's, or the sweep's after a crash) gets the very same Stripe refund back.

    Under row-level security keyed by `owner_tenant` like its payment row.
    """

    class Purpose(models.TextChoices):
        REFUND = "refund", "Refund asked for through the API"
        DUPLICATE_COLLECTION = "duplicate_collection", "Card payment on an invoice already paid: returned"

    class Status(models.TextChoices):
        PENDING = "pending", "Sent (or being sent) to Stripe, not recorded yet"
        SUCCEEDED = "succeeded", "Stripe refunded it; recorded"
        FAILED = "failed", "Stripe unreachable: nothing refunded (may be retried)"
        REFUSED = "refused", "Stripe refused it: nothing refunded"

    payment = models.ForeignKey(InvoicePayment, on_delete=models.PROTECT, related_name="refund_requests")
    owner_tenant = models.ForeignKey(
        "tenant_app.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.CharField(max_length=30, choices=Purpose.choices, default=Purpose.REFUND)
    idempotency_key = models.CharField(max_length=300)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=500, blank=True)
    #: Who asked (a tenant user's id, or a marketplace user's), for the ledger when the sweep finishes it.
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stripe_refund_id = models.CharField(max_length=100, null=True, blank=True, unique=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "invoice_refund_requests"
        constraints = [
            models.UniqueConstraint(fields=["payment", "idempotency_key"], name="invoice_refund_requests_one_per_key"),
            models.CheckConstraint(condition=models.Q(amount_cents__gt=0), name="invoice_refund_requests_amount_valid"),
        ]
        indexes = [
            models.Index(
                fields=["updated_at"], name="refund_requests_pending_idx", condition=models.Q(status="pending")
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount_cents} {self.currency} of payment #{self.payment_id} [{self.status}]"


# Disputes and their evidence live in their own module; imported here so Django registers them.
from payments_app.dispute_models import DisputeEvidenceFile, InvoiceDispute  # noqa: E402, F401
