"""Back-office pages outside the ModelAdmins: "work on tenant X" and the staff dashboard."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from breederhq.backoffice.admin_tools import PAYMENT_ACTIONS, SUPPORT_ACTIONS, VIEW_DASHBOARD
from breederhq.backoffice.selectors import dashboard_get
from breederhq.backoffice.support import (
    SUPPORT_SESSION_TTL,
    support_session_end,
    support_session_get,
    support_session_start,
)
from breederhq.backoffice.view_as import VIEW_AS_TTL, view_as_end, view_as_get, view_as_start
from breederhq.databases import TENANT_DB
from breederhq.errors import PermissionDenied as DomainPermissionDenied


class SupportTenantForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=None, help_text="The tenant whose data you need to see.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Why (ticket number, customer request). Kept with every page you open.",
    )

    def __init__(self, *args, **kwargs):
        from tenant_app.models import Tenant

        super().__init__(*args, **kwargs)
        # `tenants` is a global table (no RLS): choosing one reads nothing private.
        self.fields["tenant"].queryset = Tenant.objects.using(TENANT_DB).order_by("name")


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("admin:index")


def support_tenant_view(request):
    """Choose the tenant to work on (audited), or stop working on it."""
    if not (request.user.has_perm(SUPPORT_ACTIONS) or request.user.has_perm(PAYMENT_ACTIONS)):
        raise PermissionDenied
    if request.method == "POST" and request.POST.get("end"):
        support_session_end(request=request)
        messages.info(request, "You no longer work on a tenant.")
        return HttpResponseRedirect(reverse("admin:index"))
    if request.method == "POST":
        form = SupportTenantForm(request.POST)
        if form.is_valid():
            support = support_session_start(
                request=request, tenant=form.cleaned_data["tenant"], reason=form.cleaned_data["reason"]
            )
            messages.success(
                request,
                f"Working on {support.tenant_name} until "
                f"{support.expires_at:%H:%M} UTC; every page you open is audited.",
            )
            return HttpResponseRedirect(_safe_next(request))
    else:
        # A support search hit names the tenant and the search's reason: one click to confirm them.
        form = SupportTenantForm(initial={"tenant": request.GET.get("tenant"), "reason": request.GET.get("reason", "")})
    context = {
        **admin.site.each_context(request),
        "title": "Work on a tenant",
        "form": form,
        "next": _safe_next(request),
        "current": support_session_get(request),
        "ttl_minutes": int(SUPPORT_SESSION_TTL.total_seconds() // 60),
    }
    return TemplateResponse(request, "admin/backoffice/support_tenant.html", context)


def dashboard_view(request):
    if not request.user.has_perm(VIEW_DASHBOARD):
        raise PermissionDenied
    from breederhq.backoffice.dashboard_period import dashboard_period_context

    context = {
        **admin.site.each_context(request),
        "title": "Staff dashboard",
        "board": dashboard_get(staff_user_id=request.user.pk),
        **dashboard_period_context(request),
    }
    return TemplateResponse(request, "admin/backoffice/dashboard.html", context)


class ViewAsForm(forms.Form):
    user = forms.ModelChoiceField(queryset=None, help_text="A tenant user (never a staff account).")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Why (ticket number). Kept with every request you make as them.",
    )

    def __init__(self, *args, **kwargs):
        from tenant_app.models import User

        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = (
            User.objects.using(TENANT_DB).filter(is_staff=False, is_superuser=False, is_active=True).order_by("email")
        )


def view_as_view(request):
    """Start or stop seeing the API as one tenant user (read-only, audited, time-limited)."""
    if not request.user.has_perm(SUPPORT_ACTIONS):
        raise PermissionDenied
    if request.method == "POST" and request.POST.get("end"):
        view_as_end(request=request)
        messages.info(request, "You no longer view the API as another user.")
        return HttpResponseRedirect(reverse("admin:index"))
    if request.method == "POST":
        form = ViewAsForm(request.POST)
        if form.is_valid():
            try:
                view_as = view_as_start(
                    request=request, target=form.cleaned_data["user"], reason=form.cleaned_data["reason"]
                )
            except DomainPermissionDenied as exc:
                raise PermissionDenied(exc.detail) from exc
            messages.success(
                request,
                f"The API now shows you what {view_as.email} sees, read-only, until {view_as.expires_at:%H:%M} UTC.",
            )
            return HttpResponseRedirect(reverse("api-v1:docs"))
    else:
        form = ViewAsForm(initial={"user": request.GET.get("user")})
    context = {
        **admin.site.each_context(request),
        "title": "View the API as a tenant user",
        "form": form,
        "current": view_as_get(request),
        "ttl_minutes": int(VIEW_AS_TTL.total_seconds() // 60),
    }
    return TemplateResponse(request, "admin/backoffice/view_as.html", context)


class SupportSearchForm(forms.Form):
    q = forms.CharField(label="Invoice number, email or Stripe id", max_length=200, min_length=3)
    reason = forms.CharField(
        max_length=300,
        min_length=5,
        help_text="Why (ticket number). Searching reads every tenant's data: it is audited.",
    )


def support_search_view(request):
    """One search box across tenants and both databases (breederhq/backoffice/search.py)."""
    from breederhq.backoffice.search import support_search

    if not (request.user.has_perm(SUPPORT_ACTIONS) or request.user.has_perm(PAYMENT_ACTIONS)):
        raise PermissionDenied
    form = SupportSearchForm(request.GET or None)
    hits = None
    if form.is_valid():
        hits = support_search(query=form.cleaned_data["q"], staff_user=request.user, reason=form.cleaned_data["reason"])
    context = {**admin.site.each_context(request), "title": "Support search", "form": form, "hits": hits}
    return TemplateResponse(request, "admin/backoffice/support_search.html", context)
