"""Receipts and payment evidence opened from the admin, through the same permission-checked download
the API uses (`breederhq.api.uploads.receipt_download`), never through MEDIA_URL (not served).

Who: staff with the view permission on the invoice model. A tenant invoice is read inside the audited
"work on tenant" context (row-level security; one cross_tenant_query_audit row), so staff choose the
tenant first. Every opening is a read of personal data and writes a StaffActionAudit row
(`receipt_read`). PDFs and images are shown inline (a preview in the browser); `?download=1` saves.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from rest_framework.exceptions import NotFound

from breederhq.api.uploads import receipt_download
from breederhq.backoffice.actions import staff_action_record
from breederhq.backoffice.support import support_request_context, support_session_get
from breederhq.databases import MARKETPLACE_DB, TENANT_DB

#: kind -> (model label, view permission, invoice number field, database)
RECEIPT_SOURCES = {
    "tenant": ("tenant_app.Invoice", "tenant_app.view_invoice", "invoice_number", TENANT_DB),
    "marketplace": (
        "marketplace_app.MarketplaceInvoice",
        "marketplace_app.view_marketplaceinvoice",
        "invoice_number",
        MARKETPLACE_DB,
    ),
}
AUDIT_ACTION = "receipt_read"


def receipt_url(kind: str, invoice_id: int, *, download: bool = False) -> str:
    url = reverse("backoffice:receipt", args=[kind, invoice_id])
    return f"{url}?download=1" if download else url


def receipt_link(kind: str):
    """A read-only admin field: links to the receipt through the back office, not to /media/."""

    @admin.display(description="buyer's receipt")
    def display(modeladmin, obj):
        if not obj.buyer_payment_receipt:
            given = getattr(obj, "buyer_payment_receipt_url", None)
            return given or "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Open the receipt</a> (<a href="{}">download</a>)',
            receipt_url(kind, obj.pk),
            receipt_url(kind, obj.pk, download=True),
        )

    return display


def receipt_view(request, kind: str, invoice_id: int):
    if kind not in RECEIPT_SOURCES:
        raise Http404
    label, permission, number_field, database = RECEIPT_SOURCES[kind]
    if not request.user.has_perm(permission):
        raise PermissionDenied
    model = apps.get_model(label)
    manager = getattr(model, "all_objects", model._default_manager)
    if kind == "tenant":
        if support_session_get(request) is None:
            # Tenant rows are read only while working on their tenant (audited, with a reason).
            return HttpResponseRedirect(
                f"{reverse('backoffice:support')}?{urlencode({'next': request.get_full_path()})}"
            )
        with support_request_context(request, page=f"receipt:{invoice_id}") as support:
            invoice = manager.using(database).filter(pk=invoice_id).first()
        reason = f"working on {support.tenant_name}: {support.reason}"
    else:
        invoice = manager.using(database).filter(pk=invoice_id).first()
        reason = "opened from the admin"
    if invoice is None:
        raise Http404("No such invoice (or not in the tenant you work on).")
    has_file = bool(invoice.buyer_payment_receipt)
    staff_action_record(
        user=request.user,
        action=AUDIT_ACTION,
        obj=invoice,
        reason=reason,
        result="personal data read: the buyer's receipt" if has_file else "no receipt file",
    )
    try:
        return receipt_download(
            invoice.buyer_payment_receipt,
            filename=f"receipt-{getattr(invoice, number_field)}",
            inline=request.GET.get("download") != "1",
        )
    except NotFound as exc:
        raise Http404(str(exc.detail)) from None
