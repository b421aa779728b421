"""Building blocks for the back-office ModelAdmins: the audited tenant path, money shown as
currency, cross-database references as links resolved in batch, and the action permissions.

    class InvoiceAdmin(TenantScopedAdminMixin, CrossDatabaseLinksMixin, BackofficeActionsMixin, admin.ModelAdmin):
        crossdb_links = ("contact__marketplace_user_id",)
        list_display = ("invoice_number", money("total_cents"))
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connections, models
from django.http import HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from breederhq.backoffice.support import support_request_context, support_session_get
from breederhq.crossdb import ResolvedReference, resolve
from breederhq.databases import TENANT_DB
from breederhq.money import Money
from breederhq.routing import database_for_model
from breederhq.tenancy import is_tenant_owned as _has_tenant_column

#: Custom permissions (declared on StaffActionAudit, see breederhq/backoffice/models.py).
SUPPORT_ACTIONS = "backoffice.support_actions"
PAYMENT_ACTIONS = "backoffice.payment_actions"
VIEW_DASHBOARD = "backoffice.view_dashboard"


def is_tenant_owned(model) -> bool:
    """Under row-level security (a marketplace provider's `tenant_id` is only a reference)."""
    return _has_tenant_column(model) and database_for_model(model) == TENANT_DB


class ReadOnlyAdminMixin:
    """Records written by the platform: staff look, never edit or delete by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Big tables: no full count, searches an index can answer ----------------------------------------


def estimated_rows(queryset) -> int | None:
    """PostgreSQL's estimate of the rows `queryset` returns (EXPLAIN, no execution): for an
    unfiltered list the table's pg_class.reltuples scaled to its current size, for a filtered one
    the planner's selectivity. None when the query cannot be explained (an empty `IN ()`...)."""
    try:
        sql, params = queryset.query.sql_with_params()
    except Exception:  # EmptyResultSet and friends: the exact count costs nothing then
        return None
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    """A changelist paginator whose `count` is PostgreSQL's estimate when that is large
    (settings.BACKOFFICE_EXACT_COUNT_BELOW, 10,000 by default) and an exact COUNT(*) only below it:
    a page of a million-row table costs its one LIMIT query and one EXPLAIN, not a scan of the
    table. Pages past the real end are simply empty."""

    @cached_property
    def count(self) -> int:
        if not isinstance(self.object_list, models.QuerySet):
            return super().count
        estimate = estimated_rows(self.object_list)
        if estimate is None or estimate < settings.BACKOFFICE_EXACT_COUNT_BELOW:
            return super().count
        return estimate


class LargeTableAdminMixin:
    """For the admins of tables that grow without bound (listings, transactions, messages, invoices,
    payments, outbox, emails, webhook events, audits...): the changelist counts nothing in full
    (`show_full_result_count = False`, `EstimatedCountPaginator`), and the search box runs only
    searches an index answers.

    `search_fields` entries are `=field` (equal to the text: ids, numbers, keys, invoice numbers,
    and on tenant tables names and emails; a btree on the column) or `^field` (starts with the
    text, any case: names, emails; an index on `UPPER(column) text_pattern_ops`,
    breederhq/db_indexes.py). No substring (`icontains`) search: no btree serves it. Tables under
    row-level security take only `=`: PostgreSQL uses an index under a policy only for leakproof
    operators, and `=` is one where UPPER() and LIKE are not. A text `=` matches the text as typed,
    in lower case, in upper case or with only its first letter capital ("smith" finds "Smith"). The whole search text is one value (not split into words), and each field is searched
    on its own, the matches united (`id IN (... UNION ...)`), so a field across a relation
    (`^client__email`) is answered by that table's index too, not by a join of both tables in full.
    tests/backoffice/test_admin_search_indexes.py EXPLAINs every admin's search."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        fields = self.get_search_fields(request)
        if not term or not fields:
            return queryset, False
        base = self.model._base_manager.db_manager(queryset.db).all()
        branches = []
        for entry in fields:
            lookup = search_lookup(self.model, entry, term)
            if lookup is not None:
                branches.append(base.filter(**lookup).order_by().values("pk"))
        if not branches:
            return queryset.none(), False
        ids = branches[0].union(*branches[1:]) if len(branches) > 1 else branches[0]
        return queryset.filter(pk__in=ids), False


def search_lookup(model, entry: str, term: str) -> dict | None:
    """The filter for one `=field` / `^field` search entry, or None when `term` cannot be a value of
    the field (letters for a number, a malformed UUID): that field then matches nothing."""
    if entry[:1] not in "=^":
        raise ValueError(f"{model._meta.label}: search field {entry!r} must start with = or ^ (an indexed search)")
    path = entry[1:]
    field = _final_field(model, path)
    if entry[0] == "^":
        return {f"{path}__istartswith": term}
    if isinstance(field, (models.CharField, models.TextField)):
        return {f"{path}__in": sorted({term, term.lower(), term.upper(), term[:1].upper() + term[1:].lower()})}
    try:
        value = field.to_python(term)
        if isinstance(field, models.IntegerField) and not -(2**63) <= value < 2**63:
            return None
    except (ValidationError, TypeError, ValueError, OverflowError):
        return None
    return {f"{path}__exact": value}


def _final_field(model, path: str):
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model
    return model._meta.get_field(name)


# --- Money --------------------------------------------------------------------------------------------


def money(field: str, *, currency_field: str = "currency", description: str | None = None):
    """A list/readonly column showing `field` (minor units) as currency, e.g. "1,250.00 USD"."""

    @admin.display(description=description or field.removesuffix("_cents").replace("_", " "), ordering=field)
    def show(*args):  # (obj) as a list_display callable, (admin, obj) as an admin attribute
        obj = args[-1]
        cents = getattr(obj, field)
        return "" if cents is None else Money(int(cents), getattr(obj, currency_field)).format()

    show.__name__ = f"{field}_money"
    return show


# --- Permissions for actions -------------------------------------------------------------------------


class BackofficeActionsMixin:
    """`audited_action(..., permissions=("support_action",))` or `("payment_action",)`."""

    def has_support_action_permission(self, request):
        return request.user.has_perm(SUPPORT_ACTIONS)

    def has_payment_action_permission(self, request):
        return request.user.has_perm(PAYMENT_ACTIONS)


# --- The audited tenant path -------------------------------------------------------------------------


def support_picker_url(request, *, tenant_id: int | None = None) -> str:
    query = {"next": request.get_full_path()}
    if tenant_id is not None:
        query["tenant"] = tenant_id
    return f"{reverse('backoffice:support')}?{urlencode(query)}"


class TenantScopedAdminMixin:
    """Every view of a tenant-owned model runs in the chosen tenant's context, through
    `support_tenant_access` (one audit row per request). Without a chosen tenant the staff member is
    sent to the "work on tenant" page first. The response is rendered inside the context: a
    TemplateResponse evaluates the changelist's queryset only when it renders, and outside the
    transaction row-level security would show it zero rows."""

    def _in_tenant(self, request, page: str, view, *args, **kwargs):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied  # before anything else: no tenant choice, no audit row
        if support_session_get(request) is None:
            return HttpResponseRedirect(support_picker_url(request))
        with support_request_context(request, page=f"{self.opts.label_lower}:{page}"):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        return response

    def changelist_view(self, request, extra_context=None):
        return self._in_tenant(request, "changelist", super().changelist_view, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is None and not self.has_add_permission(request):
            raise PermissionDenied
        return self._in_tenant(
            request, f"change:{object_id}", super().changeform_view, object_id, form_url, extra_context
        )

    def history_view(self, request, object_id, extra_context=None):
        return self._in_tenant(request, f"history:{object_id}", super().history_view, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._in_tenant(request, f"delete:{object_id}", super().delete_view, object_id, extra_context)


class SystemReadAdminMixin:
    """Platform pages over a table under row-level security that staff see across tenants (invoice
    payments, Stripe Connect accounts, keyed by `owner_tenant_id`). Each page reads through the
    audited `system_read_context` naming the staff member (SELECT only); a save or delete is
    written in the row's owner's context (`owner_context`), never by bypassing the policy. The
    response is rendered inside the read, as TenantScopedAdminMixin does."""

    def _system_read(self, request, page: str, view, *args, **kwargs):
        from breederhq.tenancy import system_read_context

        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        with system_read_context(job=f"admin:{self.opts.label_lower}:{page}", user_id=request.user.pk):
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        return response

    def changelist_view(self, request, extra_context=None):
        return self._system_read(request, "changelist", super().changelist_view, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._system_read(
            request, f"change:{object_id}", super().changeform_view, object_id, form_url, extra_context
        )

    def history_view(self, request, object_id, extra_context=None):
        return self._system_read(request, f"history:{object_id}", super().history_view, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._system_read(request, f"delete:{object_id}", super().delete_view, object_id, extra_context)

    def save_model(self, request, obj, form, change):
        from breederhq.tenancy import owner_context

        with owner_context(getattr(obj, "owner_tenant_id", None)):
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        from breederhq.tenancy import owner_context

        with owner_context(getattr(obj, "owner_tenant_id", None)):
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:  # each in its own owner's context (a bulk DELETE under the read would delete nothing)
            self.delete_model(request, obj)


# --- Cross-database links ------------------------------------------------------------------------------


def admin_url(obj) -> str | None:
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def render_reference(ref: ResolvedReference | None) -> str:
    """A resolved reference as a link to its admin page, `[deleted]` or `(missing)` where so."""
    if ref is None:
        return "-"
    label = f"{ref.model._meta.verbose_name} #{ref.id}"
    if ref.is_missing:
        # Tenant rows of another tenant than the one being worked on are invisible (RLS), as are
        # rows that no longer exist: say which, without guessing.
        hidden = is_tenant_owned(ref.model)
        return format_html(
            '<span title="{}">{} ({})</span>',
            "not visible outside its tenant" if hidden else "",
            label,
            "other tenant or missing" if hidden else "missing",
        )
    url = admin_url(ref.obj)
    text = f"{ref.obj} ({label})" + (" [deleted]" if ref.is_deleted else "")
    return format_html('<a href="{}">{}</a>', url, text) if url else text


class CrossDatabaseLinksMixin:
    """`crossdb_links = ("marketplace_user_id", ...)`: each named CrossDatabaseReference becomes a
    column `<field>_link` linking to the row's admin page in the other database. A changelist page
    resolves each column with one `breederhq.crossdb.resolve` call (one query per target table),
    not one query per row."""

    crossdb_links: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for field in cls.crossdb_links:
            setattr(cls, f"{field}_link", _link_column(field))

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        changelist.result_list = rows
        if rows and self.crossdb_links:
            self._resolve_page(request, rows)
        return changelist

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None and self.crossdb_links:
            self._resolve_page(request, [obj])  # the change page resolves like a one-row list
        return obj

    def _resolve_page(self, request, rows) -> None:
        resolved = {field: resolve(rows, field) for field in self.crossdb_links if not self._needs_tenant(field)}
        tenant_fields = [f for f in self.crossdb_links if self._needs_tenant(f)]
        if tenant_fields:
            if support_session_get(request) is not None and not isinstance(self, TenantScopedAdminMixin):
                with support_request_context(request, page=f"{self.opts.label_lower}:resolve"):
                    resolved.update({field: resolve(rows, field) for field in tenant_fields})
            else:
                resolved.update({field: resolve(rows, field) for field in tenant_fields})
        for index, row in enumerate(rows):
            row._crossdb_resolved = {field: refs[index] for field, refs in resolved.items()}

    def _needs_tenant(self, field: str) -> bool:
        reference = self.model._meta.get_field(field)
        return any(is_tenant_owned(model) for model in reference.target_models().values())


def _link_column(field: str):
    @admin.display(description=field.removesuffix("_id").replace("_", " "))
    def column(self, obj):
        cached = getattr(obj, "_crossdb_resolved", None)
        ref = cached[field] if cached is not None and field in cached else resolve([obj], field)[0]
        return render_reference(ref)

    column.__name__ = f"{field}_link"
    return column
