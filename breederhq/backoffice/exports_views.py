"""The finance export page (`/admin/backoffice/exports/`): a form, then the file, streamed.

Finance staff (`backoffice.finance_exports`) only. The form is a GET form like the support search:
a request naming the dates runs the export; bad input shows the form again with its errors.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse

from breederhq.backoffice.exports import (
    CSV_CONTENT_TYPE,
    DATASETS,
    FINANCE_EXPORTS,
    XLSX_CONTENT_TYPE,
    ExportRequest,
    export_filename,
    export_stream,
)
from breederhq.backoffice.ranges import clean_range
from breederhq.databases import MARKETPLACE_DB, TENANT_DB

MAX_ID = 2**63 - 1


class FinanceExportForm(forms.Form):
    dataset = forms.ChoiceField(choices=[(key, dataset.title) for key, dataset in DATASETS.items()])
    fmt = forms.ChoiceField(label="Format", choices=[("csv", "CSV"), ("xlsx", "Excel (XLSX)")], initial="csv")
    date_from = forms.DateField(label="From (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To (UTC, inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    tenant = forms.IntegerField(
        label="Tenant id",
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only this tenant's rows (optional).",
    )
    provider = forms.IntegerField(
        label="Provider id",
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only this marketplace provider's rows (optional).",
    )
    reason = forms.CharField(
        min_length=5,
        max_length=300,
        help_text="Why (month-end close, auditor's request). The export reads every "
        "tenant's data: it is audited with this reason.",
    )

    def clean(self):
        from marketplace_app.models import Provider
        from tenant_app.models import Tenant

        data = super().clean()
        if "date_from" in data and "date_to" in data:
            try:
                data["range"] = clean_range(data["date_from"], data["date_to"])
            except forms.ValidationError as exc:
                self.add_error("date_to", exc)
        # `tenants` is a global table, providers are public: checking that one exists reads nothing private.
        if data.get("tenant") and not Tenant.all_objects.using(TENANT_DB).filter(pk=data["tenant"]).exists():
            self.add_error("tenant", "No tenant has this id.")
        if data.get("provider") and not Provider.all_objects.using(MARKETPLACE_DB).filter(pk=data["provider"]).exists():
            self.add_error("provider", "No provider has this id.")
        return data


def finance_export_view(request):
    if not request.user.has_perm(FINANCE_EXPORTS):
        raise PermissionDenied
    if "date_from" in request.GET:
        form = FinanceExportForm(request.GET)
    else:
        dataset = request.GET.get("dataset")
        form = FinanceExportForm(initial={"dataset": dataset if dataset in DATASETS else "invoices"})
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        export = ExportRequest(
            dataset=data["dataset"],
            range=data["range"],
            tenant_id=data.get("tenant"),
            provider_id=data.get("provider"),
            reason=data["reason"],
        )
        fmt = data["fmt"]
        response = StreamingHttpResponse(
            export_stream(export, fmt=fmt, staff_user=request.user),
            content_type=CSV_CONTENT_TYPE if fmt == "csv" else XLSX_CONTENT_TYPE,
        )
        response["Content-Disposition"] = f'attachment; filename="{export_filename(export, fmt)}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
    context = {
        **admin.site.each_context(request),
        "title": "Finance exports",
        "form": form,
        "datasets": DATASETS.values(),
    }
    return TemplateResponse(request, "admin/backoffice/finance_export.html", context)
