from collections import defaultdict
from datetime import timedelta
from functools import cache
from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince

from breederhq.backoffice.actions import audited_action
from breederhq.backoffice.admin_tools import (
    BackofficeActionsMixin,
    LargeTableAdminMixin,
    ReadOnlyAdminMixin,
    is_tenant_owned,
    render_reference,
)
from breederhq.backoffice.selectors import OUTBOX_STUCK_AFTER
from breederhq.backoffice.support import support_request_context, support_session_get
from breederhq.crossdb import ResolvedReference
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.email import email_resend, email_without_secrets
from breederhq.models import (
    APPLIED_MESSAGE_PROXIES,
    CROSSDB_REFERENCE_PROXIES,
    OUTBOX_PROXIES,
    AppliedMessage,
    CrossDbReference,
    MarketplaceDbAuthorizationAudit,
    MarketplaceDbIdempotencyKey,
    MarketplaceDbOutboundEmail,
    OutboxMessage,
    TenantDbAuthorizationAudit,
    TenantDbCrossTenantQueryAudit,
    TenantDbIdempotencyKey,
    TenantDbOutboundEmail,
)
from breederhq.outbox import outbox_handler_for, outbox_message_requeue
from breederhq.routing import database_for_model


def _resend(email, user):
    return email_resend(using=email._state.db, pk=email.pk).status


class OutboundEmailAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("template", "recipients", "subject", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("=event_key",)
    date_hierarchy = "created_at"
    # The bodies rendered, not as source: the HTML in a sandboxed iframe (no scripts, no forms, no
    # access to the admin's origin), the text as it is read; both without the single-use secrets
    # some templates carry (an invitation token), also while the email is still queued or has failed
    # (breederhq.email.SECRETS_IN_TEMPLATES).
    fields = readonly_fields = [
        "html_preview",
        "text_preview",
        *(f.name for f in TenantDbOutboundEmail._meta.fields if f.name not in {"html_body", "text_body"}),
    ]
    actions = [audited_action("resend_email", "Resend selected emails", perform=_resend, permissions=("view",))]

    @admin.display(description="to")
    def recipients(self, obj):
        return ", ".join(obj.to)

    @admin.display(description="HTML")
    def html_preview(self, obj):
        html = email_without_secrets(obj).html_body
        if not html:
            return "(no HTML part)"
        return format_html(
            '<iframe sandbox="" referrerpolicy="no-referrer" title="HTML body" srcdoc="{}" '
            'style="width:100%;min-width:40em;height:28em;border:1px solid #ccc;background:#fff"></iframe>',
            html,
        )

    @admin.display(description="text")
    def text_preview(self, obj):
        return format_html('<pre style="white-space:pre-wrap;margin:0">{}</pre>', email_without_secrets(obj).text_body)


class IdempotencyKeyAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A stored response is a tenant's (or a marketplace user's) data: the contacts, invoices... a
    replay would send back. Staff see what the key was for (scope, context, request) and the answer's
    status, type and size, never its body or headers: tenant data is shown only through the audited
    paths (view-as, support search)."""

    list_display = (
        "key",
        "scope",
        "context",
        "method",
        "path",
        "status",
        "response_status",
        "created_at",
        "expires_at",
    )
    list_filter = ("status", "method")
    search_fields = ("=key",)
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "key",
        "scope",
        "context",
        "method",
        "path",
        "request_fingerprint",
        "status",
        "response_status",
        "response_content_type",
        "response_size",
        "created_at",
        "completed_at",
        "expires_at",
    )

    @admin.display(description="response size")
    def response_size(self, obj):
        size = len((obj.response_body or "").encode("utf-8"))
        return f"{size} bytes, {len(obj.response_headers or {})} header(s) (not shown: tenant data)"


admin.site.register(TenantDbOutboundEmail, OutboundEmailAdmin)
admin.site.register(MarketplaceDbOutboundEmail, OutboundEmailAdmin)
admin.site.register(TenantDbIdempotencyKey, IdempotencyKeyAdmin)
admin.site.register(MarketplaceDbIdempotencyKey, IdempotencyKeyAdmin)


class AuthorizationAuditAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("requested_at", "user_id", "action", "resource_type", "resource_id", "allowed", "ip_address")
    list_filter = ("allowed", "action", "resource_type")
    search_fields = ("=user_id",)
    date_hierarchy = "requested_at"
    readonly_fields = [f.name for f in TenantDbAuthorizationAudit._meta.fields]


class CrossTenantQueryAuditAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("executed_at", "user_id", "target_tenant_id", "query_type", "allowed")
    list_filter = ("allowed", "query_type")
    search_fields = ("=user_id", "=target_tenant_id")
    date_hierarchy = "executed_at"
    readonly_fields = [f.name for f in TenantDbCrossTenantQueryAudit._meta.fields]


admin.site.register(TenantDbAuthorizationAudit, AuthorizationAuditAdmin)
admin.site.register(MarketplaceDbAuthorizationAudit, AuthorizationAuditAdmin)
admin.site.register(TenantDbCrossTenantQueryAudit, CrossTenantQueryAuditAdmin)


# --- The cross-database machinery: outbox, applied message ids, reference registry ------------------
# One read-only page per database each. Stuck outbox messages can be requeued (audited action).


class OutboxStuckFilter(admin.SimpleListFilter):
    """The dashboard's "stuck" figure: gave up (status stuck), or still pending after
    OUTBOX_STUCK_AFTER (30 minutes, as crossdb_check)."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request, model_admin):
        minutes = int(OUTBOX_STUCK_AFTER.total_seconds() // 60)
        return [("yes", f"stuck, or pending > {minutes} min"), ("no", "on time or applied")]

    def queryset(self, request, queryset):
        stuck = Q(status=OutboxMessage.Status.STUCK) | Q(
            status=OutboxMessage.Status.PENDING, created_at__lt=timezone.now() - OUTBOX_STUCK_AFTER
        )
        if self.value() == "yes":
            return queryset.filter(stuck)
        if self.value() == "no":
            return queryset.exclude(stuck)
        return queryset


class OutboxAttemptsFilter(admin.SimpleListFilter):
    title = "attempts"
    parameter_name = "attempts"
    RANGES = {"0": Q(attempts=0), "1-3": Q(attempts__gte=1, attempts__lte=3), "4+": Q(attempts__gte=4)}

    def lookups(self, request, model_admin):
        return [(key, key) for key in self.RANGES]

    def queryset(self, request, queryset):
        return queryset.filter(self.RANGES[self.value()]) if self.value() in self.RANGES else queryset


def age_filter(field: str):
    """A list filter on how long ago `field` was: < 5 min, < 1 hour, < 1 day, older."""

    class AgeFilter(admin.SimpleListFilter):
        title = "age"
        parameter_name = "age"
        RANGES = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}

        def lookups(self, request, model_admin):
            return [("5m", "< 5 minutes"), ("1h", "< 1 hour"), ("1d", "< 1 day"), ("older", "older than a day")]

        def queryset(self, request, queryset):
            now = timezone.now()
            if self.value() in self.RANGES:
                return queryset.filter(**{f"{field}__gte": now - self.RANGES[self.value()]})
            if self.value() == "older":
                return queryset.filter(**{f"{field}__lt": now - self.RANGES["1d"]})
            return queryset

    return AgeFilter


