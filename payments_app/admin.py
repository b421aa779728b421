from django.contrib import admin

from breederhq.backoffice.actions import audited_action
from breederhq.backoffice.admin_tools import LargeTableAdminMixin, ReadOnlyAdminMixin, SystemReadAdminMixin
from payments_app.inbox_processing import stripe_event_requeue
from payments_app.models import (
    ConnectMoneyMovement,
    InvoicePayment,
    ReconciliationItem,
    ReconciliationRun,
    StripeConnectAccount,
    StripeWebhookEvent,
)


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # `outcome`: why an event was ignored, or, for a dead-lettered one that could not be read, the reason.
    list_display = (
        "stripe_event_id",
        "event_type",
        "status",
        "attempts",
        "next_attempt_at",
        "object_id",
        "outcome",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "event_type", "livemode")
    search_fields = ("=stripe_event_id", "=object_id")
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in StripeWebhookEvent._meta.fields]
    actions = [
        audited_action(
            "requeue_stripe_event",
            "Retry selected (dead-lettered or failed) events",
            perform=lambda event, user: stripe_event_requeue(event_pk=event.pk).status,
            permissions=("view",),
        )
    ]


@admin.register(StripeConnectAccount)
class StripeConnectAccountAdmin(LargeTableAdminMixin, SystemReadAdminMixin, admin.ModelAdmin):
    """Connected accounts and where their onboarding stands, as Stripe last told us
    (`account.updated`, or a sync from the API): what is due, overdue, and why it is disabled."""

    list_display = (
        "stripe_account_id",
        "owner_type",
        "owner_tenant",
        "provider_id",
        "account_type",
        "status",
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
        "requirements_due",
        "disabled_reason",
        "allow_manual_fallback",
        "updated_at",
    )
    list_filter = ("status", "owner_type", "charges_enabled", "details_submitted")
    search_fields = ("=stripe_account_id",)
    list_select_related = ("owner_tenant",)
    readonly_fields = (
        "account_type",
        "charges_enabled",
        "payouts_enabled",
        "details_submitted",
        "disabled_reason",
        "requirements_currently_due",
        "requirements_past_due",
        "requirements_current_deadline",
        "status",
        "last_event_created",
        "created_at",
        "updated_at",
    )

    @admin.display(description="Requirements due (past due)")
    def requirements_due(self, obj):
        due, past = obj.requirements_currently_due or [], obj.requirements_past_due or []
        if not due and not past:
            return "-"
        return f"{len(due)} ({len(past)}): {', '.join(due[:4])}{'...' if len(due) > 4 else ''}"


class ConnectMoneyMovementInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ConnectMoneyMovement
    fields = (
        "kind",
        "stripe_object_id",
        "amount_cents",
        "currency",
        "status",
        "connect_account_id",
        "source_charge_id",
        "updated_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ConnectMoneyMovement)
class ConnectMoneyMovementAdmin(LargeTableAdminMixin, SystemReadAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Where each paid Stripe invoice's money went: our fee, the transfer, the account's payouts."""

    list_display = (
        "stripe_object_id",
        "kind",
        "amount_cents",
        "currency",
        "status",
        "connect_account_id",
        "owner_tenant_id",
        "invoice_payment",
        "source_charge_id",
        "occurred_at",
        "updated_at",
    )
    list_filter = ("kind", "status")
    search_fields = ("=stripe_object_id", "=connect_account_id", "=source_charge_id")
    list_select_related = ("invoice_payment",)
    readonly_fields = [f.name for f in ConnectMoneyMovement._meta.fields]


@admin.register(InvoicePayment)
class InvoicePaymentAdmin(LargeTableAdminMixin, SystemReadAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """How each invoice is collected: Stripe payment intent, or manual (with the fallback reason when
    Stripe was unusable at creation), and what reconciliation last concluded."""

    list_display = (
        "invoice_kind",
        "invoice_id",
        "owner_tenant_id",
        "provider",
        "fallback_reason",
        "amount_cents",
        "currency",
        "open_state",
        "stripe_payment_intent_id",
        "stripe_status",
        "cancel_status",
        "dispute_status",
        "reconciliation_status",
        "reconciliation_note",
        "reconciled_at",
    )
    list_filter = (
        "provider",
        "fallback_reason",
        "open_state",
        "reconciliation_status",
        "invoice_kind",
        "dispute_status",
        "cancel_status",
    )
    search_fields = ("=stripe_payment_intent_id",)
    readonly_fields = [f.name for f in InvoicePayment._meta.fields]
    inlines = [ConnectMoneyMovementInline]


class ReconciliationItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReconciliationItem
    fields = (
        "status",
        "invoice_kind",
        "invoice_id",
        "tenant_id_hint",
        "stripe_object_id",
        "local_amount_cents",
        "remote_amount_cents",
        "detail",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The report of each reconciliation with Stripe; each disagreement is a line below the run."""

    list_display = (
        "pk",
        "trigger",
        "started_at",
        "finished_at",
        "remote_objects",
        "local_payments",
        "synced",
        "mismatch",
        "missing_remote",
        "missing_local",
        "error",
    )
    list_filter = ("trigger",)
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in ReconciliationRun._meta.fields]
    inlines = [ReconciliationItemInline]


from payments_app import dispute_admin  # noqa: E402, F401  (registers the dispute pages)
