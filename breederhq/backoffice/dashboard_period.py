"""The dashboard's figures for a chosen period (today, 7 days, 30 days, or custom dates) next to the
period of the same length just before it, each linking to the admin change list filtered to exactly
the rows it counts.

Five aggregate queries whatever the volume: one per table, each counting the current and the
previous period at once (tests/backoffice/test_dashboard_period.py counts them). Only tables whose
admin change list shows every row are counted here (a tenant invoice list shows one tenant's rows),
so each number and its list agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from breederhq.backoffice.ranges import DateRange, clean_range
from breederhq.databases import MARKETPLACE_DB, TENANT_DB

PRESETS = {"today": 1, "7d": 7, "30d": 30}
DEFAULT_PERIOD = "7d"
#: The trend chart's height in pixels (an inline SVG drawn here: nothing is loaded for it).
CHART_HEIGHT = 24


class PeriodForm(forms.Form):
    period = forms.ChoiceField(
        choices=[("today", "Today"), ("7d", "Last 7 days"), ("30d", "Last 30 days"), ("custom", "From / to")],
        initial=DEFAULT_PERIOD,
    )
    date_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        period = data.get("period")
        if period == "custom":
            try:
                data["range"] = clean_range(data.get("date_from"), data.get("date_to"))
            except forms.ValidationError as exc:
                raise forms.ValidationError(exc.messages, code="invalid_range") from exc
        elif period in PRESETS:
            data["range"] = preset_range(period)
        return data


def preset_range(period: str, *, today=None) -> DateRange:
    """The last N whole UTC days, today included."""
    today = today or timezone.now().date()
    return DateRange.from_days(today - timedelta(days=PRESETS[period] - 1), today)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    current: int
    previous: int
    url: str

    @property
    def trend(self) -> str:
        return "up" if self.current > self.previous else "down" if self.current < self.previous else "flat"

    @property
    def delta(self) -> int:
        return self.current - self.previous

    @property
    def chart_bars(self) -> list[tuple[str, int, int, int]]:
        """The trend chart's two bars, the previous period then this one, as (name, x, y, height)
        in pixels of an SVG `CHART_HEIGHT` high, scaled to the larger count (a zero is a 1 px line)."""
        top = max(self.current, self.previous, 1)
        bars = []
        for x, name, value in ((2, "previous", self.previous), (22, "current", self.current)):
            height = max(1, round(CHART_HEIGHT * value / top))
            bars.append((name, x, CHART_HEIGHT - height, height))
        return bars


def _changelist(model, column: str, period: DateRange, **filters) -> str:
    opts = model._meta
    query = {f"{column}__gte": period.start.isoformat(), f"{column}__lt": period.end.isoformat(), **filters}
    return f"{reverse(f'admin:{opts.app_label}_{opts.model_name}_changelist')}?{urlencode(query)}"


def _in(column: str, period: DateRange) -> Q:
    return Q(**{f"{column}__gte": period.start, f"{column}__lt": period.end})


#: key -> (label, model path, database, date column, extra filter as admin query parameters)
def _definitions():
    from breederhq.models import MarketplaceDbOutboundEmail, TenantDbOutboundEmail
    from marketplace_app.models import MarketplaceInvoice, MarketplaceTransaction
    from payments_app.models import StripeWebhookEvent

    return {
        MarketplaceTransaction: (
            MARKETPLACE_DB,
            [
                ("transactions_created", "Marketplace transactions created", "created_at", {}),
                ("transactions_paid", "Marketplace transactions paid", "paid_at", {}),
                ("transactions_cancelled", "Marketplace transactions cancelled", "cancelled_at", {}),
            ],
        ),
        MarketplaceInvoice: (
            MARKETPLACE_DB,
            [
                ("marketplace_invoices_created", "Marketplace invoices created", "created_at", {}),
                ("marketplace_invoices_paid", "Marketplace invoices paid", "paid_at", {}),
            ],
        ),
        StripeWebhookEvent: (
            TENANT_DB,
            [
                ("webhooks_received", "Stripe webhook events received", "received_at", {}),
                (
                    "webhooks_failed",
                    "Stripe webhook events received and failed or dead",
                    "received_at",
                    {"status__in": "failed,dead"},
                ),
            ],
        ),
        TenantDbOutboundEmail: (
            TENANT_DB,
            [
                ("emails_tenant_created", "Emails queued (tenant DB)", "created_at", {}),
                (
                    "emails_tenant_failed",
                    "Emails queued and failed (tenant DB)",
                    "created_at",
                    {"status__exact": "failed"},
                ),
            ],
        ),
        MarketplaceDbOutboundEmail: (
            MARKETPLACE_DB,
            [
                ("emails_marketplace_created", "Emails queued (marketplace DB)", "created_at", {}),
                (
                    "emails_marketplace_failed",
                    "Emails queued and failed (marketplace DB)",
                    "created_at",
                    {"status__exact": "failed"},
                ),
            ],
        ),
    }


def _as_q(filters: dict) -> Q:
    """The admin query parameters of a figure as an ORM filter (`status__in` takes a comma list)."""
    return Q(**{key: value.split(",") if key.endswith("__in") else value for key, value in filters.items()})


def dashboard_period_get(period: DateRange) -> list[Figure]:
    """Each figure for `period` and the period before it, one aggregate query per table."""
    previous = period.previous()
    figures: list[Figure] = []
    for model, (alias, rows) in _definitions().items():
        aggregates = {}
        for key, _label, column, filters in rows:
            aggregates[f"{key}__now"] = Count("pk", filter=_in(column, period) & _as_q(filters))
            aggregates[f"{key}__before"] = Count("pk", filter=_in(column, previous) & _as_q(filters))
        counts = model._default_manager.using(alias).aggregate(**aggregates)
        for key, label, column, filters in rows:
            figures.append(
                Figure(
                    key,
                    label,
                    counts[f"{key}__now"],
                    counts[f"{key}__before"],
                    _changelist(model, column, period, **filters),
                )
            )
    return figures


def dashboard_period_context(request) -> dict:
    """The dashboard's period form, the chosen range and its figures. Bad input keeps the default
    period and shows the form's message; it never fails the page."""
    form = PeriodForm(request.GET) if "period" in request.GET else PeriodForm()
    period = form.cleaned_data["range"] if form.is_bound and form.is_valid() else preset_range(DEFAULT_PERIOD)
    return {
        "period_form": form,
        "period": period,
        "period_previous": period.previous(),
        "period_figures": dashboard_period_get(period),
    }
