"""Payments of the caller's tenant."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema

from breederhq.api.base import TenantAPIView
from breederhq.api.filters import IdFilter
from breederhq.api.pagination import PageNumber
from breederhq.api.schema import READ_ERRORS
from tenant_app.api import serializers as s
from tenant_app.models import Payment


class PaymentFilter(django_filters.FilterSet):
    invoice = IdFilter(field_name="invoice_id")
    kind = django_filters.ChoiceFilter(choices=Payment.Kind.choices)
    method = django_filters.ChoiceFilter(choices=Payment.Method.choices)

    class Meta:
        model = Payment
        fields = ["invoice", "kind", "method"]


class PaymentListView(TenantAPIView):
    resource_type = "payments"
    pagination_class = PageNumber
    filterset_class = PaymentFilter
    serializer_class = s.PaymentOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return (
            Payment.objects.filter(tenant_id=self.request.tenant_id)
            .select_related("invoice", "credit_note")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        operation_id="payments_list",
        tags=["payments"],
        responses={200: s.PaymentOut(many=True), **READ_ERRORS},
        summary="Payments and refunds (refunds are separate rows with a credit note)",
    )
    def get(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(s.PaymentOut(page, many=True).data)