def _other_database_search(proxies: dict, alias: str, text: str) -> str:
    """The changelist of `alias`'s page of a per-database model, searched for `text` (no query)."""
    opts = proxies[alias]._meta
    return f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?{urlencode({'q': text})}"


def _requeue(message, user):
    requeued = outbox_message_requeue(using=message._state.db, message_id=message.message_id)
    return f"{requeued.status}: attempts reset, due now"


class OutboxMessageAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, BackofficeActionsMixin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "topic",
        "handler",
        "target_db",
        "status",
        "attempts",
        "age",
        "next_attempt_at",
        "last_attempt_at",
        "error",
        "applied_link",
    )
    list_filter = (OutboxStuckFilter, "status", "topic", "target_db", OutboxAttemptsFilter, age_filter("created_at"))
    search_fields = ("=message_id",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    readonly_fields = ["handler", *(f.name for f in OutboxMessage._meta.fields)]
    actions = [
        audited_action(
            "requeue_outbox_message",
            "Requeue selected stuck messages",
            perform=_requeue,
            permissions=("support_action",),
        )
    ]

    @admin.display(description="message", ordering="message_id")
    def short_id(self, obj):
        return str(obj.message_id)[:8]

    @admin.display(description="handler")
    def handler(self, obj):
        try:
            func = outbox_handler_for(obj.topic).func
        except ImproperlyConfigured:
            return "(no handler)"
        return f"{func.__module__}.{func.__qualname__}"

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return timesince(obj.created_at)

    @admin.display(description="last error")
    def error(self, obj):
        return Truncator(obj.last_error).chars(80)

    @admin.display(description="applied in target")
    def applied_link(self, obj):
        if obj.status != OutboxMessage.Status.APPLIED:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            _other_database_search(APPLIED_MESSAGE_PROXIES, obj.target_db, str(obj.message_id)),
            obj.target_db,
        )


class AppliedMessageAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message_id", "topic", "source_db", "applied_at", "source_link")
    list_filter = ("topic", "source_db", age_filter("applied_at"))
    search_fields = ("=message_id",)
    date_hierarchy = "applied_at"
    ordering = ("-applied_at", "-id")
    readonly_fields = [f.name for f in AppliedMessage._meta.fields]

    @admin.display(description="outbox message")
    def source_link(self, obj):
        return format_html(
            '<a href="{}">{} outbox</a>',
            _other_database_search(OUTBOX_PROXIES, obj.source_db, str(obj.message_id)),
            obj.source_db,
        )


@cache
def _models_by_table() -> dict[str, type]:
    return {m._meta.db_table: m for m in apps.get_models() if not m._meta.proxy}


class CrossDbReferenceAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """The registry: each row's source (this database) and target (the other one) as links to their
    admin pages. A page resolves each table it mentions with one query (`in_bulk`), whatever the
    number of rows; tenant rows are read in the audited support context of the tenant being worked on
    (others show as "other tenant or missing")."""

    list_display = ("__str__", "source_link", "target_link", "target_state", "created_at", "updated_at")
    list_filter = ("source_table", "source_column", "target_table", "target_db", age_filter("created_at"))
    search_fields = ("=source_id", "=target_id")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    readonly_fields = ["source_link", "target_link", "target_state", *(f.name for f in CrossDbReference._meta.fields)]

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        changelist.result_list = list(changelist.result_list)
        self._resolve(request, changelist.result_list)
        return changelist

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            self._resolve(request, [obj])
        return obj

    def _resolve(self, request, rows) -> None:
        """Sets `_source` and `_target` (ResolvedReference or None) on each row."""
        wanted: dict[type, set[int]] = defaultdict(set)
        models_by_table = _models_by_table()
        for row in rows:
            for table, pk in ((row.source_table, row.source_id), (row.target_table, row.target_id)):
                if table in models_by_table:
                    wanted[models_by_table[table]].add(pk)

        def load(models):
            return {
                model: model._base_manager.using(database_for_model(model)).in_bulk(sorted(wanted[model]))
                for model in models
            }

        tenant_owned = [model for model in wanted if is_tenant_owned(model)]
        loaded = load([model for model in wanted if model not in tenant_owned])
        if tenant_owned and support_session_get(request) is not None:
            with support_request_context(request, page=f"{self.opts.label_lower}:resolve"):
                loaded.update(load(tenant_owned))
        for row in rows:
            for attr, table, pk in (
                ("_source", row.source_table, row.source_id),
                ("_target", row.target_table, row.target_id),
            ):
                model = models_by_table.get(table)
                setattr(
                    row,
                    attr,
                    None if model is None else ResolvedReference(model=model, id=pk, obj=loaded.get(model, {}).get(pk)),
                )

    @admin.display(description="source")
    def source_link(self, obj):
        return render_reference(getattr(obj, "_source", None))

    @admin.display(description="target")
    def target_link(self, obj):
        return render_reference(getattr(obj, "_target", None))

    @admin.display(description="target state")
    def target_state(self, obj):
        ref = getattr(obj, "_target", None)
        if ref is None:
            return "unknown table"
        if ref.is_missing:
            return "other tenant or missing" if is_tenant_owned(ref.model) else "missing"
        return f"deleted {ref.obj.deleted_at:%Y-%m-%d %H:%M}" if ref.is_deleted else "live"


for _alias in (TENANT_DB, MARKETPLACE_DB):
    admin.site.register(OUTBOX_PROXIES[_alias], OutboxMessageAdmin)
    admin.site.register(APPLIED_MESSAGE_PROXIES[_alias], AppliedMessageAdmin)
    admin.site.register(CROSSDB_REFERENCE_PROXIES[_alias], CrossDbReferenceAdmin)
