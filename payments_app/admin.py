from django.contrib import admin

from breederhq.admin import ReadOnlyAdminMixin
from breederhq.backoffice.actions import audited_action
from payments_app.models import StripeConnectAccount, StripeWebhookEvent
from payments_app.services import stripe_event_requeue


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("stripe_event_id", "event_type", "status", "attempts", "next_attempt_at", "object_id",
                    "received_at", "processed_at")
    list_filter = ("status", "event_type", "livemode")
    search_fields = ("stripe_event_id", "object_id", "stripe_account_id")
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in StripeWebhookEvent._meta.fields]
    actions = [audited_action(
        "requeue_stripe_event", "Retry selected (dead-lettered or failed) events",
        perform=lambda event, user: stripe_event_requeue(event_pk=event.pk).status, permissions=("view",),
    )]


@admin.register(StripeConnectAccount)
class StripeConnectAccountAdmin(admin.ModelAdmin):
    list_display = ("stripe_account_id", "owner_type", "owner_tenant", "provider_id", "status", "charges_enabled",
                    "payouts_enabled", "updated_at")
    list_filter = ("status", "owner_type")
    search_fields = ("stripe_account_id", "owner_tenant__name")
    list_select_related = ("owner_tenant",)
    readonly_fields = ("charges_enabled", "payouts_enabled", "details_submitted", "disabled_reason", "status",
                       "last_event_created", "created_at", "updated_at")
