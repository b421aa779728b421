"""Invoice and credit-note PDFs opened from the admin (the documents inline on each invoice page),
under the same rules as receipts (breederhq/backoffice/receipts.py): staff with the view permission
on the invoice model; a tenant invoice's documents only while working on its tenant (audited); each
opening writes a StaffActionAudit row (`invoice_document_read`). Shown inline; `?download=1` saves.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from breederhq.backoffice.actions import staff_action_record
from breederhq.backoffice.support import support_request_context, support_session_get
from breederhq.databases import MARKETPLACE_DB, TENANT_DB
from breederhq.invoicing.documents import PDF, DocumentDamaged, document_bytes, download_name

#: kind -> (document model label, view permission of the invoice model, database)
DOCUMENT_SOURCES = {
    "tenant": ("tenant_app.InvoiceDocument", "tenant_app.view_invoice", TENANT_DB),
    "marketplace": (
        "marketplace_app.MarketplaceInvoiceDocument",
        "marketplace_app.view_marketplaceinvoice",
        MARKETPLACE_DB,
    ),
}
AUDIT_ACTION = "invoice_document_read"


def document_url(kind: str, document, *, download: bool = False) -> str:
    url = reverse("backoffice:invoice_document", args=[kind, document.invoice_id, document.pk])
    return f"{url}?download=1" if download else url


def document_link(kind: str):
    """A read-only inline field: opens the PDF through the back office, never through /media/."""

    @admin.display(description="PDF")
    def display(modeladmin, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Open</a> (<a href="{}">download</a>)',
            document_url(kind, obj),
            document_url(kind, obj, download=True),
        )

    return display


def invoice_document_view(request, kind: str, invoice_id: int, document_id: int):
    if kind not in DOCUMENT_SOURCES:
        raise Http404
    label, permission, database = DOCUMENT_SOURCES[kind]
    if not request.user.has_perm(permission):
        raise PermissionDenied
    model = apps.get_model(label)
    if kind == "tenant":
        if support_session_get(request) is None:
            return HttpResponseRedirect(
                f"{reverse('backoffice:support')}?{urlencode({'next': request.get_full_path()})}"
            )
        with support_request_context(request, page=f"invoice_document:{document_id}") as support:
            document = model.objects.using(database).filter(pk=document_id, invoice_id=invoice_id).first()
        reason = f"working on {support.tenant_name}: {support.reason}"
    else:
        document = model.objects.using(database).filter(pk=document_id, invoice_id=invoice_id).first()
        reason = "opened from the admin"
    if document is None:
        raise Http404("No such document (or not in the tenant you work on).")
    staff_action_record(
        user=request.user, action=AUDIT_ACTION, obj=document, reason=reason, result=f"personal data read: {document}"
    )
    try:
        content = document_bytes(document)
    except DocumentDamaged as exc:
        raise Http404(str(exc)) from None
    response = HttpResponse(content, content_type=PDF)
    disposition = "attachment" if request.GET.get("download") == "1" else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{download_name(document)}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
