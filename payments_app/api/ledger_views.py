"""The money movements of one's connected Stripe account: a breeder's (tenant owner or admin) and a
service provider's. Read from the webhook-fed ledger (payments_app/ledger.py), never from Stripe.

Keyset pages newest first by when Stripe created each object; filters: `kind` (repeatable),
`occurred_after` (inclusive) and `occurred_before` (exclusive), ISO 8601 times. A bad filter is
400 `validation_failed` naming it. No connected account yet: an empty list.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from breederhq.api.base import MANAGER_ROLES, MarketplaceAPIView, TenantAPIView
from breederhq.api.keyset import KeysetPagination
from breederhq.api.params import QueryParams
from breederhq.api.schema import READ_ERRORS, problems
from breederhq.errors import PermissionDenied, ValidationFailed
from breederhq.tenancy import owner_context
from payments_app import ledger
from payments_app.models import ConnectMoneyMovement

Kind = ConnectMoneyMovement.Kind


class MoneyMovementParams(QueryParams):
    kind = serializers.ListField(child=serializers.ChoiceField(choices=Kind.values), required=False, max_length=10)
    occurred_after = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601 with an offset.")
    occurred_before = serializers.DateTimeField(
        required=False, help_text="Exclusive, ISO 8601 with an offset (not after `occurred_after`: an empty page)."
    )


class MoneyMovementOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    direction = serializers.ChoiceField(
        choices=["in", "out"], help_text="Into or out of the connected account's balance."
    )
    amount_cents = serializers.IntegerField(help_text="In the currency's minor unit, never negative.")
    currency = serializers.CharField()
    status = serializers.CharField(help_text="Stripe's status of the object (succeeded, paid, lost, ...).")
    occurred_at = serializers.DateTimeField(help_text="When Stripe created the object.")
    stripe_object_id = serializers.CharField()
    source_charge_id = serializers.CharField(help_text="The charge a fee, transfer, refund or dispute is about.")
    invoice_kind = serializers.CharField(allow_null=True)
    invoice_id = serializers.IntegerField(allow_null=True)


PARAMETERS = [
    OpenApiParameter(
        "kind",
        {"type": "array", "items": {"type": "string", "enum": Kind.values}, "maxItems": 10},
        required=False,
        explode=True,
        description="Only these kinds (repeat the parameter).",
    ),
    OpenApiParameter("occurred_after", {"type": "string", "format": "date-time"}, required=False),
    OpenApiParameter("occurred_before", {"type": "string", "format": "date-time"}, required=False),
]
ERRORS = {**READ_ERRORS, **problems(e400="Invalid filter or cursor (`validation_failed`, `errors` names it)")}


def _filters(request) -> dict:
    data = {k: v for k, v in request.query_params.items() if k in ("occurred_after", "occurred_before")}
    if "kind" in request.query_params:
        data["kind"] = request.query_params.getlist("kind")
    params = MoneyMovementParams(data=data)
    if not params.is_valid():
        raise ValidationFailed(
            "Invalid filter.",
            field_errors={
                k: [str(e) for e in v] if isinstance(v, list) else [str(v)] for k, v in params.errors.items()
            },
        )
    return {
        "kinds": params.validated_data.get("kind"),
        "occurred_after": params.validated_data.get("occurred_after"),
        "occurred_before": params.validated_data.get("occurred_before"),
    }


class _MoneyMovementList:
    pagination_class = KeysetPagination
    serializer_class = MoneyMovementOut
    queryset = ConnectMoneyMovement.objects.none()  # for the schema; reads go through payments_app.ledger

    def _page(self, request, *, account_id: str | None, owner: int | None):
        filters = _filters(request)

        def read(position, limit):
            if account_id is None:  # no connected account yet: nothing has moved (paging still checked)
                return []
            with owner_context(owner):
                return ledger.movement_page(
                    account_id=account_id, owner_tenant_id=owner, position=position, limit=limit, **filters
                )

        rows = self.paginate_queryset(read)
        return self.get_paginated_response(MoneyMovementOut(rows, many=True).data)


class TenantMoneyMovementListView(_MoneyMovementList, TenantAPIView):
    resource_type = "money_movements"
    read_roles = MANAGER_ROLES

    @extend_schema(
        operation_id="tenant_money_movements_list",
        tags=["payments"],
        parameters=PARAMETERS,
        responses={200: MoneyMovementOut(many=True), **ERRORS},
        summary="Your business's money movements in Stripe (owner or admin)",
        description="Payments, refunds, disputes, the platform's application fees, transfers and "
        "payouts of your connected Stripe account, newest first, as Stripe reported them.",
    )
    def get(self, request):
        return self._page(request, account_id=ledger.tenant_account_id(request.tenant_id), owner=request.tenant_id)


class ProviderMoneyMovementListView(_MoneyMovementList, MarketplaceAPIView):
    @extend_schema(
        operation_id="provider_money_movements_list",
        tags=["marketplace"],
        parameters=PARAMETERS,
        responses={200: MoneyMovementOut(many=True), **ERRORS},
        summary="Your money movements in Stripe (service providers)",
        description="As the tenant endpoint, for a service provider's own connected account. A breeder "
        "reads its business's at `GET /api/v1/tenants/me/money-movements/`. Not a "
        "provider: 403 `not_a_provider`.",
    )
    def get(self, request):
        provider = getattr(request.marketplace_user, "provider", None)
        if provider is None or provider.deleted_at is not None:
            raise PermissionDenied("You are not a provider.", code="not_a_provider")
        return self._page(request, account_id=ledger.provider_account_id(provider.pk), owner=None)
