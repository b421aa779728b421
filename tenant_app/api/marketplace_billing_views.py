"""`POST /api/v1/invoices/from-marketplace-transaction/`: a breeder bills one of its marketplace sales
with the sale's one tenant invoice (tenant_app/marketplace_billing.py). Only the tenant that is the
seller: any other tenant gets 404, as for a sale that does not exist."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status

from breederhq.api.base import TenantAPIView
from breederhq.api.params import validated
from breederhq.api.schema import IDEMPOTENCY_KEY, WRITE_ERRORS, problems
from breederhq.databases import MARKETPLACE_DB
from breederhq.invoicing.due_dates import DUE_DATE_HELP
from breederhq.money import MAX_AMOUNT_CENTS
from tenant_app.api import serializers as s
from tenant_app.api.views.invoices import _invoice_response, _lines
from tenant_app.marketplace_billing import breeder_sale_invoice_create


class SaleInvoiceIn(s.StrictSerializer):
    transaction_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    contact_id = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Default: your contact linked to the sale's buyer (created, linked, when there is none).",
    )
    lines = s.LineIn(
        many=True,
        allow_empty=False,
        required=False,
        max_length=s.MAX_LINES,
        help_text="Default: one line, the sale's description at its amount.",
    )
    tax_cents = serializers.IntegerField(min_value=0, max_value=MAX_AMOUNT_CENTS, default=0)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    due_date = serializers.DateField(required=False, allow_null=True, default=None, help_text=DUE_DATE_HELP)


class SaleInvoiceCreateView(TenantAPIView):
    resource_type = "invoices"
    serializer_class = s.InvoiceDetailOut
    # The sale's row (marketplace database) is what serialises attempts; the Idempotency-Key and its
    # stored answer live there too, committed with the sale pointing at its invoice.
    idempotency_database = MARKETPLACE_DB

    @extend_schema(
        operation_id="invoices_create_from_marketplace_transaction",
        tags=["invoices"],
        request=SaleInvoiceIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.InvoiceDetailOut,
            **WRITE_ERRORS,
            **problems(
                e409="`already_invoiced` (the sale has its invoice: `invoice_id`), `illegal_transition` (the sale is "
                "cancelled or paid), `version_conflict`, `idempotency_key_in_flight`"
            ),
        },
        examples=[OpenApiExample("Bill a sale at its price", request_only=True, value={"transaction_id": 812})],
        summary="Bill one of your marketplace sales: its one tenant invoice (a draft, in the sale's currency)",
        description="Only the breeder tenant that sold it; another tenant's sale is 404. Concurrent attempts: one "
        "201, the others 409 `already_invoiced`. Send it with PATCH invoices/{id}/ action=send.",
    )
    def post(self, request):
        data = validated(SaleInvoiceIn, request.data)
        invoice = breeder_sale_invoice_create(
            transaction_id=data["transaction_id"],
            actor=request.user,
            contact_id=data["contact_id"],
            lines=_lines(data["lines"]) if data.get("lines") else None,
            tax_cents=data["tax_cents"],
            notes=data["notes"],
            due_date=data["due_date"],
        )
        return _invoice_response(invoice.pk, tenant_id=request.tenant_id, status_code=status.HTTP_201_CREATED)
