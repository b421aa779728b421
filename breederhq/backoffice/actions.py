"""Admin actions that ask for confirmation and a reason, and write a StaffActionAudit row each.

requeue = audited_action(
    "requeue_stripe_event", "Requeue selected events",
    perform=lambda event, user: stripe_event_requeue(event_pk=event.pk).status,
)
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import router, transaction
from django.template.response import TemplateResponse

from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import TENANT_DB
from breederhq.errors import DomainError


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        min_length=5,
        help_text="Why you are doing this; it is kept in the staff action audit.",
    )


def staff_action_record(*, user, action: str, obj, reason: str, result: str) -> StaffActionAudit:
    return StaffActionAudit.objects.using(TENANT_DB).create(
        actor_id=user.pk,
        actor_username=user.get_username(),
        action=action,
        target_model=obj._meta.label,
        target_database=obj._state.db or router.db_for_write(type(obj)),
        target_id=str(obj.pk),
        reason=reason,
        result=result[:300],
    )


#: Where a row keeps its amount, its payer and its payment method, first match wins (the
#: confirmation page shows them so staff see what they are about to act on).
_AMOUNT_FIELDS = ("total_cents", "amount_cents")
_PAYER_FIELDS = ("contact", "client", "buyer", "payer", "blocked_user", "user")
_METHOD_FIELDS = ("payment_mode_snapshot", "method", "provider", "kind")


def confirmation_details(obj) -> list[tuple[str, str]]:
    """(label, value) pairs for one row on a confirmation page: amount with its currency, payer,
    payment method and status, those the row has."""
    from breederhq.money import Money

    names = {field.name for field in obj._meta.concrete_fields}
    details: list[tuple[str, str]] = []
    amount = next((f for f in _AMOUNT_FIELDS if f in names), None)
    if amount is not None and getattr(obj, amount) is not None and getattr(obj, "currency", None):
        details.append(("Amount", Money(int(getattr(obj, amount)), obj.currency).format()))
    payer = next((f for f in _PAYER_FIELDS if f in names), None)
    if payer is not None and getattr(obj, f"{payer}_id", None) is not None:
        details.append(("Payer", str(getattr(obj, payer))))
    method = next((f for f in _METHOD_FIELDS if f in names), None)
    if method is not None and getattr(obj, method, None):
        display = getattr(obj, f"get_{method}_display", None)
        details.append(("Method", str(display() if display else getattr(obj, method))))
    if "status" in names:
        display = getattr(obj, "get_status_display", None)
        details.append(("Status", str(display() if display else obj.status)))
    return details


def audited_action(name: str, description: str, *, perform, permissions=("change",), pass_reason: bool = False):
    """An admin action that shows a confirmation page with a reason field first. With
    `pass_reason`, `perform(obj, user, reason)` also gets the reason (e.g. a rejection's)."""

    def action(modeladmin, request, queryset):
        if request.POST.get("confirmed") == "yes":
            form = ReasonForm(request.POST)
            if form.is_valid():
                done = failed = 0
                refusals: list[str] = []
                for obj in queryset:
                    try:
                        args = (obj, request.user, form.cleaned_data["reason"]) if pass_reason else (obj, request.user)
                        result = perform(*args) or "done"
                    except DomainError as exc:
                        result, failed = f"refused: {exc.detail}", failed + 1
                        refusals.append(f"{obj}: refused, {exc.detail}")
                    else:
                        done += 1
                    with transaction.atomic(using=TENANT_DB):
                        staff_action_record(
                            user=request.user,
                            action=name,
                            obj=obj,
                            reason=form.cleaned_data["reason"],
                            result=str(result),
                        )
                level = messages.WARNING if failed else messages.SUCCESS
                modeladmin.message_user(request, f"{description}: {done} done, {failed} refused.", level)
                for refusal in refusals:  # each refusal's reason, not only the count
                    modeladmin.message_user(request, refusal, messages.WARNING)
                return None
        else:
            form = ReasonForm()
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"{description}: are you sure?",
            "action_name": name,
            "description": description,
            "objects": [(obj, confirmation_details(obj)) for obj in queryset[:100]],
            "count": queryset.count(),
            "form": form,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/backoffice/confirm_action.html", context)

    action.__name__ = name
    return admin.action(description=description, permissions=list(permissions))(action)
